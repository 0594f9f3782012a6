"""Membership model corrected for classification error: three-step estimation with the
BCH and ML corrections.

>>> res = three_step_logit(scores[dims], scores[preds], k=5, spec=spec, correction="ML")  # doctest: +SKIP
>>> res.coefficients, res.wald_tests                                                     # doctest: +SKIP

Regressing respondents' *assigned* segments on predictors treats the assignment as if it
were the true segment. When segments overlap, some respondents are misclassified, and the
logit's slopes are biased towards zero (Bolck, Croon & Hagenaars 2004). The three-step
approach keeps the simple workflow but corrects the third step:

1. **Measurement model.** A latent profile analysis of the segmentation dimensions
   (:class:`~replication.segmentation.mixture.LatentProfileClustering`: Gaussian
   mixture, diagonal covariances, seeded starts) gives each respondent posterior class
   probabilities ``tau_ic``.
2. **Classification.** Each respondent is assigned to the modal class ``w_i``. The
   classification-error matrix ``D[c, s] = P(w = s | true class c)`` is estimated from
   the posteriors: ``D[c, s] = sum_i tau_ic [w_i = s] / sum_i tau_ic`` (Vermunt 2010,
   eq. 6; the same as StepMix's ``compute_bch_matrix``).
3. **Structural model**, the multinomial logit ``P(c | z) = softmax(a_c + b_c' z)``
   (reference class 0):

   * ``correction=None`` (*naive*): maximum likelihood with ``w_i`` as the outcome;
     model-based standard errors (inverse observed information).
   * ``"BCH"`` (Bolck, Croon & Hagenaars 2004; Vermunt 2010; Bakk, Tekle & Vermunt
     2013): every respondent enters once per class ``c`` with weight
     ``d*_ic = (D^-1)[w_i, c]`` (weights may be negative; each respondent's sum to 1), and
     the weighted log-likelihood ``sum_i sum_c d*_ic log P(c | z_i)`` is maximised
     (concave, since the weights of a respondent sum to 1). Standard errors: the
     robust sandwich ``A^-1 B A^-1`` (``A`` the negative Hessian, ``B`` the sum of each
     respondent's outer product of scores), as Vermunt (2010) recommends for the weighted
     analysis.
   * ``"ML"`` (Vermunt 2010; Bakk, Tekle & Vermunt 2013): maximise
     ``sum_i log sum_c P(c | z_i) D[c, w_i]``, the likelihood of the assigned class with
     the classification errors fixed at ``D``; standard errors from the inverse observed
     information (analytic Hessian).

   All three are maximised by a trust-region Newton method (scipy's ``trust-exact``)
   with analytic gradients and Hessians, started from zero (naive) or from the naive
   estimate (BCH, ML).

**Standard errors** (``se=``): ``"analytic"`` (default) treats ``D`` as known, as Vermunt
(2010) and Latent GOLD's default do; it ignores the (usually small) uncertainty of step 1
(Bakk, Oberski & Vermunt 2014), which the Monte Carlo in
``benchmarks/three_step_montecarlo.py`` checks through interval coverage.
``"bootstrap"`` re-runs all three steps on ``n_bootstrap`` seeded resamples of the
respondents (classes of each resample matched to the main solution's classes by their
means) and uses the standard deviation of the estimates: it includes step 1's
uncertainty and is B times slower. StepMix 3.0.0 itself offers only this non-parametric
(or a parametric) bootstrap, no analytic standard errors.

**Independent implementation.** :func:`stepmix_three_step` fits the same model with
StepMix (``StepMix(n_steps=3, measurement="gaussian_diag", structural="covariate",
correction=...)``); the tests check that its estimates equal ours.

**Naming.** With a specification, the classes are named by
:func:`~replication.segmentation.naming.match_segments` on their means (as z-scores
against the sample), so contrasts line up with the naive logit of the package's
segmentation; a class that fits no reported profile is called ``unmatched_<j>``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, stats

from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from ..errors import ReplicationError

CORRECTIONS = (None, "BCH", "ML")


# -- the structural model ---------------------------------------------------------------------
def _softmax(eta):
    eta = eta - eta.max(axis=1, keepdims=True)
    p = np.exp(eta)
    return p / p.sum(axis=1, keepdims=True)


def _probs(theta, X, K):
    """P (n x K) for parameters theta ((K-1) x terms, flattened), reference class 0."""
    B = theta.reshape(K - 1, X.shape[1])
    eta = np.column_stack([np.zeros(X.shape[0]), X @ B.T])
    return _softmax(eta)


def _logit_hessian_term(X, P):
    """-sum_i x_i x_i' (x) (diag p_i - p_i p_i') over the non-reference classes."""
    n, T = X.shape
    K1 = P.shape[1] - 1
    Q = P[:, 1:]
    H = np.zeros((K1, T, K1, T))
    for a in range(K1):
        for b in range(K1):
            w = Q[:, a] * ((a == b) - Q[:, b])
            H[a, :, b, :] = -(X * w[:, None]).T @ X
    return H.reshape(K1 * T, K1 * T)


def _converged(res, n) -> bool:
    """Converged: scipy says so, or the gradient vanishes to rounding (trust-exact may stop
    with "a bad approximation" once no further digit can be gained)."""
    return bool(res.success or (np.isfinite(res.fun) and np.abs(res.jac).max() < 1e-6 * n))


def weighted_logit(X, W, theta0=None):
    """Maximise ``sum_i sum_c W_ic log P(c | x_i)`` (rows of W summing to 1).

    Returns theta, the negative Hessian A, the per-respondent scores (n x params), the
    objective and whether the optimiser converged.
    """
    n, T = X.shape
    K = W.shape[1]

    def f(th):
        P = _probs(th, X, K)
        return -float((W * np.log(np.clip(P, 1e-300, 1))).sum())

    def g(th):
        P = _probs(th, X, K)
        return -(((W - P)[:, 1:]).T @ X).ravel()

    def h(th):
        return -_logit_hessian_term(X, _probs(th, X, K))

    theta0 = np.zeros((K - 1) * T) if theta0 is None else theta0
    res = optimize.minimize(f, theta0, jac=g, hess=h, method="trust-exact",
                            options={"gtol": 1e-8, "maxiter": 500})
    P = _probs(res.x, X, K)
    scores = ((W - P)[:, 1:, None] * X[:, None, :]).reshape(n, -1)
    return res.x, h(res.x), scores, -res.fun, _converged(res, n)


def ml_corrected_logit(X, w, D, theta0=None):
    """Maximise ``sum_i log sum_c P(c | x_i) D[c, w_i]`` (Vermunt's ML correction).

    Returns theta, the observed information (negative Hessian), the per-respondent scores,
    the log-likelihood and whether the optimiser converged.
    """
    n, T = X.shape
    K = D.shape[0]
    Dw = D[:, w].T                     # n x K: P(assigned class | true class c)

    def parts(th):
        P = _probs(th, X, K)
        f = (P * Dw).sum(axis=1)
        Q = P * Dw / f[:, None]        # posterior of the true class given w and x
        return P, Q, f

    def fun(th):
        return -float(np.log(np.clip(parts(th)[2], 1e-300, None)).sum())

    def jac(th):
        P, Q, _ = parts(th)
        return -(((Q - P)[:, 1:]).T @ X).ravel()

    def hess(th):
        P, Q, _ = parts(th)
        # d2/deta_k deta_l log f = (q_k d_kl - q_k q_l) - (p_k d_kl - p_k p_l)
        K1 = K - 1
        H = np.zeros((K1, T, K1, T))
        for a in range(1, K):
            for b in range(1, K):
                wq = Q[:, a] * ((a == b) - Q[:, b])
                wp = P[:, a] * ((a == b) - P[:, b])
                H[a - 1, :, b - 1, :] = (X * (wq - wp)[:, None]).T @ X
        return -H.reshape(K1 * T, K1 * T)

    theta0 = np.zeros((K - 1) * T) if theta0 is None else theta0
    res = optimize.minimize(fun, theta0, jac=jac, hess=hess, method="trust-exact",
                            options={"gtol": 1e-8, "maxiter": 500})
    P, Q, _ = parts(res.x)
    scores = ((Q - P)[:, 1:, None] * X[:, None, :]).reshape(n, -1)
    return res.x, hess(res.x), scores, -res.fun, _converged(res, n)


def classification_error_matrix(proba, assigned=None) -> np.ndarray:
    """``D[c, s] = P(assigned s | true c) = sum_i tau_ic [w_i = s] / sum_i tau_ic``."""
    proba = np.asarray(proba, dtype=float)
    w = proba.argmax(axis=1) if assigned is None else np.asarray(assigned)
    onehot = np.eye(proba.shape[1])[w]
    return (proba.T @ onehot) / proba.sum(axis=0)[:, None]


def estimate_structural(proba, Z, correction):
    """Step 3 on a design matrix ``Z`` (with a leading constant) and posteriors.

    Returns ``theta, cov, loglik, converged, D`` (``theta`` flattened (K-1) x terms).
    """
    proba = np.asarray(proba, dtype=float)
    K = proba.shape[1]
    w = proba.argmax(axis=1)
    onehot = np.eye(K)[w]
    if np.bincount(w, minlength=K).min() == 0:
        raise ReplicationError("three-step logit: a class has no respondents assigned to it")
    D = classification_error_matrix(proba, w)
    theta, A, scores, ll, ok = weighted_logit(Z, onehot)
    if correction is None:
        cov = np.linalg.inv(A)
    elif correction == "BCH":
        if np.linalg.cond(D) > 1e8:
            raise ReplicationError("three-step logit (BCH): the classification-error matrix is singular")
        Wb = onehot @ np.linalg.inv(D)
        theta, A, scores, ll, ok = weighted_logit(Z, Wb, theta)
        Ainv = np.linalg.inv(A)
        cov = Ainv @ (scores.T @ scores) @ Ainv
    elif correction == "ML":
        theta, A, scores, ll, ok = ml_corrected_logit(Z, w, D, theta)
        cov = np.linalg.inv(A)
    else:
        raise ReplicationError(f"three-step logit: correction must be None, 'BCH' or 'ML', not {correction!r}")
    return theta, cov, ll, ok, D


# -- naming the classes -----------------------------------------------------------------------
def class_names(measurement, dimensions, spec=None) -> tuple[list, object]:
    """Segment id of each class (label order) and the :class:`SegmentMatch` (None without a spec)."""
    k = measurement.n_clusters
    if spec is None:
        return [f"class_{j + 1}" for j in range(k)], None
    from ..segmentation.naming import match_segments

    X = np.asarray(dimensions, dtype=float)
    centers_z = (measurement.cluster_centers_raw_ - X.mean(axis=0)) / X.std(axis=0, ddof=1)
    match = match_segments(centers_z, spec)
    names = [match.mapping[j] or f"unmatched_{j + 1}" for j in range(k)]
    return names, match


# -- results ------------------------------------------------------------------------------------
@dataclass
class ThreeStepResult:
    """The outcome of :func:`three_step_logit`.

    Attributes
    ----------
    correction : str
        ``"naive"``, ``"BCH"`` or ``"ML"``.
    segments : list of str
        Class names, the reference first.
    reference : str
    predictors : list of str
    standardized : bool
        Whether coefficients are per SD (True) or per scale point of the predictors.
    coefficients : DataFrame
        ``segment, term, coef, se, z, p_value, odds_ratio, or_ci_low, or_ci_high`` (the
        layout of :func:`~replication.membership.logit.multinomial_logit`'s).
    wald_tests : DataFrame
        ``predictor, wald_chi2, df, p_value``: all of a predictor's slopes zero.
    classification_error : DataFrame
        ``D``: true class (rows) by assigned class (columns), named.
    se_method : str
        How the standard errors were computed.
    log_likelihood : float
        The maximised step-3 objective.
    converged : bool
    measurement : LatentProfileClustering
        Step 1.
    match : SegmentMatch or None
    relative_entropy : float
        Of step 1's posteriors.
    bootstrap : DataFrame or None
        Estimates of every bootstrap replicate (``se="bootstrap"``).
    """

    correction: str
    segments: list
    reference: str
    predictors: list
    standardized: bool
    coefficients: pd.DataFrame
    wald_tests: pd.DataFrame
    classification_error: pd.DataFrame
    se_method: str
    log_likelihood: float
    converged: bool
    measurement: object
    match: object = None
    relative_entropy: float = float("nan")
    bootstrap: pd.DataFrame | None = field(default=None)

    def summary(self) -> str:
        units = "per SD" if self.standardized else "per scale point"
        lines = [f"Three-step multinomial logit of segment membership ({self.correction})", "=" * 72,
                 f"Reference segment: {self.reference}    coefficients {units}    standard errors: {self.se_method}",
                 f"Step 1 relative entropy {self.relative_entropy:.3f}; step-3 log-likelihood "
                 f"{self.log_likelihood:.2f}; converged: {self.converged}", "",
                 "Wald test per predictor (all its slopes zero)",
                 self.wald_tests.to_string(index=False, float_format=lambda x: f"{x:.4g}"), "",
                 "Coefficients and odds ratios (95% CI)",
                 self.coefficients.to_string(index=False, float_format=lambda x: f"{x:.3f}")]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def _tables(theta, cov, segments, terms, predictors, level=0.95):
    K1, T = len(segments) - 1, len(terms)
    B = theta.reshape(K1, T)
    se = np.sqrt(np.clip(np.diag(cov), 0, None)).reshape(K1, T)
    zq = stats.norm.ppf(0.5 + level / 2)
    rows = []
    for j, seg in enumerate(segments[1:]):
        for i, term in enumerate(terms):
            b, s = B[j, i], se[j, i]
            z = b / s if s > 0 else np.nan
            rows.append({"segment": seg, "term": term, "coef": b, "se": s, "z": z,
                         "p_value": 2 * stats.norm.sf(abs(z)), "odds_ratio": np.exp(b),
                         "or_ci_low": np.exp(b - zq * s), "or_ci_high": np.exp(b + zq * s)})
    wald = []
    for p in predictors:
        i = terms.index(p)
        idx = [j * T + i for j in range(K1)]
        b = theta[idx]
        V = cov[np.ix_(idx, idx)]
        chi2 = float(b @ np.linalg.solve(V, b))
        wald.append({"predictor": p, "wald_chi2": chi2, "df": K1, "p_value": stats.chi2.sf(chi2, K1)})
    return pd.DataFrame(rows), pd.DataFrame(wald)


def _design(predictors, standardize, dummies=()):
    P = pd.DataFrame(predictors).astype(float)
    if P.isna().any().any():
        col = P.columns[P.isna().any()][0]
        raise ReplicationError(f"three-step logit: predictor '{col}' has missing values")
    sd = P.std(ddof=1)
    if (sd == 0).any():
        raise ReplicationError(f"three-step logit: predictor '{sd.index[sd == 0][0]}' is constant")
    if standardize:
        # 0/1 dummies of a categorical predictor stay 0/1: their contrast is level vs reference.
        z = [c for c in P.columns if c not in set(dummies)]
        P[z] = (P[z] - P[z].mean()) / sd[z]
    names = [str(c) for c in P.columns]
    return np.column_stack([np.ones(len(P)), P.to_numpy()]), ["const", *names], names


def three_step_logit(dimensions, predictors, k: int, reference=None, correction="BCH", random_state: int = 0,
                     *, spec=None, standardize: bool = False, measurement=None, covariance_type: str = "diag",
                     n_init: int = 10, se: str = "analytic", n_bootstrap: int = 200,
                     level: float = 0.95, dummies=()) -> ThreeStepResult:
    """Three-step multinomial logit of latent segment on predictors.

    Parameters
    ----------
    dimensions : DataFrame or array (respondents x segmentation dimensions)
        The measurement model's indicators (scale scores).
    predictors : DataFrame (respondents x predictors)
        Predictor scale scores (column names become the terms).
    k : int
        Number of classes.
    reference : str, optional
        Reference segment: a segment id when ``spec`` is given (default
        ``spec.reference_segment``), else ``"class_<j>"`` (default the largest class).
    correction : {"BCH", "ML", None}
        None is the naive estimate (modal class as if it were the true segment).
    random_state : int
        Seed of step 1's starts (and of the bootstrap).
    spec : StudySpec, optional
        Names the classes by the reported profiles (:func:`match_segments`).
    standardize : bool, default False
        z-score the predictors (coefficients per SD; the package's logit follows
        ``spec.membership.standardize_predictors``).
    measurement : LatentProfileClustering, optional
        A step-1 model already fitted to ``dimensions`` (e.g. to share it between the
        naive, BCH and ML estimates).
    covariance_type, n_init
        Of step 1's Gaussian mixture.
    se : {"analytic", "bootstrap"}
        See the module docstring.
    n_bootstrap : int
        B for ``se="bootstrap"``.
    level : float
        Confidence level of the odds-ratio intervals.
    dummies : sequence of str
        Predictor columns that are 0/1 indicators, never standardized.

    Returns
    -------
    ThreeStepResult
    """
    from ..segmentation.mixture import LatentProfileClustering

    if correction not in CORRECTIONS:
        raise ReplicationError(f"three-step logit: correction must be None, 'BCH' or 'ML', not {correction!r}")
    if se not in ("analytic", "bootstrap"):
        raise ReplicationError(f"three-step logit: se must be 'analytic' or 'bootstrap', not {se!r}")
    dims = np.asarray(dimensions, dtype=float)
    if len(dims) != len(predictors):
        raise ReplicationError("three-step logit: dimensions and predictors differ in length")
    Z, terms, names = _design(predictors, standardize, dummies)
    if measurement is None:
        measurement = LatentProfileClustering(k, random_state=random_state, covariance_type=covariance_type,
                                              n_init=n_init).fit(dims)
    elif measurement.n_clusters != k:
        raise ReplicationError(f"three-step logit: the measurement model has {measurement.n_clusters} classes, not {k}")
    class_ids, match = class_names(measurement, dims, spec)
    if reference is None:
        reference = spec.reference_segment if spec is not None else class_ids[0]
    if reference not in class_ids:
        raise ReplicationError(f"three-step logit: reference segment '{reference}' is not among the classes "
                               f"({', '.join(class_ids)}); the measurement model found no class with its profile")
    ref = class_ids.index(reference)
    # Reference first, then the specification's segment order (or the class order).
    rank = {s: i for i, s in enumerate(spec.segment_ids)} if spec is not None else {}
    order = [ref] + sorted((j for j in range(k) if j != ref), key=lambda j: (rank.get(class_ids[j], k + j), j))
    segments = [class_ids[j] for j in order]
    proba = measurement.membership_proba_[:, order]
    theta, cov, ll, ok, D = estimate_structural(proba, Z, correction)
    boot = None
    se_method = ("inverse observed information (classification errors D treated as known)" if correction == "ML"
                 else "robust sandwich (classification errors D treated as known)" if correction == "BCH"
                 else "inverse observed information (model-based, modal classes taken as known)")
    if se == "bootstrap":
        cov, boot = _bootstrap(dims, Z, measurement, order, correction, k, random_state, n_bootstrap,
                               covariance_type, n_init, theta)
        se_method = (f"non-parametric bootstrap of all three steps, B = {n_bootstrap} "
                     f"({int(boot['rep'].nunique())} usable), seed {random_state}")
    coefficients, wald = _tables(theta, cov, segments, terms, names, level)
    label = {None: "naive", "BCH": "BCH", "ML": "ML"}[correction]
    Dtab = pd.DataFrame(D, index=pd.Index(segments, name="true_class"), columns=segments).reset_index()
    return ThreeStepResult(correction=label, segments=segments, reference=reference, predictors=names,
                           standardized=standardize, coefficients=coefficients, wald_tests=wald,
                           classification_error=Dtab, se_method=se_method, log_likelihood=ll, converged=ok,
                           measurement=measurement, match=match,
                           relative_entropy=float(measurement.relative_entropy_), bootstrap=boot)


class ThreeStepLogit(BaseEstimator):
    """The three-step membership model as one estimator, the correction a parameter (as
    StepMix's ``correction=``): ``fit(dimensions, predictors)`` runs steps 1 to 3 of
    :func:`three_step_logit` and keeps its :class:`ThreeStepResult` as ``result_``.

    Parameters
    ----------
    n_segments : int
        Classes of step 1.
    correction : {"BCH", "ML", None}
        None is the naive estimate (modal class as if it were the true segment).
    reference, standardize, covariance_type, n_init, se, n_bootstrap, level, random_state, spec
        As in :func:`three_step_logit`.
    measurement : LatentProfileClustering, optional
        A step-1 model already fitted to the dimensions (shared between corrections).

    Attributes
    ----------
    result_ : ThreeStepResult
    coefficients_, wald_tests_ : DataFrame
        ``result_.coefficients`` and ``result_.wald_tests``.
    segments_ : list of str
        Class names, the reference first.
    """

    def __init__(self, n_segments: int = 5, correction="BCH", reference=None, standardize: bool = False,
                 covariance_type: str = "diag", n_init: int = 10, se: str = "analytic", n_bootstrap: int = 200,
                 level: float = 0.95, random_state: int = 0, spec=None, measurement=None):
        self.n_segments = n_segments
        self.correction = correction
        self.reference = reference
        self.standardize = standardize
        self.covariance_type = covariance_type
        self.n_init = n_init
        self.se = se
        self.n_bootstrap = n_bootstrap
        self.level = level
        self.random_state = random_state
        self.spec = spec
        self.measurement = measurement

    def fit(self, dimensions, predictors, dummies=()):
        """Steps 1 to 3 on ``dimensions`` (the indicators) and ``predictors`` (a DataFrame;
        ``dummies`` names its 0/1 columns, never standardized)."""
        self.result_ = three_step_logit(
            dimensions, predictors, self.n_segments, reference=self.reference, correction=self.correction,
            random_state=self.random_state, spec=self.spec, standardize=self.standardize,
            measurement=self.measurement, covariance_type=self.covariance_type, n_init=self.n_init, se=self.se,
            n_bootstrap=self.n_bootstrap, level=self.level, dummies=dummies)
        self.coefficients_ = self.result_.coefficients
        self.wald_tests_ = self.result_.wald_tests
        self.segments_ = self.result_.segments
        return self

    def summary(self) -> str:
        check_is_fitted(self, "result_")
        return self.result_.summary()


def _bootstrap(dims, Z, measurement, order, correction, k, random_state, B, covariance_type, n_init, theta):
    """Covariance of theta from B resamples of all three steps (classes matched by means)."""
    from scipy.optimize import linear_sum_assignment

    from ..segmentation.mixture import LatentProfileClustering

    rng = np.random.default_rng(random_state)
    ref_means = measurement.cluster_centers_raw_[order]
    reps, rows = [], []
    for b in range(B):
        idx = rng.integers(0, len(dims), len(dims))
        try:
            m = LatentProfileClustering(k, random_state=random_state, covariance_type=covariance_type,
                                        n_init=n_init).fit(dims[idx])
            cost = ((ref_means[:, None, :] - m.cluster_centers_raw_[None, :, :]) ** 2).sum(axis=2)
            _, cols = linear_sum_assignment(cost)
            th, *_ = estimate_structural(m.membership_proba_[:, cols], Z[idx], correction)
        except (ReplicationError, np.linalg.LinAlgError, ValueError):
            continue
        reps.append(th)
        rows += [{"rep": b, "parameter": i, "value": v} for i, v in enumerate(th)]
    reps = np.array(reps)
    if len(reps) < 10:
        raise ReplicationError("three-step logit: fewer than 10 bootstrap replicates could be estimated")
    return np.cov(reps, rowvar=False, ddof=1), pd.DataFrame(rows)


# -- StepMix, as the independent implementation -----------------------------------------------
def stepmix_three_step(dimensions, predictors, k: int, correction="BCH", random_state: int = 0,
                       n_init: int = 10, reg_covar: float = 1e-6, standardize_dimensions: bool = True):
    """The same three-step model fitted with StepMix (for cross-checks).

    ``StepMix(n_components=k, n_steps=3, measurement="gaussian_diag", structural="covariate",
    assignment="modal", correction=correction)``, with the covariate model's Newton-Raphson
    run to convergence in each M-step (StepMix's default is one step).

    Returns
    -------
    dict
        ``model`` (the fitted StepMix), ``means`` (k x dimensions, on the scale fitted),
        ``beta`` (k x terms, StepMix's unidentified per-class coefficients; contrasts
        ``beta[c] - beta[ref]`` are identified), ``log_likelihood`` (step 1, total),
        ``proba`` (step-1 posteriors).
    """
    from stepmix.stepmix import StepMix

    X = np.asarray(dimensions, dtype=float)
    if standardize_dimensions:
        X = (X - X.mean(axis=0)) / X.std(axis=0, ddof=1)
    Y = np.asarray(predictors, dtype=float)
    model = StepMix(n_components=k, n_steps=3, measurement="gaussian_diag", structural="covariate",
                    assignment="modal", correction=correction, n_init=n_init, random_state=random_state,
                    progress_bar=0, verbose=0, abs_tol=1e-10, max_iter=5000,
                    measurement_params={"reg_covar": reg_covar},
                    structural_params={"method": "newton-raphson", "max_iter": 100, "tol": 1e-10})
    model.fit(X, Y)
    params = model.get_parameters()
    # Step-1 log-likelihood of the measurement model alone.
    mm_ll = model._mm.log_likelihood(X) + np.log(model.weights_)[None, :]
    from scipy.special import logsumexp

    return {"model": model, "means": np.asarray(params["measurement"]["means"]),
            "beta": np.asarray(params["structural"]["beta"]),
            "log_likelihood": float(logsumexp(mm_ll, axis=1).sum()),
            "proba": model.predict_proba_class(X)}
