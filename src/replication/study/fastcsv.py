"""Reading a large, plain CSV survey quickly and in bounded memory.

:func:`read_plain_csv` reads a CSV file in chunks with pandas' C parser, only the columns
the study needs, and keeps each column compactly: a column whose every non-blank cell is a
finite number becomes a float array (``float32`` where that is exact, else ``float64``) of
kind ``"number"``, any other column stays text, stripped, as the row-by-row reader
(:func:`.readers.read_csv_table`) gives it. The respondent id always stays text, so
``"0001"`` stays ``"0001"``. Cleaning (:mod:`.cleaning`) treats a number column exactly as
the same column read as text: blank cells are missing, missing codes match by value.

It only reads files it can read exactly as the row-by-row reader does, and returns None
for anything else, so the caller falls back to the row-by-row reader, which names the
problem precisely (file, row, line, column): an encoding other than UTF-8, UTF-16 text,
NUL bytes, bytes that are not UTF-8, quotes, lone carriage returns, a header it would
reject, a row with more or fewer fields than the header (the count of delimiters must be
the header's times the rows'), blank lines, a row blank in every column read, or a column
numeric in some chunks and text in others. Without quotes, blank lines and lone carriage
returns, data row ``i`` (0-based) is on line ``i + 2``.

A file larger than :data:`PROGRESS_BYTES` shows a progress bar on standard error.
"""

from __future__ import annotations

import codecs
import io
from pathlib import Path

import numpy as np
import pandas as pd

#: Files at least this large are read by the chunked reader (smaller ones row by row,
#: whose cost does not matter there).
FAST_BYTES = 8 * 2**20
#: Files at least this large show a progress bar while they are read.
PROGRESS_BYTES = 20 * 2**20
#: Rows per chunk: about 40 MB of text for a survey of 40 columns.
CHUNK_ROWS = 250_000


class _Scan(io.RawIOBase):
    """A binary file that checks, as pandas reads it, what decides whether the fast read is
    exact: every line has ``fields - 1`` delimiters (no short, long or blank line), and no
    quote, NUL or lone carriage return occurs."""

    def __init__(self, fh, delimiter: bytes, fields: int, progress=None):
        self.fh, self.delim, self.fields, self.progress = fh, delimiter[0], fields, progress
        self.newlines = self.quotes = self.nuls = self.crs = self.crlfs = 0
        self.partial = 0            # delimiters on the line not yet ended
        self.uneven = False         # a line with another number of delimiters
        self.last = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        data = self.fh.read(len(buf))
        n = len(data)
        buf[:n] = data
        if n:
            self.quotes += data.count(b'"')
            self.nuls += data.count(b"\x00")
            self.crs += data.count(b"\r")
            self.crlfs += data.count(b"\r\n") + (self.last == b"\r" and data[:1] == b"\n")
            self.last = data[-1:]
            a = np.frombuffer(data, np.uint8)
            ends = np.flatnonzero(a == 10)
            cum = np.cumsum(a == self.delim, dtype=np.int64)
            if ends.size:
                per_line = np.diff(cum[ends], prepend=0)
                per_line[0] += self.partial
                self.uneven |= bool((per_line != self.fields - 1).any())
                self.partial = int(cum[-1] - cum[ends[-1]])
            else:
                self.partial += int(cum[-1])
            self.newlines += ends.size
            if self.progress is not None:
                self.progress.update(n)
        return n

    def even(self) -> bool:
        """Whether every line had ``fields - 1`` delimiters (the last one, unended, too)."""
        if self.last not in (b"\n", b"") and self.partial != self.fields - 1:
            return False
        return not self.uneven


def _header(path: Path, delimiter: str, skip: int) -> list | None:
    """The header's stripped names, or None when the fast reader should leave the file alone."""
    with open(path, "rb") as fh:
        fh.seek(skip)
        first = fh.readline(1 << 20)
    if not first.endswith(b"\n") or b'"' in first or b"\x00" in first:
        return None
    try:
        names = [h.strip() for h in first.decode("utf-8").rstrip("\r\n").split(delimiter)]
    except UnicodeDecodeError:
        return None
    if len(names) < 2 or "" in names or len(set(names)) != len(names):
        return None
    return names


def _column(parts: list) -> tuple[np.ndarray, str] | None:
    """One column from its chunks ((kind, array) or (None, length) for an all-blank chunk);
    None when it is numeric in some chunks and text in others (then it is re-read as text)."""
    kinds = {k for k, _ in parts if k is not None}
    if len(kinds) > 1:
        return None
    kind = kinds.pop() if kinds else "text"
    if kind == "number":
        arrays = [a if k else np.full(a, np.nan, np.float32) for k, a in parts]
        dtype = np.result_type(*arrays)
        return np.concatenate(arrays).astype(dtype, copy=False), "number"
    arrays = [a if k else np.full(a, "", dtype=object) for k, a in parts]
    return np.concatenate(arrays), "text"


def _text_columns(path: Path, skip: int, delimiter: str, positions: list) -> dict:
    """Columns (by position) re-read as stripped text, from a file the first pass found plain."""
    parts: dict = {j: [] for j in positions}
    with open(path, "rb") as fh:
        fh.seek(skip)
        for chunk in pd.read_csv(fh, sep=delimiter, header=0, usecols=positions, dtype=str, na_filter=False,
                                 skip_blank_lines=False, quoting=3, engine="c", chunksize=CHUNK_ROWS,
                                 encoding="utf-8"):
            for i, j in enumerate(sorted(positions)):
                parts[j].append(chunk.iloc[:, i].str.strip().to_numpy(dtype=object))
    return {j: np.concatenate(p) for j, p in parts.items()}


