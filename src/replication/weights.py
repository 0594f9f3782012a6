"""Survey weights: the few formulas every weighted step shares.

A survey weighted to its population (the ``weight:`` column of a study's ``data:``
block) enters the analysis as a ``weights`` argument passed down explicitly; ``None``
everywhere means unweighted, and then every step runs its unweighted code unchanged.

The weights are *sampling* weights: they say how many people of the population each
respondent stands for, not how many times a respondent was observed. Point estimates
(shares, centroids, profiles, segments, logit coefficients) are the weighted ones, which
are invariant to multiplying every weight by a constant. Their uncertainty is that of a
sample of Kish's effective size (Kish 1965, *Survey Sampling*, section 11.7)::

    n_eff = (sum w) ** 2 / sum(w ** 2)

which equals N for equal weights and falls as the weights grow unequal (the design
effect of unequal weighting is ``N / n_eff``). This ignores clustering and
stratification, which the package is not told about.
"""

from __future__ import annotations

import numpy as np

__all__ = ["kish_effective_n", "as_frequency", "weighted_mean", "weighted_sd"]


def kish_effective_n(weights) -> float:
    """Kish's effective sample size ``(sum w)**2 / sum(w**2)`` of positive weights.

    >>> kish_effective_n([1, 1, 1, 1])
    4.0
    >>> round(kish_effective_n([1, 3]), 3)
    1.6
    """
    w = np.asarray(weights, dtype=float)
    return float(w.sum() ** 2 / (w * w).sum())


def as_frequency(weights) -> np.ndarray | None:
    """Sampling weights rescaled to sum to Kish's effective N (``None`` stays ``None``).

    A likelihood weighted by these counts each respondent ``w_i * n_eff / sum w`` times:
    the estimates are the weighted ones, and standard errors and likelihood-ratio tests
    are those of a sample of ``n_eff`` respondents (see the module docstring).
    """
    if weights is None:
        return None
    w = np.asarray(weights, dtype=float)
    return w * (kish_effective_n(w) / w.sum())


def weighted_mean(X, weights=None, axis: int = 0):
    """Mean of ``X`` along ``axis``, weighted when ``weights`` is given."""
    X = np.asarray(X, dtype=float)
    if weights is None:
        return X.mean(axis=axis)
    return np.average(X, axis=axis, weights=np.asarray(weights, dtype=float))


def weighted_sd(X, weights=None, axis: int = 0):
    """Standard deviation along ``axis`` (ddof = 1): unweighted, or with frequency-weight
    degrees of freedom ``sum w - 1``, so integer weights give the SD of the duplicated rows."""
    X = np.asarray(X, dtype=float)
    if weights is None:
        return X.std(axis=axis, ddof=1)
    w = np.asarray(weights, dtype=float)
    m = np.average(X, axis=axis, weights=w)
    dev = X - np.expand_dims(m, axis)
    np.square(dev, out=dev)         # in place: at panel scale each fresh temporary costs seconds
    return np.sqrt(np.tensordot(w, dev, axes=([0], [axis])) / (w.sum() - 1))
