"""The model card's schema: a pydantic model of the JSON, its checks, saving and loading.

A card is plain JSON (never a pickle, so loading a card never runs code) with a
``kind`` and a ``schema_version``. :class:`ModelCard` types every field; what a type
cannot say (dimensions that are clustering constructs, one number per dimension,
clusters numbered 1..k naming known segments, a membership model over the card's
predictors) is checked after it, each problem named by its key
(``segmentation.clusters[0].segment``). Validation checks a card and returns the same
dict: the JSON written is the dict built, key order and floats as they are.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from .. import __version__, files
from ..errors import ReplicationError
from ..study.loader import check_fits_in_memory

#: The card format this version writes and the newest it reads.
SCHEMA_VERSION = 1
CARD_KIND = "replication-model-card"
#: Code of a respondent in no named segment (a cluster no reported profile fits).
UNMATCHED_CODE = 0
UNMATCHED = "unmatched"
UNCLASSIFIED = "unclassified"


def _positive(x: float) -> float:
    if x <= 0:
        raise ValueError(f"{x!r} must be positive (a standard deviation)")
    return x


def _not_reserved(s: str) -> str:
    if s in (UNMATCHED, UNCLASSIFIED):
        raise ValueError(f"'{s}' is a reserved word")
    return s


#: A finite number (not a bool, not a text), and a non-empty text.
Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]
Positive = Annotated[Number, AfterValidator(_positive)]
Text = Annotated[str, Field(strict=True, min_length=1)]


class _Part(BaseModel):
    # Keys the schema does not name are ignored (as a reader of an older card would).
    model_config = ConfigDict(extra="ignore", frozen=True)


class CardStudy(_Part):
    id: Text
    title: Text


class CardConstruct(_Part):
    id: Text
    label: str | None = None
    role: Literal["clustering", "predictor"]
    items: Annotated[list[Text], Field(min_length=1)]
    scale_points: Annotated[int, Field(strict=True, ge=2, le=11)]


class MinItems(_Part):
    model_config = ConfigDict(extra="forbid", frozen=True)
    min_items: Annotated[int, Field(strict=True, ge=1)]


class CardCluster(_Part):
    cluster: Annotated[int, Field(strict=True, ge=1)]
    segment: str | None = None
    training_n: Annotated[int, Field(strict=True, ge=0)] | None = None


class CardSegmentation(_Part):
    method: str | None = None
    assignment: Literal["nearest_centroid"]
    dimensions: Annotated[list[Text], Field(min_length=1)]
    standardize: bool = True
    mean: list[Number]
    scale: list[Positive]
    centers: Annotated[list[list[Number]], Field(min_length=2)]
    clusters: list[CardCluster]


class CardSegment(_Part):
    id: Annotated[Text, AfterValidator(_not_reserved)]
    name: Text
    strategy: str | None = None
    description: str | None = None


class CardLevel(_Part):
    code: int | float | str
    name: str


class CardPredictor(_Part):
    """A single-column predictor's coding (:mod:`.design`)."""

    id: Text
    type: Literal["numeric", "ordinal", "categorical"]
    label: str | None = None
    column: Text
    terms: Annotated[list[Text], Field(min_length=1)]
    levels: list[CardLevel] | None = None
    reference: int | float | str | None = None
    scale: list[int] | None = None
    missing_codes: list[int | float | str] = []


class CardMembership(_Part):
    model: str | None = None
    reference: Text
    segments: Annotated[list[Text], Field(min_length=2)]
    predictors: Annotated[list[Text], Field(min_length=1)]
    standardized: bool = True
    mean: dict[str, Number]
    scale: dict[str, Positive]
    coefficients: dict[str, dict[str, Number]]
    design: list[CardPredictor] | None = None


class ModelCard(_Part):
    """A model card (see :func:`replication.membership.model_card.build_model_card`)."""

    kind: str
    schema_version: Annotated[int, Field(strict=True, ge=1)]
    study: CardStudy
    created_by: str | None = None
    purpose: str | None = None
    constructs: Annotated[list[CardConstruct], Field(min_length=1)]
    missing: Literal["listwise"] | MinItems
    input: dict | None = None
    segmentation: CardSegmentation
    segments: Annotated[list[CardSegment], Field(min_length=1)]
    membership: CardMembership | None = None
    training: dict | None = None

    @field_validator("missing", mode="before")
    @classmethod
    def _a_policy(cls, v):
        if v != "listwise" and not isinstance(v, dict):
            raise ValueError(f'must be \'listwise\' or {{"min_items": m}}, got {v!r}')
        return v


