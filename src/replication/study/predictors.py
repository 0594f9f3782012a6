"""Predictors of the membership model beside the predictor constructs: a single column of
the survey file, declared under ``membership.predictors`` of a study on real data.

    membership:
      ...
      predictors:
        - id: age                  # names the predictor in the tables and claims
          type: numeric            # numeric | ordinal | categorical
          label: Age (years)
        - id: attitude
          column: Q9               # the file's column (default: the id)
          type: ordinal            # one rating item, entered as a linear term
          scale_points: 7          # optional: answers must lie on scale_min..scale_min+6
        - id: gender
          type: categorical        # dummy-coded: one term per level but the reference
          reference: male          # the reference level: a code (1) or its value label
          levels: {1: male, 2: female}   # optional: the .sav file's value labels by default

A multi-item construct with role ``predictor`` stays the way to enter a scale. This
module holds the one model of such a predictor (:class:`Predictor`), its fields in words
(:data:`PREDICTOR_FIELDS`), its checks against the rest of the specification
(:func:`predictor_problems`), the one coding of a column's levels (:func:`level_index`,
shared by the design and the carried columns' profile) and ``init``'s proposal of
predictors (:func:`suggest_predictors`); turning the columns into the model's terms is
:mod:`replication.membership.design`'s job.
"""

from __future__ import annotations

import math
import re
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, field_validator, model_validator

#: The fields of a ``membership.predictors`` entry, in words.
PREDICTOR_FIELDS: dict[str, str] = {
    "id": "required. The predictor's name in the tables, the page and the claims (letters, digits, '_').",
    "type": "required: 'numeric' (a number such as age in years), 'ordinal' (one rating item, entered as a "
            "linear term) or 'categorical' (dummy-coded against the reference level).",
    "label": "optional: the predictor's name on the page (default: its id).",
    "column": "optional: the survey file's column holding it (default: the id).",
    "reference": "categorical only, required: the reference level, as its code or its value label.",
    "levels": "categorical only, optional mapping code -> name of the levels (default: the .sav file's value "
              "labels, else the codes as written).",
    "scale_points": "ordinal only, optional: the item's number of answer points; answers must then lie on "
                    "scale_min..scale_min+scale_points-1 of the data block.",
    "missing_codes": "optional list of codes meaning 'no answer' for this column (default: the data block's "
                     "missing_codes for an ordinal or categorical predictor, only its text codes such as 'NA' "
                     "for a numeric one). Empty cells and SPSS user-missing values are always missing.",
}

PREDICTOR_TYPES = ("numeric", "ordinal", "categorical")


class Predictor(BaseModel):
    """A single-column predictor of the membership model (fields: :data:`PREDICTOR_FIELDS`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    type: Literal["numeric", "ordinal", "categorical"]
    label: str = ""
    column: str | None = None
    reference: int | float | str | None = None
    levels: dict[int | str, str] | None = None
    scale_points: int | None = None
    missing_codes: list[int | float | str] | None = None

    @field_validator("id")
    @classmethod
    def _a_name(cls, v):
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,63}", v):
            raise ValueError(f"predictor id '{v}' must be 1-64 letters, digits or '_' (not starting with a digit)")
        return v

    @field_validator("scale_points")
    @classmethod
    def _points(cls, v):
        if v is not None and not 2 <= v <= 101:
            raise ValueError(f"scale_points {v} must lie between 2 and 101")
        return v

    @model_validator(mode="after")
    def _fits_type(self):
        if self.type == "categorical" and self.reference is None:
            raise ValueError(f"categorical predictor '{self.id}' needs 'reference': the level the others are "
                             "compared with (its code or value label)")
        if self.type != "categorical":
            wrong = [k for k in ("reference", "levels") if getattr(self, k) is not None]
            if wrong:
                raise ValueError(f"'{wrong[0]}' applies to a categorical predictor only ('{self.id}' is {self.type})")
        if self.type != "ordinal" and self.scale_points is not None:
            raise ValueError(f"'scale_points' applies to an ordinal predictor only ('{self.id}' is {self.type})")
        return self

    @property
    def source_column(self) -> str:
        """The survey file's column."""
        return self.column or self.id

    @property
    def name(self) -> str:
        """The predictor's name on the page."""
        return self.label or self.id


