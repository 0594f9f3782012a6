"""Recovery checks: the only module that compares results with the generating truth.

Nothing in the analysis imports this module; the truth is read here and nowhere else.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score

from ..study.spec import StudySpec


def true_segments(truth: dict) -> pd.DataFrame:
    """``respondent_id, true_segment`` from the truth file's contents."""
    return pd.DataFrame(truth["respondents"]).rename(columns={"segment": "true_segment"})


def clustering_recovery(spec: StudySpec, truth: dict, assignments: pd.DataFrame):
    """Adjusted Rand index, share correctly named, and the confusion matrix.

    Parameters
    ----------
    spec : StudySpec
    truth : dict
        Contents of ``truth.json``.
    assignments : DataFrame
        ``respondent_id, cluster, segment`` from the cluster analysis.

    Returns
    -------
    summary : DataFrame
        ``statistic, value`` rows: adjusted Rand index, correctly named share, n.
    confusion : DataFrame
        True segment (rows) by recovered segment (columns), counts.
    """
    both = assignments.merge(true_segments(truth), on="respondent_id", how="inner", validate="one_to_one")
    ari = adjusted_rand_score(both["true_segment"], both["cluster"])
    correct = float((both["true_segment"] == both["segment"]).mean())
    order = spec.segment_ids
    cols = order + (["unmatched"] if (both["segment"] == "unmatched").any() else [])
    confusion = (pd.crosstab(pd.Categorical(both["true_segment"], categories=order),
                             pd.Categorical(both["segment"], categories=cols), dropna=False)
                 .rename_axis(index="true_segment", columns=None).reset_index())
    confusion["true_segment"] = confusion["true_segment"].astype(str)
    summary = pd.DataFrame([
        {"statistic": "adjusted_rand_index", "value": ari},
        {"statistic": "correctly_named_share", "value": correct},
        {"statistic": "n", "value": float(len(both))},
    ])
    return summary, confusion


def logit_recovery(truth: dict, coefficients: pd.DataFrame, scale: pd.Series, standardized: bool):
    """Compare estimated slopes with the true ones.

    The truth is per scale point; standardized estimates are per SD, so the true slope
    is multiplied by the predictor's sample SD before comparing (and so is the interval).

    Returns
    -------
    table : DataFrame
        ``segment, predictor, true, estimate, ci_low, ci_high, sign_recovered, covered``
        (``sign_recovered`` is empty for true zeros).
    summary : DataFrame
        ``statistic, value``: non-zero slopes, signs recovered, intervals covering the truth.
    """
    slopes = truth["logit"]["slopes"]
    rows = []
    for seg, row in slopes.items():
        for pred, beta in row.items():
            hit = coefficients[(coefficients["segment"] == seg) & (coefficients["term"] == pred)]
            if hit.empty:
                continue
            c = hit.iloc[0]
            true = beta * (float(scale[pred]) if standardized else 1.0)
            lo, hi = np.log(c["or_ci_low"]), np.log(c["or_ci_high"])
            rows.append({"segment": seg, "predictor": pred, "true": true, "estimate": c["coef"],
                         "ci_low": lo, "ci_high": hi,
                         "sign_recovered": (np.sign(c["coef"]) == np.sign(true)) if beta != 0 else None,
                         "covered": bool(lo <= true <= hi)})
    table = pd.DataFrame(rows)
    nonzero = table["sign_recovered"].notna()
    summary = pd.DataFrame([
        {"statistic": "true_nonzero_slopes", "value": float(nonzero.sum())},
        {"statistic": "signs_recovered", "value": float(table.loc[nonzero, "sign_recovered"].astype(bool).sum())},
        {"statistic": "slopes", "value": float(len(table))},
        {"statistic": "covered_by_95ci", "value": float(table["covered"].sum())},
        {"statistic": "max_abs_error", "value": float((table["estimate"] - table["true"]).abs().max())},
    ])
    return table, summary


def recovery_tables(result, truth: dict, methods: bool | None = None,
                    comparison: pd.DataFrame | None = None) -> dict[str, pd.DataFrame]:
    """Every recovery table of an analysis against the generating truth, by output name.

    Parameters
    ----------
    result : AnalysisResult
        The analysis (which never saw the truth).
    truth : dict
        Contents of ``truth.json``.
    methods : bool, optional
        Also compare the segmentation methods (seconds of compute). Default: for a main
        run (one with the stability tables), not for a Monte Carlo replicate.
    comparison : DataFrame, optional
        That comparison, already computed (``compare_methods(result.spec, result.survey,
        truth)``, by a kernel of the run): taken as it is.
    """
    spec = result.spec
    summary, confusion = clustering_recovery(spec, truth, result.assignments)
    tables = {"recovery_clustering": summary, "recovery_confusion": confusion}
    if methods is None:
        methods = "share_verdicts" in result.tables and "stability" in result.tables
    if methods:
        from .comparison import compare_methods
        tables["method_comparison"] = (comparison if comparison is not None
                                       else compare_methods(spec, result.survey, truth))
    if result.membership is not None and "logit" in truth:
        predictors = result.membership.predictors
        # The analysis's estimates are per SD when standardized; the SDs convert the
        # per-point truth to that scale.
        table, logit_summary = logit_recovery(truth, result.membership.coefficients,
                                              result.membership_data[predictors].std(ddof=1),
                                              standardized=result.membership.standardized)
        tables.update({"recovery_logit": table, "recovery_logit_summary": logit_summary})
    return tables
