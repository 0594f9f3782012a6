"""statsmodels' multinomial logit, faster at panel scale (the same function).

statsmodels' :meth:`MNLogit.hessian` forms each of the ``(J-1)^2`` blocks with its own
pass over the respondents, and every Newton step evaluates the probabilities three times
(log-likelihood, score, Hessian at the same parameters); at panel scale (hundreds of
thousands of respondents) that is most of the membership model's run time. Here the
probabilities are kept for the last parameters asked (:meth:`MNLogit.probabilities`), and
the Hessian is

    H = -(blockdiag_j(X' diag(p_j) X) - A'A),    A = [p_1 x, ..., p_{J-1} x] (row by row),

one matrix product for the cross terms and one per segment for the diagonal, accumulated
over row chunks small enough to stay in cache, the rows split in two halves summed in a
fixed order (so both cores work and the result does not depend on their number). With
frequency weights ``w`` (the subclass :class:`.weighted_logit.WeightedMNLogit` sets
``freq_weights``) every row's terms are multiplied by ``w_i``. The log-likelihood and
score are statsmodels' own arithmetic on the kept probabilities. Estimates agree with
statsmodels' own to rounding (the tests compare them).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import statsmodels.api as sm
from threadpoolctl import threadpool_limits

#: Rows per chunk of the Hessian's products: a chunk's N x (J-1)K temporary stays in
#: cache (much larger chunks made the product memory-bound, and multi-threaded BLAS on
#: such thin matrices slowed down by 10x or more on a busy machine).
CHUNK_ROWS = 8192

#: Below this many rows the Hessian is one pass in the calling thread.
SPLIT_ROWS = 50_000


class MNLogit(sm.MNLogit):
    """:class:`statsmodels.discrete.discrete_model.MNLogit` with kept probabilities and
    the one-product :meth:`hessian` described above."""

    #: Frequency weights, one per row (None: every row counts once).
    freq_weights = None

    def probabilities(self, params) -> np.ndarray:
        """``cdf(X B)``: the n x J segment probabilities at ``params`` (kept for the last
        parameters asked, so log-likelihood, score and Hessian share one evaluation)."""
        params = np.asarray(params, dtype=float)
        key = params.tobytes()
        kept = getattr(self, "_kept_probabilities", None)
        if kept is None or kept[0] != key:
            self._kept_probabilities = kept = None      # free the last ones before the new ones
            B = params.reshape(self.K, -1, order="F")
            n = self.exog.shape[0]
            if n < SPLIT_ROWS:
                P = self.cdf(np.dot(self.exog, B))
            else:   # row by row, so two halves in two threads give the same numbers
                P = np.empty((n, B.shape[1] + 1))

                def fill(rows: slice) -> None:
                    self.cdf(np.dot(self.exog[rows], B), out=P[rows])

                with ThreadPoolExecutor(2) as pool:
                    list(pool.map(fill, [slice(0, n // 2), slice(n // 2, n)]))
            kept = (key, P)
            self._kept_probabilities = kept
        return kept[1]

    def cdf(self, X, out=None):
        # statsmodels' arithmetic (a column of ones, exp, divide by the row sums) without
        # its column_stack copy; written into ``out`` when given
        eXB = np.empty((X.shape[0], X.shape[1] + 1)) if out is None else out
        eXB[:, 0] = 1.0
        np.exp(X, out=eXB[:, 1:])
        eXB /= eXB.sum(1)[:, None]
        return eXB

    def loglike(self, params):
        return np.sum(self.wendog * np.log(self.probabilities(params)))

    def score(self, params):
        firstterm = self.wendog[:, 1:] - self.probabilities(params)[:, 1:]
        return np.dot(firstterm.T, self.exog).flatten()

    def loglike_and_score(self, params):
        return self.loglike(params), self.score(params)

    def _hessian_rows(self, P, start: int, stop: int) -> np.ndarray:
        """``-H`` summed over rows ``start:stop``, chunk by chunk."""
        X, K, W = self.exog, self.K, self.freq_weights
        J1 = self.J - 1
        H = np.zeros((J1 * K, J1 * K))
        a = np.empty((CHUNK_ROWS, J1 * K))
        for lo in range(start, stop, CHUNK_ROWS):
            hi = min(lo + CHUNK_ROWS, stop)
            x, p, m = X[lo:hi], P[lo:hi, 1:], hi - lo
            for j in range(J1):
                np.multiply(x, p[:, j:j + 1], out=a[:m, j * K:(j + 1) * K])
            wa = a[:m] if W is None else a[:m] * W[lo:hi, None]
            H += wa.T @ a[:m]
            for j in range(J1):
                H[j * K:(j + 1) * K, j * K:(j + 1) * K] -= wa[:, j * K:(j + 1) * K].T @ x
        return H

    def hessian(self, params):
        P = self.probabilities(params)
        n = self.exog.shape[0]
        with threadpool_limits(1, user_api="blas"):
            if n < SPLIT_ROWS:
                return self._hessian_rows(P, 0, n)
            half = n // 2
            with ThreadPoolExecutor(2) as pool:
                first, second = pool.map(lambda s: self._hessian_rows(P, *s), [(0, half), (half, n)])
        return first + second
