"""The ``data:`` block of a study specification: its one model (:class:`DataSource`),
its fields in words (:data:`DATA_FIELDS`) and its checks against the specification's
constructs.

    data:
      file: my_survey.sav          # relative to the YAML's folder, or absolute
      id: resp_id                  # the respondent id column (default: ids 1..N)
      items: {cp1: Q4_1, cp2: Q4_2}   # item -> column; an item not listed is its own column
      reverse: [cp3]               # reverse-coded items: (min + max) - x on the item's scale
      carry: [age]                 # columns kept beside the items; every other column is ignored
      weight: wt                   # survey weights (positive numbers): a weighted analysis
      missing: {min_items: 3}      # or "listwise" (the default)
      missing_codes: [99]          # answers that mean "no answer", beside empty cells
      out_of_range: error          # or drop: respondents with an answer off the scale
      scale_min: 1                 # the lowest answer code (answers run scale_min..scale_min+points-1)
      encoding: utf-8              # CSV only (a UTF-8 byte-order mark is handled)
      delimiter: ","               # CSV only

The specification holds the block as a :class:`DataSource` (:mod:`.spec` validates it
with the rest of the file and reports problems with their YAML line); a block given as a
plain mapping (a model card's ``input``, a test) becomes one through :func:`data_source`,
with the same messages. This module imports nothing of the specification, so the
specification's checks can use it.
"""

from __future__ import annotations

import codecs
import difflib
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_serializer, field_validator

from ..errors import ReplicationError

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
             "Profiling and demographic variables and the membership model's single-column predictors "
             "named in the specification are carried automatically. Carried columns are written beside each "
             "respondent's segment (assignments.csv, .sav) and described by segment on the page. "
             "Every other column of the file is ignored.",
    "weight": "optional: the column holding each respondent's survey weight (a positive number, never "
              "missing). The analysis is then weighted: segments (weighted Ward and k-means), shares with "
              "intervals on Kish's effective sample size, centroids, profiles and the membership model. "
              "The column is carried into the outputs.",
    "missing": "optional missing-data policy: 'listwise' (the default: a respondent needs an answer to "
               "every item) or {min_items: m} (a respondent needs at least m answered items in every "
               "construct; the scale score is the mean of the answered items).",
    "missing_codes": "optional list of answer codes that mean 'no answer' (e.g. [99, -9] or ['NA']). Empty "
                     "cells, SPSS system-missing values and SPSS user-missing values are always missing.",
    "out_of_range": "optional: 'error' (the default: an answer that is not a scale point of its item, e.g. an "
                    "undeclared 98/99 code, stops the read, naming the column and the values) or 'drop' (such "
                    "respondents are dropped and counted, with the reason).",
    "scale_min": "optional whole number, default 1: the lowest answer code of every item. A construct with "
                 "scale_points k then runs scale_min..scale_min+k-1; answers are recoded to 1..k.",
    "encoding": "optional text encoding of a CSV file (default utf-8; a UTF-8 byte-order mark is handled). "
                "E.g. 'latin-1', 'cp1252', 'utf-16'.",
    "delimiter": "optional field delimiter of a CSV file, one character (default ',' and, for .tsv, tab).",
}


@dataclass(frozen=True)
class MissingPolicy:
    """The ``missing:`` field: ``listwise`` (``min_items`` None) or ``{min_items: m}``."""

    min_items: int | None = None

    @property
    def policy(self) -> str:
        return "listwise" if self.min_items is None else "min_items"

    def describe(self) -> str:
        """The policy in words."""
        if self.min_items is None:
            return "listwise: every item answered"
        return f"min_items: at least {self.min_items} answered items in every construct"

    def to_json(self):
        """As the YAML writes it: ``"listwise"`` or ``{"min_items": m}``."""
        return "listwise" if self.min_items is None else {"min_items": self.min_items}


class DataSource(BaseModel):
    """A study on real data: the survey file and how its columns become the constructs'
    items (every field is described in :data:`DATA_FIELDS`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    file: str
    format: Literal["csv", "sav"] | None = None
    id: str | None = None
    items: dict[str, str] = {}
    reverse: list[str] = []
    carry: list[str] = []
    weight: str | None = None
    missing: MissingPolicy = MissingPolicy()
    missing_codes: list[int | float | str] = []
    out_of_range: Literal["error", "drop"] = "error"
    scale_min: int = 1
    encoding: str | None = None
    delimiter: str | None = None

    @field_validator("file")
    @classmethod
    def _a_file_name(cls, v):
        if not v.strip():
            raise ValueError("'file' must be a non-empty text (the survey file)")
        return v.strip()

    @field_validator("weight")
    @classmethod
    def _a_column_name(cls, v):
        if v is not None and not v.strip():
            raise ValueError("'weight' must name a column (the survey weights)")
        return v

    @field_validator("missing", mode="before")
    @classmethod
    def _a_policy(cls, v):
        if isinstance(v, MissingPolicy):
            return v
        if v == "listwise":
            return MissingPolicy()
        if isinstance(v, dict) and set(v) == {"min_items"} and isinstance(v["min_items"], int) \
                and not isinstance(v["min_items"], bool):
            if v["min_items"] < 1:
                raise ValueError(f"min_items must be at least 1, got {v['min_items']}")
            return MissingPolicy(v["min_items"])
        raise ValueError(f"missing must be 'listwise' or {{min_items: <whole number>}}, got {v!r}")

    @field_serializer("missing")
    def _policy_as_written(self, v: MissingPolicy):
        return v.to_json()

    @field_validator("delimiter")
    @classmethod
    def _one_character(cls, v):
        if v is not None and (len(v) != 1 or v in "\"\r\n"):
            raise ValueError(f"delimiter must be one character (e.g. ',' ';' or a tab), got {v!r}")
        return v

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, v):
        if v is not None:
            try:
                codecs.lookup(v)
            except LookupError:
                raise ValueError(f"unknown encoding '{v}' (e.g. utf-8, latin-1, cp1252, utf-16)") from None
        return v

    # -- views --------------------------------------------------------------------------------
    @property
    def min_items(self) -> int | None:
        """The ``min_items`` policy's m; None under ``listwise``."""
        return self.missing.min_items

    def to_dict(self) -> dict:
        """The block as plain data, as the YAML writes it, defaults left out but ``missing``."""
        out = self.model_dump(exclude_defaults=True, exclude={"missing"})
        out["missing"] = self.missing.to_json()
        return out


