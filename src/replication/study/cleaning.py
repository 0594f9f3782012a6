"""From a raw table to the survey the analysis wants: items converted to numbers and
checked against their scale, recoded to ``1..scale_points`` (reverse-coded items
recoded), missing answers handled by the block's policy, the respondent id checked, the
carried columns kept, and the ``.sav`` labels carried over (:func:`read_survey_table`).

Missing answers. Under ``listwise`` a respondent with any missing item answer is
dropped. Under ``min_items: m`` a respondent is kept when every construct has at least
``m`` of its ``k`` items answered; the unanswered items stay NaN in the survey, and the
construct's scale score is the mean of the answered items (pandas' ``mean(axis=1)``
skips NaN, so :func:`replication.study.measurement.scale_scores` already does this).

Every problem is one :class:`~replication.errors.ReplicationError` naming the file and,
where it applies, the row (1 = first respondent), the line of a CSV file and the column.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import ReplicationError, location
from .datablock import ConstructInfo, DataSource, MissingPolicy, format_problems, item_problems
from .readers import RawTable, is_number
from .weight_column import read_weights

#: A construct with more than this share of its answers missing stops the read.
MAX_MISSING_SHARE = 0.5
#: Rows listed per reason in the ``dropped`` table.
ROWS_SHOWN = 10


@dataclass
class UserSurvey:
    """A researcher's survey, read through a ``data:`` block.

    Attributes
    ----------
    survey : DataFrame
        ``respondent_id``; every item under the specification's item name (float, on the
        scale ``1..scale_points``, reverse-coded items already recoded; an answer the
        ``min_items`` policy allows to be missing is NaN); the carried columns.
    dropped : DataFrame
        ``reason, n, rows, columns``: respondents not analysed and why (empty when none).
    labels : dict
        ``file_label``, ``variables`` (column -> variable label), ``values`` (column ->
        {code: label}, codes as in ``survey``), ``columns`` (survey column -> file column).
    source : Path
        The file read.
    n_read : int
        Respondents (data rows) in the file.
    notes : list of str
        What the reader did that a user should know (a byte-order mark removed, items
        reverse-coded, answers recoded from ``scale_min``).
    """

    survey: pd.DataFrame
    dropped: pd.DataFrame
    labels: dict
    source: Path
    n_read: int
    notes: list = field(default_factory=list)
    missing: MissingPolicy = MissingPolicy()
    #: Per row of ``survey``: why the analysis would not use the respondent ("" when it
    #: would); empty when it would use every row. Only rows kept by
    #: ``drop_unanswerable=False`` (new respondents to classify) can have a reason.
    excluded: list = field(default_factory=list)

    @property
    def n(self) -> int:
        """Respondents kept."""
        return len(self.survey)

    def summary(self) -> str:
        lines = [f"{self.source}: {self.n_read} respondents read, {self.n} kept "
                 f"(missing answers: {self.missing.describe()})"]
        lines += [f"  dropped {r.n}: {r.reason}" for r in self.dropped.itertuples()]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


_INT_TEXT = re.compile(r"[+-]?[0-9]+")


def _numeric_column(raw: RawTable, col: str, missing_codes: tuple, what: str) -> tuple[np.ndarray, np.ndarray]:
    """(values as float with NaN for missing, mask of cells that were missing)."""
    values = raw.columns[col]
    if raw.kinds.get(col) == "number":
        x = np.asarray(values, dtype=float).copy()
        missing = np.isnan(x)
        missing |= raw.user_missing_mask(col, x)
        codes = [float(c) for c in missing_codes if is_number(c)]
        if codes:
            missing |= np.isin(x, codes)
        _refuse_non_finite(raw, col, x, missing, what)
        x[missing] = np.nan
        return x, missing
    s = pd.Series([("" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v).strip())
                   for v in values], dtype=object)
    text_codes = {str(c).strip() for c in missing_codes}
    num_codes = [float(c) for c in missing_codes if is_number(c)]
    empty = (s == "").to_numpy()
    coded = s.isin(text_codes).to_numpy()
    num = np.array(pd.to_numeric(s.where(~(empty | coded), None), errors="coerce"), dtype=float)
    bad = ~(empty | coded) & np.isnan(num)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        value = s.iloc[row]
        kind = (" (the .sav variable is a string variable; recode it to numbers in SPSS, e.g. with "
                "AUTORECODE or RECODE ... INTO)" if raw.format == "sav" else "")
        hint = ""
        if raw.format == "csv" and re.fullmatch(r"[+-]?[0-9]+,[0-9]+", value):
            hint = " (a decimal comma? answers must be whole numbers)"
        elif raw.format == "csv":
            hint = (f"; if it means 'no answer', add it to the data block: missing_codes: [\"{value}\"]"
                    if len(value) <= 20 else "")
        raise ReplicationError(f"{raw.where(row, col)}: '{value[:60]}' is text, but {what} must be a number"
                               f"{kind}{hint} ({int(bad.sum())} such cell(s) in this column)")
    missing = empty | coded
    if num_codes:
        missing |= np.isin(num, num_codes)
    _refuse_non_finite(raw, col, num, missing, what, s)
    num[missing] = np.nan
    return num, missing


def _refuse_non_finite(raw: RawTable, col: str, x: np.ndarray, missing: np.ndarray, what: str, text=None) -> None:
    """An infinite answer ('inf', '-Infinity', 1e999) is an error naming its row and column."""
    bad = np.isinf(x) & ~missing
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        shown = str(text.iloc[row])[:60] if text is not None else f"{x[row]}"
        raise ReplicationError(f"{raw.where(row, col)}: '{shown}' is not a finite number, but {what} must be an "
                               f"answer on its scale ({int(bad.sum())} such cell(s) in this column); if it means "
                               f"'no answer', add it to the data block: missing_codes: [\"{shown}\"]")


def _id_column(raw: RawTable, col: str) -> pd.Series:
    values = raw.columns[col]
    if raw.kinds.get(col) == "number":
        x = np.asarray(values, dtype=float)
        empty = np.isnan(x)
    else:
        s = pd.Series(["" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v).strip()
                       for v in values], dtype=object)
        empty = (s == "").to_numpy()
    if empty.any():
        row = int(np.flatnonzero(empty)[0])
        raise ReplicationError(f"{raw.where(row, col)}: the respondent id is empty ({int(empty.sum())} "
                               "empty id(s) in this column)")
    if raw.kinds.get(col) == "number":
        ids = pd.Series(x.astype(np.int64)) if np.all(x == np.round(x)) and np.abs(x).max() < 2**53 else pd.Series(x)
    elif all(_INT_TEXT.fullmatch(v) and len(v) < 16 and str(int(v)) == v for v in s):
        # Whole numbers written as such are numbers; "0001" or "+7" stay text, as the file has them.
        ids = pd.Series(s.astype(np.int64).to_numpy())
    else:
        ids = pd.Series(s.to_numpy(), dtype=object)
    dup = ids.duplicated().to_numpy()
    if dup.any():
        row = int(np.flatnonzero(dup)[0])
        first = int(np.flatnonzero((ids == ids.iloc[row]).to_numpy())[0])
        shown = f"'{ids.iloc[row]}'" if isinstance(ids.iloc[row], str) else _fmt(ids.iloc[row])
        raise ReplicationError(f"{raw.where(row, col)}: duplicate respondent id {shown} (first in row "
                               f"{first + 1}); ids must be unique")
    return ids


def _carried_column(raw: RawTable, col: str, missing_codes=()):
    values = raw.columns[col]
    # The block's text codes ('NA') mean 'no value' in any column; a number such as 99 may
    # be a real value of a carried column (an age), so numeric codes apply to the items only.
    text_codes = {str(c).strip() for c in missing_codes if not is_number(c)}
    if raw.kinds.get(col) == "number":
        x = np.asarray(values, dtype=float).copy()
        # SPSS user-missing values are missing here too (an age of 99 = 'refused' is no age).
        for lo, hi in raw.user_missing.get(col, []):
            try:
                x[(x >= float(lo)) & (x <= float(hi))] = np.nan
            except (TypeError, ValueError):
                pass
        if not np.isnan(x).any() and np.all(x == np.round(x)) and (x.size == 0 or np.abs(x).max() < 2**53):
            return x.astype(np.int64)
        return x
    s = pd.Series(["" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v).strip()
                   for v in values], dtype=object)
    if text_codes:
        s = s.where(~s.isin(text_codes), "")
    filled = s[s != ""]
    num = pd.to_numeric(filled, errors="coerce")
    if len(filled) and not num.isna().any():
        out = pd.to_numeric(s.where(s != "", None), errors="coerce").to_numpy(dtype=float)
        if not np.isnan(out).any() and np.all(out == np.round(out)):
            return out.astype(np.int64)
        return out
    return s.where(s != "", None).to_numpy(dtype=object)


def _missing_column_error(raw: RawTable, col: str, role: str, where_spec) -> ReplicationError:
    near = difflib.get_close_matches(col, raw.header, n=3)
    hint = f"similar columns: {', '.join(repr(n) for n in near)}" if near else \
        f"the file has {len(raw.header)} columns: {', '.join(raw.header[:12])}{', ...' if len(raw.header) > 12 else ''}"
    return ReplicationError(f"{location(raw.path, column=col)}: no such column in the file ({role}); {hint}; "
                            f"columns are mapped in {where_spec}")


def _recode_labels(labels: dict, scale_min: int, k: int, reverse: bool) -> dict:
    out = {}
    for code, text in labels.items():
        try:
            v = float(code) - scale_min + 1
        except (TypeError, ValueError):
            continue
        if reverse:
            v = (k + 1) - v
        out[int(v) if v == int(v) else v] = text
    return dict(sorted(out.items()))


def read_survey_table(raw: RawTable, block: DataSource, constructs: list[ConstructInfo], *,
                      where_spec="the study specification", extra_carry=(), min_respondents: int = 1,
                      for_analysis: bool = True, drop_unanswerable: bool = True,
                      min_reason=None, consume: bool = False) -> UserSurvey:
    """The survey of a :class:`RawTable` through a data block (see :func:`.sources.read_user_survey`).

    ``for_analysis`` adds the checks a new batch of respondents to classify does not need
    (a construct more than half missing, a constant item). With ``drop_unanswerable``
    False, respondents with missing answers beyond the policy are kept (their items NaN)
    and counted in ``dropped`` (reason starting ``kept``). ``min_reason(n_kept)``, when
    given, says why fewer than ``min_respondents`` are too few. With ``consume``, each
    item column of ``raw`` is released once converted (a panel's file is then never held
    beside its converted answers); ``raw`` is not usable afterwards.
    """
    problems = item_problems(block, constructs)
    if problems:
        raise ReplicationError(format_problems(where_spec, problems))
    path = raw.path
    notes = list(raw.notes)
    # Columns: every one the block names must exist.
    column_of = {it: block.items.get(it, it) for c in constructs for it in c.items}
    construct_of = {it: c for c in constructs for it in c.items}
    for it, col in column_of.items():
        if col not in raw.header:
            c = construct_of[it]
            role = f"it holds item '{it}' of construct '{c.id}'" if col == it else \
                f"data.items maps item '{it}' of construct '{c.id}' to it"
            raise _missing_column_error(raw, col, role, where_spec)
    if block.id is not None and block.id not in raw.header:
        raise _missing_column_error(raw, block.id, "data.id names it as the respondent id column", where_spec)
    carry = list(block.carry) + [c for c in extra_carry if c not in block.carry and c not in column_of]
    for c in carry:
        if c not in raw.header:
            role = "data.carry names it" if c in block.carry else \
                "the specification names it as a profiling or demographic variable or a membership predictor, " \
                "which is always carried"
            raise _missing_column_error(raw, c, role, where_spec)
    weighted = block.weight is not None and for_analysis   # new respondents to classify need none
    if weighted and block.weight not in raw.header:
        raise _missing_column_error(raw, block.weight, "data.weight names it as the survey weights", where_spec)
    if weighted and block.weight not in carry:
        carry.append(block.weight)
    if raw.n_rows == 0:
        raise ReplicationError(f"{path}: the file has a header but no respondents")
    weights = read_weights(raw, block.weight, block.missing_codes) if weighted else None
    reverse_items = {r if r in construct_of else next(it for it, col in column_of.items() if col == r)
                     for r in block.reverse}

    n = raw.n_rows
    ids = _id_column(raw, block.id) if block.id else pd.Series(np.arange(1, n + 1))
    items: dict[str, np.ndarray] = {}
    # Every item's answers, one column each of a single float block (column-major, so a
    # column is contiguous), which becomes the survey's: see the end.
    names = list(dict.fromkeys(it for c in constructs for it in c.items))
    slot = {it: j for j, it in enumerate(names)}
    # float16: the answers are whole scale points 1..11 (anything else is out of range),
    # which float16 holds exactly (every integer to 2048) in a quarter of the memory; sums
    # over them are float64 (measurement.as_float64).
    answers = np.empty((n, len(names)), dtype=np.float16, order="F")
    # Conversions still to come per file column (a carried column is used once more).
    uses = {col: list(column_of.values()).count(col) + (col in carry) for col in set(column_of.values())}
    missing_cells: dict[str, np.ndarray] = {}
    out_of_range = np.zeros(n, bool)
    bad_columns: dict[str, int] = {}
    for c in constructs:
        for it in c.items:
            col = column_of[it]
            what = f"item '{it}' of construct '{c.id}'" if col == it else f"column '{col}' (item '{it}')"
            x, miss = _numeric_column(raw, col, block.missing_codes, what)
            uses[col] -= 1
            if consume and not uses[col]:
                raw.columns[col] = None
            lo, hi = block.scale_min, block.scale_min + c.scale_points - 1
            labels = raw.value_labels.get(col, {})
            outside = sorted(v for v in labels if is_number(v) and not (lo <= float(v) <= hi)
                             and not _declared_missing(raw, col, float(v), block.missing_codes))
            if outside:
                v = outside[0]
                raise ReplicationError(
                    f"{location(path, column=col)}: the value label {_fmt(v)} = '{labels[v]}' lies outside the "
                    f"scale {lo}-{hi} of {what} (scale_points {c.scale_points}"
                    f"{', scale_min ' + str(block.scale_min) if block.scale_min != 1 else ''}); if {_fmt(v)} "
                    f"means 'no answer', declare it missing (`missing_codes: [{_fmt(v)}]` in the data block, "
                    "or as a user-missing value in SPSS); otherwise check scale_points and scale_min")
            x = x - block.scale_min + 1
            valid = np.isnan(x) | ((x == np.round(x)) & (x >= 1) & (x <= c.scale_points))
            if (~valid).any() and block.out_of_range == "error":
                raise _out_of_range_error(raw, col, what, x[~valid] + block.scale_min - 1, np.flatnonzero(~valid),
                                          lo, hi, c.scale_points, block.scale_min)
            if (~valid).any():
                bad_columns[col] = int((~valid).sum())
                out_of_range |= ~valid
                x = np.where(valid, x, np.nan)
            if it in reverse_items:
                x = (c.scale_points + 1) - x
            answers[:, slot[it]] = x
            items[it] = answers[:, slot[it]]
            missing_cells[it] = miss
    if block.scale_min != 1:
        notes.append(f"answers recoded from {block.scale_min}..{block.scale_min}+k-1 to the package's scale 1..k")
    if reverse_items:
        notes.append(f"reverse-coded ((min + max) - x): {', '.join(sorted(reverse_items))}")

    if for_analysis:
        for c in constructs:
            cells = np.column_stack([missing_cells[it] for it in c.items])
            share = cells.mean()
            if share > MAX_MISSING_SHARE:
                worst = c.items[int(cells.mean(axis=0).argmax())]
                raise ReplicationError(
                    f"{location(path, column=column_of[worst])}: {share:.0%} of the answers to construct "
                    f"'{c.id}' ({', '.join(column_of[it] for it in c.items)}) are missing (more than half): "
                    "is the data block's mapping right, or was the construct asked of a subsample only?")

    # Who is kept.
    answered = {c.id: np.column_stack([~np.isnan(items[it]) for it in c.items]).sum(axis=1)
                for c in constructs}
    if block.min_items is None:
        unanswerable = np.zeros(n, bool)
        for c in constructs:
            unanswerable |= answered[c.id] < len(c.items)
    else:
        unanswerable = np.zeros(n, bool)
        for c in constructs:
            unanswerable |= answered[c.id] < block.min_items
    unanswerable &= ~out_of_range
    dropped_rows = []
    if out_of_range.any():
        cols = ", ".join(f"{c} ({k})" for c, k in bad_columns.items())
        dropped_rows.append({"reason": ("" if drop_unanswerable else "kept, without a segment: ")
                             + "out-of-range answer (not a scale point of its item)",
                             "n": int(out_of_range.sum()), "rows": _rows(out_of_range), "columns": cols})
    if unanswerable.any():
        reason = f"missing answers beyond the policy ({block.missing.describe()})"
        if not drop_unanswerable:
            reason = f"kept, without a score on the construct(s) concerned: {reason}"
        cols = ", ".join(column_of[it] for c in constructs for it in c.items
                         if (np.isnan(items[it]) & unanswerable).any())
        dropped_rows.append({"reason": reason, "n": int(unanswerable.sum()), "rows": _rows(unanswerable),
                             "columns": cols})
    # New respondents to classify (drop_unanswerable False) are all kept: the ones the
    # analysis would drop carry the reason in ``excluded`` instead of a segment.
    keep = ~out_of_range & ~unanswerable if drop_unanswerable else np.ones(n, bool)
    dropped = pd.DataFrame(dropped_rows, columns=["reason", "n", "rows", "columns"])
    n_kept = int(keep.sum())
    if n_kept < min_respondents:
        why = "; ".join(f"{r['n']} dropped: {r['reason']}" for r in dropped_rows) or "no respondent dropped"
        need = ((min_reason(n_kept) if min_reason else f"fewer than the {min_respondents} segments the study asks for")
                if for_analysis else "nothing to classify")
        raise ReplicationError(f"{path}: {n_kept} respondent(s) left ({n} read; {why}): {need}")

    why = np.full(n, "", dtype=object)
    if unanswerable.any():
        why[unanswerable] = f"missing answers beyond the policy ({block.missing.describe()})"
    why[out_of_range] = "out-of-range answer (not a scale point of its item)"
    # Empty when every row kept would be used (always so for the analysis): a list of
    # millions of "" says nothing.
    excluded = list(why[keep]) if (why[keep] != "").any() else []
    # The kept respondents' answers moved up in place, column by column: the block becomes
    # the survey's without a second copy of a panel's answers.
    del items
    if not keep.all():
        for j in range(answers.shape[1]):
            answers[:n_kept, j] = answers[keep, j]
    survey = pd.DataFrame(answers[:n_kept], columns=names, copy=False)
    survey.insert(0, "respondent_id", ids.to_numpy()[keep])
    for col in carry:
        survey[col] = weights[keep] if weighted and col == block.weight else \
            _carried_column(raw, col, block.missing_codes)[keep]
    survey = survey.reset_index(drop=True)

    if for_analysis:
        for c in constructs:
            for it in c.items:
                x = survey[it].to_numpy()
                # constant: one answer given, more than once (its min and max agree)
                if np.count_nonzero(~np.isnan(x)) > 1 and np.nanmin(x) == np.nanmax(x):
                    v = np.nanmin(x)
                    original = ((c.scale_points + 1) - v if it in reverse_items else v) + block.scale_min - 1
                    raise ReplicationError(
                        f"{location(path, column=column_of[it])}: every respondent analysed gives the same "
                        f"answer ({_fmt(original)}) to item '{it}' of construct '{c.id}': a constant item "
                        "carries no information (a wrong column, or a filter question?)")

    labels = {"file_label": raw.file_label, "variables": {}, "values": {},
              "columns": {"respondent_id": block.id, **{it: column_of[it] for it in column_of},
                          **{c: c for c in carry}}}
    for out_col, file_col in labels["columns"].items():
        if file_col is None:
            continue
        if file_col in raw.variable_labels:
            text = raw.variable_labels[file_col]
            if out_col in reverse_items:
                text += " (reverse-coded)"
            labels["variables"][out_col] = text
        if file_col in raw.value_labels:
            if out_col in construct_of:
                c = construct_of[out_col]
                labels["values"][out_col] = _recode_labels(
                    {v: t for v, t in raw.value_labels[file_col].items()
                     if is_number(v) and block.scale_min <= float(v) <= block.scale_min + c.scale_points - 1},
                    block.scale_min, c.scale_points, out_col in reverse_items)
            else:
                labels["values"][out_col] = dict(raw.value_labels[file_col])
    return UserSurvey(survey=survey, dropped=dropped, labels=labels, source=path, n_read=n, notes=notes,
                      missing=block.missing, excluded=excluded)


def _out_of_range_error(raw: RawTable, col: str, what: str, values, rows, lo, hi, k, scale_min) -> ReplicationError:
    """Answers that are no scale point: the column, the values (with counts), the first
    row, and the two ways out (declare them missing, or allow dropping)."""
    vals, counts = np.unique(values, return_counts=True)
    shown = ", ".join(f"{_fmt(v)} ({n}x)" for v, n in zip(vals[:8], counts[:8])) + (", ..." if len(vals) > 8 else "")
    codes = ", ".join(_fmt(v) for v in vals[:8] if v == round(v))
    declare = (f"if {'they mean' if len(vals) > 1 else 'it means'} 'no answer', declare "
               f"{'them' if len(vals) > 1 else 'it'} missing in the data block (`missing_codes: [{codes}]`)"
               if codes else "check the file")
    return ReplicationError(
        f"{raw.where(int(rows[0]), col)}: {len(values)} answer(s) outside the scale {lo}-{hi} of {what} "
        f"(scale_points {k}{', scale_min ' + str(scale_min) if scale_min != 1 else ''}): {shown}; {declare}; "
        "or check scale_points and scale_min; `out_of_range: drop` in the data block drops these respondents instead")


def _declared_missing(raw: RawTable, col: str, v: float, codes) -> bool:
    if any(is_number(c) and float(c) == v for c in codes):
        return True
    return any(lo <= v <= hi for lo, hi in raw.user_missing.get(col, []) if is_number(lo) and is_number(hi))


def _fmt(v) -> str:
    v = float(v)
    return str(int(v)) if v == int(v) else f"{v:g}"


def _rows(mask: np.ndarray) -> str:
    idx = np.flatnonzero(mask)[:ROWS_SHOWN] + 1
    more = " ..." if mask.sum() > ROWS_SHOWN else ""
    return ", ".join(map(str, idx)) + more
