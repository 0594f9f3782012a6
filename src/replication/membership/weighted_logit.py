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
from statsmodels.discrete.discrete_model import MNLogit

__all__ = ["WeightedMNLogit"]


class WeightedMNLogit(MNLogit):
    """``MNLogit`` whose log-likelihood is ``sum_i w_i log p_i(y_i)``.

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

    def _probabilities(self, params):
        return self.cdf(np.dot(self.exog, params.reshape(self.K, -1, order="F")))

    def loglike(self, params):
        return float(np.sum(self.freq_weights[:, None] * self.wendog * np.log(self._probabilities(params))))

    def loglikeobs(self, params):
        return self.freq_weights[:, None] * self.wendog * np.log(self._probabilities(params))

    def score(self, params):
        resid = self.freq_weights[:, None] * (self.wendog[:, 1:] - self._probabilities(params)[:, 1:])
        return np.dot(resid.T, self.exog).flatten()

    def loglike_and_score(self, params):
        return self.loglike(params), self.score(params)

    def score_obs(self, params):
        resid = self.freq_weights[:, None] * (self.wendog[:, 1:] - self._probabilities(params)[:, 1:])
        return (resid[:, :, None] * self.exog[:, None, :]).reshape(self.exog.shape[0], -1)

    def hessian(self, params):
        # statsmodels' block layout: block (i, j) is -sum_k w_k p_ki (1[i=j] - p_kj) x_k x_k'.
        X, w, J, K = self.exog, self.freq_weights, self.J, self.K
        pr = self._probabilities(params)
        blocks = [-np.dot(((w * pr[:, i + 1] * ((i == j) - pr[:, j + 1]))[:, None] * X).T, X)
                  for i in range(J - 1) for j in range(J - 1)]
        return np.transpose(np.array(blocks).reshape(J - 1, J - 1, K, K), (0, 2, 1, 3)).reshape(
            (J - 1) * K, (J - 1) * K)

    def fit(self, *args, **kwargs):
        res = super().fit(*args, **kwargs)
        getattr(res, "_results", res).nobs = float(self.freq_weights.sum())   # under the wrapper
        return res
