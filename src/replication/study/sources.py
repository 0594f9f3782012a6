"""A study on real data: the ``data:`` block of a study specification, and its reader.

A researcher's own survey (a CSV file, or an SPSS ``.sav`` file) enters the package
through :func:`read_user_survey`, driven by the ``data:`` block of the study YAML::

    data:
      file: my_survey.sav          # relative to the YAML's folder, or absolute
      id: resp_id                  # the respondent id column (default: ids 1..N)
      items: {cp1: Q4_1, cp2: Q4_2}   # item -> column; an item not listed is its own column
      reverse: [cp3]               # reverse-coded items: (min + max) - x on the item's scale
      carry: [weight, age]         # columns kept beside the items; every other column is ignored
      missing: {min_items: 3}      # or "listwise" (the default)
      missing_codes: [99]          # answers that mean "no answer", beside empty cells
      scale_min: 1                 # the lowest answer code (answers run scale_min..scale_min+points-1)
      encoding: utf-8              # CSV only (a UTF-8 byte-order mark is handled)
      delimiter: ","               # CSV only

:data:`DATA_FIELDS` describes every field in words; :func:`data_block_problems` checks a
block against a specification (the specification's loader reports its problems with the
YAML line). The reader returns a :class:`UserSurvey`: the survey as the analysis wants it
(``respondent_id``, every item under the specification's item name, numeric, already
reverse-coded and on the scale ``1..scale_points``, the carried columns), the respondents
it dropped and why, the ``.sav`` labels, the source and the number of rows read.

Missing answers. Under ``listwise`` a respondent with any missing item answer is
dropped. Under ``min_items: m`` a respondent is kept when every construct has at least
``m`` of its ``k`` items answered; the unanswered items stay NaN in the survey, and the
construct's scale score is the mean of the answered items (pandas' ``mean(axis=1)``
skips NaN, so :func:`replication.study.measurement.scale_scores` already does this).

Every problem with the file is one :class:`~replication.errors.ReplicationError` naming
the file and, where it applies, the row (1 = first respondent), the line of a CSV file
and the column; nothing is written.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import io
import math
import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ReplicationError, location
from .loader import check_fits_in_memory

#: The fields of the ``data:`` block, in words (the specification's pydantic model follows it).
DATA_FIELDS: dict[str, str] = {
    "file": "required. The survey file: a CSV file (.csv, .txt, .tsv) or an SPSS file (.sav, .zsav). "
            "A relative path is relative to the folder of the study YAML; '~' is expanded.",
    "format": "optional: 'csv' or 'sav'. Default: from the file's extension.",
    "id": "optional: the column holding the respondent id (unique, never empty). Without it the "
          "respondents are numbered 1..N in file order.",
    "items": "optional mapping item -> column: the column of the file that holds each item named in "
             "the specification's constructs. An item not listed is read from the column of the same name.",
    "reverse": "optional list of reverse-coded items (item names, or their columns). Each is recoded "
               "(min + max) - x on its construct's scale before anything else uses it.",
    "carry": "optional list of further columns kept beside the items (weights, demographics, ...). "
             "Profiling and demographic variables named in the specification are carried automatically. "
             "Every other column of the file is ignored.",
    "missing": "optional missing-data policy: 'listwise' (the default: a respondent needs an answer to "
               "every item) or {min_items: m} (a respondent needs at least m answered items in every "
               "construct; the scale score is the mean of the answered items).",
    "missing_codes": "optional list of answer codes that mean 'no answer' (e.g. [99, -9] or ['NA']). Empty "
                     "cells, SPSS system-missing values and SPSS user-missing values are always missing.",
    "scale_min": "optional whole number, default 1: the lowest answer code of every item. A construct with "
                 "scale_points k then runs scale_min..scale_min+k-1; answers are recoded to 1..k.",
    "encoding": "optional text encoding of a CSV file (default utf-8; a UTF-8 byte-order mark is handled). "
                "E.g. 'latin-1', 'cp1252', 'utf-16'.",
    "delimiter": "optional field delimiter of a CSV file, one character (default ',' and, for .tsv, tab).",
}

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
#: A construct with more than this share of its answers missing stops the read.
MAX_MISSING_SHARE = 0.5
#: Rows listed per reason in the ``dropped`` table.
ROWS_SHOWN = 10


# ---------------------------------------------------------------------------------------
# The data block
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MissingPolicy:
    """``listwise``, or ``min_items`` with ``m``."""

    policy: str = "listwise"
    min_items: int | None = None

    def describe(self) -> str:
        if self.policy == "listwise":
            return "listwise: every item answered"
        return f"min_items: at least {self.min_items} answered items in every construct"

    def to_json(self):
        return "listwise" if self.policy == "listwise" else {"min_items": self.min_items}


@dataclass(frozen=True)
class DataBlock:
    """The ``data:`` block, checked and normalised (see :data:`DATA_FIELDS`)."""

    file: str
    format: str | None = None
    id: str | None = None
    items: dict = field(default_factory=dict)
    reverse: tuple = ()
    carry: tuple = ()
    missing: MissingPolicy = MissingPolicy()
    missing_codes: tuple = ()
    scale_min: int = 1
    encoding: str | None = None
    delimiter: str | None = None

    def to_dict(self) -> dict:
        """The block as plain data (for a model card, or YAML)."""
        out = {"file": self.file}
        for key in ("format", "id", "encoding", "delimiter"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.items:
            out["items"] = dict(self.items)
        for key in ("reverse", "carry", "missing_codes"):
            if getattr(self, key):
                out[key] = list(getattr(self, key))
        out["missing"] = self.missing.to_json()
        if self.scale_min != 1:
            out["scale_min"] = self.scale_min
        return out


def _as_mapping(block) -> Any:
    """A data block given as a dict, a pydantic model or a :class:`DataBlock`, as plain data."""
    if isinstance(block, DataBlock):
        return block.to_dict()
    if hasattr(block, "model_dump"):
        return block.model_dump(exclude_none=True)
    return block


def _block_errors(block) -> list[tuple[tuple, str]]:
    """Type problems of a raw data block as ``(location, message)``."""
    problems: list[tuple[tuple, str]] = []
    if not isinstance(block, dict):
        return [((), "the data block must be a mapping of keys to values (file: ..., items: ...)")]
    for key in block:
        if key not in DATA_FIELDS:
            near = difflib.get_close_matches(str(key), DATA_FIELDS, n=1)
            hint = f" (did you mean '{near[0]}'?)" if near else f" (known keys: {', '.join(DATA_FIELDS)})"
            problems.append(((key,), f"unknown key '{key}'{hint}"))

    def text(key, required=False):
        v = block.get(key)
        if v is None:
            if required:
                problems.append(((key,), f"missing key '{key}'"))
        elif not isinstance(v, str) or not v.strip():
            problems.append(((key,), f"'{key}' must be a non-empty text, got {v!r}"))

    text("file", required=True)
    for key in ("id", "encoding"):
        text(key)
    fmt = block.get("format")
    if fmt is not None and fmt not in ("csv", "sav"):
        problems.append((("format",), f"format must be 'csv' or 'sav', got {fmt!r}"))
    d = block.get("delimiter")
    if d is not None and not (isinstance(d, str) and len(d) == 1 and d not in "\"\r\n"):
        problems.append((("delimiter",), f"delimiter must be one character (e.g. ',' ';' or a tab), got {d!r}"))
    enc = block.get("encoding")
    if isinstance(enc, str) and enc.strip():
        try:
            codecs.lookup(enc)
        except LookupError:
            problems.append((("encoding",), f"unknown encoding '{enc}' (e.g. utf-8, latin-1, cp1252, utf-16)"))
    items = block.get("items")
    if items is not None:
        if not isinstance(items, dict):
            problems.append((("items",), "items must map each item name to a column name (cp1: Q4_1)"))
        else:
            for k, v in items.items():
                if not isinstance(v, str) or not v:
                    problems.append((("items", k), f"item '{k}' must map to a column name, got {v!r}"))
    for key in ("reverse", "carry"):
        v = block.get(key)
        if v is not None and not (isinstance(v, list) and all(isinstance(x, str) and x for x in v)):
            problems.append(((key,), f"{key} must be a list of column names, got {v!r}"))
    codes = block.get("missing_codes")
    if codes is not None and not (isinstance(codes, list) and all(
            isinstance(x, (int, float, str)) and not isinstance(x, bool) for x in codes)):
        problems.append((("missing_codes",), f"missing_codes must be a list of codes (numbers or texts), got {codes!r}"))
    sm = block.get("scale_min")
    if sm is not None and (isinstance(sm, bool) or not isinstance(sm, int)):
        problems.append((("scale_min",), f"scale_min must be a whole number, got {sm!r}"))
    m = block.get("missing")
    if m is not None and m != "listwise":
        ok = isinstance(m, dict) and set(m) <= {"min_items", "policy"} and "min_items" in m and \
            isinstance(m["min_items"], int) and not isinstance(m["min_items"], bool) and \
            m.get("policy", "min_items") == "min_items"
        if not ok:
            problems.append((("missing",), f"missing must be 'listwise' or {{min_items: <whole number>}}, got {m!r}"))
        elif m["min_items"] < 1:
            problems.append((("missing", "min_items"), f"min_items must be at least 1, got {m['min_items']}"))
    return problems


def parse_data_block(block, where="the study specification") -> DataBlock:
    """Check the types of a ``data:`` block and normalise it.

    Parameters
    ----------
    block : dict, pydantic model or DataBlock
    where : str
        How messages name the specification (its file).

    Raises
    ------
    ReplicationError
        Naming every problem, one line each.
    """
    if isinstance(block, DataBlock):
        return block
    block = _as_mapping(block)
    problems = _block_errors(block)
    if problems:
        raise ReplicationError(_format_problems(where, problems))
    m = block.get("missing", "listwise")
    policy = MissingPolicy() if m in (None, "listwise") else MissingPolicy("min_items", int(m["min_items"]))
    return DataBlock(
        file=block["file"].strip(), format=block.get("format"), id=block.get("id"),
        items=dict(block.get("items") or {}), reverse=tuple(block.get("reverse") or ()),
        carry=tuple(block.get("carry") or ()), missing=policy,
        missing_codes=tuple(block.get("missing_codes") or ()),
        scale_min=int(block.get("scale_min", 1) if block.get("scale_min") is not None else 1),
        encoding=block.get("encoding"), delimiter=block.get("delimiter"))


def _format_problems(where, problems, lines=None) -> str:
    out = []
    for loc, msg in problems:
        line = (lines or {}).get(loc)
        head = f"{where}, line {line}" if line else str(where)
        dotted = ".".join(str(x) for x in ("data", *loc))
        out.append(f"{head}: {dotted}: {msg}")
    if len(out) > 1:
        out.insert(0, f"{where}: {len(problems)} problem(s) in the data block:")
    return "\n".join(out)


@dataclass(frozen=True)
class ConstructInfo:
    """What the reader needs of a construct."""

    id: str
    items: tuple
    scale_points: int
    label: str = ""


def constructs_of(spec) -> list[ConstructInfo]:
    return [ConstructInfo(c.id, tuple(c.items.value), int(c.scale_points.value), c.label.value)
            for c in spec.constructs]


def _item_problems(block: DataBlock, constructs: list[ConstructInfo]) -> list[tuple[tuple, str]]:
    """Problems of a parsed block against the constructs (unknown items, m > k, ...)."""
    problems = []
    items = [it for c in constructs for it in c.items]
    item_set = set(items)
    for it in block.items:
        if it not in item_set:
            near = difflib.get_close_matches(it, items, n=1)
            hint = f" (did you mean '{near[0]}'?)" if near else ""
            problems.append((("items", it), f"'{it}' is not an item of any construct{hint}"))
    column_of = {it: block.items.get(it, it) for it in items}
    item_of_column = {}
    for it, col in column_of.items():
        if col in item_of_column:
            problems.append((("items", it), f"items '{item_of_column[col]}' and '{it}' are both read from "
                                            f"column '{col}'"))
        item_of_column.setdefault(col, it)
    for r in block.reverse:
        if r not in item_set and r not in item_of_column:
            problems.append((("reverse",), f"'{r}' is neither an item nor the column of an item"))
    for c in block.carry:
        if c in item_of_column or c in item_set:
            problems.append((("carry",), f"'{c}' is an item; items are always kept (carry other columns)"))
        if c == "respondent_id" and block.id != "respondent_id":
            problems.append((("carry",), "'respondent_id' is the name of the id column the package writes; "
                                         "set `id: respondent_id` if this column is the respondent id"))
    if block.id is not None and block.id in item_of_column:
        problems.append((("id",), f"'{block.id}' is the column of item '{item_of_column[block.id]}'"))
    if len(set(block.carry)) != len(block.carry):
        dup = next(c for c in block.carry if block.carry.count(c) > 1)
        problems.append((("carry",), f"'{dup}' is listed twice"))
    if block.missing.policy == "min_items":
        for c in constructs:
            if block.missing.min_items > len(c.items):
                problems.append((("missing", "min_items"), f"min_items {block.missing.min_items} exceeds the "
                                                           f"{len(c.items)} items of construct '{c.id}'"))
                break
    return problems


def data_block_problems(block, spec) -> list[tuple[tuple, str]]:
    """Every problem of a ``data:`` block against a specification, as ``(location, message)``.

    The location is relative to the block (``("items", "cp1")``); the specification's
    cross-checks prefix ``"data"`` and report each problem with its YAML line.
    """
    raw = _as_mapping(block)
    problems = _block_errors(raw)
    if problems:
        return problems
    parsed = parse_data_block(raw)
    problems = _item_problems(parsed, constructs_of(spec))
    wanted = [p.id for p in getattr(spec, "profiling", [])] + [d.id for d in getattr(spec, "demographics", [])]
    items = {it for c in spec.constructs for it in c.items.value}
    for w in wanted:
        if w in items:
            problems.append((("carry",), f"profiling/demographic variable '{w}' has the name of an item"))
    return problems


def resolve_data_path(block, base_dir) -> Path:
    """The survey file of a data block: relative paths are relative to ``base_dir``."""
    b = parse_data_block(block)
    p = Path(b.file).expanduser()
    return p if p.is_absolute() else Path(base_dir or ".") / p


# ---------------------------------------------------------------------------------------
# Reading a table: CSV or .sav, with the problems named
# ---------------------------------------------------------------------------------------


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
    check_fits_in_memory(path)
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
                   header_only: bool = False) -> RawTable:
    """Read a CSV file as text, checking its encoding, delimiter and shape row by row."""
    expected = delimiter or ("\t" if path.suffix.lower() == ".tsv" else ",")
    notes: list = []
    try:
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
               delimiter: str | None = None, header_only: bool = False) -> RawTable:
    """A survey file as a :class:`RawTable` (every check of :func:`_open_checks` and :func:`detect_format`)."""
    path = Path(path)
    _open_checks(path)
    fmt = detect_format(path, fmt)
    if fmt == "sav":
        return read_sav_table(path, metadata_only=header_only)
    return read_csv_table(path, encoding, delimiter, header_only=header_only)


# ---------------------------------------------------------------------------------------
# The survey
# ---------------------------------------------------------------------------------------


@dataclass
class UserSurvey:
    """A researcher's survey, read through a ``data:`` block.

    Attributes
    ----------
    survey : DataFrame
        ``respondent_id``; every item under the specification's item name (float, on the
        scale ``1..scale_points``, reverse-coded items already recoded; an answer the
        ``min_items`` policy allows to be missing is NaN); the carried columns.
    dropped : DataFrame
        ``reason, n, rows, columns``: respondents not analysed and why (empty when none).
    labels : dict
        ``file_label``, ``variables`` (column -> variable label), ``values`` (column ->
        {code: label}, codes as in ``survey``), ``columns`` (survey column -> file column).
    source : Path
        The file read.
    n_read : int
        Respondents (data rows) in the file.
    notes : list of str
        What the reader did that a user should know (a byte-order mark removed, items
        reverse-coded, answers recoded from ``scale_min``).
    """

    survey: pd.DataFrame
    dropped: pd.DataFrame
    labels: dict
    source: Path
    n_read: int
    notes: list = field(default_factory=list)
    missing: MissingPolicy = MissingPolicy()

    @property
    def n(self) -> int:
        """Respondents kept."""
        return len(self.survey)

    def summary(self) -> str:
        lines = [f"{self.source}: {self.n_read} respondents read, {self.n} kept "
                 f"(missing answers: {self.missing.describe()})"]
        lines += [f"  dropped {r.n}: {r.reason}" for r in self.dropped.itertuples()]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


_INT_TEXT = re.compile(r"[+-]?[0-9]+")


def _numeric_column(raw: RawTable, col: str, missing_codes: tuple, what: str) -> tuple[np.ndarray, np.ndarray]:
    """(values as float with NaN for missing, mask of cells that were missing)."""
    values = raw.columns[col]
    if raw.kinds.get(col) == "number":
        x = np.asarray(values, dtype=float).copy()
        missing = np.isnan(x)
        for lo, hi in raw.user_missing.get(col, []):
            try:
                missing |= (x >= float(lo)) & (x <= float(hi))
            except (TypeError, ValueError):
                pass
        codes = [float(c) for c in missing_codes if _is_number(c)]
        if codes:
            missing |= np.isin(x, codes)
        x[missing] = np.nan
        return x, missing
    s = pd.Series([("" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v).strip())
                   for v in values], dtype=object)
    text_codes = {str(c).strip() for c in missing_codes}
    num_codes = [float(c) for c in missing_codes if _is_number(c)]
    empty = (s == "").to_numpy()
    coded = s.isin(text_codes).to_numpy()
    num = np.array(pd.to_numeric(s.where(~(empty | coded), None), errors="coerce"), dtype=float)
    bad = ~(empty | coded) & np.isnan(num)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        value = s.iloc[row]
        kind = (" (the .sav variable is a string variable; recode it to numbers in SPSS, e.g. with "
                "AUTORECODE or RECODE ... INTO)" if raw.format == "sav" else "")
        hint = ""
        if raw.format == "csv" and re.fullmatch(r"[+-]?[0-9]+,[0-9]+", value):
            hint = " (a decimal comma? answers must be whole numbers)"
        elif raw.format == "csv":
            hint = (f"; if it means 'no answer', add it to the data block: missing_codes: [\"{value}\"]"
                    if len(value) <= 20 else "")
        raise ReplicationError(f"{raw.where(row, col)}: '{value[:60]}' is text, but {what} must be a number"
                               f"{kind}{hint} ({int(bad.sum())} such cell(s) in this column)")
    missing = empty | coded
    if num_codes:
        missing |= np.isin(num, num_codes)
    num[missing] = np.nan
    return num, missing


def _is_number(v) -> bool:
    if isinstance(v, bool):
        return False
    if isinstance(v, (int, float)):
        return math.isfinite(v)
    try:
        return math.isfinite(float(str(v)))
    except ValueError:
        return False


def _id_column(raw: RawTable, col: str) -> pd.Series:
    values = raw.columns[col]
    if raw.kinds.get(col) == "number":
        x = np.asarray(values, dtype=float)
        empty = np.isnan(x)
    else:
        s = pd.Series(["" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v).strip()
                       for v in values], dtype=object)
        empty = (s == "").to_numpy()
    if empty.any():
        row = int(np.flatnonzero(empty)[0])
        raise ReplicationError(f"{raw.where(row, col)}: the respondent id is empty ({int(empty.sum())} "
                               "empty id(s) in this column)")
    if raw.kinds.get(col) == "number":
        ids = pd.Series(x.astype(np.int64)) if np.all(x == np.round(x)) and np.abs(x).max() < 2**53 else pd.Series(x)
    elif all(_INT_TEXT.fullmatch(v) and len(v) < 16 for v in s):
        ids = pd.Series(s.astype(np.int64).to_numpy())
    else:
        ids = pd.Series(s.to_numpy(), dtype=object)
    dup = ids.duplicated().to_numpy()
    if dup.any():
        row = int(np.flatnonzero(dup)[0])
        first = int(np.flatnonzero((ids == ids.iloc[row]).to_numpy())[0])
        shown = f"'{ids.iloc[row]}'" if isinstance(ids.iloc[row], str) else _fmt(ids.iloc[row])
        raise ReplicationError(f"{raw.where(row, col)}: duplicate respondent id {shown} (first in row "
                               f"{first + 1}); ids must be unique")
    return ids


def _carried_column(raw: RawTable, col: str):
    values = raw.columns[col]
    if raw.kinds.get(col) == "number":
        x = np.asarray(values, dtype=float)
        if not np.isnan(x).any() and np.all(x == np.round(x)) and (x.size == 0 or np.abs(x).max() < 2**53):
            return x.astype(np.int64)
        return x
    s = pd.Series(["" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v).strip()
                   for v in values], dtype=object)
    filled = s[s != ""]
    num = pd.to_numeric(filled, errors="coerce")
    if len(filled) and not num.isna().any():
        out = pd.to_numeric(s.where(s != "", None), errors="coerce").to_numpy(dtype=float)
        if not np.isnan(out).any() and np.all(out == np.round(out)):
            return out.astype(np.int64)
        return out
    return s.where(s != "", None).to_numpy(dtype=object)


def _missing_column_error(raw: RawTable, col: str, role: str, where_spec) -> ReplicationError:
    near = difflib.get_close_matches(col, raw.header, n=3)
    hint = f"similar columns: {', '.join(repr(n) for n in near)}" if near else \
        f"the file has {len(raw.header)} columns: {', '.join(raw.header[:12])}{', ...' if len(raw.header) > 12 else ''}"
    return ReplicationError(f"{location(raw.path, column=col)}: no such column in the file ({role}); {hint}; "
                            f"columns are mapped in {where_spec}")


def _recode_labels(labels: dict, scale_min: int, k: int, reverse: bool) -> dict:
    out = {}
    for code, text in labels.items():
        try:
            v = float(code) - scale_min + 1
        except (TypeError, ValueError):
            continue
        if reverse:
            v = (k + 1) - v
        out[int(v) if v == int(v) else v] = text
    return dict(sorted(out.items()))


def read_table_for(block: DataBlock, base_dir) -> RawTable:
    """Resolve the block's file and read it."""
    path = resolve_data_path(block, base_dir)
    return read_table(path, block.format, block.encoding, block.delimiter)


