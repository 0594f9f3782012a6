"""Study specifications: a study is a YAML file, loaded into typed, validated objects.

Every value in a specification says where it comes from: ``reported`` (and where the
paper reports it) or ``assumed`` (and why we chose it). :func:`load_study` reads a file,
checks its structure with pydantic, then checks what pydantic cannot (shares that sum to
100, ids that refer to things that exist) and reports every problem, one line each, with
the file and line it is on.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, PrivateAttr, ValidationError, field_validator, model_validator

from ..errors import ReplicationError
from .datablock import DataSource, unknown_key_hint
from .predictors import Predictor
from .spec_checks import SHARE_SUM_RANGE, Problem, cross_checks  # noqa: F401 (SHARE_SUM_RANGE re-exported)

T = TypeVar("T")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Provenance(_Strict):
    """Where something comes from: exactly one of ``reported: <where>`` or ``assumed: <why>``."""

    reported: str | None = None
    assumed: str | None = None

    @model_validator(mode="after")
    def _exactly_one_source(self):
        if bool(self.reported) == bool(self.assumed):
            raise ValueError("give exactly one of 'reported: <where>' or 'assumed: <why>'")
        return self

    @property
    def is_reported(self) -> bool:
        return bool(self.reported)

    @property
    def source(self) -> str:
        return self.reported or self.assumed or ""


class Sourced(_Provenance, Generic[T]):
    """A value with its provenance."""

    value: T


#: Shorthand profile levels: High, Low, and Middle (no side claimed).
LEVELS = {"H": 1.0, "L": -1.0, "M": 0.0}
#: A numeric level at or beyond this magnitude counts as High (+) or Low (-) when a
#: profile is written as a pattern; closer to zero it claims no side ("M").
SIDE_THRESHOLD = 0.5

Level = Literal["H", "L", "M"] | float


def level_value(level) -> float:
    """A profile level as a number: ``H`` = +1, ``L`` = -1, ``M`` = 0, numbers as given."""
    return LEVELS[level] if isinstance(level, str) else float(level)


def level_symbol(level) -> str:
    """``H``, ``L`` or ``M`` for a level (numeric levels by :data:`SIDE_THRESHOLD`)."""
    v = level_value(level)
    return "H" if v >= SIDE_THRESHOLD else "L" if v <= -SIDE_THRESHOLD else "M"


class StudyInfo(_Strict):
    """Who reported the study. Only ``id`` and ``title`` are required."""

    id: str
    title: str
    authors: list[str] = []
    year: int | None = None
    journal: str | None = None
    doi: str | None = None
    url: str | None = None
    citation: str | None = None
    #: Who the respondents are, in the report's words ("Russian online shoppers").
    population: str = "respondents"
    #: What the segmentation dimensions are called ("individualization needs").
    dimensions: str = "segmentation dimensions"
    like: str | None = None   # the paper (study id or YAML) whose claims a study tests on its own data

    @field_validator("id")
    @classmethod
    def _id_is_a_folder_name(cls, v):
        # The id names the study's output folders, so it must be a safe folder name.
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", v):
            raise ValueError(f"study id '{v}' must be 1-64 letters, digits, '_', '.' or '-' (it names folders)")
        return v


class Segment(_Strict):
    id: str
    name: Sourced[str]
    share: Sourced[float]
    #: Level per segmentation dimension: ``H``/``L``/``M`` or a number (+1 High, -1 Low).
    profile: Sourced[dict[str, Level]]
    description: Sourced[str] | None = None
    #: A category elsewhere that a source compares the segment with (shown with its source).
    comparable_to: Sourced[str] | None = None
    #: What to offer the segment (e.g. "content personalization"); the typing tool reports it.
    strategy: Sourced[str] | None = None

    @field_validator("share")
    @classmethod
    def _share_in_range(cls, v):
        if not 0 < v.value < 100:
            raise ValueError(f"share {v.value} must lie between 0 and 100 (percent)")
        return v

    @field_validator("profile")
    @classmethod
    def _finite_levels(cls, v):
        for dim, level in v.value.items():
            if not isinstance(level, str) and not (np.isfinite(level) and -1 <= level <= 1):
                raise ValueError(f"profile level {level} of '{dim}' must be H, L, M or a number from -1 to 1")
        return v

    def level(self, dimension: str) -> float:
        return level_value(self.profile.value[dimension])

    def pattern(self, dimensions: list[str]) -> str:
        """``"H/L/M"``: the profile written as sides, in the order of ``dimensions``."""
        return "/".join(level_symbol(self.profile.value[d]) for d in dimensions)


class Construct(_Strict):
    id: str
    role: Literal["clustering", "predictor"]
    label: Sourced[str]
    items: Sourced[list[str]]
    scale_points: Sourced[int]

    @field_validator("items")
    @classmethod
    def _has_items(cls, v):
        if len(v.value) < 2:
            raise ValueError("a construct needs at least two items (reliability needs two)")
        return v

    @field_validator("scale_points")
    @classmethod
    def _likert(cls, v):
        if not 2 <= v.value <= 11:
            raise ValueError(f"scale_points {v.value} is not a Likert scale (2 to 11)")
        return v


class ProfilingVariable(_Strict):
    """A variable described by segment but not used to form them (behaviour, usage).

    ``rate`` and ``segment_rates`` tell the generator how a binary or count variable
    depends on the segment (needed only for a synthetic study); a ``categorical`` variable
    (value labels in ``categories``) comes from a researcher's own data.
    """

    id: str
    label: Sourced[str]
    kind: Literal["binary", "count", "categorical"]
    max: int = 1
    rate: Sourced[float] | None = None
    segment_rates: Sourced[dict[str, float]] | None = None
    categories: dict[int, str] | None = None


class Demographic(_Strict):
    id: str
    label: str
    kind: Literal["integer", "categorical"]
    min: int | None = None
    max: int | None = None
    mean: Sourced[float] | None = None
    sd: Sourced[float] | None = None
    categories: Sourced[dict[int, str]] | None = None
    probabilities: Sourced[list[float]] | None = None

    @model_validator(mode="after")
    def _complete(self):
        if self.kind == "integer":
            missing = [k for k in ("min", "max", "mean", "sd") if getattr(self, k) is None]
        else:
            missing = [k for k in ("categories", "probabilities") if getattr(self, k) is None]
        if missing:
            raise ValueError(f"a {self.kind} demographic needs {', '.join(missing)}")
        if self.kind == "categorical":
            if len(self.categories.value) != len(self.probabilities.value):
                raise ValueError("categories and probabilities differ in length")
            if abs(sum(self.probabilities.value) - 1) > 1e-6:
                raise ValueError("probabilities must sum to 1")
        return self


class Simulation(_Strict):
    """How a synthetic sample is generated (optional: a study on real data has none)."""

    separation: Sourced[float]
    need_loading: Sourced[float]
    need_item_noise: Sourced[float]
    predictor_loading: Sourced[float] | None = None
    predictor_item_noise: Sourced[float] | None = None
    predictor_correlation: Sourced[float] | None = None
    coefficients: Sourced[dict[str, dict[str, float]]] | None = None
    #: ``exact``: the reported composition exactly; ``multinomial``: as a real sample varies.
    composition: Sourced[Literal["exact", "multinomial"]] = Sourced[Literal["exact", "multinomial"]](
        value="exact", assumed="condition on the reported sample composition (the default)")
    #: Whether segments depend on the error-free predictor traits (so scale scores carry error).
    predictor_error: Sourced[bool] = Sourced[bool](
        value=False, assumed="segments depend on the observed scale scores, so the logit's truth is exact (the default)")


class Segmentation(_Strict):
    """The segmentation method, named, with its parameters."""

    method: Sourced[Literal["ward_kmeans", "twostep", "lpa"]]
    description: Sourced[str]
    standardize: Sourced[bool]
    k_min: int = 2
    k_max: int = 10
    gap_references: int = 20
    #: Largest N for Ward's method on every respondent; above it, Ward on micro-clusters.
    exact_limit: int = 5000
    k_rule: str | None = None   # how an exploratory study chose k (stated on its page)

    @model_validator(mode="after")
    def _k_range(self):
        if not 2 <= self.k_min <= self.k_max - 2:
            raise ValueError("k_min must be at least 2 and at least two below k_max (three candidate k)")
        return self


class Uncertainty(_Strict):
    """How replicated numbers get their uncertainty (see :mod:`replication.evaluation.uncertainty`)."""

    #: Bootstrap samples re-segmented from scratch (intervals with the segmentation's own
    #: variability, and stability); 100 is Hennig's recommendation. 0 skips them.
    stability_resamples: int = 100
    #: Random row orders fitted without the canonical sort (order dependence). 0 skips them.
    row_orders: int = 20
    level: float = 0.95
    #: Above the segmentation's exact limit, respondents per bootstrap sample (the
    #: m-out-of-n bootstrap, intervals rescaled) and in the row-order sample.
    panel_resample_size: int = 2000

    @model_validator(mode="after")
    def _ranges(self):
        if self.stability_resamples < 0 or self.row_orders < 0:
            raise ValueError("stability_resamples and row_orders must be >= 0")
        if self.panel_resample_size < 100:
            raise ValueError("panel_resample_size must be >= 100")
        if not 0.5 < self.level < 1:
            raise ValueError("level must lie between 0.5 and 1")
        return self


class Membership(_Strict):
    """The membership model (optional: a study without predictors has none)."""

    model: Sourced[Literal["multinomial_logit"]]
    description: Sourced[str]
    reference: Sourced[str]
    standardize_predictors: Sourced[bool]
    #: Single-column predictors beside the predictor constructs (:mod:`.predictors`).
    predictors: list[Predictor] = []


class Claim(_Provenance):
    """A claim the scorecard checks. ``kind`` selects the evaluator in
    :mod:`replication.evaluation.claims`."""

    id: str
    kind: Literal["n_segments", "segment_share", "segment_profile", "model_lr_test", "predictor_lr_test",
                  "reliability", "stability", "segment_stands_out"]
    statement: str
    segment: str | None = None
    predictor: str | None = None
    #: A profiling variable (``segment_stands_out``), and for a categorical one the level.
    variable: str | None = None
    level: int | None = None
    alpha: float | None = None
    min_agree: int | None = None
    min_alpha: float | None = None
    min_jaccard: float | None = None
    tolerance_source: str | None = None

    @field_validator("kind", mode="before")
    @classmethod
    def _older_share_kinds(cls, v):
        # Earlier versions judged shares three ways; every share claim is now judged by one
        # rule (replication.evaluation.shares), so the older names read as segment_share.
        return "segment_share" if v in ("segment_share_rounds", "segment_share_interval") else v

    @model_validator(mode="after")
    def _complete(self):
        needs = {"segment_share": ["segment"], "stability": ["min_jaccard"],
                 "segment_profile": ["segment"], "n_segments": ["min_agree"],
                 "model_lr_test": ["alpha"], "predictor_lr_test": ["predictor", "alpha"],
                 "segment_stands_out": ["segment", "variable", "alpha"],
                 "reliability": ["min_alpha"]}[self.kind]
        missing = [k for k in needs if getattr(self, k) is None]
        if missing:
            raise ValueError(f"a '{self.kind}' claim needs {', '.join(missing)}")
        return self


class StudySpec(_Strict):
    """A whole study specification (the parsed YAML)."""

    study: StudyInfo
    n: Sourced[int]
    seed: Sourced[int]
    n_segments: Sourced[int]
    segments: list[Segment]
    constructs: list[Construct]
    profiling: list[ProfilingVariable] = []
    demographics: list[Demographic] = []
    segmentation: Segmentation
    uncertainty: Uncertainty = Uncertainty()
    membership: Membership | None = None
    simulation: Simulation | None = None
    #: The survey file of a study on real data (instead of, or beside, ``simulation``).
    data: DataSource | None = None
    claims: list[Claim] = []
    #: The file the specification was read from (None when parsed from text).
    _path: Path | None = PrivateAttr(default=None)

    # -- convenient views ---------------------------------------------------------------
    @property
    def path(self) -> Path | None:
        return self._path

    @property
    def id(self) -> str:
        return self.study.id

    @property
    def segment_ids(self) -> list[str]:
        return [s.id for s in self.segments]

    @property
    def segment_names(self) -> dict[str, str]:
        return {s.id: s.name.value for s in self.segments}

    def segment(self, segment_id: str) -> Segment:
        return next(s for s in self.segments if s.id == segment_id)

    @property
    def clustering_constructs(self) -> list[Construct]:
        return [c for c in self.constructs if c.role == "clustering"]

    @property
    def predictor_constructs(self) -> list[Construct]:
        return [c for c in self.constructs if c.role == "predictor"]

    @property
    def dimension_ids(self) -> list[str]:
        return [c.id for c in self.clustering_constructs]

    @property
    def dimension_labels(self) -> dict[str, str]:
        return {c.id: c.label.value for c in self.constructs}

    @property
    def has_membership_model(self) -> bool:
        return self.membership is not None

    @property
    def is_synthetic(self) -> bool:
        """Whether the analysis runs on generated data (a ``data:`` block means it does not)."""
        return self.simulation is not None and self.data is None

    @property
    def reference_segment(self) -> str:
        """The membership model's reference segment (the largest segment when there is none)."""
        if self.membership is not None:
            return self.membership.reference.value
        return self.segments[int(np.argmax(self.shares))].id

    @property
    def shares(self) -> np.ndarray:
        """Reported shares normalised to sum to 1 (rounded shares may sum to 99-101)."""
        raw = np.array([s.share.value for s in self.segments], dtype=float)
        return raw / raw.sum()

    def profile_matrix(self) -> np.ndarray:
        """Segments x dimensions matrix of numeric profile levels."""
        dims = self.dimension_ids
        return np.array([[s.level(d) for d in dims] for s in self.segments])

    def segment_counts(self, n: int | None = None) -> np.ndarray:
        """Exact segment sizes for a sample of ``n``: largest-remainder apportionment."""
        return largest_remainder(self.shares, self.n.value if n is None else n)