def _cross_checks(card: ModelCard) -> list[tuple[tuple, str]]:
    """What the types cannot say, as ``(location, message)``."""
    problems = []
    ids, items = set(), set()
    for i, c in enumerate(card.constructs):
        if c.id in ids:
            problems.append((("constructs", i, "id"), f"duplicate construct '{c.id}'"))
        ids.add(c.id)
        for j, it in enumerate(c.items):
            if it in items:
                problems.append((("constructs", i, "items", j), f"item '{it}' appears in two constructs"))
            items.add(it)
    roles = {c.id: c.role for c in card.constructs}
    seg = card.segmentation
    for j, d in enumerate(seg.dimensions):
        if roles.get(d) != "clustering":
            problems.append((("segmentation", "dimensions", j), f"'{d}' is not a clustering construct of the card"))
    d = len(seg.dimensions)
    rows = [(("segmentation", "mean"), seg.mean), (("segmentation", "scale"), seg.scale)]
    rows += [(("segmentation", "centers", j), row) for j, row in enumerate(seg.centers)]
    for loc, row in rows:
        if len(row) != d:
            problems.append((loc, f"must have {d} numbers (one per segmentation dimension), has {len(row)}"))
    seg_ids = []
    for i, s in enumerate(card.segments):
        if s.id in seg_ids:
            problems.append((("segments", i, "id"), f"duplicate segment '{s.id}'"))
        seg_ids.append(s.id)
    if len(seg.clusters) != len(seg.centers):
        problems.append((("segmentation", "clusters"), f"must list one entry per centroid ({len(seg.centers)})"))
    for j, c in enumerate(seg.clusters):
        if c.cluster != j + 1:
            problems.append((("segmentation", "clusters", j), f'must be {{"cluster": {j + 1}, "segment": ...}}'))
        if c.segment is not None and c.segment not in seg_ids:
            problems.append((("segmentation", "clusters", j, "segment"), f"unknown segment {c.segment!r}"))
    mem = card.membership
    if mem is not None:
        design_terms = {t for d in mem.design or [] for t in d.terms}
        for j, d in enumerate(mem.design or []):
            if d.type == "categorical" and (not d.levels or len(d.levels) != len(d.terms) + 1
                                            or d.levels[0].code != d.reference):
                problems.append((("membership", "design", j), "a categorical predictor needs its levels, the "
                                                              "reference first, one more than its terms"))
        for j, p in enumerate(mem.predictors):
            if roles.get(p) != "predictor" and p not in design_terms:
                problems.append((("membership", "predictors", j), f"'{p}' is neither a predictor construct nor "
                                                                  "a term of membership.design"))
        if not all(s in seg_ids for s in mem.segments):
            problems.append((("membership", "segments"), "must list at least two of the card's segments"))
        if mem.reference != mem.segments[0]:
            problems.append((("membership", "reference"), "must be the first of membership.segments"))
        for key in ("mean", "scale"):
            if set(getattr(mem, key)) != set(mem.predictors):
                problems.append((("membership", key), "must give a number for every predictor"))
        if set(mem.coefficients) != set(mem.segments[1:]):
            problems.append((("membership", "coefficients"), "must give coefficients for every segment but the "
                                                            "reference"))
        for s, row in mem.coefficients.items():
            if set(row) != {"const", *mem.predictors}:
                problems.append((("membership", "coefficients", s), "must give 'const' and every predictor"))
    return problems


def _dotted(loc) -> str:
    """``("segmentation", "scale", 1)`` as ``segmentation.scale[1]``."""
    out = ""
    for x in loc:
        out += f"[{x}]" if isinstance(x, int) else (f".{x}" if out else str(x))
    return out or "(top level)"