def read_survey_table(raw: RawTable, block: DataBlock, constructs: list[ConstructInfo], *,
                      where_spec="the study specification", extra_carry=(), min_respondents: int = 1,
                      for_analysis: bool = True, drop_unanswerable: bool = True) -> UserSurvey:
    """The survey of a :class:`RawTable` through a checked data block (see :func:`read_user_survey`).

    ``for_analysis`` adds the checks a new batch of respondents to classify does not need
    (a construct more than half missing, a constant item). With ``drop_unanswerable``
    False, respondents with missing answers beyond the policy are kept (their items NaN)
    and counted in ``dropped`` (reason starting ``kept``).
    """
    problems = _item_problems(block, constructs)
    if problems:
        raise ReplicationError(_format_problems(where_spec, problems))
    path = raw.path
    notes = list(raw.notes)
    # Columns: every one the block names must exist.
    column_of = {it: block.items.get(it, it) for c in constructs for it in c.items}
    construct_of = {it: c for c in constructs for it in c.items}
    for it, col in column_of.items():
        if col not in raw.header:
            c = construct_of[it]
            role = f"it holds item '{it}' of construct '{c.id}'" if col == it else \
                f"data.items maps item '{it}' of construct '{c.id}' to it"
            raise _missing_column_error(raw, col, role, where_spec)
    if block.id is not None and block.id not in raw.header:
        raise _missing_column_error(raw, block.id, "data.id names it as the respondent id column", where_spec)
    carry = list(block.carry) + [c for c in extra_carry if c not in block.carry and c not in column_of]
    for c in carry:
        if c not in raw.header:
            role = "data.carry names it" if c in block.carry else \
                "the specification names it as a profiling or demographic variable, which is always carried"
            raise _missing_column_error(raw, c, role, where_spec)
    if raw.n_rows == 0:
        raise ReplicationError(f"{path}: the file has a header but no respondents")
    reverse_items = {r if r in construct_of else next(it for it, col in column_of.items() if col == r)
                     for r in block.reverse}

    n = raw.n_rows
    ids = _id_column(raw, block.id) if block.id else pd.Series(np.arange(1, n + 1))
    items: dict[str, np.ndarray] = {}
    missing_cells: dict[str, np.ndarray] = {}
    out_of_range = np.zeros(n, bool)
    bad_columns: dict[str, int] = {}
    for c in constructs:
        for it in c.items:
            col = column_of[it]
            what = f"item '{it}' of construct '{c.id}'" if col == it else f"column '{col}' (item '{it}')"
            x, miss = _numeric_column(raw, col, block.missing_codes, what)
            lo, hi = block.scale_min, block.scale_min + c.scale_points - 1
            labels = raw.value_labels.get(col, {})
            outside = sorted(v for v in labels if _is_number(v) and not (lo <= float(v) <= hi)
                             and not _declared_missing(raw, col, float(v), block.missing_codes))
            if outside:
                v = outside[0]
                raise ReplicationError(
                    f"{location(path, column=col)}: the value label {_fmt(v)} = '{labels[v]}' lies outside the "
                    f"scale {lo}-{hi} of {what} (scale_points {c.scale_points}"
                    f"{', scale_min ' + str(block.scale_min) if block.scale_min != 1 else ''}); if {_fmt(v)} "
                    f"means 'no answer', declare it missing (`missing_codes: [{_fmt(v)}]` in the data block, "
                    "or as a user-missing value in SPSS); otherwise check scale_points and scale_min")
            x = x - block.scale_min + 1
            valid = np.isnan(x) | ((x == np.round(x)) & (x >= 1) & (x <= c.scale_points))
            if (~valid).any():
                bad_columns[col] = int((~valid).sum())
                out_of_range |= ~valid
                x = np.where(valid, x, np.nan)
            if it in reverse_items:
                x = (c.scale_points + 1) - x
            items[it] = x
            missing_cells[it] = miss
    if block.scale_min != 1:
        notes.append(f"answers recoded from {block.scale_min}..{block.scale_min}+k-1 to the package's scale 1..k")
    if reverse_items:
        notes.append(f"reverse-coded ((min + max) - x): {', '.join(sorted(reverse_items))}")

    if for_analysis:
        for c in constructs:
            cells = np.column_stack([missing_cells[it] for it in c.items])
            share = cells.mean()
            if share > MAX_MISSING_SHARE:
                worst = c.items[int(cells.mean(axis=0).argmax())]
                raise ReplicationError(
                    f"{location(path, column=column_of[worst])}: {share:.0%} of the answers to construct "
                    f"'{c.id}' ({', '.join(column_of[it] for it in c.items)}) are missing (more than half): "
                    "is the data block's mapping right, or was the construct asked of a subsample only?")

    # Who is kept.
    answered = {c.id: np.column_stack([~np.isnan(items[it]) for it in c.items]).sum(axis=1)
                for c in constructs}
    if block.missing.policy == "listwise":
        unanswerable = np.zeros(n, bool)
        for c in constructs:
            unanswerable |= answered[c.id] < len(c.items)
    else:
        unanswerable = np.zeros(n, bool)
        for c in constructs:
            unanswerable |= answered[c.id] < block.missing.min_items
    unanswerable &= ~out_of_range
    dropped_rows = []
    if out_of_range.any():
        cols = ", ".join(f"{c} ({k})" for c, k in bad_columns.items())
        dropped_rows.append({"reason": "out-of-range answer (not a scale point of its item)",
                             "n": int(out_of_range.sum()), "rows": _rows(out_of_range), "columns": cols})
    if unanswerable.any():
        reason = f"missing answers beyond the policy ({block.missing.describe()})"
        if not drop_unanswerable:
            reason = f"kept, without a score on the construct(s) concerned: {reason}"
        cols = ", ".join(column_of[it] for c in constructs for it in c.items
                         if (np.isnan(items[it]) & unanswerable).any())
        dropped_rows.append({"reason": reason, "n": int(unanswerable.sum()), "rows": _rows(unanswerable),
                             "columns": cols})
    keep = ~out_of_range & (~unanswerable if drop_unanswerable else True)
    dropped = pd.DataFrame(dropped_rows, columns=["reason", "n", "rows", "columns"])
    n_kept = int(keep.sum())
    if n_kept < min_respondents:
        why = "; ".join(f"{r['n']} dropped: {r['reason']}" for r in dropped_rows) or "no respondent dropped"
        need = (f"fewer than the {min_respondents} segments the study asks for" if for_analysis
                else "nothing to classify")
        raise ReplicationError(f"{path}: {n_kept} respondent(s) left ({n} read; {why}): {need}")

    survey = pd.DataFrame({"respondent_id": ids.to_numpy()[keep]})
    for c in constructs:
        for it in c.items:
            survey[it] = items[it][keep]
    for col in carry:
        survey[col] = _carried_column(raw, col)[keep]
    survey = survey.reset_index(drop=True)

    if for_analysis:
        for c in constructs:
            for it in c.items:
                x = survey[it].dropna()
                if len(x) > 1 and x.nunique() == 1:
                    v = x.iloc[0]
                    original = ((c.scale_points + 1) - v if it in reverse_items else v) + block.scale_min - 1
                    raise ReplicationError(
                        f"{location(path, column=column_of[it])}: every respondent analysed gives the same "
                        f"answer ({_fmt(original)}) to item '{it}' of construct '{c.id}': a constant item "
                        "carries no information (a wrong column, or a filter question?)")

    labels = {"file_label": raw.file_label, "variables": {}, "values": {},
              "columns": {"respondent_id": block.id, **{it: column_of[it] for it in column_of},
                          **{c: c for c in carry}}}
    for out_col, file_col in labels["columns"].items():
        if file_col is None:
            continue
        if file_col in raw.variable_labels:
            text = raw.variable_labels[file_col]
            if out_col in reverse_items:
                text += " (reverse-coded)"
            labels["variables"][out_col] = text
        if file_col in raw.value_labels:
            if out_col in construct_of:
                c = construct_of[out_col]
                labels["values"][out_col] = _recode_labels(
                    {v: t for v, t in raw.value_labels[file_col].items()
                     if _is_number(v) and block.scale_min <= float(v) <= block.scale_min + c.scale_points - 1},
                    block.scale_min, c.scale_points, out_col in reverse_items)
            else:
                labels["values"][out_col] = dict(raw.value_labels[file_col])
    return UserSurvey(survey=survey, dropped=dropped, labels=labels, source=path, n_read=n, notes=notes,
                      missing=block.missing)


