"""The survey-weight column of a ``data:`` block (``weight:``), read and checked.

Every respondent read must have a weight that is a finite, positive number: a missing,
zero, negative, infinite or text weight stops the read with one message naming the file,
the row (and line of a CSV file) and the column. SPSS user-missing values and the block's
``missing_codes`` count as missing here too: a respondent without a weight cannot stand
for anyone in the population.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import ReplicationError
from .readers import RawTable


def read_weights(raw: RawTable, col: str, missing_codes=()) -> np.ndarray:
    """The weight column of ``raw`` as floats, one per data row.

    Raises
    ------
    ReplicationError
        At the first row whose weight is missing, not a number, not finite, or not
        positive, naming the file, row and column, and counting such rows.
    """
    values = raw.columns[col]
    if raw.kinds.get(col) == "number":
        x = np.asarray(values, dtype=float).copy()
        missing = np.isnan(x)
        missing |= raw.user_missing_mask(col, x)
        text = None
    else:
        text = ["" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v).strip() for v in values]
        missing = np.array([t == "" for t in text], dtype=bool)
        x = np.full(len(text), np.nan)
        for i, t in enumerate(text):
            if t:
                try:
                    x[i] = float(t)
                except ValueError:
                    raise ReplicationError(f"{raw.where(i, col)}: the survey weight '{t[:60]}' is not a number "
                                           "(data.weight names this column)") from None
    codes = {float(c) for c in missing_codes if _is_number(c)} | {str(c).strip() for c in missing_codes}
    if codes:
        missing |= np.array([v in codes for v in x]) if text is None else \
            np.array([t in codes or (not np.isnan(v) and v in codes) for t, v in zip(text, x)])
    for bad, what in ((missing, "is missing"), (~missing & ~np.isfinite(x), "is not a finite number"),
                      (~missing & np.isfinite(x) & (x <= 0), "is not positive")):
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            shown = "" if what == "is missing" else f" ({text[row] if text is not None else _fmt(x[row])})"
            raise ReplicationError(f"{raw.where(row, col)}: the survey weight {what}{shown}; every respondent needs "
                                   f"a positive weight (data.weight names this column; {int(bad.sum())} such row(s))")
    return x


def _is_number(v) -> bool:
    try:
        float(v)
    except (TypeError, ValueError):
        return False
    return True


def _fmt(v: float) -> str:
    return str(int(v)) if v == int(v) else f"{v:g}"
