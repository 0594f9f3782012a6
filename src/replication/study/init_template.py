"""``replication init <file>``: a commented study template for a survey file.

:func:`init_template` reads a CSV or SPSS ``.sav`` file and writes the YAML of a study
specification for it: a ``data:`` block pointing at the file, the respondent id column
(guessed), candidate constructs (columns named alike, ``Q1_1 .. Q1_4``, with their
``.sav`` variable labels and the scale their value labels span), and every value the
user must fill marked ``TODO``. The text is valid YAML as written; the specification
validates once every ``TODO`` is replaced (``replication validate`` names the line of each
one left). :func:`write_template` writes it beside the data file, never over an existing
file unless asked.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from pathlib import Path

import numpy as np

from ..errors import ReplicationError
from .readers import (DELIMITER_NAMES, RawTable, _open_checks, decode_text, detect_format, read_csv_table,
                      read_sav_table)

#: Codes that usually mean "no answer" when they stand apart from an item's answers.
SENTINEL_CODES = {-999, -99, -98, -9, -8, 98, 99, 999, 9999}
#: Column names taken for the respondent id (case-insensitive).
ID_NAMES = re.compile(r"(resp(ondent)?[ _.-]?(id|no|nr|number)?|id|case[ _.-]?(id|no|nr|number)?|caseid|"
                      r"record[ _.-]?(id|no)?|serial|uuid|responseid|response[ _.-]?id|participant[ _.-]?id|pid)",
                      re.IGNORECASE)
ITEM_NAME = re.compile(r"(?P<stem>.*?)(?P<sep>[_.\-]?)(?P<num>[0-9]+)(?P<tail>[_.]?r(ev)?)?", re.IGNORECASE)
#: Bidirectional-text controls: shown escaped, so a label cannot reorder the YAML on screen.
BIDI = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _printable(ch: str) -> bool:
    """Whether PyYAML accepts ``ch`` unescaped (and it is not a bidi control)."""
    o = ord(ch)
    if ch in BIDI:
        return False
    return (0x20 <= o <= 0x7E or o == 0x85 or 0xA0 <= o <= 0xD7FF or 0xE000 <= o <= 0xFFFD
            or 0x10000 <= o <= 0x10FFFF)


def quote(text) -> str:
    """``text`` as a YAML double-quoted scalar: always valid, on one line."""
    out = []
    for ch in str(text):
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif _printable(ch):
            out.append(ch)
        elif o <= 0xFFFF:
            out.append(f"\\u{o:04x}")
        else:
            out.append(f"\\U{o:08x}")
    return '"' + "".join(out) + '"'


def comment(text, limit: int = 70) -> str:
    """``text`` safe inside a YAML comment: one line, printable, clipped."""
    s = "".join(ch if _printable(ch) else (" " if ch in "\t\r\n" else f"<U+{ord(ch):04X}>") for ch in str(text))
    s = re.sub(r"\s+", " ", s).strip()
    return s if len(s) <= limit else s[: limit - 3] + "..."


def _ident(text: str, fallback: str) -> str:
    s = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode()
    s = re.sub(r"[^A-Za-z0-9]+", "_", s).strip("_").lower()
    if not s or not s[0].isalpha():
        s = f"{fallback}_{s}" if s else fallback
    return s[:40]


def _study_id(path: Path) -> str:
    s = re.sub(r"[^A-Za-z0-9_.-]+", "_", path.stem).strip("_.-")
    if not s or not s[0].isalnum():
        s = "my_study" + (f"_{s}" if s else "")
    return s[:64]


def _column_values(raw: RawTable, col: str) -> np.ndarray | None:
    """The column's numbers (NaN where empty), or None if it holds text."""
    v = raw.columns[col]
    if raw.kinds.get(col) == "number":
        x = np.asarray(v, dtype=float).copy()
        x[raw.user_missing_mask(col, x)] = np.nan
        return x
    import pandas as pd

    s = pd.Series(["" if x is None else str(x).strip() for x in v], dtype=object)
    empty = (s == "").to_numpy()
    num = np.array(pd.to_numeric(s.where(~empty, None), errors="coerce"), dtype=float)
    if (np.isnan(num) & ~empty).any():
        return None
    return num