def _declared_missing(raw: RawTable, col: str, v: float, codes) -> bool:
    if any(_is_number(c) and float(c) == v for c in codes):
        return True
    return any(lo <= v <= hi for lo, hi in raw.user_missing.get(col, []) if _is_number(lo) and _is_number(hi))


def _fmt(v) -> str:
    v = float(v)
    return str(int(v)) if v == int(v) else f"{v:g}"


def _rows(mask: np.ndarray) -> str:
    idx = np.flatnonzero(mask)[:ROWS_SHOWN] + 1
    more = " ..." if mask.sum() > ROWS_SHOWN else ""
    return ", ".join(map(str, idx)) + more


def read_user_survey(data_block, spec, base_dir=None) -> UserSurvey:
    """Read a researcher's own survey as the study's ``data:`` block describes it.

    Parameters
    ----------
    data_block : dict, pydantic model or DataBlock
        The ``data:`` block (see :data:`DATA_FIELDS`).
    spec : StudySpec
        The study: its constructs (items, scale points), its number of segments, and the
        profiling and demographic variables to carry.
    base_dir : str or Path, optional
        The folder a relative ``file`` is relative to: the study YAML's folder (default:
        the folder of ``spec.path``, else the current folder).

    Returns
    -------
    UserSurvey

    Raises
    ------
    ReplicationError
        One message naming the file and, where it applies, the row, line and column.
    """
    # Problems of the block itself are named by the specification's file when it holds the block.
    from_spec = getattr(spec, "data", None) is not None and getattr(spec, "path", None)
    where_spec = spec.path if from_spec else "the data block"
    block = parse_data_block(data_block, where_spec)
    if base_dir is None:
        base_dir = Path(spec.path).parent if getattr(spec, "path", None) else Path(".")
    raw = read_table_for(block, base_dir)
    extra = [p.id for p in getattr(spec, "profiling", [])] + [d.id for d in getattr(spec, "demographics", [])]
    return read_survey_table(raw, block, constructs_of(spec), where_spec=where_spec, extra_carry=extra,
                             min_respondents=int(spec.n_segments.value))


