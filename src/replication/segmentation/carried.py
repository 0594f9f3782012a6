"""The carried columns by segment: the survey's further columns (``data.carry``, the
membership model's single-column predictors, demographics) described per segment, as the
profiling table describes the profiling variables.

A numeric column is shown as its mean (and SD) per segment and tested across segments by a
one-way ANOVA (eta squared); a categorical one (text, an SPSS variable with value labels,
or a categorical predictor) as the percentage of each level per segment, tested by a
chi-square test of independence (Cramer's V). Missing values are left out per column.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ..study.predictors import level_code as _code
from ..study.predictors import level_index, membership_predictors


def carried_columns(spec, survey: pd.DataFrame) -> list[str]:
    """The survey's columns beside the respondent id and the items, in the survey's order."""
    items = {it for c in spec.constructs for it in c.items.value}
    return [c for c in survey.columns if c != "respondent_id" and c not in items]


def _kinds(spec, survey, columns, labels) -> dict[str, str]:
    """``numeric`` or ``categorical`` per column."""
    declared = {p.source_column: ("categorical" if p.type == "categorical" else "numeric")
                for p in membership_predictors(spec)}
    values = (labels or {}).get("values", {})
    out = {}
    for col in columns:
        if col in declared:
            out[col] = declared[col]
            continue
        x = survey[col]
        if not pd.api.types.is_numeric_dtype(x):     # text (object or pandas' string dtype)
            out[col] = "categorical"
            continue
        labelled = {_code(k) for k in values.get(col, {})}
        seen = {_code(v) for v in x.dropna().unique()}
        out[col] = "categorical" if labelled and seen <= labelled else "numeric"
    return out


def _names(spec, col, labels) -> dict:
    """Level code -> name: the predictor's ``levels:``, else the value labels, else the code."""
    names = {_code(k): str(v) for k, v in (labels or {}).get("values", {}).get(col, {}).items()}
    for p in membership_predictors(spec):
        if p.source_column == col and p.levels:
            names.update({_code(k): str(v) for k, v in p.levels.items()})
    return names


def carried_by_segment(spec, survey: pd.DataFrame, segments, labels: dict | None = None):
    """The carried columns per segment, and their tests across segments.

    Parameters
    ----------
    spec : StudySpec
    survey : DataFrame
        The survey analysed (``respondent_id``, items, carried columns), row for row with
        ``segments``.
    segments : array-like
        Each respondent's segment id.
    labels : dict, optional
        The survey's labels (:attr:`UserSurvey.labels`): variable labels name the columns,
        value labels the levels.

    Returns
    -------
    (DataFrame, DataFrame)
        ``variable, label, kind, level, segment, name, n, value, sd`` (``value``: the mean,
        or the percentage of the segment at the level) and ``variable, label, kind, test,
        statistic, df, p_value, effect_size, effect, n``.
    """
    profiled = {p.id for p in spec.profiling}
    columns = [c for c in carried_columns(spec, survey) if c not in profiled]
    kinds = _kinds(spec, survey, columns, labels)
    var_labels = dict((labels or {}).get("variables", {}))
    var_labels.update({p.source_column: p.name for p in membership_predictors(spec) if p.label})
    # Segments as positions in the specification (-1: unmatched), compared once.
    seg_index = pd.Series(np.asarray(segments, dtype=object)).map(
        {s: j for j, s in enumerate(spec.segment_ids)}).fillna(-1).to_numpy(dtype=int)
    named = seg_index >= 0
    rows, tests = [], []
    for col in columns:
        label = var_labels.get(col, col)
        if kinds[col] == "numeric":
            x = pd.to_numeric(survey[col], errors="coerce").to_numpy(dtype=float)
            ok = np.isfinite(x) & named
            for j, s in enumerate(spec.segments):
                v = x[ok & (seg_index == j)]
                rows.append({"variable": col, "label": label, "kind": "numeric", "level": None, "segment": s.id,
                             "name": s.name.value, "n": int(v.size), "value": float(v.mean()) if v.size else np.nan,
                             "sd": float(v.std(ddof=1)) if v.size > 1 else np.nan})
            parts = [x[ok & (seg_index == j)] for j in range(len(spec.segments))]
            parts = [p for p in parts if p.size]
            test = {"variable": col, "label": label, "kind": "numeric", "test": "not computed", "statistic": np.nan,
                    "df": np.nan, "p_value": np.nan, "effect_size": np.nan, "effect": "", "n": int(ok.sum())}
            if len(parts) >= 2 and sum(p.size for p in parts) > len(parts) and np.unique(x[ok]).size > 1:
                f, pval = stats.f_oneway(*parts)
                allv = np.concatenate(parts)
                ss_between = sum(p.size * (p.mean() - allv.mean()) ** 2 for p in parts)
                ss_total = ((allv - allv.mean()) ** 2).sum()
                test.update(test="one-way ANOVA", statistic=float(f), df=len(parts) - 1, p_value=float(pval),
                            effect_size=float(ss_between / ss_total), effect="eta squared")
            tests.append(test)
            continue
        index, levels = level_index(survey[col].to_numpy())
        ok = (index >= 0) & named
        names = _names(spec, col, labels)
        for j, s in enumerate(spec.segments):
            mine = index[ok & (seg_index == j)]
            counts = np.bincount(mine, minlength=len(levels))
            for lv, k in zip(levels, counts):
                rows.append({"variable": col, "label": label, "kind": "categorical", "level": names.get(lv, str(lv)),
                             "segment": s.id, "name": s.name.value, "n": int(k),
                             "value": 100.0 * k / mine.size if mine.size else np.nan, "sd": np.nan})
        test = {"variable": col, "label": label, "kind": "categorical", "test": "not computed", "statistic": np.nan,
                "df": np.nan, "p_value": np.nan, "effect_size": np.nan, "effect": "", "n": int(ok.sum())}
        table = np.bincount(seg_index[ok] * len(levels) + index[ok], minlength=len(spec.segments) * len(levels))
        table = table.reshape(len(spec.segments), len(levels))
        table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
        if table.shape[0] >= 2 and table.shape[1] >= 2:
            chi2, pval, dof, _ = stats.chi2_contingency(table)
            test.update(test="chi-square", statistic=float(chi2), df=int(dof), p_value=float(pval),
                        effect_size=float(np.sqrt(chi2 / (table.sum() * (min(table.shape) - 1)))), effect="Cramer's V")
        tests.append(test)
    by = pd.DataFrame(rows, columns=["variable", "label", "kind", "level", "segment", "name", "n", "value", "sd"])
    return by, pd.DataFrame(tests, columns=["variable", "label", "kind", "test", "statistic", "df", "p_value",
                                            "effect_size", "effect", "n"])


def carried_table(by: pd.DataFrame, spec) -> pd.DataFrame:
    """The page's table: one row per segment, one column per numeric column (its mean) or
    level of a categorical one (the percentage at it)."""
    if by.empty:
        return pd.DataFrame()
    head = [f"{r.label} (mean)" if r.kind == "numeric" else f"{r.label}: {r.level} (%)" for r in by.itertuples()]
    wide = by.assign(column=head).pivot(index="name", columns="column", values="value")
    wide = wide[list(dict.fromkeys(head))]
    wide = wide.reindex([n for n in spec.segment_names.values() if n in wide.index]).rename_axis("segment")
    wide = wide.reset_index()
    wide.columns.name = None
    return wide
