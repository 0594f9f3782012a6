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

class WeightedMNLogit(MNLogit):
    """``MNLogit`` whose log-likelihood is ``sum_i w_i log p_i(y_i)``.

    The log-likelihood, score and Hessian are :class:`.mnlogit.Likelihood`'s, each row's
    terms multiplied by its weight.

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

    def fit(self, *args, **kwargs):
        res = super().fit(*args, **kwargs)
        getattr(res, "_results", res).nobs = float(self.freq_weights.sum())   # under the wrapper
        return res