def membership_predictors(spec) -> list[Predictor]:
    """The single-column predictors of a specification (none without a membership model)."""
    return list(getattr(getattr(spec, "membership", None), "predictors", None) or [])


def predictor_ids(spec) -> list[str]:
    """Every predictor of the membership model: the predictor constructs, then the single columns."""
    return [c.id for c in spec.predictor_constructs] + [p.id for p in membership_predictors(spec)]


def predictor_labels(spec) -> dict[str, str]:
    """The page's name of each single-column predictor."""
    return {p.id: p.name for p in membership_predictors(spec)}


def predictor_columns(spec) -> list[str]:
    """The survey columns the single-column predictors are read from (carried with the survey)."""
    return list(dict.fromkeys(p.source_column for p in membership_predictors(spec)))


def predictor_problems(spec) -> list[tuple[tuple, str]]:
    """Problems of ``membership.predictors`` against the specification, as ``(location, message)``."""
    preds = membership_predictors(spec)
    if not preds:
        return []
    problems = []
    where = ("membership", "predictors")
    if spec.data is None:
        problems.append((where, "single-column predictors are read from your own survey: the study needs a "
                                "`data:` block (a synthetic study's predictors are constructs)"))
    taken = {c.id: "a construct" for c in spec.constructs}
    taken.update({s: "a segment" for s in spec.segment_ids})
    taken.update({p.id: "a profiling variable" for p in spec.profiling})
    items = {it for c in spec.constructs for it in c.items.value}
    item_columns = set(items) | set((spec.data.items or {}).values() if spec.data else ())
    seen: set[str] = set()
    for i, p in enumerate(preds):
        if p.id in seen:
            problems.append(((*where, i, "id"), f"duplicate predictor '{p.id}'"))
        seen.add(p.id)
        if p.id in taken:
            problems.append(((*where, i, "id"), f"predictor '{p.id}' has the id of {taken[p.id]}; give it "
                                                 "another id"))
        if p.source_column in item_columns:
            problems.append(((*where, i, "column"), f"column '{p.source_column}' holds an item of a construct; "
                                                     "a multi-item scale enters as a construct with role 'predictor'"))
        if spec.data is not None and p.source_column == spec.data.id:
            problems.append(((*where, i, "column"), f"column '{p.source_column}' is the respondent id"))
    return problems


