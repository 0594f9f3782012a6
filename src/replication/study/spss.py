"""Writing a table back: CSV and SPSS ``.sav`` (with variable and value labels), atomically.

:func:`write_user_table` writes each file to a temporary file beside its target and
renames them into place only when every one is complete; :func:`spss_name` makes a
column name a valid SPSS variable name.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from .. import files
from ..errors import ReplicationError
from .readers import is_number


#: SPSS limits, in bytes of UTF-8: variable names, variable labels, value labels, file label.
SPSS_NAME_BYTES, SPSS_VARIABLE_LABEL_BYTES, SPSS_VALUE_LABEL_BYTES, SPSS_FILE_LABEL_BYTES = 64, 256, 120, 64


def _clip_bytes(text: str, limit: int) -> str:
    b = str(text).encode("utf-8")
    if len(b) <= limit:
        return str(text)
    return b[:limit].decode("utf-8", errors="ignore")


#: A line of a document (note) in a .sav file holds 80 bytes.
SPSS_NOTE_LINE_BYTES = 80


def wrap_bytes(text: str, limit: int = SPSS_NOTE_LINE_BYTES) -> list[str]:
    """``text`` wrapped at spaces into lines of at most ``limit`` bytes of UTF-8 (SPSS counts
    bytes, so a line of Cyrillic or emoji holds fewer characters); a word longer than a
    line is cut between characters, never inside one."""
    lines: list[str] = []
    line = ""
    for word in str(text).split():
        while len(word.encode("utf-8")) > limit:
            head = _clip_bytes(word, limit)
            if line:
                lines.append(line)
                line = ""
            lines.append(head)
            word = word[len(head):]
        candidate = f"{line} {word}" if line else word
        if len(candidate.encode("utf-8")) <= limit:
            line = candidate
        else:
            lines.append(line)
            line = word
    if line:
        lines.append(line)
    return lines


def spss_name(name: str, used: set) -> str:
    """A valid, unused SPSS variable name for ``name`` (letters, digits, ``_ . @ # $``)."""
    s = re.sub(r"[^\w.@#$]", "_", str(name), flags=re.ASCII)
    if not s or not (s[0].isalpha() or s[0] in "@#$"):
        s = "v_" + s
    s = s.rstrip(".")
    s = _clip_bytes(s, SPSS_NAME_BYTES - 4)
    base, i = s, 1
    while s.lower() in {u.lower() for u in used} or s.upper() in {"ALL", "AND", "BY", "EQ", "GE", "GT", "LE",
                                                                   "LT", "NE", "NOT", "OR", "TO", "WITH"}:
        i += 1
        s = f"{base}_{i}"
    used.add(s)
    return s


def _check_target(path: Path) -> None:
    if path.is_dir():
        raise ReplicationError(f"{path}: is a folder; give a file name to write")
    parent = path.parent
    if parent.exists() and not parent.is_dir():
        raise ReplicationError(f"{path}: {parent} is a file, not a folder")


def _temp_beside(path: Path) -> Path:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except PermissionError:
        raise ReplicationError(f"{path}: permission denied: cannot write in the folder {path.parent} "
                               "(read-only?)") from None
    except OSError as exc:
        raise ReplicationError(f"{path}: cannot write in the folder {path.parent} ({exc.strerror or exc})") from None
    os.close(fd)
    return Path(tmp)


def write_user_table(frame: pd.DataFrame, path_csv=None, path_sav=None, *, variable_labels=None,
                     value_labels=None, file_label: str = "", note: str | None = None,
                     float_columns=(), digits: int = 6, csv_only=()) -> list[Path]:
    """Write a table as CSV and/or SPSS ``.sav``, both or neither.

    Each file is first written to a temporary file beside its target; only when every
    one is complete are they renamed into place (``os.replace``), so a failure leaves
    every existing file as it was. In the CSV, ``float_columns`` keep ``digits``
    significant digits. In the ``.sav``, column names that are not valid SPSS names are
    made valid (the original name becomes the variable label), and labels are clipped to
    SPSS's lengths. Columns ``csv_only`` are left out of the ``.sav`` (text that value
    labels there already give).

    Returns
    -------
    list of Path
    """
    targets = [(Path(p), kind) for p, kind in ((path_csv, "csv"), (path_sav, "sav")) if p is not None]
    for path, _ in targets:
        _check_target(path)
    temps: list[tuple[Path, Path]] = []
    umask = files._UMASK
    current = targets[0][0] if targets else None
    try:
        for path, kind in targets:
            current = path
            tmp = _temp_beside(path)
            temps.append((tmp, path))
            if kind == "csv":
                _write_csv(frame, tmp, float_columns, digits)
            else:
                _write_sav(frame.drop(columns=[c for c in csv_only if c in frame.columns]), tmp, path,
                           variable_labels or {}, value_labels or {}, file_label, note)
            os.chmod(tmp, 0o666 & ~umask)
        for tmp, path in temps:
            current = path
            os.replace(tmp, path)
    except PermissionError:
        raise ReplicationError(f"{current}: permission denied while writing") from None
    except OSError as exc:
        raise ReplicationError(f"{current}: cannot write ({exc.strerror or exc})") from None
    finally:
        for tmp, _ in temps:
            tmp.unlink(missing_ok=True)
    return [p for p, _ in targets]


def _write_csv(frame: pd.DataFrame, tmp: Path, float_columns, digits: int) -> None:
    """``frame`` as CSV, ``float_columns`` to ``digits`` significant digits, in row chunks."""
    long = len(frame) >= files.PREFORMAT_ROWS

    def prepare(part: pd.DataFrame) -> pd.DataFrame:
        out = part.copy(deep=False)
        for c in float_columns:
            if c in out.columns:
                out[c] = _formatted(out[c], digits)
        return files.preformat(out, None) if long else out      # the other floats as pandas writes them

    with open(tmp, "w", encoding="utf-8", newline="") as fh:
        files.write_table(fh, frame, prepare)


def _formatted(col: pd.Series, digits: int) -> np.ndarray:
    """Each value as ``f"{x:.{digits}g}"``, blank where missing."""
    x = col.to_numpy(dtype=float)
    out = np.full(len(x), "", dtype=object)
    ok = ~np.isnan(x)
    out[ok] = list(map(f"{{:.{digits}g}}".format, x[ok]))
    return out


def _text_or_none(col: pd.Series) -> np.ndarray:
    """Each value as text (``str``), None where missing: a text column as pyreadstat takes it
    (a column already of text is not converted cell by cell)."""
    arr = col.to_numpy(dtype=object)
    na = pd.isna(arr)
    if pd.api.types.infer_dtype(arr, skipna=True) not in ("string", "empty"):
        arr = np.array([str(x) for x in arr], dtype=object)
    if na.any():
        arr = arr.copy()        # not the caller's column
        arr[na] = None
    return arr


def _write_sav(frame, tmp: Path, target: Path, variable_labels: dict, value_labels: dict, file_label: str, note) -> None:
    import pyreadstat

    used: set = set()
    names = {c: spss_name(c, used) for c in frame.columns}
    columns = {}
    for c in frame.columns:
        v = frame[c]
        if pd.api.types.is_bool_dtype(v):
            v = v.astype(float)
        columns[names[c]] = v.to_numpy() if pd.api.types.is_numeric_dtype(v) else _text_or_none(v)
    # One frame of the columns as they are (a column set one by one is copied: at panel
    # scale a second copy of the table).
    df = pd.DataFrame(columns, index=pd.RangeIndex(len(frame)), copy=False)
    col_labels = {}
    for c in frame.columns:
        text = variable_labels.get(c)
        if text is None and names[c] != c:
            text = str(c)
        if text is not None:
            col_labels[names[c]] = _clip_bytes(text, SPSS_VARIABLE_LABEL_BYTES)
    vvl = {}
    for c, labels in value_labels.items():
        if c in names and pd.api.types.is_numeric_dtype(frame[c]) and labels:
            vvl[names[c]] = {(int(k) if float(k) == int(float(k)) else float(k)): _clip_bytes(t, SPSS_VALUE_LABEL_BYTES)
                             for k, t in labels.items() if is_number(k)}
    try:
        pyreadstat.write_sav(df, str(tmp), file_label=_clip_bytes(file_label or "", SPSS_FILE_LABEL_BYTES),
                             column_labels=col_labels or None, variable_value_labels=vvl or None,
                             note=wrap_bytes(note) if note else None)
    except (pyreadstat.ReadstatError, pyreadstat.PyreadstatError) as exc:
        raise ReplicationError(f"{target}: cannot write the SPSS file ({exc})") from None
    fix_sav_timestamp(tmp)


#: Where the header of a .sav file holds its creation date ("dd mmm yy") and time
#: ("hh:mm:ss"): after the 4-byte magic, the 60-byte product name, five 4-byte integers
#: and the 8-byte compression bias.
SAV_DATE_OFFSET, SAV_TIME_OFFSET = 92, 101


def sav_timestamp() -> tuple[bytes, bytes]:
    """The creation date and time written into every .sav header: ``SOURCE_DATE_EPOCH``
    (the reproducible-builds convention) when set, else 01 Jan 70 00:00:00."""
    import time
    try:
        epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
    except ValueError:
        epoch = 0
    t = time.gmtime(max(epoch, 0))
    months = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
    return (f"{t.tm_mday:02d} {months[t.tm_mon - 1]} {t.tm_year % 100:02d}".encode("ascii"),
            f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}".encode("ascii"))


def fix_sav_timestamp(path) -> None:
    """Overwrite the write time in a .sav header (ReadStat writes the clock's) with
    :func:`sav_timestamp`, so that the same table gives the same bytes: ``verify`` compares
    checksums, and a .sav output would otherwise always differ."""
    date, clock = sav_timestamp()
    with open(path, "r+b") as fh:
        head = fh.read(SAV_TIME_OFFSET + 8)
        if head[:4] not in (b"$FL2", b"$FL3") or len(head) < SAV_TIME_OFFSET + 8:
            return
        fh.seek(SAV_DATE_OFFSET)
        fh.write(date)
        fh.seek(SAV_TIME_OFFSET)
        fh.write(clock)