def unknown_key_hint(key) -> str:
    """`` (did you mean 'carry'?)`` for a key that is not a field of the block."""
    near = difflib.get_close_matches(str(key), DATA_FIELDS, n=1)
    return f" (did you mean '{near[0]}'?)" if near else f" (known keys: {', '.join(DATA_FIELDS)})"


def format_problems(where, problems, lines=None) -> str:
    """``where[, line L]: data.<key>: message`` per problem, a count first when several."""
    out = []
    for loc, msg in problems:
        line = (lines or {}).get(loc)
        head = f"{where}, line {line}" if line else str(where)
        dotted = ".".join(str(x) for x in ("data", *loc))
        out.append(f"{head}: {dotted}: {msg}")
    if len(out) > 1:
        out.insert(0, f"{where}: {len(problems)} problem(s) in the data block:")
    return "\n".join(out)


def data_source(block, where="the data block") -> DataSource:
    """A data block as a :class:`DataSource`: one given, or a mapping validated into one.

    Raises
    ------
    ReplicationError
        Naming ``where`` and every problem, one line each (``data.<key>: message``).
    """
    if isinstance(block, DataSource):
        return block
    if not isinstance(block, dict):
        raise ReplicationError(format_problems(where, [((), "the data block must be a mapping of keys to "
                                                             "values (file: ..., items: ...)")]))
    try:
        return DataSource.model_validate(block)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            # Drop pydantic's location parts that name a type (e.g. "literal['listwise']").
            loc = tuple(x for x in err["loc"] if not (isinstance(x, str) and "[" in x))
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = f"unknown key '{loc[-1]}'" + unknown_key_hint(loc[-1])
            elif err["type"] == "missing":
                msg = f"missing key '{loc[-1]}'"
            if (loc, msg) not in problems:
                problems.append((loc, msg))
        raise ReplicationError(format_problems(where, problems)) from None


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


def item_problems(block: DataSource, constructs: list[ConstructInfo]) -> list[tuple[tuple, str]]:
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
    if block.weight is not None:
        if block.weight in item_of_column or block.weight in item_set:
            problems.append((("weight",), f"'{block.weight}' is an item; the weights must be a column of their own"))
        if block.weight == block.id:
            problems.append((("weight",), f"'{block.weight}' is the respondent id column"))
    if block.id is not None and block.id in item_of_column:
        problems.append((("id",), f"'{block.id}' is the column of item '{item_of_column[block.id]}'"))
    if len(set(block.carry)) != len(block.carry):
        dup = next(c for c in block.carry if block.carry.count(c) > 1)
        problems.append((("carry",), f"'{dup}' is listed twice"))
    if block.min_items is not None:
        for c in constructs:
            if block.min_items > len(c.items):
                problems.append((("missing", "min_items"), f"min_items {block.min_items} exceeds the "
                                                           f"{len(c.items)} items of construct '{c.id}'"))
                break
    return problems


def data_block_problems(block, spec) -> list[tuple[tuple, str]]:
    """Every problem of a ``data:`` block (a :class:`DataSource` or a mapping) against a
    specification, as ``(location, message)``.

    The location is relative to the block (``("items", "cp1")``); the specification's
    cross-checks prefix ``"data"`` and report each problem with its YAML line.
    """
    block = data_source(block)
    problems = item_problems(block, constructs_of(spec))
    method = getattr(getattr(getattr(spec, "segmentation", None), "method", None), "value", "ward_kmeans")
    if block.weight is not None and method != "ward_kmeans":
        problems.append((("weight",), f"survey weights need the segmentation method 'ward_kmeans' (weighted Ward "
                                      f"and k-means); '{method}' takes no weights"))
    wanted = [p.id for p in getattr(spec, "profiling", [])] + [d.id for d in getattr(spec, "demographics", [])]
    items = {it for c in spec.constructs for it in c.items.value}
    for w in wanted:
        if w in items:
            problems.append((("carry",), f"profiling/demographic variable '{w}' has the name of an item"))
    return problems
