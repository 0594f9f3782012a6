"""The two-stage cluster analysis as an estimator: Ward's method, then k-means.

>>> model = TwoStageClustering(n_clusters=5).fit(needs)      # doctest: +SKIP
>>> model.sizes_, model.cluster_centers_raw_                   # doctest: +SKIP

``fit`` reads like the methods section: standardize the clustering variables, build
Ward's hierarchy, cut it at k, take the Ward centroids as the start of k-means, iterate
k-means to convergence. Clusters are numbered by size, largest first, so the numbering
never depends on the order of the respondents.

Two paths, chosen by N (``exact_limit``):

* **exact** (N <= ``exact_limit``): Ward's method on every respondent. scipy's linkage
  needs the condensed distance matrix, N(N-1)/2 floats: 1.4 MB at N = 586, 14.4 GB at
  N = 60,000.
* **micro-clusters** (N > ``exact_limit``): stage 1 first compresses the respondents into
  ``n_micro`` k-means micro-clusters (seeded), then builds Ward's hierarchy on the
  micro-clusters *weighted by their sizes* (:mod:`.weighted_ward`). Ward's merge cost
  depends only on the sizes and centroids of what it merges, so this is Ward's method
  exactly, started from the micro-clusters instead of from single respondents (R's
  ``hclust(members=)``); unlike Ward on a subsample, every respondent counts. Stage 2 is
  unchanged: k-means on *all* respondents from the Ward centroids, which also undoes the
  few respondents a micro-cluster put on the wrong side of a border. Memory is linear in
  N; no N x N or condensed matrix is built.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.utils.validation import check_is_fitted

from ..errors import ReplicationError
from .kmeans import kmeans_refine
from .ward import cluster_centroids, ward_clusters, ward_linkage
from .weighted_ward import weighted_cluster_centroids, weighted_ward_linkage

#: Largest N for which Ward's method runs on every respondent (its condensed distance
#: matrix is then at most 100 MB and scipy links it in about a second).
EXACT_LIMIT = 5000
#: Micro-clusters of the scalable path: enough to resolve segments of 1 % of the sample
#: into several micro-clusters each, few enough for Ward's merges to take well under a second.
N_MICRO = 400


def check_clustering_input(X, n_clusters: int, names=None) -> np.ndarray:
    """Return ``X`` as a float array, or raise a clear error if Ward cannot run on it."""
    if isinstance(X, pd.DataFrame):
        names = list(X.columns) if names is None else names
    X = np.asarray(X, dtype=float)
    if X.ndim != 2:
        raise ReplicationError(f"clustering needs a respondents x variables table, got {X.ndim} dimension(s)")
    names = names or [f"variable {j + 1}" for j in range(X.shape[1])]
    for test, what in ((np.isnan, "missing"), (np.isinf, "infinite")):
        bad = test(X)
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise ReplicationError(f"clustering variable '{names[j]}' has {int(bad[:, j].sum())} {what} "
                                   f"value(s) (first in row {i + 1}); Ward's method needs complete, finite data")
    if X.shape[0] < n_clusters:
        raise ReplicationError(f"{X.shape[0]} respondents cannot form {n_clusters} clusters")
    # Counting distinct rows sorts the whole table; a few hundred rows usually settle it.
    head = X[: max(100 * n_clusters, 1000)]
    distinct = np.unique(head, axis=0).shape[0]
    if distinct < n_clusters and head.shape[0] < X.shape[0]:
        distinct = np.unique(X, axis=0).shape[0]
    if distinct < n_clusters:
        raise ReplicationError(f"only {distinct} distinct answer patterns among {X.shape[0]} respondents; "
                               f"they cannot form {n_clusters} clusters")
    constant = [names[j] for j in range(X.shape[1]) if np.ptp(X[:, j]) == 0]
    if constant:
        raise ReplicationError(f"clustering variable '{constant[0]}' is constant, so it cannot be "
                               "standardized or separate clusters")
    return X


def canonical_rows(X, sort: bool = True, standardize: bool = True):
    """The rows in canonical order and standardized, as every segmentation estimator needs.

    Sorting by value makes a result a function of the set of respondents, not of the
    order of the file (Ward and the CF tree break ties by order). Returns ``order``,
    ``mean``, ``scale`` (ddof = 1; zeros and ones without standardizing) and ``Z``, the
    standardized rows ``X[order]``.
    """
    order = np.lexsort(X.T[::-1]) if sort else np.arange(X.shape[0])
    Xs = X[order]
    if standardize:
        mean, scale = Xs.mean(axis=0), Xs.std(axis=0, ddof=1)
    else:
        mean, scale = np.zeros(X.shape[1]), np.ones(X.shape[1])
    return order, mean, scale, (Xs - mean) / scale


def inverse_permutation(order) -> np.ndarray:
    """``inverse[order] = 0..n-1``: takes arrays in canonical order back to the input's."""
    inverse = np.empty_like(order)
    inverse[order] = np.arange(order.size)
    return inverse