def largest_remainder(shares, n: int) -> np.ndarray:
    """Apportion ``n`` whole units to ``shares`` by the largest-remainder (Hamilton) method.

    Ties in the remainders go to the earlier share, so the result is deterministic.

    >>> largest_remainder([0.10, 0.08, 0.17, 0.22, 0.43], 586).tolist()
    [58, 47, 100, 129, 252]
    """
    quotas = np.asarray(shares, dtype=float) * n
    counts = np.floor(quotas).astype(int)
    remainders = quotas - counts
    order = np.argsort(-remainders, kind="stable")
    counts[order[: n - counts.sum()]] += 1
    return counts


# ---------------------------------------------------------------------------------------
# Loading and validation
# ---------------------------------------------------------------------------------------


def _yaml_line(node, loc) -> int | None:
    """1-based line of the YAML node at path ``loc`` (keys and list indices), if found."""
    line = None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k.value == str(key):
                    line, node = k.start_mark.line + 1, v
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _format(path, root, problems: list[Problem]) -> str:
    lines = []
    for p in problems:
        line = _yaml_line(root, p.loc) if root is not None else None
        where = f"{path}, line {line}" if line else str(path)
        dotted = ".".join(str(x) for x in p.loc) or "(top level)"
        lines.append(f"{where}: {dotted}: {p.message}")
    head = f"{path}: {len(problems)} problem(s) in the study specification:" if len(problems) > 1 else None
    return "\n".join(([head] if head else []) + lines)