def _pydantic_problem(exc: ValidationError) -> tuple[tuple, str]:
    """The first problem pydantic found, as ``(location, message)``."""
    err = exc.errors()[0]
    # Drop the location parts that name a type of a union (e.g. "literal['listwise']").
    loc = tuple(x for x in err["loc"] if not (isinstance(x, str) and ("[" in x or x == "MinItems")))
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "missing":
        msg = "missing (a required key)"
    elif err["type"] in ("float_type", "finite_number", "int_type", "string_type", "list_type", "dict_type",
                         "model_type", "too_short", "greater_than_equal", "less_than_equal", "literal_error"):
        msg = f"{msg}, got {err.get('input')!r}"
    return loc, msg


def validate_model_card(card, where="model card", study_id: str | None = None) -> dict:
    """Check a card against :class:`ModelCard` and the checks beyond its types; raise
    :class:`ReplicationError` naming ``where`` and the key. Returns ``card`` itself."""
    version = card.get("schema_version") if isinstance(card, dict) else None
    if isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA_VERSION:
        raise ReplicationError(f"{where}: the model card has schema_version {version}, written by a newer version "
                               f"of the package; this version ({__version__}) reads up to schema_version "
                               f"{SCHEMA_VERSION}. Upgrade the package (pip install -U replication) or rebuild the "
                               "card with this version")
    if not isinstance(card, dict):
        raise ReplicationError(f"{where}: invalid model card: (top level): a model card is a JSON object")
    if card.get("kind") != CARD_KIND:
        raise ReplicationError(f"{where}: invalid model card: kind: not a model card of this package (kind "
                               f"{card.get('kind')!r}, expected '{CARD_KIND}')")
    try:
        problems = _cross_checks(ModelCard.model_validate(card))
    except ValidationError as exc:
        problems = [_pydantic_problem(exc)]
    if problems:
        loc, msg = problems[0]
        raise ReplicationError(f"{where}: invalid model card: {_dotted(loc)}: {msg}")
    if study_id is not None and card["study"]["id"] != study_id:
        raise ReplicationError(f"{where}: this model card is for study '{card['study']['id']}' "
                               f"({card['study']['title']}), not '{study_id}'; use the card written by "
                               f"that study's run")
    return card


def card_json(card) -> str:
    """The card as JSON text: floats written exactly (repr), keys in their order."""
    return json.dumps(card, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def save_model_card(card, path) -> Path:
    """Validate ``card`` and write it as JSON, atomically; return the path."""
    path = Path(path)
    validate_model_card(card, path)
    if path.is_dir():
        raise ReplicationError(f"{path}: is a folder; give a file name for the model card (model_card.json)")
    try:
        return files.atomic_write_text(path, card_json(card))
    except PermissionError:
        raise ReplicationError(f"{path}: permission denied; cannot write the model card in {path.parent}") from None
    except (NotADirectoryError, FileExistsError):
        raise ReplicationError(f"{path}: the folder {path.parent} is not a folder") from None
    except OSError as exc:
        raise ReplicationError(f"{path}: cannot write the model card ({exc.strerror or exc})") from None


def load_model_card(path, study_id: str | None = None) -> dict:
    """Read and validate a model card.

    Raises
    ------
    ReplicationError
        Not found, a folder, too large, not UTF-8, corrupt JSON (with the line and column),
        a card of a newer schema version, of another study than ``study_id``, or a card
        whose structure is wrong (naming the key).
    """
    path = Path(path)
    if not path.exists():
        raise ReplicationError(f"{path}: model card not found")
    if path.is_dir():
        raise ReplicationError(f"{path}: is a folder, not a model card file")
    check_fits_in_memory(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ReplicationError(f"{path}: not UTF-8 text ({exc.reason}); a model card is JSON written by "
                               "`replication run`") from None
    except PermissionError:
        raise ReplicationError(f"{path}: permission denied (cannot read the model card)") from None
    if not text.strip():
        raise ReplicationError(f"{path}: the file is empty")

    def no_constants(name):
        raise ValueError(f"{name} is not allowed in a model card")

    try:
        card = json.loads(text, parse_constant=no_constants)
    except json.JSONDecodeError as exc:
        raise ReplicationError(f"{path}, line {exc.lineno}, column {exc.colno}: corrupt JSON: {exc.msg} "
                               "(the model card is damaged or was edited by hand; rebuild it with "
                               "`replication run`)") from None
    except ValueError as exc:
        raise ReplicationError(f"{path}: corrupt JSON: {exc}") from None
    return validate_model_card(card, path, study_id)
