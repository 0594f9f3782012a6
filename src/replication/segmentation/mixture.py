"""Latent profile analysis (a Gaussian mixture) as a segmentation estimator.

>>> model = LatentProfileClustering(n_clusters=5).fit(needs)           # doctest: +SKIP
>>> model.membership_proba_                                             # doctest: +SKIP
>>> table, k = select_k(LatentProfileClustering(), needs, 2, 10)         # doctest: +SKIP

A latent profile analysis (LPA) is a finite mixture of normal distributions of the
segmentation dimensions: a segment is a latent class with its own mean of every
dimension, and within a segment the dimensions are independent (local independence:
``covariance_type="diag"``, each class with its own variances; ``"spherical"``,
``"tied"`` and ``"full"`` relax or tighten this, as in scikit-learn). It is fitted by
maximum likelihood (EM) with scikit-learn's :class:`~sklearn.mixture.GaussianMixture`,
``n_init`` starts seeded by ``random_state`` (k-means++ starting means), keeping the best
likelihood; as in Mplus (``STARTS``), every start first runs a few iterations and only the
best two go on to convergence.

*Variance floor.* Scale scores are means of Likert items, so they take a few discrete
values (steps of 1/items of a scale point); a normal density fitted to discrete values is
unbounded, and a class that gathers respondents sharing one value of a dimension drives
its variance to zero and the likelihood (and BIC) to spurious optima. By default
(``reg_covar="rounding"``) every class variance is floored by adding ``h**2 / 12``, the
variance of rounding to a grid of step ``h`` (Sheppard's correction), with ``h`` the
smallest gap between distinct values of any dimension (on the scale fitted); for
continuous data this is negligible and ``1e-6`` is used. A number sets the floor
directly (scikit-learn's ``reg_covar``). Each respondent gets posterior class probabilities (``membership_proba_``)
and the modal class (``labels_``). The probabilities are kept for the bias-corrected
membership model (:mod:`replication.membership.three_step`).

Rows are put in canonical (sorted) order before fitting, as in
:class:`~replication.segmentation.ward_kmeans.TwoStageClustering`, so the result does not
depend on the order of the file; scikit-learn's EM runs in one thread for a given seed,
so the same seed gives the same labels whatever the number of workers.

**Choosing k** (:func:`select_k`): for each k, the
log-likelihood ``LL``, the number of free parameters ``p``,
``BIC = -2 LL + p log N`` (lower is better; the chosen k),
``AIC = -2 LL + 2 p``, the classification entropy ``E = -sum_i sum_c tau_ic log tau_ic``,
``ICL = BIC + 2 E`` (the ICL-BIC of Biernacki, Celeux & Govaert 2000, on the same
lower-is-better scale as BIC) and the relative entropy ``1 - E / (N log k)``
(Ramaswamy et al. 1993; 1 = every respondent classified with certainty).

BIC assumes normal classes. Likert scale scores are bounded, so segments near the top or
bottom of the scale pile up at the bound; with many respondents BIC then adds classes to
fit that shape (on the forrester2016 synthetic sample at separation 7 the lowest BIC in
k = 2..10 is at k = 10 with all 60,000 respondents and at k = 9 on the 2,000 the method
comparison uses, although the data have 5 segments). Read the chosen k
with the relative entropy, the ICL and the smallest class size beside it.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture
from sklearn.utils.validation import check_is_fitted

from ..seeding import spawn_seeds
from .ward_kmeans import canonical_rows, check_clustering_input, inverse_permutation, size_order

#: Starts of EM per k (the best likelihood is kept).
N_INIT = 10
#: Two-stage starts, as Mplus's ``STARTS`` option and Latent GOLD do: every start runs
#: ``SCREEN_ITER`` EM iterations, and only the ``FINAL_STARTS`` best continue to
#: convergence. Most of the iterations of ten full starts go into polishing starts that
#: end in a worse optimum (Golovacheva's k = 2..10: 5,900 iterations, 1.4 s).
SCREEN_ITER, FINAL_STARTS = 20, 2


def classification_entropy(proba) -> float:
    """``E = -sum tau log tau`` of a respondents x classes matrix of posterior probabilities."""
    p = np.clip(np.asarray(proba, dtype=float), 1e-300, 1.0)
    return float(-(np.asarray(proba) * np.log(p)).sum())


def relative_entropy(proba) -> float:
    """``1 - E / (N log k)``; NaN for one class."""
    proba = np.asarray(proba, dtype=float)
    n, k = proba.shape
    return float(1 - classification_entropy(proba) / (n * np.log(k))) if k > 1 else float("nan")


class LatentProfileClustering(ClusterMixin, BaseEstimator):
    """Latent profile analysis: a Gaussian mixture fitted by EM with several seeded starts.

    Parameters
    ----------
    n_clusters : int
        Number of latent classes k.
    standardize : bool, default True
        Fit the mixture to z-scores (the likelihood ranking of models is unchanged; the
        centres are then on the standardized scale, like the other methods').
    random_state : int, default 0
        Seed of the EM starts.
    covariance_type : {"diag", "spherical", "tied", "full"}, default "diag"
        "diag" is LPA with local independence and class-specific variances.
    n_init : int, default 10
        EM starts (k-means starts with seeds drawn from ``random_state``).
    max_iter, tol
        Passed to :class:`~sklearn.mixture.GaussianMixture` (``tol`` is on the mean
        log-likelihood per respondent).
    reg_covar : "rounding" or float
        Variance added to every class variance (see above); stored in ``reg_covar_``.

    A scikit-learn estimator (``clone``, ``get_params``/``set_params``, ``fit_predict``);
    :func:`select_k` chooses k.

    Attributes
    ----------
    labels_, sizes_, cluster_centers_, cluster_centers_raw_, mean_, scale_, order_, path_
        As :class:`~replication.segmentation.ward_kmeans.TwoStageClustering` (``labels_``
        is the modal class; ``sizes_`` counts modal assignments).
    linkage_ : None
        No Ward tree.
    membership_proba_ : ndarray of shape (n_respondents, k)
        Posterior class probabilities, columns in label order.
    weights_ : ndarray
        Estimated class proportions (label order).
    covariances_ : ndarray
        Class covariances on the standardized scale, as scikit-learn shapes them.
    log_likelihood_, n_parameters_, bic_, aic_, entropy_, icl_, relative_entropy_ : float
    reg_covar_ : float
        The variance floor used.
    converged_ : bool
    mixture_ : GaussianMixture
        The fitted scikit-learn model (its classes in its own order; see ``class_order_``).
    class_order_ : ndarray
        ``class_order_[j]`` is the scikit-learn component shown as label ``j``.
    """

    def __init__(self, n_clusters: int = 5, standardize: bool = True, random_state: int = 0,
                 covariance_type: str = "diag", n_init: int = N_INIT, max_iter: int = 1000,
                 tol: float = 1e-5, reg_covar="rounding"):
        self.n_clusters = n_clusters
        self.standardize = standardize
        self.random_state = random_state
        self.covariance_type = covariance_type
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.reg_covar = reg_covar

    def _transform(self, X):
        return (np.asarray(X, dtype=float) - self.mean_) / self.scale_

    def _mixture(self, k: int, seed: int, max_iter: int, reg_covar: float) -> GaussianMixture:
        # k-means++ starting means: seeded, and no multi-threaded Lloyd iterations;
        # warm_start lets a screened start continue from where it stopped.
        return GaussianMixture(n_components=k, covariance_type=self.covariance_type, n_init=1,
                               max_iter=max_iter, tol=self.tol, reg_covar=reg_covar,
                               init_params="k-means++", random_state=seed, warm_start=True)

    def _em(self, k: int, Z, reg_covar: float) -> GaussianMixture:
        """The best of ``n_init`` seeded EM starts, in two stages (see ``SCREEN_ITER``)."""
        seeds = spawn_seeds(self.random_state, self.n_init)
        starts = [_fit_quietly(self._mixture(k, s, min(SCREEN_ITER, self.max_iter), reg_covar), Z) for s in seeds]
        # The best screened starts (ties: the earlier seed) run on to convergence.
        best = sorted(range(len(starts)), key=lambda i: (-starts[i].lower_bound_, i))[:FINAL_STARTS]
        for i in best:
            if not starts[i].converged_ and self.max_iter > SCREEN_ITER:
                starts[i].max_iter = self.max_iter - SCREEN_ITER
                _fit_quietly(starts[i], Z)
        return starts[min(best, key=lambda i: (-starts[i].lower_bound_, i))]

    def _prepare(self, X, k):
        """Checked ``X``, the canonical order, its standardization, the rows ``Z`` (canonical
        order, standardized) and the variance floor; nothing is stored on the estimator."""
        X = check_clustering_input(X, k)
        order, mean, scale, Zs = canonical_rows(X, True, self.standardize)
        if isinstance(self.reg_covar, str):
            if self.reg_covar != "rounding":
                raise ValueError(f"reg_covar must be 'rounding' or a number, not '{self.reg_covar}'")
            gaps = [np.diff(np.unique(Zs[:, j])) for j in range(Zs.shape[1])]
            h = min((g.min() for g in gaps if g.size), default=0.0)
            reg_covar = max(h ** 2 / 12, 1e-6)
        else:
            reg_covar = float(self.reg_covar)
        return X, order, mean, scale, Zs, reg_covar

    def fit(self, X, y=None):
        """Fit the k-class mixture to ``X`` (respondents x variables)."""
        k = self.n_clusters
        X, order, self.mean_, self.scale_, Zs, self.reg_covar_ = self._prepare(X, k)
        gm = self._em(k, Zs, self.reg_covar_)
        proba = gm.predict_proba(Zs)
        modal = proba.argmax(axis=1)
        sizes = np.bincount(modal, minlength=k)
        # Largest class first (by modal assignments, then by estimated weight), ties by mean.
        rank, relabel = size_order(sizes, gm.means_, -gm.weights_)
        inverse = inverse_permutation(order)
        self.mixture_, self.class_order_ = gm, rank
        self.labels_ = relabel[modal][inverse]
        self.membership_proba_ = proba[:, rank][inverse]
        self.sizes_ = sizes[rank]
        self.cluster_centers_ = gm.means_[rank]
        self.cluster_centers_raw_ = self.cluster_centers_ * self.scale_ + self.mean_
        self.weights_ = gm.weights_[rank]
        self.covariances_ = gm.covariances_[rank] if self.covariance_type != "tied" else gm.covariances_
        n = X.shape[0]
        self.log_likelihood_ = float(gm.score(Zs) * n)
        self.n_parameters_ = int(gm._n_parameters())
        self.bic_ = -2 * self.log_likelihood_ + self.n_parameters_ * np.log(n)
        self.aic_ = -2 * self.log_likelihood_ + 2 * self.n_parameters_
        self.entropy_ = classification_entropy(proba)
        self.icl_ = self.bic_ + 2 * self.entropy_
        self.relative_entropy_ = relative_entropy(proba)
        self.converged_ = bool(gm.converged_)
        self.linkage_ = None
        self.order_ = order
        self.path_ = (f"latent profile analysis: Gaussian mixture ({self.covariance_type} covariances), "
                      f"k = {k}, EM from {self.n_init} seeded k-means++ starts ({SCREEN_ITER} iterations each, the best "
                      f"{FINAL_STARTS} to convergence), variance floor "
                      f"{self.reg_covar_:.2g}, modal class assignment")
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Posterior class probabilities for new respondents (columns in label order)."""
        check_is_fitted(self)
        return self.mixture_.predict_proba(self._transform(X))[:, self.class_order_]

    def predict(self, X) -> np.ndarray:
        """Modal class for new respondents."""
        return self.predict_proba(X).argmax(axis=1)



def _fit_quietly(gm: GaussianMixture, Z) -> GaussianMixture:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return gm.fit(Z)


def select_k(estimator: LatentProfileClustering, X, k_min: int = 1, k_max: int = 10):
    """Fit k = k_min .. k_max classes with ``estimator``'s settings; choose k by BIC.

    The estimator is not changed (its ``n_clusters`` is not used).

    Returns
    -------
    table : DataFrame
        ``k, log_likelihood, n_parameters, bic, aic, icl, entropy, relative_entropy,
        smallest_class_pct, converged, chosen``.
    k : int
        The k of the lowest BIC.
    """
    X, order, _, _, Zs, reg_covar = estimator._prepare(X, max(k_min, 1))
    n = X.shape[0]
    rows = []
    for k in range(k_min, k_max + 1):
        gm = estimator._em(k, Zs, reg_covar)
        proba = gm.predict_proba(Zs)
        ll = float(gm.score(Zs) * n)
        p = int(gm._n_parameters())
        bic = -2 * ll + p * np.log(n)
        ent = classification_entropy(proba)
        rows.append({"k": k, "log_likelihood": ll, "n_parameters": p, "bic": bic, "aic": -2 * ll + 2 * p,
                     "icl": bic + 2 * ent, "entropy": ent, "relative_entropy": relative_entropy(proba),
                     "smallest_class_pct": 100 * np.bincount(proba.argmax(axis=1), minlength=k).min() / n,
                     "converged": bool(gm.converged_)})
    table = pd.DataFrame(rows)
    k = int(table.loc[table["bic"].idxmin(), "k"])
    table["chosen"] = table["k"] == k
    return table, k