def _pydantic_problems(exc: ValidationError) -> list[Problem]:
    problems = []
    for err in exc.errors():
        # Drop pydantic's internal location parts (e.g. the model name of a Sourced[...]).
        loc = tuple(x for x in err["loc"] if not (isinstance(x, str) and "[" in x))
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = f"unknown key '{loc[-1]}'" + (unknown_key_hint(loc[-1]) if loc[:1] == ("data",) and len(loc) == 2 else "")
        elif err["type"] == "missing":
            msg = f"missing key '{loc[-1]}'"
        msg = msg.removeprefix("Value error, ")
        problems.append(Problem(loc, msg))
    return problems


class _DuplicateKey(yaml.YAMLError):
    def __init__(self, key, first, again):
        super().__init__(f"duplicate key '{key}'")
        self.key, self.first, self.again = key, first, again
        # As PyYAML's own errors carry them, for handlers that report any YAMLError.
        self.problem_mark = again
        self.problem = f"duplicate key '{key}' (first given on line {first.line + 1})"


class UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's SafeLoader, refusing a mapping that gives a key twice (PyYAML keeps the
    last silently, so a typo'd copy of a block would replace the first)."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    hash(key)
                except TypeError:
                    continue
                if key in seen:
                    raise _DuplicateKey(key, seen[key], key_node.start_mark)
                seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