def _declared_missing(raw: RawTable, col: str, v: float) -> bool:
    return any(float(lo) <= v <= float(hi) for lo, hi in raw.user_missing.get(col, []))


def _scale_of(raw: RawTable, col: str, x: np.ndarray):
    """(lo, hi, source, extra missing codes) of an item-like column, or None."""
    labels = {float(k): t for k, t in raw.value_labels.get(col, {}).items()
              if isinstance(k, (int, float)) and math.isfinite(k) and not _declared_missing(raw, col, float(k))}
    seen = x[~np.isnan(x)]
    if labels:
        codes = sorted(labels)
        if all(c == int(c) for c in codes):
            lo = codes[0]
            hi = lo
            while hi + 1 in labels:
                hi += 1
            extra = [c for c in codes if not lo <= c <= hi]
            if 2 <= hi - lo + 1 <= 11:
                return int(lo), int(hi), "value labels", [int(c) for c in extra]
    if seen.size == 0 or np.any(seen != np.round(seen)):
        return None
    values = set(seen.astype(int).tolist())
    sentinels = sorted(v for v in values if v in SENTINEL_CODES)
    rest = [v for v in values if v not in SENTINEL_CODES]
    if not rest:
        return None
    lo, hi = min(rest), max(rest)
    if not 2 <= hi - lo + 1 <= 11 or lo < -1:
        return None
    lo = 1 if lo in (1, 2) else lo
    return int(lo), int(hi), "answers in the file", sentinels


def guess_id_column(raw: RawTable) -> str | None:
    """The column named like a respondent id whose values are unique and complete, or None."""
    id_col = next((c for c in raw.header if ID_NAMES.fullmatch(c.strip())), None)
    if id_col is not None:
        x = _column_values(raw, id_col)
        values = [str(v) for v in raw.columns[id_col]] if x is None else x[~np.isnan(x)].tolist()
        if len(set(values)) != raw.n_rows:
            id_col = None   # not unique or has gaps: not an id
    return id_col


def _construct_candidates(raw: RawTable, skip: set):
    """Groups of item-like columns named alike, in file order: (stem, columns, scales)."""
    groups: dict[str, list] = {}
    for col in raw.header:
        if col in skip:
            continue
        m = ITEM_NAME.fullmatch(col)
        if not m:
            continue
        x = _column_values(raw, col)
        if x is None:
            continue
        scale = _scale_of(raw, col, x)
        if scale is None:
            continue
        groups.setdefault(m.group("stem").lower(), []).append((col, scale, bool(m.group("tail"))))
    return [(stem, cols) for stem, cols in groups.items() if len(cols) >= 2]


def _common_label(labels: list[str]) -> str:
    labels = [comment(l_, 200) for l_ in labels if l_]
    if not labels:
        return ""
    prefix = labels[0]
    for l_ in labels[1:]:
        while not l_.startswith(prefix):
            prefix = prefix[:-1]
    prefix = re.sub(r"[\s:,;.\-_(]*(item)?\s*[0-9]*$", "", prefix, flags=re.IGNORECASE).strip()
    return prefix if len(prefix) >= 4 else labels[0]


def read_header(data_path, *, encoding: str | None = None, delimiter: str | None = None):
    """The file as a :class:`RawTable`, with the CSV delimiter found if none is given.

    Returns
    -------
    (RawTable, str, str | None, str | None)
        The table, the format, and the delimiter and encoding the template must state
        (None where the default applies).
    """
    path = Path(data_path)
    _open_checks(path)
    fmt = detect_format(path)
    if fmt == "sav":
        return read_sav_table(path), fmt, None, None
    default = "\t" if path.suffix.lower() == ".tsv" else ","
    try:
        if encoding is None:
            data = path.read_bytes()[:65536]
            if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
                encoding = "utf-16"   # a byte-order mark says so unambiguously
        if delimiter is None:
            text = decode_text(path, path.read_bytes(), encoding, [])
            first = next((ln for ln in text.splitlines() if ln.strip()), "")
            counts = {d: first.count(d) for d in DELIMITER_NAMES}
            found = max(counts, key=counts.get)
            delimiter = found if counts[found] and counts.get(default, 0) == 0 else default
        raw = read_csv_table(path, encoding, delimiter)
    except ReplicationError as exc:
        if "encoding" in str(exc):
            raise ReplicationError(f"{exc} (for `replication init`, pass --encoding, e.g. --encoding cp1252)") from None
        raise
    return raw, fmt, (delimiter if delimiter != default else None), encoding