def level_code(v):
    """A level code as JSON keeps it: whole numbers as int, other numbers as float, text
    stripped (a text that reads as a number becomes the number: "1" and 1.0 are level 1)."""
    if isinstance(v, (bool, np.bool_)):
        return int(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return int(v) if float(v).is_integer() else float(v)
    text = str(v).strip()
    try:
        x = float(text)
    except ValueError:
        return text
    return int(x) if x.is_integer() and math.isfinite(x) else text


def is_missing_cell(v) -> bool:
    """An empty cell: None, NaN or blank text."""
    return v is None or (isinstance(v, (float, np.floating)) and math.isnan(v)) or \
        (isinstance(v, str) and not v.strip()) or type(v).__name__ == "NAType"


def level_index(values, missing_codes=()) -> tuple[np.ndarray, list]:
    """Each cell's level as an index into the distinct level codes (-1: missing).

    Each distinct value is coded once (:func:`level_code`), so a large file with few
    levels costs one pass of :func:`pandas.factorize`.

    Returns
    -------
    (ndarray of int, list)
        The index per cell, and the level codes sorted (numbers first, then texts).
    """
    import pandas as pd          # the specification's own checks need no pandas

    missing = {level_code(m) for m in missing_codes}
    values = np.asarray(values)
    if values.dtype.kind not in "biuf":
        values = pd.Series(values, dtype=object)    # numbers factorize fast as they are
    index, uniques = pd.factorize(values, use_na_sentinel=True)
    coded = [None if is_missing_cell(u) or level_code(u) in missing else level_code(u) for u in uniques]
    levels = sorted({c for c in coded if c is not None}, key=lambda c: (isinstance(c, str), c))
    position = {c: j for j, c in enumerate(levels)}
    lookup = np.array([position[c] if c is not None else -1 for c in coded] + [-1], dtype=int)
    return lookup[index], levels


#: At most this many distinct values make a column without value labels categorical (text)
#: or ordinal (whole numbers) in :func:`suggest_predictors`.
MAX_LEVELS = 11


def suggest_predictors(raw, skip=(), reference_segment: str = "segment_1") -> list[str]:
    """Commented YAML proposing the file's other columns as membership predictors (``init``).

    Each column of ``raw`` (a :class:`~.readers.RawTable`) not in ``skip`` (items, id,
    weight) and answered by at least half the respondents is proposed by what it holds: value
    labels for its values or text with few distinct values: ``categorical`` (the most
    frequent level the reference); few distinct whole numbers: ``ordinal``; other numbers:
    ``numeric``. Ids (every value distinct) and constants are left out. The lines are
    comments: the researcher chooses the predictors.
    """
    lines = []
    for col in raw.header:
        if col in skip:
            continue
        values = [v for v in raw.columns[col] if not is_missing_cell(v)]
        if raw.kinds.get(col) == "number":
            missing = [(float(lo), float(hi)) for lo, hi in raw.user_missing.get(col, []) if _numbers_ok(lo, hi)]
            values = [v for v in values if not any(lo <= float(v) <= hi for lo, hi in missing)]
        if len(values) < max(2, raw.n_rows / 2):
            continue
        codes = [level_code(v) for v in values]
        distinct = set(codes)
        if len(distinct) < 2 or (len(distinct) == len(codes) and len(codes) > MAX_LEVELS):
            continue
        labels = {level_code(k): str(v) for k, v in raw.value_labels.get(col, {}).items()}
        numbers = all(not isinstance(c, str) for c in distinct)
        pid = col if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,63}", col) else \
            "p_" + re.sub(r"[^A-Za-z0-9_]", "_", col)[:60]
        head = f"{{id: {pid}" + ("" if pid == col else f", column: {json_text(col)}")
        if (labels and distinct <= set(labels)) or (not numbers and len(distinct) <= MAX_LEVELS):
            ref = max(sorted(distinct, key=lambda c: (isinstance(c, str), c)), key=codes.count)
            named = "; ".join(f"{c} = {labels[c]}" for c in sorted(distinct, key=lambda c: (isinstance(c, str), c))
                              if c in labels)
            lines.append(f"#     - {head}, type: categorical, reference: {json_text(ref)}}}"
                         + (f"   # {named}" if named else ""))
        elif numbers and len(distinct) <= MAX_LEVELS and all(isinstance(c, int) for c in distinct):
            lines.append(f"#     - {head}, type: ordinal}}   # answers {min(distinct)}-{max(distinct)}")
        elif numbers:
            lines.append(f"#     - {head}, type: numeric}}")
    if not lines:
        return []
    return ["# A membership model (optional): the file's other columns as predictors of segment",
            "# membership. Uncomment it, keep the predictors you want (numeric, ordinal: one rating",
            "# item; categorical: dummies against the reference level), and run again:",
            "# membership:",
            "#   model: {value: multinomial_logit, assumed: \"segment membership on the predictors\"}",
            "#   description: {value: \"multinomial logit of segment on the predictors\", assumed: \"my design\"}",
            f"#   reference: {{value: {reference_segment}, assumed: \"the largest segment\"}}",
            "#   standardize_predictors: {value: true, assumed: \"odds ratios per SD\"}",
            "#   predictors:", *lines]


def _numbers_ok(lo, hi) -> bool:
    try:
        float(lo), float(hi)
    except (TypeError, ValueError):
        return False
    return True


def json_text(v) -> str:
    """A scalar as YAML flow text: numbers as they are, text quoted (JSON is YAML)."""
    import json
    return json.dumps(v, ensure_ascii=False) if isinstance(v, str) else str(v)
