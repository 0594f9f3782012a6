"""The membership model's design: the survey's single-column predictors as the logit's terms.

A numeric or ordinal predictor is one term (its value; standardized with the constructs
when the study standardizes predictors). A categorical predictor is dummy-coded: one 0/1
term per level but the reference, named ``<id>[<level>]`` after the level's name (the
``levels:`` of the specification, else the ``.sav`` file's value labels, else the code as
written); dummies are never standardized, so their odds ratios compare a level with the
reference. Each predictor's coding is plain JSON (:func:`code_predictors` learns it from
the training survey, the model card keeps it) so :func:`design_frame` builds the same
terms for new respondents.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import ReplicationError, location
from ..study.predictors import is_missing_cell as _is_missing
from ..study.predictors import level_code as _code
from ..study.predictors import level_index, membership_predictors


def _who(survey: pd.DataFrame, row: int) -> str:
    if "respondent_id" in survey.columns:
        return f"respondent {survey['respondent_id'].iloc[row]!r}"
    return f"row {row + 1}"


@dataclass
class PredictorDesign:
    """The single-column predictors as terms.

    Attributes
    ----------
    codings : list of dict
        One per predictor: ``id, type, label, column, terms`` and, by type, ``levels``
        (``[{"code", "name"}]``, the reference first) and ``reference``, ``scale``
        (``[lo, hi]`` of an ordinal item), ``missing_codes``.
    frame : DataFrame
        ``respondent_id`` and one column per term; NaN where the respondent has no value.
    """

    codings: list
    frame: pd.DataFrame

    @property
    def terms(self) -> list[str]:
        return [t for c in self.codings for t in c["terms"]]

    @property
    def groups(self) -> dict[str, list[str]]:
        """Predictor id -> its terms (the likelihood-ratio test drops them together)."""
        return {c["id"]: list(c["terms"]) for c in self.codings}

    @property
    def dummies(self) -> list[str]:
        """Terms that are 0/1 indicators (never standardized)."""
        return [t for c in self.codings if c["type"] == "categorical" for t in c["terms"]]

    @property
    def labels(self) -> dict[str, str]:
        """Page names of the predictors and their terms (``Gender: female``)."""
        return term_labels(self.codings)


def term_labels(codings) -> dict[str, str]:
    """Page names of predictors and terms of ``codings`` (a dummy: ``Gender: male``; the
    reference level is named in the table of the predictors)."""
    out = {}
    for c in codings:
        out[c["id"]] = c["label"]
        if c["type"] == "categorical":
            for t, lv in zip(c["terms"], c["levels"][1:]):
                out[t] = f"{c['label']}: {lv['name']}"
    return out


def _numbers(survey, coding, where) -> np.ndarray:
    """The column as floats (NaN: missing); text or an infinite value is an error."""
    col = coding["column"]
    values = survey[col].to_numpy()
    codes = {_code(m) for m in coding.get("missing_codes", [])}
    if values.dtype.kind in "biuf":
        # A numeric column (the usual case, and the fast one for a large file).
        out = values.astype(float)
        out[np.isin(out, [c for c in codes if not isinstance(c, str)])] = np.nan
        bad = np.isinf(out)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ReplicationError(f"{where(col)}: {_who(survey, i)} has {out[i]}, which is not a finite number "
                                   f"(predictor '{coding['id']}')")
        values = np.array([], dtype=object)
    else:
        out = np.full(len(values), np.nan)
    for i, v in enumerate(values):
        if _is_missing(v) or _code(v) in codes:
            continue
        try:
            x = float(str(v).strip()) if isinstance(v, str) else float(v)
        except ValueError:
            raise ReplicationError(f"{where(col)}: {_who(survey, i)} has {str(v)[:40]!r}, which is not a number, "
                                   f"but {coding['type']} predictor '{coding['id']}' must be one (a code that means "
                                   "'no answer' goes in the predictor's missing_codes)") from None
        if not math.isfinite(x):
            raise ReplicationError(f"{where(col)}: {_who(survey, i)} has {str(v)!r}, which is not a finite number "
                                   f"(predictor '{coding['id']}')")
        out[i] = x
    lo_hi = coding.get("scale")
    if lo_hi is not None:
        lo, hi = lo_hi
        bad = ~np.isnan(out) & ((out < lo) | (out > hi) | (out != np.round(out)))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ReplicationError(f"{where(col)}: {_who(survey, i)} has {out[i]:g}, which is not an answer point "
                                   f"{lo}-{hi} of ordinal predictor '{coding['id']}' ({int(bad.sum())} such "
                                   "cell(s)); declare a 'no answer' code in the predictor's missing_codes")
    return out


def code_predictors(spec, survey: pd.DataFrame, labels: dict | None = None, source="the survey") -> PredictorDesign:
    """Learn the coding of the specification's single-column predictors from the survey.

    Parameters
    ----------
    spec : StudySpec
        Its ``membership.predictors`` (see :mod:`replication.study.predictors`).
    survey : DataFrame
        ``respondent_id`` and the predictors' columns (carried by the reader).
    labels : dict, optional
        The survey's labels (:attr:`UserSurvey.labels`): value labels name the levels of
        a categorical predictor that has no ``levels:``.
    source : str
        How error messages name the survey (its file).

    Returns
    -------
    PredictorDesign

    Raises
    ------
    ReplicationError
        Naming the file, the column and the specification's field: a column missing, text
        in a numeric predictor, a reference level that does not occur, a constant predictor.
    """
    preds = membership_predictors(spec)
    block_codes = list(spec.data.missing_codes) if getattr(spec, "data", None) is not None else []
    value_labels = (labels or {}).get("values", {})
    spec_file = spec.path or "the study specification"
    codings = []
    for i, p in enumerate(preds):
        field_ = f"membership.predictors[{i}] ('{p.id}') in {spec_file}"

        def where(col, field_=field_):
            return f"{location(source, column=col)} ({field_})"

        col = p.source_column
        if col not in survey.columns:
            raise ReplicationError(f"{where(col)}: the survey has no such column")
        # A number such as 99 may be a real age, so a numeric predictor takes only the data
        # block's text codes ('NA'); an answer (ordinal, categorical) takes all of them.
        missing_codes = p.missing_codes if p.missing_codes is not None else \
            [m for m in block_codes if p.type != "numeric" or isinstance(_code(m), str)]
        label = p.label or (labels or {}).get("variables", {}).get(col) or p.id
        coding = {"id": p.id, "type": p.type, "label": label, "column": col,
                  "missing_codes": [_code(m) for m in missing_codes]}
        if p.type == "ordinal" and p.scale_points is not None:
            lo = int(spec.data.scale_min) if spec.data is not None else 1
            coding["scale"] = [lo, lo + p.scale_points - 1]
        if p.type != "categorical":
            x = _numbers(survey, coding, where)
            seen = x[~np.isnan(x)]
            if seen.size == 0:
                raise ReplicationError(f"{where(col)}: predictor '{p.id}' has no value for any respondent")
            if np.unique(seen).size < 2:
                raise ReplicationError(f"{where(col)}: every respondent has the same value ({seen[0]:g}) of "
                                       f"predictor '{p.id}': a constant predictor explains nothing")
            coding["terms"] = [p.id]
            codings.append(coding)
            continue
        _, present = level_index(survey[col].to_numpy(), coding["missing_codes"])
        if len(present) < 2:
            raise ReplicationError(f"{where(col)}: categorical predictor '{p.id}' has "
                                   f"{'one level' if present else 'no value'} among the respondents; it needs two")
        file_names = {_code(k): str(v) for k, v in value_labels.get(col, {}).items()}
        spec_names = {_code(k): str(v) for k, v in (p.levels or {}).items()}
        names = {c: spec_names.get(c, file_names.get(c, str(c))) for c in present}
        ref = _code(p.reference)
        if ref not in names:
            by_name = [c for c, n in names.items() if n == str(p.reference)] or \
                [c for c, n in names.items() if n.casefold() == str(p.reference).casefold()]
            if len(by_name) != 1:
                shown = ", ".join(f"{n} ({c})" if str(c) != n else n for c, n in names.items())
                raise ReplicationError(f"{where(col)}: reference level {p.reference!r} of categorical predictor "
                                       f"'{p.id}' does not occur among the respondents; its levels: {shown}")
            ref = by_name[0]
        order = [ref] + [c for c in present if c != ref]
        used, terms = set(), []
        for c in order[1:]:
            term = f"{p.id}[{names[c]}]"
            if term in used:
                term = f"{p.id}[{c}]"
            used.add(term)
            terms.append(term)
        coding.update(levels=[{"code": c, "name": names[c]} for c in order], reference=ref, terms=terms)
        codings.append(coding)
    return PredictorDesign(codings, design_frame(codings, survey, source, spec_file))


def design_frame(codings, survey: pd.DataFrame, source="the survey", spec_file="the model card") -> pd.DataFrame:
    """The terms of ``codings`` for ``survey``: ``respondent_id`` and one column per term.

    A missing value gives NaN in every term of the predictor; a categorical level the
    coding does not know is an error naming the respondent (its effect was never estimated).
    """
    ids = survey["respondent_id"].to_numpy() if "respondent_id" in survey.columns else np.arange(1, len(survey) + 1)
    out = pd.DataFrame({"respondent_id": ids})
    for c in codings:
        def where(col, c=c):
            return f"{location(source, column=col)} (predictor '{c['id']}' of {spec_file})"

        if c["column"] not in survey.columns:
            raise ReplicationError(f"{where(c['column'])}: the data have no such column")
        if c["type"] != "categorical":
            out[c["terms"][0]] = _numbers(survey, c, where)
            continue
        found, codes = level_index(survey[c["column"]].to_numpy(), c.get("missing_codes", []))
        position = {lv["code"]: j for j, lv in enumerate(c["levels"])}
        unknown = [code for code in codes if code not in position]
        if unknown:
            i = int(np.flatnonzero(found == codes.index(unknown[0]))[0])
            raise ReplicationError(f"{where(c['column'])}: {_who(survey, i)} has level {unknown[0]!r}, which the "
                                   f"model never saw (levels: {', '.join(str(lv['code']) for lv in c['levels'])})")
        lookup = np.array([position[code] for code in codes] + [-1], dtype=int)
        index = lookup[found]                  # found -1 (missing) picks the trailing -1
        for j, term in enumerate(c["terms"], start=1):
            x = (index == j).astype(float)
            x[index < 0] = np.nan
            out[term] = x
    return out


@dataclass
class MembershipData:
    """The membership model's data: segment, every term, and who was left out."""

    data: pd.DataFrame
    terms: list
    groups: dict
    dummies: list
    labels: dict = field(default_factory=dict)
    codings: list = field(default_factory=list)
    #: Respondents with a segment but a missing value of a single-column predictor.
    n_incomplete: int = 0
    #: Predictor id -> respondents without a value of it.
    missing: dict = field(default_factory=dict)
    #: Which rows of the scores (the survey's order) are in ``data``.
    rows: np.ndarray | None = None