def init_template(data_path, *, yaml_dir=None, encoding: str | None = None, delimiter: str | None = None) -> str:
    """The commented YAML template of a study specification for ``data_path``.

    Parameters
    ----------
    data_path : str or Path
        A CSV or SPSS ``.sav`` survey file.
    yaml_dir : str or Path, optional
        The folder the YAML will be written to (``file:`` is written relative to it);
        default: the data file's folder.
    encoding, delimiter : str, optional
        For a CSV file; default: UTF-8 (a byte-order mark handled; UTF-16 with a
        byte-order mark recognised) and the delimiter found in the header.

    Returns
    -------
    str
        YAML text. Every value the user must fill is ``TODO`` (or a text starting with
        ``TODO``); guesses to check are commented ``check``.

    Raises
    ------
    ReplicationError
        The file cannot be read (naming the file, line and column where they apply).
    """
    path = Path(data_path)
    raw, fmt, delim, enc = read_header(path, encoding=encoding, delimiter=delimiter)
    if raw.n_rows == 0:
        raise ReplicationError(f"{path}: the file has a header but no respondents; a study template needs data")
    if len(raw.header) < 2:
        raise ReplicationError(f"{path}: the file has a single column ('{raw.header[0]}'); a survey needs a column "
                               "per item")
    id_col = guess_id_column(raw)
    candidates = _construct_candidates(raw, {id_col} if id_col else set())
    used_ids: set = set()
    constructs = []
    for i, (stem, cols) in enumerate(candidates):
        cid = _ident(stem, f"construct_{i + 1}")
        while cid in used_ids:
            cid += "_2"
        used_ids.add(cid)
        names = [c for c, _, _ in cols]
        scales = Counter((lo, hi) for _, (lo, hi, _, _), _ in cols)
        (lo, hi), _ = scales.most_common(1)[0]
        source = cols[0][1][2]
        extra = sorted({e for _, (_, _, _, ex), _ in cols for e in ex})
        label = _common_label([raw.variable_labels.get(c, "") for c in names])
        constructs.append({"id": cid, "columns": names, "lo": lo, "hi": hi, "source": source, "missing": extra,
                           "label": label, "mixed": len(scales) > 1,
                           "reversed": [c for c, _, tail in cols if tail]})
    in_constructs = {c for k in constructs for c in k["columns"]}
    others = [c for c in raw.header if c not in in_constructs and c != id_col]
    mins = Counter(k["lo"] for k in constructs)
    scale_min = mins.most_common(1)[0][0] if mins else 1
    missing_codes = sorted({m for k in constructs for m in k["missing"]})

    base = Path(yaml_dir) if yaml_dir is not None else path.parent
    try:
        rel = path.resolve().relative_to(base.resolve())
        file_text = rel.as_posix()
    except ValueError:
        import os
        try:
            file_text = Path(os.path.relpath(path.resolve(), base.resolve())).as_posix()
        except ValueError:   # another drive
            file_text = str(path.resolve())
    name = path.name
    out = [
        f"# Study specification for {comment(name)}, written by `replication init` from the file's header.",
        "#",
        "# 1. Replace every TODO (search for it). `replication validate --study <this file>` names the",
        "#    line of every value still missing.",
        "# 2. Check the guesses marked `check`: the id column, which columns form which construct, and",
        "#    each construct's scale.",
        "# 3. Run: replication run --study <this file>",
        "#",
        "# Every value says where it comes from: `reported: <where the source reports it>` or",
        "# `assumed: <why we chose it>`.",
        "#",
        f"# The file has {raw.n_rows} respondents and {len(raw.header)} columns:",
    ]
    for col in raw.header[:200]:
        desc = []
        if raw.variable_labels.get(col):
            desc.append(f'"{comment(raw.variable_labels[col], 50)}"')
        vl = raw.value_labels.get(col)
        if vl:
            codes = [k for k in vl if isinstance(k, (int, float))]
            if codes:
                desc.append(f"value labels {_fmt(min(codes))}..{_fmt(max(codes))} ({len(vl)})")
        role = "id" if col == id_col else next((k["id"] for k in constructs if col in k["columns"]), None)
        desc.append(f"-> {role}" if role else "(not used unless carried)")
        out.append(f"#   {comment(col, 40)}  " + "  ".join(desc))
    if len(raw.header) > 200:
        out.append(f"#   ... and {len(raw.header) - 200} more")
    study_id = _study_id(path)
    out += [
        "",
        "study:",
        f"  id: {quote(study_id)}          # names the output folders (letters, digits, _ . -)",
        "  title: \"TODO: the study's title\"",
        "  population: respondents          # check: who the respondents are, e.g. \"online shoppers\"",
        "  dimensions: segmentation dimensions   # check: what the clustering constructs are called",
        "",
        "data:",
        f"  file: {quote(file_text)}          # relative to this YAML file's folder",
    ]
    if id_col:
        out.append(f"  id: {quote(id_col)}          # check: the respondent id column")
    else:
        out.append("  # id: TODO                      # the respondent id column (without it: 1..N in file order)")
    if others:
        shown = ", ".join(quote(c) for c in others[:12]) + (", ..." if len(others) > 12 else "")
        out.append(f"  # carry: [{shown}]   # columns to keep (weights, demographics); the rest is ignored")
    out.append("  missing: listwise                # or {min_items: m}: a scale score from at least m answered items")
    if missing_codes:
        out.append(f"  missing_codes: [{', '.join(str(c) for c in missing_codes)}]   # check: codes that "
                   "stand apart from the answers and look like 'no answer'")
    out.append("  # out_of_range: drop             # default: an answer off the scale (e.g. an undeclared 99) stops the run")
    if scale_min != 1:
        out.append(f"  scale_min: {scale_min}                     # check: the lowest answer code of the items")
    rev = [c for k in constructs for c in k["reversed"]]
    if rev:
        out.append(f"  reverse: [{', '.join(quote(c) for c in rev)}]   # check: named like reverse-coded items")
    else:
        out.append("  # reverse: [TODO]                # reverse-coded items, recoded (min + max) - x")
    if delim is not None:
        out.append(f"  delimiter: {quote(delim)}                # the file is {DELIMITER_NAMES.get(delim, delim)}-delimited")
    if enc is not None:
        out.append(f"  encoding: {enc}")
    out += [
        "",
        f"n: {{value: {raw.n_rows}, assumed: {quote('respondents in ' + name)}}}",
        "seed: {value: 1, assumed: \"any fixed integer makes the run reproducible\"}",
        "n_segments: {value: TODO, reported: \"TODO: where the number of segments comes from\"}",
        "",
        "# One entry per segment: n_segments entries (copy or delete entries). A profile gives each",
        "# clustering construct a level: H (high), L (low), M (no side), or a number from -1 to 1.",
        "segments:",
    ]
    ids = [k["id"] for k in constructs] or ["TODO_construct"]
    for j in (1, 2):
        prof = ", ".join(f"{cid}: TODO" for cid in ids)
        out += [
            f"  - id: segment_{j}                 # TODO: a short id (letters, digits, _)",
            "    name: {value: \"TODO: the segment's name\", reported: \"TODO: where\"}",
            "    share: {value: TODO, reported: \"TODO: its share of the sample, percent\"}",
            "    profile:",
            f"      value: {{{prof}}}",
            "      reported: \"TODO: where the profile is reported\"",
            "    # strategy: {value: \"TODO: what to offer this segment\", assumed: \"TODO: why\"}",
        ]
    out += ["", "# Candidate constructs: columns named alike. Set each role; check the items and scales.",
            "constructs:"]
    if not constructs:
        out += [
            "  - id: TODO_construct              # TODO: no columns named like items (Q1_1, Q1_2, ...) were found",
            "    role: TODO                      # clustering (segments are formed on it) or predictor",
            "    label: {value: \"TODO: what the construct measures\", reported: \"TODO: where\"}",
            "    items: {value: [TODO, TODO], reported: \"TODO: the columns of its items\"}",
            "    scale_points: {value: TODO, reported: \"TODO: points of its answer scale\"}",
        ]
    for k in constructs:
        lo, hi = k["lo"], k["hi"]
        label = k["label"]
        label_line = (f"    label: {{value: {quote(label)}, reported: {quote('variable labels in ' + name)}}}"
                      if label else "    label: {value: \"TODO: what the construct measures\", reported: \"TODO: where\"}")
        src = f"{k['source']} of {k['columns'][0]} run {lo}-{hi}"
        note = "   # check: items use different scales" if k["mixed"] else ""
        out += [
            f"  - id: {k['id']}",
            "    role: TODO                      # clustering (segments are formed on it) or predictor (membership model)",
            label_line,
            f"    items: {{value: [{', '.join(quote(c) for c in k['columns'])}], "
            f"assumed: {quote('columns named alike in ' + name)}}}   # check",
            f"    scale_points: {{value: {hi - lo + 1}, {'reported' if k['source'] == 'value labels' else 'assumed'}: "
            f"{quote(src)}}}{note}",
        ]
    out += [
        "",
        "segmentation:",
        "  method: {value: ward_kmeans, assumed: \"Ward's hierarchical clustering, then k-means from the Ward centroids\"}",
        "  description: {value: \"two-stage cluster analysis\", assumed: \"TODO: the method as the source describes it\"}",
        "  standardize: {value: true, assumed: \"z-scores give each dimension the same weight\"}",
        "  k_min: 2",
        "  k_max: 10",
        "",
        "# A membership model (optional): a multinomial logit of segment on the predictor constructs.",
        "# membership:",
        "#   model: {value: multinomial_logit, reported: \"TODO: where\"}",
        "#   description: {value: \"multinomial logit of segment on the predictors\", reported: \"TODO: where\"}",
        "#   reference: {value: TODO, assumed: \"TODO: the reference segment, e.g. the largest\"}",
        "#   standardize_predictors: {value: true, assumed: \"odds ratios per SD\"}",
        "",
        "# Claims to check (optional), e.g. (a share is judged against its margin: the reported",
        "# rounding or the original study's precision, whichever is larger; see the study page):",
        "# claims:",
        "#   - {id: share.segment_1, kind: segment_share, segment: segment_1, statement: \"TODO\", reported: \"TODO\"}",
        "",
    ]
    return "\n".join(out)


