"""The checks of a study specification that pydantic's types cannot make: ids that are
unique and refer to things that exist, shares that sum to 100, claims that fit the
study, a data block that fits the constructs. Each problem is a :class:`Problem`, which
:mod:`.spec` reports with its YAML line.
"""

from __future__ import annotations

from dataclasses import dataclass

from .datablock import data_block_problems
from .predictors import membership_predictors, predictor_problems

#: Rounded shares may sum to anything in this range; they are then normalised.
SHARE_SUM_RANGE = (99.0, 101.0)
#: The item ``replication init --like`` writes for a paper's construct it could not map.
UNMAPPED = "UNMAPPED"


@dataclass(frozen=True)
class Problem:
    loc: tuple
    message: str


def cross_checks(spec) -> list[Problem]:
    """Checks across the fields of a :class:`~.spec.StudySpec`, one :class:`Problem` each."""
    problems: list[Problem] = []

    def dupes(ids, where):
        seen = set()
        for i, x in enumerate(ids):
            if x in seen:
                problems.append(Problem((where, i, "id"), f"duplicate id '{x}'"))
            seen.add(x)

    dupes(spec.segment_ids, "segments")
    dupes([c.id for c in spec.constructs], "constructs")
    dupes([p.id for p in spec.profiling], "profiling")
    dupes([d.id for d in spec.demographics], "demographics")
    # One name space for what the tables and the outputs name by id: a construct and a
    # segment of the same id would share columns (and claims could not tell them apart).
    seg_index = {s.id: i for i, s in enumerate(spec.segments)}
    for ci, c in enumerate(spec.constructs):
        if c.id in seg_index:
            problems.append(Problem(("constructs", ci, "id"), f"construct '{c.id}' has the id of segment "
                                    f"'{c.id}' (segments[{seg_index[c.id]}]); give one of them another id"))
    for ci, c in enumerate(spec.constructs):
        if UNMAPPED in c.items.value:   # written by `init --like` where the survey had no construct for it
            problems.append(Problem(("constructs", ci, "items"), f"construct '{c.id}' is not mapped to your survey: "
                                    f"replace {UNMAPPED} by the columns of its items, or delete the construct "
                                    "and the claims about it"))
    items = [(ci, it) for ci, c in enumerate(spec.constructs) for it in c.items.value if it != UNMAPPED]
    seen_items: set[str] = set()
    for ci, it in items:
        if it in seen_items:
            problems.append(Problem(("constructs", ci, "items"), f"item '{it}' appears in more than one construct"))
        seen_items.add(it)

    total = sum(s.share.value for s in spec.segments)
    lo, hi = SHARE_SUM_RANGE
    if not lo <= total <= hi:
        problems.append(Problem(("segments",), f"segment shares sum to {total:g}, not 100 "
                                f"(rounded shares summing to {lo:g}-{hi:g} are accepted)"))
    if spec.n_segments.value != len(spec.segments):
        problems.append(Problem(("n_segments",), f"n_segments is {spec.n_segments.value} but "
                                f"{len(spec.segments)} segments are listed"))
    if spec.n.value < len(spec.segments):
        problems.append(Problem(("n",), f"N = {spec.n.value} is smaller than the number of "
                                f"segments ({len(spec.segments)})"))

    seg = spec.segmentation
    if not seg.k_min <= spec.n_segments.value <= seg.k_max:
        problems.append(Problem(("segmentation",), f"the reported k = {spec.n_segments.value} lies outside "
                                f"the candidate range k_min..k_max = {seg.k_min}..{seg.k_max}"))
    clustering = {c.id for c in spec.clustering_constructs}
    predictors = {c.id for c in spec.predictor_constructs}
    if not clustering:
        problems.append(Problem(("constructs",), "no construct has role 'clustering'"))
    segment_ids = set(spec.segment_ids)
    for si, s in enumerate(spec.segments):
        for cid in s.profile.value:
            if cid not in clustering:
                problems.append(Problem(("segments", si, "profile"), f"segment '{s.id}' profile names "
                                        f"'{cid}', which is not a clustering construct"))
        for cid in sorted(clustering - set(s.profile.value)):
            problems.append(Problem(("segments", si, "profile"), f"segment '{s.id}' profile lacks "
                                    f"clustering construct '{cid}'"))

    ref = spec.membership.reference.value if spec.membership else None
    if spec.membership and ref not in segment_ids:
        problems.append(Problem(("membership", "reference"), f"reference segment '{ref}' "
                                f"is not one of the segments ({', '.join(spec.segment_ids)})"))
    if spec.membership and not predictors and not membership_predictors(spec):
        problems.append(Problem(("membership",), "a membership model needs at least one construct "
                                "with role 'predictor' or an entry in membership.predictors"))
    problems += [Problem(loc, msg) for loc, msg in predictor_problems(spec)]

    for pi, p in enumerate(spec.profiling):
        if p.kind == "categorical" and not p.categories:
            problems.append(Problem(("profiling", pi, "categories"), f"categorical variable '{p.id}' needs "
                                    "'categories' (its value labels)"))
        if spec.simulation is not None and (p.kind == "categorical" or p.rate is None or p.segment_rates is None):
            problems.append(Problem(("profiling", pi), f"the generator simulates '{p.id}' only as a binary or count "
                                    "variable with 'rate' and 'segment_rates'"))
        for sid, rate in (p.segment_rates.value if p.segment_rates else {}).items():
            if sid not in segment_ids:
                problems.append(Problem(("profiling", pi, "segment_rates"), f"unknown segment '{sid}'"))
            if not 0 <= rate <= 1:
                problems.append(Problem(("profiling", pi, "segment_rates"), f"rate {rate} outside 0-1"))

    sim = spec.simulation
    if sim is not None:
        if sim.separation.value < 0:
            problems.append(Problem(("simulation", "separation"), "separation must be >= 0"))
        if predictors:
            for key in ("predictor_loading", "predictor_item_noise", "predictor_correlation"):
                if getattr(sim, key) is None:
                    problems.append(Problem(("simulation",), f"missing key '{key}' (the study has "
                                            "predictor constructs to simulate)"))
        coefs = sim.coefficients.value if sim.coefficients else {}
        if coefs and not spec.membership:
            problems.append(Problem(("simulation", "coefficients"), "true coefficients need a "
                                    "membership model (its reference segment)"))
        for sid, row in coefs.items():
            if sid not in segment_ids:
                problems.append(Problem(("simulation", "coefficients"), f"unknown segment '{sid}'"))
            elif sid == ref:
                problems.append(Problem(("simulation", "coefficients"), f"'{sid}' is the reference segment; "
                                        "its coefficients are zero by definition"))
            for cid in row:
                if cid not in predictors:
                    problems.append(Problem(("simulation", "coefficients", sid), f"'{cid}' is not a predictor construct"))
    predictor_ids = predictors | {p.id for p in membership_predictors(spec)}
    dupes([c.id for c in spec.claims], "claims")
    for ci, claim in enumerate(spec.claims):
        if claim.segment is not None and claim.segment not in segment_ids:
            problems.append(Problem(("claims", ci, "segment"), f"claim '{claim.id}' names unknown segment "
                                    f"'{claim.segment}'"))
        if claim.predictor is not None and claim.predictor not in predictor_ids:
            problems.append(Problem(("claims", ci, "predictor"), f"claim '{claim.id}' names '{claim.predictor}', "
                                    "which is not a predictor construct or membership predictor"))
        if claim.variable is not None:
            var = next((p for p in spec.profiling if p.id == claim.variable), None)
            if var is None:
                problems.append(Problem(("claims", ci, "variable"), f"claim '{claim.id}' names '{claim.variable}', "
                                        "which is not a profiling variable"))
            elif var.kind == "categorical" and claim.level not in (var.categories or {}):
                problems.append(Problem(("claims", ci, "level"), f"claim '{claim.id}' needs 'level': one of the "
                                        f"categories of '{var.id}' ({', '.join(map(str, var.categories or {}))})"))
        if claim.kind in ("model_lr_test", "predictor_lr_test") and not spec.membership:
            problems.append(Problem(("claims", ci, "kind"), f"claim '{claim.id}' tests the membership "
                                    "model, but the study has none"))
    if spec.seed.value < 0:
        problems.append(Problem(("seed",), f"seed {spec.seed.value} must be a non-negative integer"))
    if spec.data is not None:
        problems += [Problem(("data", *loc), msg) for loc, msg in data_block_problems(spec.data, spec)]
    return problems
