"""statsmodels' multinomial logit with frequency weights.

statsmodels' ``MNLogit`` takes no weights. :class:`WeightedMNLogit` is ``MNLogit`` with
every observation's contribution to the log-likelihood, its score and its Hessian
multiplied by a weight ``w_i``: the weighted (pseudo-)maximum-likelihood estimator. With
integer weights it is exactly ``MNLogit`` on the rows duplicated ``w_i`` times
(coefficients, standard errors from the inverse Hessian, log-likelihoods and so
likelihood-ratio tests), which the tests check.

Survey (sampling) weights are passed rescaled to sum to Kish's effective N
(:func:`replication.weights.as_frequency`): the coefficients are the weighted ones, and
the standard errors and LR tests are those of a sample of ``n_eff`` respondents. This
accounts for the loss of precision from unequal weighting (Kish's design effect), not for
clustering or stratification; it is not a sandwich (design-based) variance.

>>> res = WeightedMNLogit(y, X, freq_weights=w).fit(method="newton", disp=False)   # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np

from .mnlogit import MNLogit

__all__ = ["WeightedMNLogit"]

#: Rows per chunk of the score's products.
SCORE_ROWS = 262_144


class WeightedMNLogit(MNLogit):
    """``MNLogit`` whose log-likelihood is ``sum_i w_i log p_i(y_i)``.

    The Hessian is :class:`.mnlogit.MNLogit`'s one-product form with each row weighted.

    Parameters
    ----------
    endog, exog
        As ``MNLogit``.
    freq_weights : array of shape (n_obs,)
        Positive weights (frequency weights: ``w_i`` copies of row ``i``).

    After ``fit``, ``results.nobs`` is set to ``sum w`` (the BIC's N); ``llnull`` is not
    weighted by statsmodels and must be supplied (the caller computes it in closed form).
    """

    def __init__(self, endog, exog, freq_weights=None, **kwargs):
        super().__init__(endog, exog, **kwargs)
        w = np.ones(self.exog.shape[0]) if freq_weights is None else np.asarray(freq_weights, dtype=float)
        if w.shape != (self.exog.shape[0],) or not np.all(np.isfinite(w)) or np.any(w <= 0):
            raise ValueError("freq_weights must be positive and finite, one per observation")
        self.freq_weights = w
        # The chosen segment's code stands for statsmodels' n x J outcome dummies, which
        # are dropped: at panel scale they are a tenth of a gigabyte per model.
        self._chosen = self.wendog.argmax(axis=1)
        self.wendog = None

    def _dummies(self, rows=slice(None)) -> np.ndarray:
        """The outcome dummies of ``rows`` (what statsmodels keeps as ``wendog``)."""
        return np.eye(self.J)[self._chosen[rows]]

    def loglike(self, params):
        # sum_i w_i log p_i(y_i): the chosen segment's probability only, not the n x J product
        P = self.probabilities(params)
        chosen = P[np.arange(P.shape[0]), self._chosen]
        return float(np.dot(self.freq_weights, np.log(chosen)))

    def loglikeobs(self, params):
        return self.freq_weights[:, None] * self._dummies() * np.log(self.probabilities(params))

    def score(self, params):
        # in row chunks: no n x (J-1) temporaries at panel scale
        P, X, W = self.probabilities(params), self.exog, self.freq_weights
        out = np.zeros((self.J - 1, self.K))
        for lo in range(0, X.shape[0], SCORE_ROWS):
            hi = lo + SCORE_ROWS
            resid = -P[lo:hi, 1:]                       # dummies - p, the dummies added below
            chosen = self._chosen[lo:hi]
            rows = np.flatnonzero(chosen > 0)
            resid[rows, chosen[rows] - 1] += 1.0
            resid *= W[lo:hi, None]
            out += resid.T @ X[lo:hi]
        return out.flatten()

    def score_obs(self, params):
        resid = self.freq_weights[:, None] * (self._dummies()[:, 1:] - self.probabilities(params)[:, 1:])
        return (resid[:, :, None] * self.exog[:, None, :]).reshape(self.exog.shape[0], -1)

    def fit(self, *args, **kwargs):
        res = super().fit(*args, **kwargs)
        getattr(res, "_results", res).nobs = float(self.freq_weights.sum())   # under the wrapper
        return res
