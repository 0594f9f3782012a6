"""Multinomial logit of segment membership on the predictor constructs.

:func:`multinomial_logit` fits statsmodels' ``MNLogit`` of the recovered segment on the
predictor scale scores plus a constant, with the specification's reference segment, and
returns a :class:`MultinomialLogitResult` carrying the coefficients with odds ratios, the
fit statistics, a likelihood-ratio test per predictor, the classification table, and a
cross-check against scikit-learn's unpenalised multinomial logistic regression.
"""

from __future__ import annotations

import gc
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from statsmodels.tools.tools import add_constant
from scipy import stats
from sklearn.linear_model import LogisticRegression
from statsmodels.tools.sm_exceptions import (ConvergenceWarning, PerfectSeparationError,
                                             PerfectSeparationWarning)

from ..errors import ReplicationError
from ..memory import row_chunks
from ..weights import weighted_mean, weighted_sd
from .mnlogit import MAXITER, Likelihood, MNLogit
from .weighted_logit import WeightedMNLogit

#: A slope this large per SD of its predictor, or a standard error this large, means the
#: likelihood has no finite maximum (perfect or quasi-perfect separation).
SEPARATION_COEF, SEPARATION_SE = 15.0, 100.0

#: Panel rule: rows of the seeded sample whose estimates start Newton's method on all
#: respondents (a sample this size starts it close enough to save a full-data step).
START_ROWS = 20_000