def _fmt(v) -> str:
    v = float(v)
    return str(int(v)) if v == int(v) else f"{v:g}"


def default_yaml_path(data_path) -> Path:
    """Where ``replication init`` writes the template: beside the data file, ``<stem>.yaml``."""
    p = Path(data_path)
    return p.with_name(p.stem + ".yaml")


def study_yaml_target(data_path: Path, yaml_path=None, force: bool = False) -> Path:
    """Where ``init`` writes the study YAML (default: beside the data file), refused when it
    is a folder, the data file itself, or an existing file without ``force``."""
    yaml_path = Path(yaml_path) if yaml_path is not None else default_yaml_path(data_path)
    if yaml_path.is_dir():
        raise ReplicationError(f"{yaml_path}: is a folder; give the file name of the study YAML")
    if yaml_path.exists() and not force:
        raise ReplicationError(f"{yaml_path}: already exists and is not overwritten; pass --force to replace it, "
                               "or --output to write elsewhere")
    if yaml_path.exists() and yaml_path.resolve() == Path(data_path).resolve():
        raise ReplicationError(f"{yaml_path}: is the data file itself")
    return yaml_path


def write_template(data_path, yaml_path=None, *, force: bool = False, encoding: str | None = None,
                   delimiter: str | None = None) -> Path:
    """Write :func:`init_template`'s YAML (default: beside the data file); never over a file unless ``force``.

    Returns
    -------
    Path
        The YAML written.
    """
    from .. import files

    data_path = Path(data_path)
    yaml_path = study_yaml_target(data_path, yaml_path, force)
    text = init_template(data_path, yaml_dir=yaml_path.parent, encoding=encoding, delimiter=delimiter)
    try:
        return files.atomic_write_text(yaml_path, text)
    except PermissionError:
        raise ReplicationError(f"{yaml_path}: permission denied: cannot write in {yaml_path.parent}") from None
    except OSError as exc:
        raise ReplicationError(f"{yaml_path}: cannot write ({exc.strerror or exc})") from None