def size_order(sizes, centers, *before):
    """Canonical cluster numbers: largest first, ties by the keys in ``before`` (earlier
    ones decide first), then by centroid. Returns ``rank`` (new label j is old cluster
    ``rank[j]``) and ``relabel`` (old cluster -> new label)."""
    rank = np.lexsort(tuple(np.asarray(centers).T[::-1]) + tuple(before)[::-1] + (-np.asarray(sizes),))
    relabel = np.empty(len(rank), int)
    relabel[rank] = np.arange(len(rank))
    return rank, relabel


class TwoStageClustering(ClusterMixin, BaseEstimator):
    """Ward's hierarchical clustering followed by k-means from the Ward centroids.

    Parameters
    ----------
    n_clusters : int
        Number of clusters k.
    standardize : bool, default True
        Cluster z-scores (mean 0, SD 1 with ddof=1), so each need weighs the same.
    max_iter : int
        Upper bound on k-means iterations.

    exact_limit : int
        Largest N for Ward's method on every respondent (the exact path).
    n_micro : int
        Micro-clusters of the scalable path.
    random_state : int
        Seeds the micro-clusters of the scalable path.
    canonical_order : bool, default True
        Sort the rows before fitting, so the result does not depend on the file's order.

    A scikit-learn estimator (``clone``, ``get_params``/``set_params``, ``fit_predict``).

    Attributes
    ----------
    labels_ : ndarray of shape (n_respondents,)
        Final (k-means) cluster of each respondent, ``0..k-1``, largest cluster first.
    ward_labels_ : ndarray
        Stage-1 (Ward) cluster of each respondent, numbered like ``labels_``.
    cluster_centers_ : ndarray of shape (k, n_variables)
        Final centroids on the standardized scale.
    cluster_centers_raw_ : ndarray
        Final centroids on the original scale.
    ward_centers_ : ndarray
        The Ward centroids that started k-means (standardized scale).
    sizes_ : ndarray
        Respondents per cluster.
    linkage_ : ndarray
        Ward's linkage matrix: of the respondents in canonical (sorted) order on the exact
        path, of the micro-clusters on the scalable path.
    path_ : str
        ``"exact"`` or ``"micro-clusters"``.
    micro_labels_, micro_centers_, micro_sizes_ : ndarray or None
        The micro-clusters of the scalable path (respondents in canonical order).
    n_iter_ : int
        k-means iterations; ``converged_`` says whether labels stopped changing.
    mean_, scale_ : ndarray
        The standardization, reused by :meth:`predict`.
    inertia_ : float
        k-means's within-cluster sum of squares (standardized scale).
    order_ : ndarray
        The canonical order of the rows (``X[order_]`` is what Ward's method saw).
    """

    def __init__(self, n_clusters: int = 5, standardize: bool = True, max_iter: int = 300,
                 exact_limit: int = EXACT_LIMIT, n_micro: int = N_MICRO, random_state: int = 0,
                 canonical_order: bool = True):
        self.n_clusters = n_clusters
        self.standardize = standardize
        self.max_iter = max_iter
        self.exact_limit = exact_limit
        self.n_micro = n_micro
        self.random_state = random_state
        self.canonical_order = canonical_order

    def _transform(self, X):
        return (X - self.mean_) / self.scale_

    def fit(self, X, y=None, sample_weight=None):
        """Run both stages on ``X`` (respondents x clustering variables).

        ``sample_weight`` (positive, one per respondent; None = unweighted) makes every
        step weighted: the standardization (weighted mean and SD, :mod:`replication.weights`),
        Ward's method on the respondents as weighted points (:mod:`.weighted_ward`), the
        micro-clusters and k-means (scikit-learn's ``sample_weight``), and the size order.
        Integer weights then give the partition of the respondents duplicated that many times.
        """
        if sample_weight is not None:
            return self._fit_weighted(X, np.asarray(sample_weight, dtype=float))
        k = self.n_clusters
        X = check_clustering_input(X, k)
        self.sample_weight_ = None
        order, self.mean_, self.scale_, Zs = canonical_rows(X, self.canonical_order, self.standardize)

        # Stage 1: Ward's hierarchy, cut at k; its centroids seed stage 2.
        if X.shape[0] <= self.exact_limit:
            self.path_ = "exact"
            self.micro_labels_ = self.micro_centers_ = self.micro_sizes_ = None
            self.linkage_ = ward_linkage(Zs)
            ward = ward_clusters(self.linkage_, k)
            ward_centers = cluster_centroids(Zs, ward, k)
        else:
            self.path_ = "micro-clusters"
            micro, centers, sizes = micro_clusters(Zs, self.n_micro, self.random_state)
            self.micro_labels_, self.micro_centers_, self.micro_sizes_ = micro, centers, sizes
            # counts="leaves" keeps scipy's fcluster and dendrogram working on the tree.
            self.linkage_ = weighted_ward_linkage(centers, sizes, counts="leaves")
            ward_micro = ward_clusters(self.linkage_, k)
            ward = ward_micro[micro]
            ward_centers = weighted_cluster_centroids(centers, sizes, ward_micro, k)

        # Stage 2: k-means from the Ward centroids.
        km = kmeans_refine(Zs, ward_centers, self.max_iter)
        sizes = np.bincount(km.labels, minlength=k)
        self._store(order, ward, ward_centers, km, sizes, sizes)
        return self

    def _store(self, order, ward, ward_centers, km, counts, size_of):
        """The fitted attributes: clusters numbered by ``size_of`` (largest first), rows
        back in the input order; returns that ranking."""
        k = self.n_clusters
        rank, relabel = size_order(size_of, km.centers)
        inverse = inverse_permutation(order)
        self.labels_ = relabel[km.labels][inverse]
        self.ward_labels_ = relabel[ward][inverse] if np.array_equal(np.unique(ward), np.arange(k)) else ward[inverse]
        self.cluster_centers_ = km.centers[rank]
        self.ward_centers_ = ward_centers[rank]
        self.cluster_centers_raw_ = self.cluster_centers_ * self.scale_ + self.mean_
        self.sizes_ = counts[rank]
        self.n_iter_, self.converged_, self.inertia_ = km.n_iter, km.converged, km.inertia
        self.order_ = order
        return rank

    def _fit_weighted(self, X, w):
        """:meth:`fit` with survey weights ``w`` (a separate path, so the unweighted one is unchanged)."""
        from ..weights import weighted_mean, weighted_sd
        k = self.n_clusters
        X = check_clustering_input(X, k)
        if w.shape != (X.shape[0],) or not np.all(np.isfinite(w)) or np.any(w <= 0):
            raise ReplicationError("clustering weights must be positive and finite, one per respondent")
        order = np.lexsort(X.T[::-1]) if self.canonical_order else np.arange(X.shape[0])
        Xs, ws = X[order], w[order]
        if self.standardize:
            self.mean_, self.scale_ = weighted_mean(Xs, ws), weighted_sd(Xs, ws)
        else:
            self.mean_, self.scale_ = np.zeros(X.shape[1]), np.ones(X.shape[1])
        Zs = (Xs - self.mean_) / self.scale_
        if X.shape[0] <= self.exact_limit:
            # Ward's method on the respondents as weighted points: a respondent of weight w
            # merges as w identical respondents would (they would join first, at height 0).
            self.path_ = "exact"
            self.micro_labels_ = self.micro_centers_ = self.micro_sizes_ = None
            self.linkage_ = weighted_ward_linkage(Zs, ws, counts="leaves")
            ward = ward_clusters(self.linkage_, k)
        else:
            self.path_ = "micro-clusters"
            micro, centers, sizes = micro_clusters(Zs, self.n_micro, self.random_state, sample_weight=ws)
            self.micro_labels_, self.micro_centers_, self.micro_sizes_ = micro, centers, sizes
            self.linkage_ = weighted_ward_linkage(centers, sizes, counts="leaves")
            ward = ward_clusters(self.linkage_, k)[micro]
        ward_centers = weighted_cluster_centroids(Zs, ws, ward, k)
        km = kmeans_refine(Zs, ward_centers, self.max_iter, sample_weight=ws)
        counts = np.bincount(km.labels, minlength=k)
        weighted = np.bincount(km.labels, weights=ws, minlength=k)
        rank = self._store(order, ward, ward_centers, km, counts, weighted)
        self.weighted_sizes_ = weighted[rank]
        self.sample_weight_ = w
        return self

    def stage1_labels(self, k: int) -> np.ndarray:
        """Ward's cut at ``k`` clusters for every respondent (canonical order), on either path."""
        check_is_fitted(self)
        labels = ward_clusters(self.linkage_, k)
        return labels if self.path_ == "exact" else labels[self.micro_labels_]

    def predict(self, X) -> np.ndarray:
        """Nearest final centroid for new respondents (same variables, same scale)."""
        check_is_fitted(self)
        X = np.asarray(X, dtype=float)
        Z = self._transform(X)
        d = ((Z[:, None, :] - self.cluster_centers_[None, :, :]) ** 2).sum(axis=2)
        return d.argmin(axis=1)