def join_on_id(left: pd.DataFrame, right: pd.DataFrame, how: str = "inner") -> pd.DataFrame:
    """``left.merge(right, on="respondent_id", how=how, validate="one_to_one")``, side by side
    without the hash join when both list the same respondents in the same order (the
    survey's order, as every stage keeps it: at panel scale a join on millions of text ids
    took seconds)."""
    a, b = left["respondent_id"], right["respondent_id"]
    if len(a) == len(b) and a.is_unique and np.array_equal(a.to_numpy(), b.to_numpy()):
        return pd.concat([left.reset_index(drop=True), right.drop(columns="respondent_id").reset_index(drop=True)],
                         axis=1)
    return left.merge(right, on="respondent_id", how=how, validate="one_to_one")


def membership_data(spec, scores: pd.DataFrame, assignments: pd.DataFrame, survey: pd.DataFrame,
                    labels: dict | None = None, source="the survey",
                    design: PredictorDesign | None = None) -> MembershipData:
    """Segment, predictor constructs' scores and single-column predictors' terms per respondent.

    Respondents missing a single-column predictor are left out of the model (complete
    cases; counted in ``n_incomplete``). A study whose predictors are all constructs gets
    exactly the data it always had. ``design``: the predictors already coded (by
    :func:`code_predictors`; default: coded here).
    """
    data = join_on_id(scores, assignments)
    constructs = [c.id for c in spec.predictor_constructs]
    if not membership_predictors(spec):
        return MembershipData(data, constructs, {c: [c] for c in constructs}, [], rows=np.ones(len(data), bool))
    design = design or code_predictors(spec, survey, labels, source)
    data = join_on_id(data, design.frame)
    complete = data[design.terms].notna().all(axis=1).to_numpy()
    missing = {p: int(data[terms[0]].isna().sum()) for p, terms in design.groups.items()}
    labels_ = {c.id: c.label.value for c in spec.predictor_constructs} | design.labels
    kept = data if complete.all() else data[complete].reset_index(drop=True)    # no copy when all are complete
    return MembershipData(kept, constructs + design.terms, {**{c: [c] for c in constructs}, **design.groups},
                          design.dummies, labels_, design.codings, int((~complete).sum()), missing, complete)


