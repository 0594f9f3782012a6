"""Recovery checks: the only module that compares results with the generating truth.

Nothing in the analysis imports this module; the truth is read here and nowhere else.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score

from .spec import StudySpec


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