def parse_study(text: str, path: str | Path = "<study>") -> StudySpec:
    """Parse and validate a specification from YAML text; raise :class:`ReplicationError`."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.load(text, Loader=UniqueKeyLoader)  # noqa: S506 (a SafeLoader)
    except _DuplicateKey as exc:
        raise ReplicationError(f"{path}, line {exc.again.line + 1}: duplicate key '{exc.key}' (first given on "
                               f"line {exc.first.line + 1}); YAML would keep only the last, so remove or "
                               "rename one") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}, line {mark.line + 1}, column {mark.column + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ReplicationError(f"{where}: malformed YAML: {problem}") from None
    if not isinstance(data, dict):
        raise ReplicationError(f"{path}: empty or not a mapping of keys to values")
    try:
        spec = StudySpec.model_validate(data)
    except ValidationError as exc:
        raise ReplicationError(_format(path, root, _pydantic_problems(exc))) from None
    problems = cross_checks(spec)
    if problems:
        raise ReplicationError(_format(path, root, problems))
    return spec


def study_path(name_or_path: str | Path) -> Path:
    """A shipped study's file by id (``golovacheva2022``), or any path to a YAML file."""
    p = Path(name_or_path)
    if p.suffix in {".yaml", ".yml"}:
        return p
    shipped = resources.files("replication") / "studies" / f"{name_or_path}.yaml"
    return Path(str(shipped))


