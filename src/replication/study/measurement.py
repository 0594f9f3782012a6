"""Measurement: scale scores (the mean of a construct's items) and their reliability."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .spec import StudySpec


def cronbach_alpha(items) -> float:
    """Cronbach's alpha of a respondents x items array.

    ``alpha = k / (k - 1) * (1 - sum(item variances) / variance(sum score))``, with
    sample variances (ddof=1), as in Cronbach (1951).

    Parameters
    ----------
    items : array-like of shape (n_respondents, n_items)

    Returns
    -------
    float
    """
    x = np.asarray(items, dtype=float)
    complete = ~np.isnan(x).any(axis=1)     # respondents who answered every item of the scale
    if not complete.all():                  # (no copy of a panel's answers when all did)
        x = x[complete]
    k = x.shape[1]
    if k < 2:
        raise ValueError("Cronbach's alpha needs at least two items")
    item_var = x.var(axis=0, ddof=1).sum()
    total_var = x.sum(axis=1).var(ddof=1)
    if total_var == 0:
        return float("nan")   # constant answers: alpha is undefined
    return float(k / (k - 1) * (1 - item_var / total_var))


def as_float64(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its float16 and float32 columns as float64: a large survey's answers
    are kept as float16 (whole scale points, so exactly), and every sum over them is a
    float64 sum, as for any other survey. Other columns are left as they are."""
    narrow = {c: np.float64 for c in frame.columns if frame[c].dtype in (np.float16, np.float32)}
    return frame.astype(narrow) if narrow else frame


def item_means(items: pd.DataFrame) -> np.ndarray:
    """Each row's mean over its answered items (NaN when it answered none): pandas'
    ``as_float64(items).mean(axis=1)``, the same sums (missing answers as 0, the items in
    order) divided by the same counts, without its overhead on millions of rows."""
    x = items.to_numpy(dtype=np.float64, copy=True)
    missing = np.isnan(x)
    answered = x.shape[1] - missing.sum(axis=1)
    x[missing] = 0.0
    with np.errstate(invalid="ignore", divide="ignore"):
        return x.sum(axis=1) / answered


def scale_scores(survey: pd.DataFrame, spec: StudySpec) -> pd.DataFrame:
    """Mean of each construct's items, one column per construct, indexed by respondent.

    Parameters
    ----------
    survey : DataFrame
        ``respondent_id`` and the item columns.
    spec : StudySpec

    Returns
    -------
    DataFrame
        ``respondent_id`` and one column per construct, in specification order.
    """
    out = pd.DataFrame({"respondent_id": survey["respondent_id"].to_numpy()})
    for c in spec.constructs:
        out[c.id] = item_means(survey[c.items.value])
    return out


def reliability(survey: pd.DataFrame, spec: StudySpec, scores: pd.DataFrame | None = None) -> pd.DataFrame:
    """Items, Cronbach's alpha, scale mean and SD per construct (``scores``: the survey's
    :func:`scale_scores`, when already computed: the same means, not computed again)."""
    rows = []
    for c in spec.constructs:
        items = as_float64(survey[c.items.value])
        score = pd.Series(item_means(items) if scores is None else scores[c.id].to_numpy())
        rows.append({"construct": c.id, "label": c.label.value, "role": c.role,
                     "n_items": len(c.items.value), "alpha": cronbach_alpha(items),
                     "mean": score.mean(), "sd": score.std(ddof=1)})
    return pd.DataFrame(rows)