# ---------------------------------------------------------------------------------------
# A study YAML with a data block, before the specification knows the block
# ---------------------------------------------------------------------------------------


@dataclass
class UserStudy:
    """A study specification with its ``data:`` block and the segments' strategies."""

    spec: Any
    data: dict | None
    strategies: dict
    path: Path

    @property
    def base_dir(self) -> Path:
        return self.path.parent


def _node_lines(root, key_path) -> dict:
    """1-based line of each key below ``key_path`` in a composed YAML mapping."""
    import yaml

    out = {}

    def walk(node, loc):
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                here = loc + (k.value,)
                out[here] = k.start_mark.line + 1
                walk(v, here)

    node = root
    for key in key_path:
        if not isinstance(node, yaml.MappingNode):
            return out
        node = next((v for k, v in node.value if k.value == key), None)
    walk(node, ())
    return out


def _blank(lines: list, key, value) -> bool:
    """Blank the lines of ``key: value`` when they hold nothing else; return whether done."""
    first, last = key.start_mark.line, value.end_mark.line
    if value.end_mark.column == 0 and last > first:
        last -= 1
    if lines[first][:key.start_mark.column].strip():
        return False
    if last + 1 < len(lines) and value.end_mark.line == last and lines[last][value.end_mark.column:].strip() \
            and not lines[last][value.end_mark.column:].strip().startswith("#"):
        return False
    for i in range(first, last + 1):
        lines[i] = ""
    return True


