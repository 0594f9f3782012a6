"""statsmodels' multinomial logit with a faster Hessian (the same function).

statsmodels' :meth:`MNLogit.hessian` forms each of the ``(J-1)^2`` blocks with its own
pass over the respondents; at panel scale (hundreds of thousands of respondents) that is
most of the membership model's run time, every Newton step. The Hessian is

    H = -(blockdiag_j(X' diag(p_j) X) - A'A),    A = [p_1 x, ..., p_{J-1} x] (row by row),

so it takes one matrix product for the cross terms and one per segment for the diagonal,
accumulated over row chunks to bound memory. Estimates agree with statsmodels' own to
rounding (the tests compare them).
"""

from __future__ import annotations

import numpy as np
import statsmodels.api as sm

#: Rows per chunk of the Hessian's products (bounds the N x (J-1)K temporary).
CHUNK_ROWS = 100_000


class MNLogit(sm.MNLogit):
    """:class:`statsmodels.discrete.discrete_model.MNLogit` with :meth:`hessian` as above."""

    def hessian(self, params):
        params = params.reshape(self.K, -1, order="F")
        X, K = self.exog, self.K
        J1 = self.J - 1
        H = np.zeros((J1 * K, J1 * K))
        for start in range(0, X.shape[0], CHUNK_ROWS):
            x = X[start:start + CHUNK_ROWS]
            p = self.cdf(x @ params)[:, 1:]
            a = np.empty((len(x), J1 * K))
            for j in range(J1):
                np.multiply(x, p[:, j:j + 1], out=a[:, j * K:(j + 1) * K])
            H += a.T @ a
            for j in range(J1):
                H[j * K:(j + 1) * K, j * K:(j + 1) * K] -= a[:, j * K:(j + 1) * K].T @ x
        return H