@dataclass
class MultinomialLogitResult:
    """Everything the membership model produced (statsmodels-style: print ``summary()``).

    Attributes
    ----------
    segments : list of str
        Outcome categories, the reference first.
    reference : str
    predictors : list of str
    standardized : bool
        Whether coefficients are per standard deviation (True) or per scale point.
    scale : Series
        The SD used to standardize each predictor (1.0 when not standardized).
    mean : Series
        The mean subtracted from each predictor (0.0 when not standardized).
    results : statsmodels MNLogitResults
    coefficients : DataFrame
        ``segment, term, coef, se, z, p_value, odds_ratio, or_ci_low, or_ci_high``.
    fit : DataFrame
        ``statistic, value``: n, log-likelihoods, LR chi-square with df and p,
        McFadden's pseudo R-squared, AIC, BIC, hit rate, proportional chance criterion.
    lr_tests : DataFrame
        ``predictor, lr_chi2, df, p_value``: the model without the predictor vs the full one.
    classification : DataFrame
        Recovered segment (rows) by predicted segment (columns).
    crosscheck : DataFrame
        statsmodels vs scikit-learn coefficients and their absolute difference.
    groups : dict
        Predictor -> its terms (a categorical predictor's dummies; one term otherwise).
    labels : dict
        Page names of predictors and terms that the specification's constructs do not name.
    dummies : list of str
        The 0/1 terms of categorical predictors (not standardized; no probability curve).
    codings : list of dict
        How the single-column predictors became terms (:mod:`.design`; kept by the model card).

    As statsmodels' results, also ``params``, ``bse``, ``pvalues`` (terms x contrasts:
    rows ``const`` and the predictors, one column per segment but the reference),
    ``llf``, ``llnull``, ``prsquared``, ``aic`` and ``bic``.
    """

    segments: list
    reference: str
    predictors: list
    standardized: bool
    scale: pd.Series
    mean: pd.Series
    results: object
    coefficients: pd.DataFrame
    fit: pd.DataFrame
    lr_tests: pd.DataFrame
    classification: pd.DataFrame
    crosscheck: pd.DataFrame = field(default_factory=pd.DataFrame)
    groups: dict = field(default_factory=dict)
    labels: dict = field(default_factory=dict)
    dummies: list = field(default_factory=list)
    codings: list = field(default_factory=list)

    def stat(self, name: str) -> float:
        return float(self.fit.set_index("statistic").loc[name, "value"])

    # -- statsmodels-style attributes (of the fitted MNLogit) ---------------------------------
    def _by_contrast(self, values) -> pd.DataFrame:
        """A terms x contrasts table of statsmodels' values, columns named by segment."""
        return pd.DataFrame(np.asarray(values), index=list(self.results.params.index), columns=self.segments[1:])

    @property
    def params(self) -> pd.DataFrame:
        """Coefficients: terms (``const``, predictors) x segments but the reference."""
        return self._by_contrast(self.results.params)

    @property
    def bse(self) -> pd.DataFrame:
        """Standard errors, shaped as :attr:`params`."""
        return self._by_contrast(self.results.bse)

    @property
    def pvalues(self) -> pd.DataFrame:
        """Wald p-values, shaped as :attr:`params`."""
        return self._by_contrast(self.results.pvalues)

    @property
    def llf(self) -> float:
        """Log-likelihood of the model."""
        return float(self.results.llf)

    @property
    def llnull(self) -> float:
        """Log-likelihood of the intercept-only model."""
        return float(self.results.llnull)

    @property
    def prsquared(self) -> float:
        """McFadden's pseudo R-squared, ``1 - llf / llnull``."""
        return float(self.results.prsquared)

    @property
    def aic(self) -> float:
        return float(self.results.aic)

    @property
    def bic(self) -> float:
        return float(self.results.bic)

    @property
    def hit_rate(self) -> float:
        return self.stat("hit_rate")

    @property
    def proportional_chance(self) -> float:
        return self.stat("proportional_chance_criterion")

    def predict_proba(self, X: pd.DataFrame) -> pd.DataFrame:
        """Segment probabilities for predictor values on their original scale."""
        Z = add_constant((X[self.predictors] - self.mean) / self.scale, has_constant="add")
        return pd.DataFrame(np.asarray(self.results.predict(Z)), columns=self.segments, index=X.index)

    def probability_curves(self, data: pd.DataFrame, points: int = 25) -> pd.DataFrame:
        """Predicted probabilities along each predictor's observed range, others at their means
        (a level of a categorical predictor is no range: its odds ratio says it)."""
        rows = []
        for p in (q for q in self.predictors if q not in self.dummies):
            grid = np.linspace(data[p].min(), data[p].max(), points)
            X = pd.DataFrame({q: np.full(points, data[q].mean()) for q in self.predictors})
            X[p] = grid
            prob = self.predict_proba(X)
            prob.insert(0, "value", grid)
            prob.insert(0, "predictor", p)
            rows.append(prob)
        return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=["predictor", "value",
                                                                                   *self.segments])

    def summary(self) -> str:
        """A readable text summary: fit, LR tests, odds ratios, classification."""
        f = self.fit.set_index("statistic")["value"]
        units = "per SD" if self.standardized else "per scale point"
        lines = [
            "Multinomial logit of segment membership",
            "=" * 72,
            f"Reference segment: {self.reference}    N = {int(f['n'])}    coefficients {units}",
            f"Log-likelihood {f['log_likelihood']:.2f} (intercept only {f['log_likelihood_null']:.2f})",
            f"LR chi2({int(f['lr_df'])}) = {f['lr_chi2']:.2f}, p = {f['lr_p_value']:.3g}; "
            f"McFadden R2 = {f['mcfadden_r2']:.3f}; AIC = {f['aic']:.1f}; BIC = {f['bic']:.1f}",
            f"Hit rate {f['hit_rate']:.3f} vs proportional chance {f['proportional_chance_criterion']:.3f} "
            f"(1.25x = {1.25 * f['proportional_chance_criterion']:.3f})",
            "",
            "Likelihood-ratio test per predictor (model without it vs full model)",
            self.lr_tests.to_string(index=False, float_format=lambda x: f"{x:.4g}"),
            "",
            "Coefficients and odds ratios (95% CI)",
            self.coefficients.to_string(index=False, float_format=lambda x: f"{x:.3f}"),
        ]
        if not self.crosscheck.empty:
            worst = self.crosscheck["abs_difference"].max()
            lines += ["", "scikit-learn cross-check: max |difference| = "
                          + (f"{worst:.2e}" if worst > 0 else f"< 1e-{CROSSCHECK_RESOLUTION}")]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def _fit_mnlogit(y, X, what: str, weights=None, start_params=None, check_rank: bool = True):
    """Fit MNLogit by Newton's method (weighted: :class:`.WeightedMNLogit`), from
    ``start_params`` where given; turn non-convergence and separation into clear errors.

    ``X``: a DataFrame (the estimates are named by its columns), or an array whose first
    column is the constant (a refit that only needs its log-likelihood: no named copy).
    ``check_rank=False``: the caller knows the design has full column rank (statsmodels
    then skips its QR decomposition of the whole design, seconds at panel scale).
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            # MNLogit: statsmodels' model with its Hessian in one matrix product (same estimates).
            model = MNLogit(y, X, check_rank=check_rank) if weights is None else \
                WeightedMNLogit(y, X, freq_weights=weights, check_rank=check_rank)
            res = model.fit(method="newton", maxiter=100, disp=False, start_params=start_params)
            model.release()         # the last pass: not worth keeping beside the result
        except (PerfectSeparationError, np.linalg.LinAlgError) as exc:
            raise ReplicationError(f"multinomial logit ({what}): perfect separation or a singular "
                                   f"design ({exc}); some segment is predicted perfectly") from None
    kinds = {type(w.message) for w in caught} | {w.category for w in caught}
    # Judge slopes per SD of their predictor (whatever scale the model uses), not the
    # intercepts: a raw-scale predictor far from zero legitimately has a large intercept.
    # (Column by column: at panel scale a copy of the design would be the run's peak.)
    Xa = X.to_numpy() if isinstance(X, pd.DataFrame) else X
    sd = np.array([Xa[:, j].std(ddof=1) for j in range(1, Xa.shape[1])])
    slopes = np.asarray(res.params)[1:] * sd[:, None]
    with np.errstate(invalid="ignore"):
        bse = np.asarray(res.bse)
        slope_se = bse[1:] * sd[:, None]
    if PerfectSeparationWarning in kinds or np.abs(slopes).max(initial=0) > SEPARATION_COEF or \
            not np.isfinite(bse).all() or np.nanmax(slope_se, initial=0) > SEPARATION_SE:
        raise ReplicationError(f"multinomial logit ({what}): perfect or quasi-perfect separation: a "
                               "segment is (almost) perfectly predicted, so its coefficients have no finite "
                               "estimate. Check that every segment has respondents on both sides of each "
                               "predictor, or merge tiny segments.")
    if not res.mle_retvals.get("converged", False) or ConvergenceWarning in kinds:
        raise ReplicationError(f"multinomial logit ({what}): Newton's method did not converge in 100 "
                               "iterations; the estimates would be meaningless")
    return res


def _maximum_llf(y, X: np.ndarray, J: int, weights, start_params, what: str) -> float:
    """The maximised log-likelihood of the model of codes ``y`` on the design ``X`` (an
    array, the constant first): statsmodels' Newton iterations, as ``_fit_mnlogit``."""
    llf, converged = Likelihood(X, y, J, weights).maximum(start_params)
    if not converged:
        raise ReplicationError(f"multinomial logit ({what}): Newton's method did not converge in {MAXITER} "
                               "iterations; the estimates would be meaningless")
    return llf


