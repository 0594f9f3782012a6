"""Reading the raw survey through a validator driven by the codebook.

Everything the analysis reads from ``data/raw`` comes through :func:`read_survey`. A file
that does not match its codebook stops the run with one message naming the file, the row
and the column, instead of flowing on as silent nonsense.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import ReplicationError, location

CODEBOOK_COLUMNS = ["column", "label", "construct", "role", "scale", "min", "max", "values"]


def _read_text_csv(path: Path) -> pd.DataFrame:
    """Read a CSV with every cell as text, checking its shape row by row.

    The csv module, not pandas, parses the file: pandas would silently take a first
    column as the index when rows have one field too many, and rename duplicate headers.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReplicationError(f"{path}: file not found (run `make data` to generate it)") from None
    except UnicodeDecodeError as exc:
        raise ReplicationError(f"{path}: not UTF-8 text ({exc.reason})") from None
    if not text.strip():
        raise ReplicationError(f"{path}: the file is empty")
    reader = csv.reader(io.StringIO(text, newline=""))
    rows, lines = [], []
    try:
        for r in reader:
            if r:  # blank lines carry no data
                rows.append(r)
                lines.append(reader.line_num)
    except csv.Error as exc:
        raise ReplicationError(f"{path}, line {reader.line_num}: malformed CSV: {exc}") from None
    header, body = rows[0], rows[1:]
    seen = set()
    for name in header:
        if name in seen:
            raise ReplicationError(f"{location(path, column=name)}: the header names this column twice")
        seen.add(name)
    for i, r in enumerate(body):
        if len(r) != len(header):
            raise ReplicationError(f"{location(path, i + 1)} (line {lines[i + 1]}): malformed CSV: "
                                   f"{len(r)} fields, but the header has {len(header)}")
    return pd.DataFrame(body, columns=header, dtype=str)


def read_codebook(path: str | Path) -> pd.DataFrame:
    """Read and check a codebook: its columns, unique names, and integer bounds."""
    path = Path(path)
    cb = _read_text_csv(path)
    missing = [c for c in CODEBOOK_COLUMNS if c not in cb.columns]
    if missing:
        raise ReplicationError(f"{location(path, column=missing[0])}: missing codebook column")
    dup = cb["column"][cb["column"].duplicated()]
    if len(dup):
        row = int(dup.index[0]) + 1
        raise ReplicationError(f"{location(path, row, 'column')}: '{dup.iloc[0]}' is listed twice")
    for i, r in cb.iterrows():
        for col in ("min", "max"):
            v = r[col]
            if v != "" and not _is_int(v):
                raise ReplicationError(f"{location(path, i + 1, col)}: '{v}' is not a whole number")
    return cb


def _is_int(s: str) -> bool:
    s = s.strip().lstrip("+-")
    return s.isascii() and s.isdigit()


def _allowed_codes(values: str) -> set[int] | None:
    """Codes of a categorical column from ``"1=female; 2=male"``."""
    if not values:
        return None
    codes = set()
    for part in values.split(";"):
        code = part.split("=", 1)[0].strip()
        if not _is_int(code):
            return None
        codes.add(int(code))
    return codes


def read_survey(path: str | Path, codebook: str | Path | pd.DataFrame) -> pd.DataFrame:
    """Read the raw survey and check it against the codebook.

    Checks, in order: the file is a non-empty CSV; its columns are exactly the
    codebook's (none missing, none extra); every answer is a whole number within the
    column's range (and, for categorical columns, one of its codes); respondent ids are
    unique.

    Parameters
    ----------
    path : str or Path
        The survey CSV.
    codebook : str, Path or DataFrame
        The codebook, or its path.

    Returns
    -------
    DataFrame
        Integer columns in codebook order.

    Raises
    ------
    ReplicationError
        On the first problem, naming the file, the row (1 = first data row) and the column.
    """
    path = Path(path)
    cb = read_codebook(codebook) if not isinstance(codebook, pd.DataFrame) else codebook
    raw = _read_text_csv(path)
    if raw.empty:
        raise ReplicationError(f"{path}: the file has a header but no respondents")
    expected = list(cb["column"])
    missing = [c for c in expected if c not in raw.columns]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise ReplicationError(f"{location(path, column=missing[0])}: column is in the codebook but "
                               f"missing from the file{more}")
    extra = [c for c in raw.columns if c not in expected]
    if extra:
        raise ReplicationError(f"{location(path, column=extra[0])}: column is not in the codebook "
                               "(unexpected extra column)")
    out = {}
    for _, spec in cb.iterrows():
        col = spec["column"]
        cells = raw[col].str.strip()
        ok = cells.str.fullmatch(r"[+-]?[0-9]{1,15}")  # ASCII digits; 15 keeps int64 exact
        if not ok.all():
            row = int(np.flatnonzero(~ok.to_numpy())[0])
            value = raw[col].iloc[row]
            if value.strip() == "":
                what = "is empty (missing answer)"
            elif value.strip().lstrip("+-").isascii() and value.strip().lstrip("+-").isdigit():
                what = f"'{value}' is too large to be an answer"
            else:
                what = f"'{value}' is not a whole number"
            raise ReplicationError(f"{location(path, row + 1, col)}: {what}")
        values = cells.astype(np.int64).to_numpy()
        lo = int(spec["min"]) if spec["min"] != "" else None
        hi = int(spec["max"]) if spec["max"] != "" else None
        bad = np.zeros(values.size, bool)
        if lo is not None:
            bad |= values < lo
        if hi is not None:
            bad |= values > hi
        codes = _allowed_codes(spec["values"]) if spec["scale"] == "categorical" else None
        if codes is not None:
            bad |= ~np.isin(values, list(codes))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            allowed = (", ".join(map(str, sorted(codes))) if codes is not None
                       else f"{lo if lo is not None else '-inf'} to {hi if hi is not None else 'inf'}")
            raise ReplicationError(f"{location(path, row + 1, col)}: answer {values[row]} is out of range "
                                   f"(allowed: {allowed}; {int(bad.sum())} such value(s) in this column)")
        out[col] = values
    df = pd.DataFrame(out)
    ids = df["respondent_id"]
    if ids.duplicated().any():
        row = int(np.flatnonzero(ids.duplicated().to_numpy())[0])
        raise ReplicationError(f"{location(path, row + 1, 'respondent_id')}: duplicate respondent id "
                               f"{ids.iloc[row]}")
    return df