def predictor_table(spec, md: MembershipData) -> pd.DataFrame:
    """Every predictor of the membership model and how it enters it: ``predictor, kind,
    terms, coding, n_missing`` (the page's table of the predictors)."""
    standardized = spec.membership.standardize_predictors.value
    unit = "per SD" if standardized else "per unit"
    rows = [{"predictor": c.id, "kind": f"scale of {len(c.items.value)} items", "terms": 1,
             "coding": f"mean of the items, {unit if standardized else 'per scale point'}"}
            for c in spec.predictor_constructs]
    for c in md.codings:
        if c["type"] == "categorical":
            coding = (f"0/1 per level against the reference '{c['levels'][0]['name']}' "
                      f"(levels: {', '.join(lv['name'] for lv in c['levels'])})")
        else:
            lo_hi = f", answers {c['scale'][0]}-{c['scale'][1]}" if c.get("scale") else ""
            coding = f"linear, {unit}{lo_hi}"
        rows.append({"predictor": c["id"], "kind": {"numeric": "number", "ordinal": "single rating item",
                                                    "categorical": "categories"}[c["type"]],
                     "terms": len(c["terms"]), "coding": coding})
    out = pd.DataFrame(rows)
    out["n_missing"] = [md.missing.get(p, 0) for p in out["predictor"]]
    return out
