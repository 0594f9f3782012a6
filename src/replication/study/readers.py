"""Reading a survey file: CSV or SPSS ``.sav``, each problem named.

:func:`read_table` checks the file (it exists, is a file, fits in memory, is not empty),
tells the format from the extension and the first bytes (:func:`detect_format`), and reads
it as a :class:`RawTable`: every column as read, before any conversion, with the file
line of each CSV row and the ``.sav`` file's labels and user-missing values. Turning a
raw table into the survey the analysis wants is :mod:`.cleaning`'s job.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import io
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ReplicationError, location
from . import fastcsv
from .loader import MEMORY_PER_FILE_BYTE, MEMORY_PER_FILE_BYTE_CHUNKED, check_fits_in_memory

SAV_SUFFIXES = {".sav", ".zsav"}
CSV_SUFFIXES = {".csv", ".txt", ".tsv", ".tab", ".dat"}
#: Extensions of formats people try, with what to do instead.
UNSUPPORTED = {
    ".xlsx": "an Excel workbook", ".xls": "an Excel workbook", ".xlsm": "an Excel workbook",
    ".ods": "a spreadsheet", ".dta": "a Stata file", ".por": "an SPSS portable file",
    ".sas7bdat": "a SAS file", ".rds": "an R data file", ".rdata": "an R data file",
    ".parquet": "a Parquet file", ".json": "a JSON file",
}
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe (|)"}


@dataclass
class RawTable:
    """A file's columns before any conversion.

    ``columns`` holds, per column, a list of stripped texts (CSV) or the values pyreadstat
    read (.sav); ``lines`` the file line of each data row (CSV), ``kinds`` per column
    ``"text"`` or ``"number"``.
    """

    path: Path
    format: str
    header: list
    columns: dict
    n_rows: int
    lines: list | None = None
    kinds: dict = field(default_factory=dict)
    file_label: str | None = None
    variable_labels: dict = field(default_factory=dict)
    value_labels: dict = field(default_factory=dict)
    user_missing: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)

    def user_missing_mask(self, col: str, x: np.ndarray) -> np.ndarray:
        """Cells of column ``col`` (its numbers ``x``) in one of the file's declared
        user-missing ranges (SPSS); none for a CSV file."""
        mask = np.zeros(len(x), bool)
        for lo, hi in self.user_missing.get(col, []):
            try:
                mask |= (x >= float(lo)) & (x <= float(hi))
            except (TypeError, ValueError):     # a text range of a string variable
                pass
        return mask

    def where(self, row: int | None = None, column: str | None = None) -> str:
        """``file, row R (line L), column 'C'`` for a 0-based data row index."""
        if row is None:
            return location(self.path, column=column)
        head = location(self.path, row + 1)
        if self.lines is not None:
            head += f" (line {self.lines[row]})"
        return head + (f", column '{column}'" if column is not None else "")


def _open_checks(path: Path, what: str = "survey file") -> None:
    """The file exists, is a file, is not too large, and is not empty."""
    if not path.exists():
        folder = path.parent
        hint = ""
        if folder.is_dir():
            near = difflib.get_close_matches(path.name, [p.name for p in folder.iterdir()], n=1)
            hint = f" (did you mean '{near[0]}'?)" if near else ""
        raise ReplicationError(f"{path}: {what} not found{hint}")
    if path.is_dir():
        raise ReplicationError(f"{path}: is a folder, not a {what}")
    # The chunked CSV reader's needs; the other readers check theirs before they read.
    check_fits_in_memory(path, per_byte=MEMORY_PER_FILE_BYTE_CHUNKED)
    if path.stat().st_size == 0:
        raise ReplicationError(f"{path}: the file is empty")


def detect_format(path: Path, declared: str | None = None) -> str:
    """``"csv"`` or ``"sav"``: from ``declared``, else the extension; checked against the file's first bytes."""
    suffix = path.suffix.lower()
    if declared is None:
        if suffix in UNSUPPORTED:
            raise ReplicationError(f"{path}: {UNSUPPORTED[suffix]} ({suffix}) cannot be read; save it as CSV "
                                   "(UTF-8, comma-delimited) or as an SPSS .sav file")
        fmt = "sav" if suffix in SAV_SUFFIXES else "csv" if suffix in CSV_SUFFIXES else None
    else:
        fmt = declared
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except PermissionError:
        raise ReplicationError(f"{path}: permission denied (cannot read the file)") from None
    is_sav = head[:4] in (b"$FL2", b"$FL3")
    if head[:4] == b"PK\x03\x04" or head[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise ReplicationError(f"{path}: this is an Excel workbook (or another zip/OLE file), not "
                               f"{'an SPSS .sav' if fmt == 'sav' else 'a CSV'} file; save it as CSV (UTF-8) or .sav")
    if fmt is None:
        if is_sav:
            return "sav"
        raise ReplicationError(f"{path}: unknown file type '{suffix or '(no extension)'}'; the package reads "
                               "CSV (.csv, .txt, .tsv) and SPSS (.sav) files; set `format: csv` or "
                               "`format: sav` in the data block if the extension is unusual")
    if fmt == "sav" and not is_sav:
        raise ReplicationError(f"{path}: not an SPSS .sav file (a .sav file starts with '$FL2'); if it is "
                               "text, set `format: csv` or rename it .csv")
    if fmt == "csv" and is_sav:
        raise ReplicationError(f"{path}: this is an SPSS .sav file, not CSV text; rename it .sav or set "
                               "`format: sav` in the data block")
    return fmt


def _byte_position(data: bytes, pos: int) -> tuple[int, int]:
    """1-based line and byte column of byte offset ``pos``."""
    line = data.count(b"\n", 0, pos) + 1
    col = pos - (data.rfind(b"\n", 0, pos) + 1) + 1
    return line, col


def _utf16_kind(data: bytes) -> str | None:
    """``utf-16`` (with a byte-order mark), ``utf-16-le``/``-be`` (NUL pattern), else None."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return "utf-16"
    sample = data[:4096]
    if len(sample) >= 4 and sample.count(b"\x00") > len(sample) // 4:
        odd = sample[1::2].count(b"\x00")
        even = sample[0::2].count(b"\x00")
        return "utf-16-le" if odd > even else "utf-16-be"
    return None


def decode_text(path: Path, data: bytes, encoding: str | None, notes: list) -> str:
    """Decode a CSV file; a UTF-8 byte-order mark is removed (and noted), other encodings named."""
    enc = (encoding or "utf-8").strip()
    norm = codecs.lookup(enc).name if _known_encoding(enc) else None
    if norm is None:
        raise ReplicationError(f"{path}: unknown encoding '{enc}' (set `encoding:` to e.g. utf-8, latin-1, "
                               "cp1252 or utf-16)")
    if norm in ("utf-8", "utf-8-sig"):
        if data.startswith(codecs.BOM_UTF8):
            data = data[len(codecs.BOM_UTF8):]
            notes.append(f"{path.name} starts with a UTF-8 byte-order mark (as Excel writes it); it was "
                         "removed, so the first column keeps its name")
        kind = _utf16_kind(data)
        if kind:
            bom = "with a byte-order mark" if kind == "utf-16" else "without a byte-order mark"
            raise ReplicationError(f"{path}: the file is UTF-16 text ({bom}), not UTF-8: set "
                                   f"`encoding: {kind}` in the study's data block, or save the file as "
                                   "CSV UTF-8")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line, col = _byte_position(data, exc.start)
            start = data.rfind(b"\n", 0, exc.start) + 1
            end = data.find(b"\n", exc.start)
            snippet = data[start:end if end >= 0 else len(data)].decode("cp1252", errors="replace").strip()
            word = next((w for w in re.split(r"[\s,;\t|\"]+", snippet)
                         if any(ord(ch) > 127 for ch in w)), snippet[:40])
            raise ReplicationError(
                f"{path}, line {line}, byte {col}: not UTF-8 text (byte 0x{data[exc.start]:02x}). It looks "
                f"like Latin-1 / Windows-1252 text ('{word}' when read so): set `encoding: cp1252` (or "
                "`encoding: latin-1`) in the study's data block, or convert the file from Windows-1252 to "
                "UTF-8 (in Excel: Save As > CSV UTF-8)") from None
    else:
        try:
            text = data.decode(norm)
        except UnicodeDecodeError as exc:
            line, col = _byte_position(data, exc.start)
            raise ReplicationError(f"{path}, line {line}, byte {col}: cannot be read as {enc} text "
                                   f"({exc.reason}); check `encoding:` in the study's data block") from None
        text = text.lstrip("\ufeff")
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise ReplicationError(f"{path}, line {line}: the text contains NUL characters; this is a binary "
                               "file, or text in another encoding (set `encoding:`)")
    return text


def _known_encoding(enc: str) -> bool:
    try:
        codecs.lookup(enc)
        return True
    except LookupError:
        return False


def read_csv_table(path: Path, encoding: str | None = None, delimiter: str | None = None,
                   header_only: bool = False, usecols=None, id_column: str | None = None) -> RawTable:
    """Read a CSV file as text, checking its encoding, delimiter and shape row by row.

    A large plain file (UTF-8, no quotes, every row as long as the header) is read in
    chunks instead, keeping only ``usecols`` (default: every column) and numeric columns
    as numbers (:mod:`.fastcsv`); anything else is read row by row, which names each
    problem by its row, line and column. ``id_column`` is kept as text either way.
    """
    expected = delimiter or ("\t" if path.suffix.lower() == ".tsv" else ",")
    notes: list = []
    if not header_only and path.stat().st_size >= fastcsv.FAST_BYTES:
        try:
            fast = fastcsv.read_plain_csv(path, encoding, expected, usecols, id_column)
        except PermissionError:
            raise ReplicationError(f"{path}: permission denied (cannot read the file)") from None
        if fast is not None:
            header, columns, kinds, n_rows, notes = fast
            return RawTable(path=path, format="csv", header=header, columns=columns, n_rows=n_rows,
                            lines=range(2, n_rows + 2), kinds=kinds, notes=notes)
    # Row by row, every cell a Python string: the memory check of this reader.
    check_fits_in_memory(path, per_byte=MEMORY_PER_FILE_BYTE)
    try:
        data = _header_bytes(path) if header_only else None
        if data is None:
            data = path.read_bytes()
    except PermissionError:
        raise ReplicationError(f"{path}: permission denied (cannot read the file)") from None
    text = decode_text(path, data, encoding, notes)
    if not text.strip():
        raise ReplicationError(f"{path}: the file is empty (only blank lines)")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=expected, strict=True)
    rows, lines = [], []
    try:
        for r in reader:
            if r and any(x.strip() for x in r):   # blank lines carry no data
                rows.append(r)
                lines.append(reader.line_num)
                if header_only and len(rows) > 1:
                    break
    except csv.Error as exc:
        start = lines[-1] + 1 if lines else 1
        if "end of data" in str(exc) or reader.line_num > start:
            raise ReplicationError(f"{path}, line {start}: malformed CSV: {exc} (the record starting on this line "
                                   f"runs to line {reader.line_num}: a quote (\") opened and never closed?)") from None
        raise ReplicationError(f"{path}, line {reader.line_num}: malformed CSV: {exc}") from None
    header = [h.strip() for h in rows[0]]
    if len(header) == 1:
        counts = {d: rows[0][0].count(d) for d in DELIMITER_NAMES if d != expected}
        found = max(counts, key=counts.get)
        if counts[found]:
            raise ReplicationError(
                f"{path}, line {lines[0]}: the header has no {DELIMITER_NAMES[expected]} delimiter "
                f"('{_show(expected)}') but {counts[found]} {DELIMITER_NAMES[found]} characters: the file is "
                f"{DELIMITER_NAMES[found]}-delimited; set `delimiter: \"{_show(found)}\"` in the study's data "
                f"block (or save the file {DELIMITER_NAMES[expected]}-delimited)")
    for j, name in enumerate(header):
        if name == "":
            raise ReplicationError(f"{path}, line {lines[0]}: column {j + 1} of the header has no name")
    seen = set()
    for name in header:
        if name in seen:
            raise ReplicationError(f"{location(path, column=name)}: the header names this column twice")
        seen.add(name)
    body, body_lines = rows[1:], lines[1:]
    for i, r in enumerate(body):
        if len(r) != len(header):
            extra = ""
            if len(r) == 1 and any(d in r[0] for d in DELIMITER_NAMES if d != expected):
                extra = " (this row uses another delimiter)"
            raise ReplicationError(f"{location(path, i + 1)} (line {body_lines[i]}): malformed CSV: {len(r)} "
                                   f"field(s), but the header has {len(header)}{extra}")
    columns = {name: [r[j].strip() for r in body] for j, name in enumerate(header)}
    return RawTable(path=path, format="csv", header=header, columns=columns, n_rows=len(body),
                    lines=body_lines, kinds={h: "text" for h in header}, notes=notes)


def _header_bytes(path: Path, size: int = 1 << 20) -> bytes | None:
    """The first whole lines of a large file (for its header and first row), or None to
    read it all: when it is small, or a quote or a NUL byte in the prefix could make a cut
    at a line end fall inside a field or a character."""
    if path.stat().st_size <= size:
        return None
    with open(path, "rb") as fh:
        head = fh.read(size)
    cut = head.rfind(b"\n")
    if cut < 0 or b'"' in head or b"\x00" in head or head.count(b"\n") < 3:
        return None
    return head[:cut + 1]


def _show(d: str) -> str:
    return "\\t" if d == "\t" else d


def read_sav_table(path: Path, metadata_only: bool = False) -> RawTable:
    """Read an SPSS file with pyreadstat, keeping variable labels, value labels and user-missing values."""
    try:
        import pyreadstat
    except ImportError:  # pragma: no cover - pyreadstat is a dependency
        raise ReplicationError(f"{path}: reading SPSS files needs pyreadstat (pip install pyreadstat)") from None
    try:
        df, meta = pyreadstat.read_sav(str(path), user_missing=True, metadataonly=metadata_only,
                                       disable_datetime_conversion=True)
    except (pyreadstat.ReadstatError, pyreadstat.PyreadstatError) as exc:
        raise ReplicationError(f"{path}: not a readable SPSS .sav file (damaged, truncated, or not SPSS: "
                               f"{exc})") from None
    except UnicodeDecodeError as exc:
        raise ReplicationError(f"{path}: the SPSS file's text is not in its declared character set "
                               f"({exc.reason})") from None
    except (OSError, ValueError) as exc:
        raise ReplicationError(f"{path}: cannot read the SPSS file ({exc})") from None
    header = list(meta.column_names)
    kinds = {c: "text" if meta.readstat_variable_types.get(c) == "string" else "number" for c in header}
    columns = {} if metadata_only else {c: df[c].to_numpy() for c in header}
    user_missing = {c: [(r["lo"], r["hi"]) for r in ranges] for c, ranges in (meta.missing_ranges or {}).items()}
    return RawTable(path=path, format="sav", header=header, columns=columns, n_rows=int(meta.number_rows or 0)
                    if metadata_only else len(df), lines=None, kinds=kinds, file_label=meta.file_label or None,
                    variable_labels={c: l for c, l in meta.column_names_to_labels.items() if l},
                    value_labels={c: dict(v) for c, v in (meta.variable_value_labels or {}).items()},
                    user_missing=user_missing)


def read_table(path: Path, fmt: str | None = None, encoding: str | None = None,
               delimiter: str | None = None, header_only: bool = False, usecols=None,
               id_column: str | None = None) -> RawTable:
    """A survey file as a :class:`RawTable` (every check of :func:`_open_checks` and :func:`detect_format`).

    ``usecols``: the columns a large CSV file needs to keep (the header stays whole);
    ``id_column``: a column kept as text (see :func:`read_csv_table`).
    """
    path = Path(path)
    _open_checks(path)
    fmt = detect_format(path, fmt)
    if fmt == "sav":
        check_fits_in_memory(path)
        return read_sav_table(path, metadata_only=header_only)
    return read_csv_table(path, encoding, delimiter, header_only=header_only, usecols=usecols,
                          id_column=id_column)


def is_number(v) -> bool:
    """Whether ``v`` is (or is the text of) a finite number, not a bool."""
    if isinstance(v, bool):
        return False
    if isinstance(v, (int, float)):
        return math.isfinite(v)
    try:
        return math.isfinite(float(str(v)))
    except ValueError:
        return False
