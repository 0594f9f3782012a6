"""The profiling variables by segment: behaviour and usage that describe the segments
without forming them (the paper's "individualization lovers take part in more
co-operation options")."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ..study.spec import StudySpec


def _indicators(survey: pd.DataFrame, p):
    """``(level, values)`` pairs a profiling variable is compared on: the variable itself,
    or for a categorical one an indicator of each of its levels."""
    x = survey[p.id].to_numpy(dtype=float)
    if p.kind != "categorical":
        return [(None, x)]
    return [(level, np.where(np.isnan(x), np.nan, (x == level).astype(float))) for level in p.categories]


def profiling_by_segment(survey: pd.DataFrame, segments: pd.Series, spec: StudySpec, weights=None) -> pd.DataFrame:
    """Mean of each profiling variable per segment (the share using it, for yes/no ones; the
    share at each level, for a categorical one); weighted means with survey ``weights``."""
    rows = []
    seg = np.asarray(segments)
    w_all = None if weights is None else np.asarray(weights, dtype=float)
    for p in spec.profiling:
        for level, x in _indicators(survey, p):
            for s in spec.segments:
                keep = (seg == s.id) & ~np.isnan(x)
                v = x[keep]
                mean = (float(v.mean()) if w_all is None else float(np.average(v, weights=w_all[keep]))) \
                    if v.size else np.nan
                rows.append({"variable": p.id, "kind": p.kind, "level": level, "segment": s.id, "name": s.name.value,
                             "n": int(v.size), "mean": mean})
    out = pd.DataFrame(rows)
    return out if any(p.kind == "categorical" for p in spec.profiling) else out.drop(columns="level")


#: The tests of "segment S stands out on V" (one-sided: S higher than the other segments
#: together): Fisher's exact test for a yes/no variable or a level of a categorical one,
#: the Mann-Whitney U test for a count.
CONTRAST_TESTS = {"binary": "Fisher's exact (one-sided)", "categorical": "Fisher's exact (one-sided)",
                  "count": "Mann-Whitney U (one-sided)"}


def profiling_contrasts(survey: pd.DataFrame, segments: pd.Series, spec: StudySpec, weights=None) -> pd.DataFrame:
    """Each segment against the other named segments together, on every profiling variable:
    does it stand out (a higher mean, rate or share of a level)? With survey ``weights`` the
    means are weighted; the tests count respondents, unweighted.

    Returns
    -------
    DataFrame
        One row per variable (and level), segment: ``variable, level, segment, n, mean,
        others_mean, difference, test, p_value`` (one-sided, "higher").
    """
    seg = np.asarray(segments)
    named = np.isin(seg, spec.segment_ids)
    w = None if weights is None else np.asarray(weights, dtype=float)
    rows = []
    for p in spec.profiling:
        for level, x in _indicators(survey, p):
            for s in spec.segments:
                in_mine, in_others = (seg == s.id) & ~np.isnan(x), named & (seg != s.id) & ~np.isnan(x)
                mine, others = x[in_mine], x[in_others]
                row = {"variable": p.id, "level": level, "segment": s.id, "n": int(mine.size),
                       "mean": _mean(mine, w, in_mine), "others_mean": _mean(others, w, in_others),
                       "test": CONTRAST_TESTS[p.kind], "p_value": np.nan}
                row["difference"] = row["mean"] - row["others_mean"]
                if mine.size and others.size:
                    if p.kind == "count":
                        row["p_value"] = float(stats.mannwhitneyu(mine, others, alternative="greater").pvalue)
                    else:
                        table = [[int(mine.sum()), int(mine.size - mine.sum())],
                                 [int(others.sum()), int(others.size - others.sum())]]
                        row["p_value"] = float(stats.fisher_exact(table, alternative="greater").pvalue)
                rows.append(row)
    return pd.DataFrame(rows, columns=["variable", "level", "segment", "n", "mean", "others_mean", "difference",
                                       "test", "p_value"])


def _mean(v, w, where) -> float:
    """Mean of ``v`` (NaN when empty), weighted by ``w[where]`` when ``w`` is given."""
    if not v.size:
        return np.nan
    return float(v.mean()) if w is None else float(np.average(v, weights=w[where]))


def profiling_tests(survey: pd.DataFrame, segments: pd.Series, spec: StudySpec) -> pd.DataFrame:
    """Each profiling variable across segments: chi-square for yes/no and categorical
    variables, Kruskal-Wallis for counts (a 0-5 count as six categories leaves expected
    cells too small)."""
    rows = []
    keep = segments.to_numpy() != "unmatched"
    for p in spec.profiling:
        x, g = survey.loc[keep, p.id].to_numpy(), segments[keep].to_numpy()
        if np.unique(g).size < 2 or np.unique(x).size < 2:
            # Fewer than two named segments (or a constant variable): nothing to compare.
            rows.append({"variable": p.id, "test": "not computed", "statistic": np.nan, "df": np.nan,
                         "p_value": np.nan, "effect_size": np.nan, "effect": "", "min_expected": np.nan})
            continue
        if p.kind in ("binary", "categorical"):
            table = pd.crosstab(g, x).to_numpy()
            stat, pval, dof, expected = stats.chi2_contingency(table)
            effect = np.sqrt(stat / (table.sum() * (min(table.shape) - 1)))
            rows.append({"variable": p.id, "test": "chi-square", "statistic": stat, "df": int(dof),
                         "p_value": pval, "effect_size": effect, "effect": "Cramer's V",
                         "min_expected": float(expected.min())})
        else:
            parts = [x[g == s] for s in np.unique(g)]
            stat, pval = stats.kruskal(*parts)
            eps2 = (stat - len(parts) + 1) / (len(x) - len(parts))
            rows.append({"variable": p.id, "test": "Kruskal-Wallis", "statistic": stat, "df": len(parts) - 1,
                         "p_value": pval, "effect_size": eps2, "effect": "epsilon squared",
                         "min_expected": np.nan})
    return pd.DataFrame(rows)
