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

from ..memory import row_chunks
from .ward import ward_clusters, ward_linkage


#: Above this many rows, Calinski-Harabasz and Davies-Bouldin come from per-cluster sums
#: (:func:`_ch_db_from_sums`) instead of scikit-learn's functions, whose label encoding
#: and per-cluster passes took about a second per k at 2.8 million rows.
SUMS_ABOVE = 100_000


def _ch_db_from_sums(X, labels) -> tuple[float, float]:
    """scikit-learn's ``calinski_harabasz_score`` and ``davies_bouldin_score`` of a
    partition into clusters 0..k-1 (or any non-negative integer labels), from each
    cluster's size, centroid and mean distance to it: the same formulas (the test
    compares them with scikit-learn's to rounding)."""
    _, lab = np.unique(labels, return_inverse=True) if labels.min() < 0 else (None, labels)
    k = int(lab.max()) + 1
    n = X.shape[0]
    size = np.bincount(lab, minlength=k).astype(float)
    centers = np.column_stack([np.bincount(lab, weights=X[:, j], minlength=k) for j in range(X.shape[1])])
    present = size > 0
    centers, size = centers[present] / size[present, None], size[present]
    remap = np.cumsum(present) - 1
    lab = remap[lab]
    k = len(size)
    mean = X.mean(axis=0)
    # Row chunks: at panel scale the n x d temporaries would be the run's peak memory.
    dist = np.concatenate([np.sqrt(((X[rows] - centers[lab[rows]]) ** 2).sum(axis=1)) for rows in row_chunks(n)])
    within = float((dist ** 2).sum())
    between = float((size * ((centers - mean) ** 2).sum(axis=1)).sum())
    ch = 1.0 if within == 0 else between * (n - k) / (within * (k - 1))
    spread = np.bincount(lab, weights=dist, minlength=k) / size
    gaps = np.sqrt(((centers[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2))
    if np.allclose(spread, 0) or np.allclose(gaps, 0):
        return ch, 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (spread[:, None] + spread[None, :]) / gaps
    ratio[np.isinf(ratio)] = np.nan
    return ch, float(np.nanmax(ratio, axis=1).mean())


def _log_within_ss(X, Z, ks) -> np.ndarray:
    """log of the pooled within-cluster sum of squares of Ward's cut at each k.

    Ward's merge of two clusters raises the total within-cluster sum of squares by
    ``height**2 / 2`` (scipy's heights), so the sum after cutting at k clusters is the sum
    of the first ``n - k`` merge costs: no cut or pass over the data is needed.
    """
    n = Z.shape[0] + 1
    within = np.concatenate([[0.0], np.cumsum(Z[:, 2] ** 2 / 2)])   # within[m]: after m merges
    return np.log(np.array([within[n - k] for k in ks]))


def _log_within_ss_by_cutting(X, Z, ks) -> np.ndarray:
    """The same, by cutting the tree and summing squares (the reference for the test)."""
    out = []
    for k in ks:
        labels = ward_clusters(Z, k)
        w = sum(((X[labels == j] - X[labels == j].mean(axis=0)) ** 2).sum() for j in range(k))
        out.append(np.log(w))
    return np.array(out)


def reference_linkage(R) -> np.ndarray:
    """Ward's tree of a gap-statistic reference set, by fastcluster's ``linkage_vector``.

    Only the merge heights of a reference tree are used. The reference sets are continuous
    uniform draws, so they have no ties, and fastcluster's heights equal scipy's to
    rounding (the test compares them); it is about four times quicker at N = 586, and the
    twenty reference trees were a third of a Monte Carlo replicate.
    """
    import fastcluster
    return fastcluster.linkage_vector(np.asarray(R, dtype=float), method="ward")


def gap_statistic(X, ks, n_references: int = 20, random_state: int = 0, Z=None):
    """Gap(k) and its simulation error s(k) for Ward's cuts (Tibshirani et al. 2001).

    ``Z``: Ward's tree of ``X`` when already built (scipy's, as the segmentation uses).

    Returns
    -------
    gap, s : ndarray, ndarray
    """
    X = np.asarray(X, dtype=float)
    rng = np.random.default_rng(random_state)
    observed = _log_within_ss(X, ward_linkage(X) if Z is None else Z, ks)
    lo, hi = X.min(axis=0), X.max(axis=0)
    refs = np.vstack([_log_within_ss(R, reference_linkage(R), ks)
                      for R in (rng.uniform(lo, hi, size=X.shape) for _ in range(n_references))])
    gap = refs.mean(axis=0) - observed
    s = refs.std(axis=0, ddof=0) * np.sqrt(1 + 1 / n_references)
    return gap, s


#: Above this many respondents, the silhouette (O(N^2)) and the gap statistic (Ward on the
#: data and on every reference set) are computed on a seeded sample of this size.
SAMPLE_LIMIT = 2000


def k_selection(X, Z=None, k_range=range(2, 11), n_references: int = 20, random_state: int = 0,
                labels_at=None, sample_limit: int = SAMPLE_LIMIT, weighted_tree: bool = False):
    """Every criterion for each k, and the k each criterion prefers.

    Parameters
    ----------
    X : array of shape (n_respondents, n_variables)
        The (standardized) clustering variables.
    Z : ndarray, optional
        Ward's linkage (of ``X``, or of its micro-clusters); computed when not given.
    k_range : range
        Candidate k (at least three consecutive values).
    n_references, random_state
        For the gap statistic (and the samples below).
    labels_at : callable, optional
        ``k -> labels`` of every row of ``X`` at Ward's cut into k (default: cut ``Z``).
    sample_limit : int
        With more rows than this, the silhouette and the gap statistic use a seeded
        random sample of ``sample_limit`` rows (stated in ``sampling``); the other criteria
        always use every row.
    weighted_tree : bool
        ``Z`` is Ward's tree of survey-weighted respondents: its heights give the
        agglomeration jump, but the gap statistic's observed term is computed on an
        unweighted tree, as its uniform reference sets are (so the two compare).

    Returns
    -------
    criteria : DataFrame
        One row per k: ``k, ward_height, height_jump, calinski_harabasz, silhouette,
        davies_bouldin, gap, gap_se``.
    preferred : DataFrame
        One row per criterion: ``criterion, rule, preferred_k``.
    sampling : DataFrame
        One row per criterion: ``criterion, computed_on`` (all rows, or a sample).
    """
    X = np.asarray(X, dtype=float)
    Z = ward_linkage(X) if Z is None else Z
    labels_at = labels_at or (lambda k: ward_clusters(Z, k))
    ks = list(k_range)
    n, n_leaves = X.shape[0], Z.shape[0] + 1
    rng = np.random.default_rng(random_state)
    sample = np.sort(rng.choice(n, size=sample_limit, replace=False)) if n > sample_limit else None
    heights = Z[:, 2]
    rows = []
    for k in ks:
        labels = labels_at(k)
        if n > SUMS_ABOVE:
            ch, db = _ch_db_from_sums(X, np.asarray(labels))
        else:
            ch, db = calinski_harabasz_score(X, labels), davies_bouldin_score(X, labels)
        # heights[m - k - 1] merges k+1 clusters into k; heights[m - k] merges k into k-1.
        rows.append({
            "k": k,
            "ward_height": heights[n_leaves - k],
            "height_jump": heights[n_leaves - k] - heights[n_leaves - k - 1],
            "calinski_harabasz": ch,
            "silhouette": silhouette_score(X, labels) if sample is None
            else silhouette_score(X[sample], labels[sample]),
            "davies_bouldin": db,
        })
    crit = pd.DataFrame(rows)
    # Ward's own tree of X serves the observed term when it is a tree of every row.
    own = Z if sample is None and n_leaves == n and not weighted_tree else None
    gap, s = gap_statistic(X if sample is None else X[sample], ks + [ks[-1] + 1], n_references, random_state, Z=own)
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
    everyone = f"all {n:,} respondents"
    sampled = f"a seeded random sample of {sample_limit:,} of {n:,} respondents" if sample is not None else everyone
    tree = everyone if n_leaves == n else f"Ward's tree of {n_leaves:,} micro-clusters of all {n:,} respondents"
    sampling = pd.DataFrame({"criterion": preferred["criterion"],
                             "computed_on": [tree, everyone, sampled, everyone,
                                             sampled + f" and {n_references} reference sets of that size"]})
    return crit, preferred, sampling