def _chunk_column(s: pd.Series):
    """``(kind, values)`` of one column of one chunk as pandas' C parser typed it: a column
    of finite numbers (blank cells NaN) is ``"number"``, one of strings ``"text"`` (blank
    cells ""; stripped); ``(None, n)`` when every cell is blank; ``("retext", None)`` for
    anything else (e.g. 'inf', 'True'), which is then re-read as text."""
    x = s.to_numpy()
    if x.dtype.kind in "iuf":
        if x.dtype.kind in "iu" and x.size and np.abs(x).max() >= 2**53:
            return "retext", None
        x = x.astype(np.float64, copy=False)
        blank = np.isnan(x)
        if blank.all():
            return None, len(x)
        if not np.isfinite(x[~blank]).all():
            return "retext", None
        small = x.astype(np.float32)
        return "number", small if ((small == x) | blank).all() else x.copy()
    if x.dtype == object:
        t = s.fillna("").astype(object).str.strip().to_numpy(dtype=object)
        if (t == "").all():
            return None, len(t)
        return "text", t
    return "retext", None


def read_plain_csv(path: Path, encoding: str | None, delimiter: str, usecols=None, id_column=None):
    """``(header, columns, kinds, n_rows, notes)`` of a plain CSV file, or None (read it row by row).

    Parameters
    ----------
    path : Path
        The CSV file.
    encoding : str or None
        The data block's encoding; only UTF-8 (the default) is read here.
    delimiter : str
        The field delimiter.
    usecols : iterable of str, optional
        The columns to keep (others are checked for shape, not kept); default: all.
    id_column : str, optional
        A column kept as text whatever it holds (the respondent id).
    """
    enc = (encoding or "utf-8").strip()
    try:
        if codecs.lookup(enc).name not in ("utf-8", "utf-8-sig"):
            return None
    except LookupError:
        return None
    if len(delimiter.encode("utf-8")) != 1 or delimiter in '"\r\n':
        return None
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(4096)
    notes = []
    skip = 0
    if head.startswith(codecs.BOM_UTF8):
        skip = len(codecs.BOM_UTF8)
        notes.append(f"{path.name} starts with a UTF-8 byte-order mark (as Excel writes it); it was "
                     "removed, so the first column keeps its name")
    # UTF-16 text (with or without a byte-order mark) has NUL bytes or a BOM the header check refuses.
    if head[skip:skip + 2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in head:
        return None
    header = _header(path, delimiter, skip)
    if header is None:
        return None
    wanted = [j for j, h in enumerate(header) if usecols is None or h in set(usecols)]
    if not wanted:
        wanted = [0]
    progress = None
    if size >= PROGRESS_BYTES:
        from tqdm import tqdm
        import sys
        progress = tqdm(total=size, desc=f"reading {path.name}", unit="B", unit_scale=True,
                        file=sys.stderr, mininterval=1.0, leave=True)
    parts: dict = {j: [] for j in wanted}
    retext: set = set()          # columns to re-read as text
    n_rows = 0
    try:
        with open(path, "rb") as raw:
            raw.seek(skip)
            if progress is not None:
                progress.update(skip)
            scan = _Scan(raw, delimiter.encode("utf-8"), len(header), progress)
            # Numbers are converted by the C parser; only a blank cell is NaN (a text missing
            # code such as "NA" stays text); the id column is read as text.
            ids = [j for j in wanted if header[j] == id_column]
            reader = pd.read_csv(io.BufferedReader(scan, 1 << 20), sep=delimiter, header=0, usecols=wanted,
                                 dtype={j: str for j in ids} or None, keep_default_na=False, na_values=[""],
                                 skip_blank_lines=False, quoting=3, engine="c", chunksize=CHUNK_ROWS,
                                 encoding="utf-8", encoding_errors="strict")
            for chunk in reader:
                if scan.nuls or scan.quotes:
                    return None
                cols = [chunk.iloc[:, i] for i in range(chunk.shape[1])]
                blank = np.ones(len(chunk), bool)
                for j, s in zip(wanted, cols):
                    kind, values = _chunk_column(s)
                    if kind == "retext":
                        retext.add(j)
                        continue
                    if kind == "text":
                        blank &= values == ""
                    elif kind == "number":
                        blank &= np.isnan(values)
                    parts[j].append((kind, values))
                if blank.any():
                    return None                   # a blank row: the row-by-row reader skips it
                n_rows += len(chunk)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, pd.errors.EmptyDataError):
        return None
    finally:
        if progress is not None:
            progress.close()
    # Every line (header and rows) has exactly len(header) - 1 delimiters (so no blank
    # line) and no lone carriage return: then the rows are the file's lines 2, 3, ...
    records = scan.newlines + (scan.last not in (b"\n", b""))
    if scan.nuls or scan.quotes or scan.crs != scan.crlfs or records != n_rows + 1 or not scan.even():
        return None
    columns, kinds, mixed = {}, {}, sorted(retext)
    for j in wanted:
        if j in retext:
            continue
        col = _column(parts.pop(j))
        if col is None:
            mixed.append(j)     # e.g. a text missing code ("NA") in some chunks only
        else:
            columns[header[j]], kinds[header[j]] = col
    if mixed:
        for j, values in _text_columns(path, skip, delimiter, mixed).items():
            columns[header[j]], kinds[header[j]] = values, "text"
    columns = {header[j]: columns[header[j]] for j in wanted}
    return header, columns, kinds, n_rows, notes