def micro_clusters(Z, n_micro: int, random_state: int = 0, sample_weight=None):
    """Compress rows into ``n_micro`` k-means micro-clusters: labels, centroids, sizes
    (with ``sample_weight``: weighted k-means, weighted centroids, summed weights as sizes).

    Lloyd's k-means started from ``n_micro`` distinct rows drawn with a seeded generator
    (k-means++ would cost ``n_micro`` passes over the data; distinct among ``4 * n_micro``
    seeded candidates, so all rows are never sorted), ten iterations: micro-clusters
    need to be small and compact, not optimal. Empty ones are dropped.
    """
    from sklearn.cluster import KMeans

    rng = np.random.default_rng(random_state)
    # Starting rows must be distinct; deduplicating a few candidates avoids sorting all rows.
    n = Z.shape[0]
    cand = np.sort(rng.choice(n, size=min(n, 4 * n_micro), replace=False))
    _, first = np.unique(Z[cand], axis=0, return_index=True)
    cand = cand[np.sort(first)]
    if cand.size < n_micro and cand.size < n:
        uniq = np.unique(Z, axis=0)                  # few distinct answer patterns: use them all
        init = uniq[np.sort(rng.choice(uniq.shape[0], size=min(n_micro, uniq.shape[0]), replace=False))]
    else:
        init = Z[np.sort(rng.choice(cand, size=min(n_micro, cand.size), replace=False))]
    m = init.shape[0]
    km = KMeans(n_clusters=m, init=init, n_init=1, max_iter=10, algorithm="lloyd").fit(Z, sample_weight=sample_weight)
    labels = km.labels_.astype(np.intp)
    sizes = np.bincount(labels, weights=sample_weight, minlength=m)
    keep = np.flatnonzero(sizes)
    remap = np.full(m, -1, np.intp)
    remap[keep] = np.arange(keep.size)
    if keep.size < m:                                # drop empty micro-clusters
        w = np.ones(n) if sample_weight is None else sample_weight
        sums = np.vstack([np.bincount(labels, weights=w * Z[:, j], minlength=m) for j in range(Z.shape[1])]).T
        centers = sums[keep] / sizes[keep, None]
    else:
        centers = km.cluster_centers_
    return remap[labels], centers, sizes[keep].astype(float)