def load_user_study(name_or_path) -> UserStudy:
    """Load a study YAML that may have a ``data:`` block and ``strategy:`` per segment.

    Works before and after the specification's models know these fields: a field the
    models do not know yet is taken out of the text (its lines blanked, so every other
    line number in messages stays right) and returned beside the specification.
    """
    import yaml

    from . import spec as spec_module

    path = spec_module.study_path(name_or_path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ReplicationError(f"{path}: study specification not found") from None
    except IsADirectoryError:
        raise ReplicationError(f"{path}: is a folder, not a study specification file") from None
    except UnicodeDecodeError as exc:
        raise ReplicationError(f"{path}: not UTF-8 text ({exc.reason})") from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        spec_module.parse_study(text, path)   # raises with the line and column
        raise
    if not isinstance(data, dict):
        spec_module.parse_study(text, path)
    knows_data = "data" in spec_module.StudySpec.model_fields
    knows_strategy = "strategy" in spec_module.Segment.model_fields
    block = data.get("data")
    strategies = {}
    for s in data.get("segments") or []:
        if isinstance(s, dict) and s.get("strategy") is not None:
            v = s["strategy"]
            strategies[s.get("id")] = v.get("value") if isinstance(v, dict) else v
    lines = text.split("\n")
    ok = True
    if not knows_data and "data" in data:
        key, value = next((k, v) for k, v in root.value if k.value == "data")
        ok = _blank(lines, key, value)
    if not knows_strategy and ok:
        seq = next((v for k, v in root.value if k.value == "segments"), None)
        for item in getattr(seq, "value", []) or []:
            for k, v in getattr(item, "value", []) or []:
                if getattr(k, "value", None) == "strategy":
                    ok = ok and _blank(lines, k, v)
    if ok:
        stripped = "\n".join(lines)
    else:   # flow style: lose the exact line numbers rather than fail
        rest = dict(data)
        if not knows_data:
            rest.pop("data", None)
        if not knows_strategy:
            rest["segments"] = [{k: v for k, v in s.items() if k != "strategy"} if isinstance(s, dict) else s
                                for s in rest.get("segments") or []]
        stripped = yaml.safe_dump(rest, sort_keys=False, allow_unicode=True)
    spec = spec_module.parse_study(stripped, path)
    spec._path = path.resolve()
    if knows_data and getattr(spec, "data", None) is not None:
        block = _as_mapping(spec.data)
    if block is not None:
        problems = data_block_problems(block, spec)
        if problems:
            where = _node_lines(root, ("data",))
            raise ReplicationError(_format_problems(path, problems, {loc: where.get(loc) or where.get(loc[:1])
                                                                    for loc, _ in problems}))
    return UserStudy(spec=spec, data=block, strategies=strategies, path=spec.path)


# ---------------------------------------------------------------------------------------
# Writing a table back: CSV and .sav, atomically
# ---------------------------------------------------------------------------------------

#: SPSS limits, in bytes of UTF-8: variable names, variable labels, value labels, file label.
SPSS_NAME_BYTES, SPSS_VARIABLE_LABEL_BYTES, SPSS_VALUE_LABEL_BYTES, SPSS_FILE_LABEL_BYTES = 64, 256, 120, 64


def _clip_bytes(text: str, limit: int) -> str:
    b = str(text).encode("utf-8")
    if len(b) <= limit:
        return str(text)
    return b[:limit].decode("utf-8", errors="ignore")


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
    import os
    import tempfile

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
                     float_columns=(), digits: int = 6) -> list[Path]:
    """Write a table as CSV and/or SPSS ``.sav``, both or neither.

    Each file is first written to a temporary file beside its target; only when every
    one is complete are they renamed into place (``os.replace``), so a failure leaves
    every existing file as it was. In the CSV, ``float_columns`` keep ``digits``
    significant digits. In the ``.sav``, column names that are not valid SPSS names are
    made valid (the original name becomes the variable label), and labels are clipped to
    SPSS's lengths.

    Returns
    -------
    list of Path
    """
    import os

    from .. import files

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
                out = frame.copy()
                for c in float_columns:
                    if c in out.columns:
                        out[c] = [("" if pd.isna(x) else f"{x:.{digits}g}") for x in out[c]]
                text = out.to_csv(index=False, lineterminator="\n")
                tmp.write_text(text, encoding="utf-8")
            else:
                _write_sav(frame, tmp, path, variable_labels or {}, value_labels or {}, file_label, note)
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


def _write_sav(frame, tmp: Path, target: Path, variable_labels: dict, value_labels: dict, file_label: str, note) -> None:
    import pyreadstat

    used: set = set()
    names = {c: spss_name(c, used) for c in frame.columns}
    df = pd.DataFrame(index=range(len(frame)))
    for c in frame.columns:
        v = frame[c]
        if pd.api.types.is_bool_dtype(v):
            v = v.astype(float)
        if pd.api.types.is_numeric_dtype(v):
            df[names[c]] = v.to_numpy()
        else:
            df[names[c]] = pd.Series([None if pd.isna(x) else str(x) for x in v], dtype=object).to_numpy()
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
                             for k, t in labels.items() if _is_number(k)}
    try:
        pyreadstat.write_sav(df, str(tmp), file_label=_clip_bytes(file_label or "", SPSS_FILE_LABEL_BYTES),
                             column_labels=col_labels or None, variable_value_labels=vvl or None,
                             note=textwrap.wrap(note, 80) if note else None)
    except (pyreadstat.ReadstatError, pyreadstat.PyreadstatError) as exc:
        raise ReplicationError(f"{target}: cannot write the SPSS file ({exc})") from None
