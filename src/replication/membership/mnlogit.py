"""statsmodels' multinomial logit, in bounded memory at panel scale (the same function).

statsmodels' :class:`MNLogit` keeps the n x J outcome dummies, evaluates the n x J
probabilities three times per Newton step (log-likelihood, score, Hessian at the same
parameters) and forms each of the ``(J-1)^2`` Hessian blocks with its own pass over the
respondents; at panel scale (millions of respondents) that is most of the membership
model's time and memory. Here :class:`Likelihood` computes the three in one pass over
row chunks small enough to stay in cache: for each chunk the probabilities (statsmodels'
``cdf``), the chosen segment's log-probability, the score ``(d - p)' x`` and the Hessian

    H_jl = -sum_i w_i p_ij (delta_jl - p_il) x_i x_i',

each block from one matrix product of the chunk's column products ``x_a x_b`` (a <= b)
with the ``J(J-1)/2`` row weights ``w p_j (delta_jl - p_l)``. The rows are split in two
fixed halves summed in a fixed order (so both cores work and the result does not depend
on their number). The outcome is kept as each respondent's segment code, never as
dummies. With frequency weights ``w`` (:class:`.weighted_logit.WeightedMNLogit`) every
row's terms are multiplied by ``w_i``. Estimates agree with statsmodels' own to rounding
(the tests compare them).

:meth:`Likelihood.maximum` is the maximised log-likelihood alone, by statsmodels' own
Newton iterations (:func:`statsmodels.base.optimizer._fit_newton`, the steps ``fit``
takes) without a results object: the likelihood-ratio tests' refits need nothing else.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from statsmodels.base.optimizer import _fit_newton
from statsmodels.discrete import discrete_model
from statsmodels.discrete.discrete_model import _numpy_to_dummies
from threadpoolctl import threadpool_limits

#: Rows per chunk of a pass: measured best at 16,384 rows on 2.8 M (smaller chunks cost
#: more calls, larger ones left the cache). Multi-threaded BLAS on such thin
#: matrices slowed down by 10x or more on a busy machine, so BLAS runs single-threaded
#: inside the two halves.
CHUNK_ROWS = 16_384

#: Below this many rows a pass is one half, in the calling thread.
SPLIT_ROWS = 50_000

#: Newton's method as ``MNLogit.fit(method="newton", maxiter=100)`` runs it.
MAXITER = 100


def cdf(XB: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """The segment probabilities from the linear predictors ``XB`` (n x J-1), statsmodels'
    ``MNLogit.cdf`` arithmetic (a column of ones, exp, divide by the row sums) without its
    column_stack copy; written into ``out`` (n x J) when given."""
    eXB = np.empty((XB.shape[0], XB.shape[1] + 1)) if out is None else out
    eXB[:, 0] = 1.0
    np.exp(XB, out=eXB[:, 1:])
    eXB /= eXB.sum(1)[:, None]
    return eXB


class Likelihood:
    """The multinomial logit's log-likelihood, score and Hessian on a design ``exog``
    (n x K, the constant included), segment codes ``chosen`` (0 = the reference) of ``J``
    segments, and optional frequency weights; the last pass's results are kept, so a
    Newton step's score and Hessian at the same parameters share one pass."""

    def __init__(self, exog, chosen, J: int, weights=None):
        self.exog, self.chosen, self.J, self.weights = exog, chosen, J, weights
        self.K = exog.shape[1]
        self._kept = None
        ia, ib = np.triu_indices(self.K)
        ja, jb = np.triu_indices(J - 1)
        self._pairs = (ia, ib, ja, jb, ja == jb)
        # Where each column's products x_a x_b (b >= a) start among the pairs (ia, ib).
        self._first = np.searchsorted(ia, np.arange(self.K))

    def probabilities(self, params, rows=slice(None)) -> np.ndarray:
        """``cdf(X B)`` of ``rows``: statsmodels' arithmetic (a column of ones, exp, divide
        by the row sums)."""
        B = np.asarray(params, dtype=float).reshape(self.K, -1, order="F")
        return cdf(self.exog[rows] @ B)

    def _rows(self, B, start: int, stop: int, hessian: bool):
        """Log-likelihood, score (J-1 x K) and the Hessian's distinct products (or None)
        summed over rows ``start:stop``, chunk by chunk."""
        X, W, K, J1 = self.exog, self.weights, self.K, self.J - 1
        ia, ib, ja, jb, diag = self._pairs
        llf, score = 0.0, np.zeros((J1, K))
        G = np.zeros((len(ia), len(ja))) if hessian else None
        P = np.empty((CHUNK_ROWS, J1 + 1))
        Q = np.empty((len(ia), CHUNK_ROWS))        # the column products, one row per pair
        for lo in range(start, stop, CHUNK_ROWS):
            hi = min(lo + CHUNK_ROWS, stop)
            x, c, m = X[lo:hi], self.chosen[lo:hi], hi - lo
            p = cdf(x @ B, out=P[:m])
            w = None if W is None else W[lo:hi]
            logp = np.log(p[np.arange(m), c])
            llf += float(logp.sum() if w is None else w @ logp)
            resid = -p[:, 1:]                       # dummies - p, the dummies added below
            hit = np.flatnonzero(c > 0)
            resid[hit, c[hit] - 1] += 1.0
            if w is not None:
                resid *= w[:, None]
            score += resid.T @ x
            if hessian:
                wp = p[:, 1:] if w is None else p[:, 1:] * w[:, None]
                S = -wp[:, ja] * p[:, 1:][:, jb]
                S[:, diag] += wp
                xt = x.T
                for a, at in enumerate(self._first):
                    np.multiply(xt[a], xt[a:], out=Q[at:at + K - a, :m])
                G += Q[:, :m] @ S
        return llf, score, G

    def evaluate(self, params, hessian: bool = True):
        """``(loglike, score, Hessian)`` at ``params`` (the Hessian None unless asked)."""
        params = np.asarray(params, dtype=float)
        key = params.tobytes()
        kept = self._kept
        if kept is not None and kept[0] == key and (kept[3] is not None or not hessian):
            return kept[1:]
        self._kept = None
        B = params.reshape(self.K, -1, order="F")
        n = self.exog.shape[0]
        with threadpool_limits(1, user_api="blas"):
            if n < SPLIT_ROWS:
                parts = [self._rows(B, 0, n, hessian)]
            else:
                with ThreadPoolExecutor(2) as pool:
                    parts = list(pool.map(lambda s: self._rows(B, *s, hessian), [(0, n // 2), (n // 2, n)]))
        llf = sum(part[0] for part in parts)
        score = sum(part[1] for part in parts).ravel()
        H = self._assemble(sum(part[2] for part in parts)) if hessian else None
        self._kept = (key, llf, score, H)
        return llf, score, H

    def _assemble(self, G) -> np.ndarray:
        """The (J-1)K square Hessian from the distinct products: block (j, l) is
        ``-sum w p_j (delta_jl - p_l) x x'``, symmetric in (a, b) and in (j, l)."""
        ia, ib, ja, jb, _ = self._pairs
        K, J1 = self.K, self.J - 1
        H = np.empty((J1 * K, J1 * K))
        block = np.empty((K, K))
        for t, (j, l) in enumerate(zip(ja, jb)):
            block[ia, ib] = block[ib, ia] = -G[:, t]
            H[j * K:(j + 1) * K, l * K:(l + 1) * K] = block
            H[l * K:(l + 1) * K, j * K:(j + 1) * K] = block.T
        return H

    def loglike(self, params) -> float:
        return self.evaluate(params, hessian=False)[0]

    def score(self, params) -> np.ndarray:
        return self.evaluate(params, hessian=False)[1]

    def hessian(self, params) -> np.ndarray:
        return self.evaluate(params)[2]

    def maximum(self, start_params=None) -> tuple[float, bool]:
        """The maximised log-likelihood and whether Newton's method converged: statsmodels'
        iterations from ``start_params`` (default zeros, as ``MNLogit.fit``), on the
        log-likelihood per row as ``fit`` scales it, with no final score and Hessian."""
        nobs = self.exog.shape[0]
        start = np.zeros(self.K * (self.J - 1)) if start_params is None else np.asarray(start_params, dtype=float)
        steps = []
        params, _ = _fit_newton(lambda p: -self.loglike(p) / nobs, lambda p: -self.score(p) / nobs, start, (), {},
                                disp=False, maxiter=MAXITER, callback=steps.append, full_output=False,
                                hess=lambda p: -self.hessian(p) / nobs)
        llf = self.loglike(params)
        return llf, len(steps) < MAXITER and bool(np.isfinite(llf))


class MNLogit(discrete_model.MNLogit):
    """:class:`statsmodels.discrete.discrete_model.MNLogit` whose log-likelihood, score
    and Hessian come from :class:`Likelihood` (one pass per parameter vector, no n x J
    arrays kept); the outcome dummies statsmodels builds are dropped after construction."""

    #: Frequency weights, one per row (None: every row counts once).
    freq_weights = None

    def __init__(self, endog, exog, **kwargs):
        endog = np.asarray(endog)
        if endog.ndim == 1 and endog.dtype.kind in "biuf":
            # The outcome dummies statsmodels would build as floats (n x J, a tenth of a
            # gigabyte at panel scale), handed over as booleans, one column per value
            # present in sorted order as statsmodels' own; their names restored below.
            values, codes = np.unique(endog, return_inverse=True)
            endog = codes[:, None] == np.arange(len(values))
        else:
            values = None
        super().__init__(endog, exog, **kwargs)
        if values is not None:
            self._ynames_map = _numpy_to_dummies(values)[1]     # statsmodels' names of the values
        # The chosen segment's code (statsmodels' ``endog``) stands for the dummies.
        self._chosen = self.endog
        self.wendog = None
        self._likelihood = None

    @property
    def likelihood(self) -> Likelihood:
        if self._likelihood is None:
            self._likelihood = Likelihood(self.exog, self._chosen, self.J, self.freq_weights)
        return self._likelihood

    def _dummies(self, rows=slice(None)) -> np.ndarray:
        """The outcome dummies of ``rows`` (what statsmodels keeps as ``wendog``)."""
        return np.eye(self.J)[self._chosen[rows]]

    def probabilities(self, params) -> np.ndarray:
        """The n x J segment probabilities at ``params``."""
        return self.likelihood.probabilities(params)

    def cdf(self, X, out=None):
        return cdf(X, out)

    def loglike(self, params):
        return self.likelihood.loglike(params)

    def score(self, params):
        return self.likelihood.score(params)

    def loglike_and_score(self, params):
        return self.loglike(params), self.score(params)

    def hessian(self, params):
        return self.likelihood.hessian(params)

    def _weights(self) -> np.ndarray:
        return np.ones(self.exog.shape[0]) if self.freq_weights is None else self.freq_weights

    def loglikeobs(self, params):
        return self._weights()[:, None] * self._dummies() * np.log(self.probabilities(params))

    def score_obs(self, params):
        resid = self._weights()[:, None] * (self._dummies()[:, 1:] - self.probabilities(params)[:, 1:])
        return (resid[:, :, None] * self.exog[:, None, :]).reshape(self.exog.shape[0], -1)

    def release(self) -> None:
        """Forget the last pass and the data a kept result no longer needs."""
        self._likelihood = None
