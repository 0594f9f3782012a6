"""Description of the sample: Table 1, item answer distributions, and provenance.

Pure description of what is in the survey and the specification. Nothing here scores,
clusters or models; those steps live in their own modules.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import ReplicationError
from .spec import StudySpec, provenance_table

DEMOGRAPHICS_COLUMNS = ["variable", "label", "category", "code", "n", "percent",
                        "mean", "sd", "min", "max"]
ITEM_COLUMNS = ["construct", "role", "item", "answer", "n", "percent"]
PROVENANCE_COLUMNS = ["path", "value", "status", "source"]


def _column(survey: pd.DataFrame, name: str) -> pd.Series:
    if name not in survey.columns:
        raise ReplicationError(f"the survey has no column '{name}', which the study specification names")
    return survey[name]


def demographics_table(survey: pd.DataFrame, spec: StudySpec) -> pd.DataFrame:
    """Table 1: the sample's demographics, in tidy long format.

    An integer demographic (age) gives one row with its mean, SD (ddof=1), and observed
    minimum and maximum. A categorical demographic gives one row per category of the
    specification, in code order, with its count and percent of the sample (categories
    nobody chose appear with ``n = 0``).

    Parameters
    ----------
    survey : DataFrame
        The survey, with one column per demographic of ``spec``.
    spec : StudySpec
        The study specification; gives the demographics, their order and category labels.

    Returns
    -------
    DataFrame
        Columns ``variable, label, category, code, n, percent, mean, sd, min, max``;
        NaN (or ``<NA>`` for ``code``) where a column does not apply. Rows follow the
        specification's order, categories their code order.
    """
    total = len(survey)
    rows = []
    for d in spec.demographics:
        values = _column(survey, d.id)
        if d.kind == "integer":
            rows.append({"variable": d.id, "label": d.label, "category": np.nan, "code": pd.NA,
                         "n": int(values.count()), "percent": np.nan,
                         "mean": float(values.mean()), "sd": float(values.std(ddof=1)),
                         "min": float(values.min()), "max": float(values.max())})
            continue
        counts = values.value_counts()
        unknown = sorted(set(counts.index) - set(d.categories.value))
        if unknown:
            raise ReplicationError(f"the survey's column '{d.id}' has code {unknown[0]}, which is not "
                                   f"one of the specification's categories")
        for code in sorted(d.categories.value):
            n = int(counts.get(code, 0))
            rows.append({"variable": d.id, "label": d.label, "category": d.categories.value[code],
                         "code": code, "n": n, "percent": 100.0 * n / total if total else np.nan,
                         "mean": np.nan, "sd": np.nan, "min": np.nan, "max": np.nan})
    out = pd.DataFrame(rows, columns=DEMOGRAPHICS_COLUMNS)
    out["code"] = out["code"].astype("Int64")
    out["n"] = out["n"].astype(int)
    return out


def item_distributions(survey: pd.DataFrame, spec: StudySpec) -> pd.DataFrame:
    """How often each answer was given to each clustering and predictor item.

    Parameters
    ----------
    survey : DataFrame
        The survey, with one column per item of ``spec``.
    spec : StudySpec
        The study specification; gives the constructs, their items and scale points.

    Returns
    -------
    DataFrame
        Columns ``construct, role, item, answer, n, percent``: one row for every answer
        ``1..scale_points`` of every item (answers nobody gave appear with ``n = 0``), in
        specification order. ``percent`` is of all respondents, so it sums to 100 per item.

    Raises
    ------
    ReplicationError
        If an item is missing or has an answer outside ``1..scale_points``.
    """
    total = len(survey)
    frames = []
    for c in spec.constructs:
        answers = np.arange(1, c.scale_points.value + 1)
        for item in c.items.value:
            values = _column(survey, item)
            outside = values[~values.isin(answers)]
            if len(outside):
                raise ReplicationError(f"the survey's item '{item}' has answer {outside.iloc[0]}, outside "
                                       f"1..{c.scale_points.value}")
            n = values.value_counts().reindex(answers, fill_value=0).to_numpy()
            frames.append(pd.DataFrame({"construct": c.id, "role": c.role, "item": item,
                                        "answer": answers, "n": n,
                                        "percent": 100.0 * n / total if total else np.nan}))
    if not frames:
        return pd.DataFrame(columns=ITEM_COLUMNS)
    return pd.concat(frames, ignore_index=True)[ITEM_COLUMNS]


def _short(value, width: int = 60) -> str:
    """A one-line rendering of a specification value, cut to ``width`` characters."""
    if isinstance(value, float):
        text = f"{value:g}"
    elif isinstance(value, dict):
        text = "; ".join(f"{k}: {_short(v, width)}" for k, v in value.items())
    elif isinstance(value, (list, tuple)):
        text = ", ".join(_short(v, width) for v in value)
    else:
        text = " ".join(str(value).split())
    return text if len(text) <= width else text[: width - 3] + "..."


def provenance_frame(spec: StudySpec, width: int = 60) -> pd.DataFrame:
    """Every sourced value of the specification, marked ``reported`` or ``assumed``.

    Parameters
    ----------
    spec : StudySpec
        The study specification.
    width : int, default 60
        Values are rendered on one line and cut to this many characters.

    Returns
    -------
    DataFrame
        Columns ``path, value, status, source``, one row per sourced value, in
        specification order; ``value`` is a short string.
    """
    rows = provenance_table(spec)
    out = pd.DataFrame(rows, columns=PROVENANCE_COLUMNS)
    out["value"] = [_short(v, width) for v in out["value"]]
    return out
