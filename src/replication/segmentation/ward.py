"""Stage 1 of the two-stage cluster analysis: Ward's hierarchical clustering."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.cluster.hierarchy import fcluster, linkage


def ward_linkage(X) -> np.ndarray:
    """Ward's minimum-variance agglomeration of the rows of ``X`` (scipy's linkage matrix).

    Parameters
    ----------
    X : array of shape (n_respondents, n_variables)
        Usually the standardized clustering variables.

    Returns
    -------
    ndarray of shape (n_respondents - 1, 4)
        scipy's linkage matrix: the two clusters merged, the merge height, the new size.
    """
    return linkage(np.asarray(X, dtype=float), method="ward", metric="euclidean")


def ward_clusters(Z: np.ndarray, k: int) -> np.ndarray:
    """Cut the tree into ``k`` clusters; labels ``0..k-1``."""
    return fcluster(Z, t=k, criterion="maxclust") - 1


def cluster_centroids(X, labels, k: int | None = None) -> np.ndarray:
    """Mean of ``X`` within each label ``0..k-1``."""
    X = np.asarray(X, dtype=float)
    k = int(labels.max()) + 1 if k is None else k
    return np.vstack([X[labels == j].mean(axis=0) for j in range(k)])


def agglomeration_schedule(Z: np.ndarray) -> pd.DataFrame:
    """The agglomeration schedule: one row per merge, as SPSS prints it.

    ``height`` is scipy's Ward distance; ``coefficient`` is the total within-cluster sum
    of squares after the merge (SPSS's Ward coefficient), which grows by ``height**2 / 2``
    at each step.

    Returns
    -------
    DataFrame
        ``step, cluster_1, cluster_2, height, coefficient, size, clusters_after``.
    """
    n = Z.shape[0] + 1
    return pd.DataFrame({
        "step": np.arange(1, n),
        "cluster_1": Z[:, 0].astype(int),
        "cluster_2": Z[:, 1].astype(int),
        "height": Z[:, 2],
        "coefficient": np.cumsum(Z[:, 2] ** 2 / 2),
        "size": Z[:, 3].astype(int),
        "clusters_after": np.arange(n - 1, 0, -1),
    })
