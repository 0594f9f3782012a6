"""Writing outputs safely: atomic replaces, deterministic text, and immutable raw data."""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ReplicationError
from .memory import row_chunks

if TYPE_CHECKING:   # write_csv is given a DataFrame; the module itself needs no pandas
    import pandas as pd

#: Significant digits kept for floats in text outputs, so floating-point noise in the last
#: bits (which can differ across BLAS builds) does not change a file, and small p-values survive.
FLOAT_DIGITS = 6


_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to a temporary file beside ``path``, then rename it into place.

    An interrupted run leaves either the old file or the new one, never half of one.
    """
    return atomic_write_with(path, lambda fh: fh.write(data))


def atomic_write_with(path: str | Path, write) -> Path:
    """:func:`atomic_write_bytes` for a writer: ``write(fh)`` writes the content to a
    binary file handle (so a large table streams to disk instead of into memory)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the file normal permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


#: Tables at least this long format a float column with few distinct values once per value.
PREFORMAT_ROWS = 100_000

def write_csv(path: str | Path, df: pd.DataFrame, digits: int = FLOAT_DIGITS) -> Path:
    """Write a table as CSV with floats to ``digits`` significant digits and ``\\n`` line ends
    (streamed to the file: a table of millions of rows is never one string in memory)."""
    prepare = (lambda part: preformat(part, digits)) if len(df) >= PREFORMAT_ROWS else None

    def write(fh) -> None:
        text = io.TextIOWrapper(fh, encoding="utf-8", newline="")
        write_table(text, df, prepare, float_format=f"%.{digits}g")
        text.flush()
        text.detach()
    return atomic_write_with(path, write)


def write_table(fh, df: pd.DataFrame, prepare=None, float_format: str | None = None) -> None:
    """``df`` as CSV to a text handle in row chunks (a panel's formatted text at once would
    be hundreds of megabytes), each chunk passed through ``prepare`` first when given."""
    for rows in row_chunks(max(len(df), 1)):
        part = df.iloc[rows] if prepare is None else prepare(df.iloc[rows])
        write_rows(fh, part, header=rows.start == 0, float_format=float_format)


def write_rows(fh, df: pd.DataFrame, header: bool = True, float_format: str | None = None) -> None:
    """``df.to_csv(fh, index=False, header=header, lineterminator="\\n", float_format=...)``
    to a text handle: the same text. A table of text and integer columns only (a panel's,
    once :func:`preformat` has written its floats) goes straight to the ``csv`` module,
    which pandas itself writes through, each integer formatted once per distinct value:
    pandas' row-by-row assembly was most of the time of writing millions of rows."""
    cells = [_csv_cells(df[c]) for c in df.columns] if df.columns.is_unique else [None]
    if len(df.columns) == 0 or any(c is None for c in cells):
        df.to_csv(fh, index=False, header=header, lineterminator="\n", float_format=float_format)
        return
    writer = csv.writer(fh, lineterminator="\n")
    if header:
        writer.writerow([str(c) for c in df.columns])
    writer.writerows(zip(*cells))


def _csv_cells(col: pd.Series):
    """The column's cells as pandas writes them (text; missing as ""), or None for a type
    whose formatting is left to pandas (floats, booleans, dates, mixed objects)."""
    import numpy as np
    import pandas as pd

    x = col.to_numpy()
    if x.dtype.kind in "iu":
        codes, distinct = pd.factorize(x)
        return np.array([str(v) for v in distinct.tolist()], dtype=object)[codes]
    if x.dtype != object:
        return None
    missing = pd.isna(x)
    if missing.any():
        x = x.copy()
        x[missing] = ""
    return x if pd.api.types.infer_dtype(x, skipna=False) in ("string", "empty") else None


def preformat(df: pd.DataFrame, digits: int | None) -> pd.DataFrame:
    """``df`` with each float column of few distinct values (scale scores of a panel) as the
    very text ``%.{digits}g`` gives (``digits=None``: the text pandas writes by default, the
    shortest that reads back the same), formatted once per distinct value: formatting every
    cell in Python is most of the time of writing millions of rows. Values are told apart
    by their bits, so -0.0 stays "-0" and NaN stays an empty cell."""
    import numpy as np
    import pandas as pd

    out = None
    for name in df.columns:
        if df[name].dtype != np.float64:
            continue
        bits = df[name].to_numpy().view(np.int64)
        where, distinct = pd.factorize(bits)        # hashed: no sort of millions of values
        if len(distinct) > len(bits) // 10:
            continue
        text = np.array(["" if np.isnan(v) else repr(float(v)) if digits is None else f"%.{digits}g" % v
                         for v in distinct.view(np.float64)], dtype=object)
        out = df.copy(deep=False) if out is None else out
        out[name] = text[where]
    return df if out is None else out


def _round_floats(obj, digits):
    if isinstance(obj, float):
        return float(f"{obj:.{digits}g}")
    if isinstance(obj, dict):
        return {k: _round_floats(v, digits) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_round_floats(v, digits) for v in obj]
    return obj


def write_json(path: str | Path, obj, digits: int = FLOAT_DIGITS) -> Path:
    """Write JSON with sorted keys and floats to ``digits`` significant digits."""
    text = json.dumps(_round_floats(obj, digits), indent=2, sort_keys=True, ensure_ascii=False)
    return atomic_write_text(path, text + "\n")


def guard_raw(paths, force: bool) -> None:
    """Refuse to overwrite existing raw data unless ``force`` is given."""
    existing = [str(p) for p in paths if Path(p).exists()]
    if existing and not force:
        raise ReplicationError(
            f"{existing[0]}: raw data already exists and is never overwritten silently; "
            "pass --force (or run `make data`) to regenerate it")
