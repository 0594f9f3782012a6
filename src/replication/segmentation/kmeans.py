"""Stage 2 of the two-stage cluster analysis: k-means started from the Ward centroids."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.cluster import KMeans


@dataclass
class KMeansResult:
    labels: np.ndarray
    centers: np.ndarray
    n_iter: int
    converged: bool
    inertia: float


def kmeans_refine(X, init_centers, max_iter: int = 300, sample_weight=None) -> KMeansResult:
    """Refine a partition by k-means from given starting centres.

    One initialisation, no random restarts: the Ward centroids are the start, as the
    two-stage procedure prescribes. Lloyd's algorithm runs until no respondent changes
    cluster (``tol=0``), or ``max_iter``.

    Parameters
    ----------
    X : array of shape (n_respondents, n_variables)
    init_centers : array of shape (k, n_variables)
    max_iter : int
    sample_weight : array of shape (n_respondents,), optional
        Survey weights (weighted centroids and inertia); None = unweighted.

    Returns
    -------
    KMeansResult
        Labels, centres, iterations used and whether the labels stopped changing.
    """
    init_centers = np.asarray(init_centers, dtype=float)
    km = KMeans(n_clusters=init_centers.shape[0], init=init_centers, n_init=1,
                max_iter=max_iter, tol=0.0, algorithm="lloyd")
    km.fit(np.asarray(X, dtype=float), sample_weight=sample_weight)
    return KMeansResult(labels=km.labels_.astype(int), centers=km.cluster_centers_,
                        n_iter=int(km.n_iter_), converged=bool(km.n_iter_ < max_iter),
                        inertia=float(km.inertia_))