@contextmanager
def _columns_dropped(design: np.ndarray, dropped: list[int]):
    """The column-major ``design`` without the columns ``dropped``, as a view: the other
    columns are moved left in place (their order kept) and the dropped ones saved, then
    everything is put back. At panel scale a copy of the design per refit would cost
    hundreds of megabytes."""
    kept = [j for j in range(design.shape[1]) if j not in dropped]
    saved = design[:, dropped].copy()
    for t, j in enumerate(kept):            # t <= j: nothing still to be read is overwritten
        if t != j:
            design[:, t] = design[:, j]
    try:
        yield design[:, :len(kept)]
    finally:
        for t, j in reversed(list(enumerate(kept))):
            if t != j:
                design[:, j] = design[:, t]
        design[:, dropped] = saved


def multinomial_logit(data: pd.DataFrame, segment: str, predictors: list[str], reference: str,
                      standardize: bool = True, crosscheck: bool = True,
                      order: list[str] | None = None, weights=None, groups: dict | None = None, dummies=(),
                      labels: dict | None = None, panel_size: int | None = None,
                      random_state: int = 0) -> MultinomialLogitResult:
    """Fit the membership model.

    Parameters
    ----------
    data : DataFrame
        One row per respondent: the segment column and the predictor scale scores.
    segment : str
        Name of the segment column (recovered segments, never the generating truth).
    predictors : list of str
    reference : str
        Reference segment; every other segment is contrasted with it.
    standardize : bool, default True
        z-score the predictors, so coefficients are per standard deviation and comparable
        across predictors.
    crosscheck : bool, default True
        Refit with scikit-learn's unpenalised multinomial logistic regression.
    order : list of str, optional
        Order of the contrasts in the output (e.g. the specification's segment order);
        segments not listed follow in order of appearance.
    weights : array of shape (n_rows,), optional
        Frequency weights (None: unweighted). Every respondent's log-likelihood counts
        ``w_i`` times (:mod:`.weighted_logit`): integer weights give the model of the rows
        duplicated. Survey weights are passed rescaled to sum to Kish's effective N
        (:func:`replication.weights.as_frequency`), so standard errors and LR tests are
        those of a sample of that size. The standardization, classification table, hit
        rate and chance criteria are weighted too; ``fit`` adds ``respondents``.
    groups : dict, optional
        Predictor -> its columns among ``predictors`` (a categorical predictor's dummies):
        the likelihood-ratio test drops a predictor's columns together, with
        ``len(columns) * (k - 1)`` df. Default: every column is its own predictor.
    dummies : sequence of str
        Columns that are 0/1 indicators: never standardized, so their odds ratios compare
        a level with the reference level.
    labels : dict, optional
        Page names of predictors and terms (kept on the result).
    panel_size : int, optional
        The panel rule (above ``segmentation.exact_limit`` respondents the analysis passes
        ``uncertainty.panel_resample_size``): with more rows than this, the model and its
        likelihood-ratio refits start Newton's method from estimates already near the
        maximum (each model's estimates on a seeded sample of ``START_ROWS`` rows, or of
        ``panel_size`` rows when there are no more than ``START_ROWS``), which
        saves iterations, not accuracy (the same maximum, to Newton's tolerance); and the
        scikit-learn cross-check compares the two libraries on a seeded sample of
        ``panel_size`` rows, fitting both there (its table says so).
    random_state : int
        Seed of that sample.

    Returns
    -------
    MultinomialLogitResult
    """
    missing = [c for c in [segment, *predictors] if c not in data.columns]
    if missing:
        raise ReplicationError(f"multinomial logit: column '{missing[0]}' is missing")
    if data[predictors].isna().any().any():
        col = data[predictors].columns[data[predictors].isna().any()][0]
        raise ReplicationError(f"multinomial logit: predictor '{col}' has missing values")
    if data[segment].isna().any():
        row = int(np.flatnonzero(data[segment].isna().to_numpy())[0])
        raise ReplicationError(f"multinomial logit: segment column '{segment}' is missing for row {row + 1}")
    present = list(dict.fromkeys(data[segment]))
    if reference not in present:
        raise ReplicationError(f"multinomial logit: reference segment '{reference}' has no respondents")
    rank = {s: i for i, s in enumerate(order or [])}
    segments = [reference] + sorted((s for s in present if s != reference),
                                    key=lambda s: (rank.get(s, len(rank)), present.index(s)))
    counts = data[segment].value_counts()
    tiny = [s for s in segments if counts[s] < 2]
    if tiny:
        raise ReplicationError(f"multinomial logit: segment '{tiny[0]}' has fewer than 2 respondents")
    if len(segments) < 2:
        raise ReplicationError("multinomial logit: only one segment; nothing to predict")
    y = data[segment].map({s: i for i, s in enumerate(segments)}).to_numpy()
    w = None if weights is None else np.asarray(weights, dtype=float)

    if w is None:
        sd = data[predictors].std(ddof=1)
    else:
        # column by column: a panel's n x p copy would be the model's peak memory
        sd = pd.Series([float(weighted_sd(data[p].to_numpy(dtype=float), w)) for p in predictors], index=predictors)
    if (sd == 0).any():
        raise ReplicationError(f"multinomial logit: predictor '{sd.index[sd == 0][0]}' is constant")
    if not standardize:
        mean = pd.Series(0.0, index=predictors)
    elif w is None:
        mean = data[predictors].mean()
    else:
        mean = pd.Series([float(weighted_mean(data[p].to_numpy(dtype=float), w)) for p in predictors], index=predictors)
    scale = sd if standardize else pd.Series(1.0, index=predictors)
    fixed = [p for p in dummies if p in predictors]
    if fixed:
        mean[fixed], scale[fixed] = 0.0, 1.0
    groups = dict(groups) if groups else {p: [p] for p in predictors}
    if sorted(t for ts in groups.values() for t in ts) != sorted(predictors):
        raise ValueError("multinomial_logit: groups must split the predictors, each column once")
    # The design in one float block (statsmodels then takes it without a copy): the
    # constant, then the predictors centred and scaled column by column, as
    # ``sm.add_constant((data[predictors] - mean) / scale)`` computes them.
    design = np.empty((len(data), len(predictors) + 1), order="F")
    design[:, 0] = 1.0
    for j, p in enumerate(predictors):
        np.divide(data[p].to_numpy(dtype=float) - mean[p], scale[p], out=design[:, j + 1])
    X = pd.DataFrame(design, columns=["const", *predictors], copy=False)
    panel = panel_size is not None and len(y) > panel_size
    sample = (np.sort(np.random.default_rng(random_state).choice(len(y), panel_size, replace=False))
              if panel else None)
    # Newton from a seeded sample's estimates: the full data then need a few steps only.
    starts = None if not panel else sample if len(y) <= START_ROWS else \
        np.sort(np.random.default_rng(random_state).choice(len(y), START_ROWS, replace=False))

    def start_on_sample(columns):
        """Start values from the sample, and whether the design has full column rank there
        (then it has on all respondents, and statsmodels need not check it again)."""
        if starts is None:
            return None, False
        Xs = X.iloc[starts][columns]
        try:
            fit = _fit_mnlogit(y[starts], Xs, "start on a sample", None if w is None else w[starts])
        except ReplicationError:
            return None, False
        return np.asarray(fit.params).ravel(order="F"), np.linalg.matrix_rank(Xs.to_numpy()) == len(columns)

    start, full_rank = start_on_sample(list(X.columns))
    res = _fit_mnlogit(y, X, "full model", w, start_params=start, check_rank=not full_rank)

    # Coefficients with odds ratios (statsmodels names equations by category code).
    params, bse, zval, pval = (np.asarray(a) for a in (res.params, res.bse, res.tvalues, res.pvalues))
    ci = np.asarray(res.conf_int(alpha=0.05)).reshape(len(segments) - 1, X.shape[1], 2)
    rows = []
    for j, seg in enumerate(segments[1:]):
        for i, term in enumerate(X.columns):
            rows.append({"segment": seg, "term": term, "coef": params[i, j], "se": bse[i, j],
                         "z": zval[i, j], "p_value": pval[i, j], "odds_ratio": np.exp(params[i, j]),
                         "or_ci_low": np.exp(ci[j, i, 0]), "or_ci_high": np.exp(ci[j, i, 1])})
    coefficients = pd.DataFrame(rows)
    llf = res.llf
    if panel:
        # statsmodels' own way to drop the model's data from a result kept to the end of the
        # run (and the outcome dummies and weights it does not know of): at panel scale
        # they would sit beside each refit below. Every statistic used from here on is
        # computed (log-likelihood, covariance) or takes its data as an argument (predict).
        res.remove_data()
        res.model.release()
        res.model.freq_weights = res.model._chosen = None
        gc.collect()

    # One likelihood-ratio test per predictor: drop it, refit, compare. A refit needs its
    # maximum log-likelihood only (no results object, no final Hessian); it cannot be
    # separated when the full model is not (a subset of the predictors separates no
    # better than all of them).
    lr_rows = []
    for p, cols in groups.items():
        kept = [c for c in X.columns if c not in cols]
        start, _ = start_on_sample(kept)
        dropped = [X.columns.get_loc(c) for c in cols]
        with _columns_dropped(design, dropped) as reduced_design:     # X[kept]'s values, not a copy
            reduced_llf = _maximum_llf(y, reduced_design, len(segments), w, start, f"without {p}")
        lr = 2 * (llf - reduced_llf)
        df = (len(segments) - 1) * len(cols)
        lr_rows.append({"predictor": p, "lr_chi2": lr, "df": df, "p_value": stats.chi2.sf(lr, df)})
    lr_tests = pd.DataFrame(lr_rows)

    # Classification: predicted = most probable segment (in row chunks: no n x J array).
    fitted = Likelihood(design, y, len(segments))
    b = np.asarray(res.params).ravel(order="F")
    predicted = np.concatenate([fitted.probabilities(b, rows).argmax(axis=1) for rows in row_chunks(len(y))])
    # Recovered x predicted counts (summed weights), from the codes: a cross-tabulation of
    # millions of text labels took seconds and most of a gigabyte at panel scale.
    J = len(segments)
    cells = np.bincount(y * J + predicted, weights=w, minlength=J * J).reshape(J, J)
    classification = pd.DataFrame(cells, index=pd.Index(segments, name="recovered"),
                                  columns=pd.Index(segments, name="predicted")).reset_index()
    classification["recovered"] = classification["recovered"].astype(str)
    hit = float(np.average(predicted == y, weights=w))
    counts_y = np.bincount(y, weights=w)
    shares = counts_y / counts_y.sum()
    pcc = float((shares ** 2).sum())
    df_model = (len(segments) - 1) * len(predictors)
    # The intercept-only model's maximum is closed-form, sum n_k log(n_k / n); statsmodels
    # would find it by a Nelder-Mead fit (most of a replicate's logit time). Its cache gets
    # the exact value so the printed summary shows the same numbers.
    llnull = float((counts_y * np.log(shares)).sum())
    res._cache["llnull"] = llnull
    fit = pd.DataFrame([
        ("n", float(len(y)) if w is None else float(w.sum())), ("log_likelihood", res.llf), ("log_likelihood_null", res.llnull),
        ("lr_chi2", res.llr), ("lr_df", float(df_model)), ("lr_p_value", stats.chi2.sf(res.llr, df_model)),
        ("mcfadden_r2", res.prsquared), ("aic", res.aic), ("bic", res.bic), ("hit_rate", hit),
        ("proportional_chance_criterion", pcc), ("hit_rate_benchmark_1_25_pcc", 1.25 * pcc),
        ("maximum_chance_criterion", float(shares.max())),
    ], columns=["statistic", "value"])
    if w is not None:   # n is then the summed weight (Kish's effective N for survey weights)
        fit = pd.concat([fit, pd.DataFrame([("respondents", float(len(y)))], columns=["statistic", "value"])],
                        ignore_index=True)

    out = MultinomialLogitResult(segments=segments, reference=reference, predictors=list(predictors),
                                 standardized=standardize, scale=scale, mean=mean, results=res,
                                 coefficients=coefficients, fit=fit, lr_tests=lr_tests,
                                 classification=classification, groups=groups, labels=dict(labels or {}),
                                 dummies=fixed)
    if crosscheck and panel:
        # Both libraries on the same seeded sample (a second full-size fit costs more than the model).
        Xs, ys, ws = X.iloc[sample], y[sample], None if w is None else w[sample]
        try:
            small = _fit_mnlogit(ys, Xs, "cross-check sample", ws)
            p_small = np.asarray(small.params)
            small_coefs = pd.DataFrame([{"segment": seg, "term": term, "coef": p_small[i, j]}
                                        for j, seg in enumerate(segments[1:]) for i, term in enumerate(X.columns)])
            out.crosscheck = sklearn_crosscheck(Xs.drop(columns="const").to_numpy(), ys, small_coefs, segments,
                                                list(X.columns), sample_weight=ws)
            out.crosscheck["estimated_on"] = f"a seeded sample of {panel_size:,} of {len(y):,} respondents"
        except ReplicationError:
            pass        # a sample too small for some segment: no cross-check rather than a failed run
    elif crosscheck:
        out.crosscheck = sklearn_crosscheck(X.drop(columns="const").to_numpy(), y, coefficients, segments,
                                            list(X.columns), sample_weight=w)
    return out


