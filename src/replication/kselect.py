"""Choosing k: established criteria computed on Ward's partitions for k = 2..10.

The number of segments is chosen at stage 1, so the criteria are computed on the cuts
of Ward's tree:

* agglomeration-coefficient jump: the k before the largest increase in Ward's merge
  height (the elbow of the agglomeration schedule);
* Calinski-Harabasz (maximum), silhouette (maximum), Davies-Bouldin (minimum), from
  scikit-learn;
* the gap statistic (Tibshirani, Walther & Hastie 2001): the smallest k with
  ``Gap(k) >= Gap(k+1) - s(k+1)``, references drawn uniformly over the range of each
  variable and clustered the same way.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score

from .ward import ward_clusters, ward_linkage


def _log_within_ss(X, Z, ks) -> np.ndarray:
    """log of the pooled within-cluster sum of squares of Ward's cut at each k."""
    out = []
    for k in ks:
        labels = ward_clusters(Z, k)
        w = sum(((X[labels == j] - X[labels == j].mean(axis=0)) ** 2).sum() for j in range(k))
        out.append(np.log(w))
    return np.array(out)


def gap_statistic(X, ks, n_references: int = 20, random_state: int = 0):
    """Gap(k) and its simulation error s(k) for Ward's cuts (Tibshirani et al. 2001).

    Returns
    -------
    gap, s : ndarray, ndarray
    """
    X = np.asarray(X, dtype=float)
    rng = np.random.default_rng(random_state)
    observed = _log_within_ss(X, ward_linkage(X), ks)
    lo, hi = X.min(axis=0), X.max(axis=0)
    refs = np.vstack([_log_within_ss(R, ward_linkage(R), ks)
                      for R in (rng.uniform(lo, hi, size=X.shape) for _ in range(n_references))])
    gap = refs.mean(axis=0) - observed
    s = refs.std(axis=0, ddof=0) * np.sqrt(1 + 1 / n_references)
    return gap, s


def k_selection(X, Z=None, k_range=range(2, 11), n_references: int = 20, random_state: int = 0):
    """Every criterion for each k, and the k each criterion prefers.

    Parameters
    ----------
    X : array of shape (n_respondents, n_variables)
        The (standardized) clustering variables.
    Z : ndarray, optional
        Ward's linkage of ``X``; computed when not given.
    k_range : range
        Candidate k (at least three consecutive values).
    n_references, random_state
        For the gap statistic.

    Returns
    -------
    criteria : DataFrame
        One row per k: ``k, ward_height, height_jump, calinski_harabasz, silhouette,
        davies_bouldin, gap, gap_se``.
    preferred : DataFrame
        One row per criterion: ``criterion, rule, preferred_k``.
    """
    X = np.asarray(X, dtype=float)
    Z = ward_linkage(X) if Z is None else Z
    ks = list(k_range)
    n = X.shape[0]
    heights = Z[:, 2]
    rows = []
    for k in ks:
        labels = ward_clusters(Z, k)
        # heights[n - k - 1] merges k+1 clusters into k; heights[n - k] merges k into k-1.
        rows.append({
            "k": k,
            "ward_height": heights[n - k],
            "height_jump": heights[n - k] - heights[n - k - 1],
            "calinski_harabasz": calinski_harabasz_score(X, labels),
            "silhouette": silhouette_score(X, labels),
            "davies_bouldin": davies_bouldin_score(X, labels),
        })
    crit = pd.DataFrame(rows)
    gap, s = gap_statistic(X, ks + [ks[-1] + 1], n_references, random_state)
    crit["gap"], crit["gap_se"] = gap[:-1], s[:-1]
    ok = gap[:-1] >= gap[1:] - s[1:]
    gap_k = ks[int(np.argmax(ok))] if ok.any() else ks[-1]
    preferred = pd.DataFrame([
        {"criterion": "agglomeration jump", "rule": "largest jump in Ward height when merging further",
         "preferred_k": int(crit.loc[crit["height_jump"].idxmax(), "k"])},
        {"criterion": "Calinski-Harabasz", "rule": "maximum",
         "preferred_k": int(crit.loc[crit["calinski_harabasz"].idxmax(), "k"])},
        {"criterion": "silhouette", "rule": "maximum",
         "preferred_k": int(crit.loc[crit["silhouette"].idxmax(), "k"])},
        {"criterion": "Davies-Bouldin", "rule": "minimum",
         "preferred_k": int(crit.loc[crit["davies_bouldin"].idxmin(), "k"])},
        {"criterion": "gap statistic", "rule": "smallest k with Gap(k) >= Gap(k+1) - s(k+1)",
         "preferred_k": gap_k},
    ])
    return crit, preferred