def shipped_studies() -> list[str]:
    """Ids of the studies shipped in ``replication/studies``, sorted."""
    folder = resources.files("replication") / "studies"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_study(name_or_path: str | Path = "golovacheva2022") -> StudySpec:
    """Load and validate a study specification.

    Parameters
    ----------
    name_or_path : str or Path
        The id of a study shipped in ``replication/studies`` or a path to a YAML file.

    Returns
    -------
    StudySpec
    """
    path = study_path(name_or_path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        known = ", ".join(shipped_studies())
        raise ReplicationError(f"{path}: study specification not found (shipped studies: {known}; "
                               "or give a path to a .yaml file)") from None
    except IsADirectoryError:
        raise ReplicationError(f"{path}: is a folder, not a study specification file") from None
    except UnicodeDecodeError as exc:
        raise ReplicationError(f"{path}: not UTF-8 text ({exc.reason})") from None
    spec = parse_study(text, path)
    spec._path = path.resolve()
    return spec


def provenance_table(spec: StudySpec) -> list[dict[str, Any]]:
    """Every sourced value in the specification as rows ``path, value, status, source``."""
    rows = []

    def walk(obj, path):
        if isinstance(obj, Sourced):
            rows.append({"path": path, "value": obj.value,
                         "status": "reported" if obj.is_reported else "assumed", "source": obj.source})
        elif isinstance(obj, BaseModel):
            for name in type(obj).model_fields:
                walk(getattr(obj, name), f"{path}.{name}" if path else name)
        elif isinstance(obj, list):
            for i, x in enumerate(obj):
                key = getattr(x, "id", i)
                walk(x, f"{path}[{key}]")

    walk(spec, "")
    return rows


def check_distinct_ids(specs) -> None:
    """Refuse a run of several specifications with the same study id (their outputs would
    overwrite each other's)."""
    ids = [s.id for s in specs]
    if len(set(ids)) != len(ids):
        raise ReplicationError(f"two specifications share the study id '{max(ids, key=ids.count)}'")