#: Decimal places kept of the statsmodels / scikit-learn differences (1e-10).
CROSSCHECK_RESOLUTION = 10


def sklearn_crosscheck(X, y, coefficients: pd.DataFrame, segments, terms, sample_weight=None) -> pd.DataFrame:
    """Refit with scikit-learn's unpenalised multinomial logistic regression.

    scikit-learn's softmax has one coefficient vector per segment and no reference; the
    contrasts ``beta_k - beta_reference`` are the identified quantities that must equal
    statsmodels' coefficients.
    """
    # Newton-Cholesky: exact second-order steps, converging in a few iterations at this size.
    sk = LogisticRegression(C=np.inf, solver="newton-cholesky", max_iter=100, tol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk.fit(X, y, sample_weight=sample_weight)
    full = np.column_stack([sk.intercept_, sk.coef_])           # categories x terms
    # With two categories scikit-learn fits one row, already the contrast of 1 against 0.
    contrast = full if len(segments) == 2 else full[1:] - full[0]
    rows = []
    for j, seg in enumerate(segments[1:]):
        for i, term in enumerate(terms):
            sm_coef = coefficients.loc[(coefficients["segment"] == seg) & (coefficients["term"] == term),
                                       "coef"].iloc[0]
            rows.append({"segment": seg, "term": term, "statsmodels": sm_coef, "sklearn": contrast[j, i],
                         # Below 1e-10 the difference is the two solvers' rounding noise,
                         # which varies with the BLAS threads: shown as 0 so outputs repeat.
                         "abs_difference": round(abs(sm_coef - contrast[j, i]), CROSSCHECK_RESOLUTION)})
    return pd.DataFrame(rows)
