"""Control scenarios: can each claim fail when the structure it describes is absent?

A scenario is a YAML file that names a base study and overrides only what the *generator*
uses: the separation, the sample composition, segments removed, added or re-profiled,
shares, true slopes, dimensions driven linearly by the predictors, shuffled dimensions. The
analysis always uses the unmodified base study, as a researcher would who believes the
paper. Each scenario names the claims it contradicts; :func:`run_controls` simulates R
seeded replicates, analyses each with the base study, and reports how often every claim
passes, next to what the scenario expects.

Replicates run in parallel with joblib (``backend="loky"``, or ``"dask"`` on a
dask.distributed cluster; see :mod:`.parallel`); each replicate's seed comes from
``numpy.random.SeedSequence(seed).spawn(R)``, so the results do not depend on the number of
workers or the backend.

Replicates skip the re-segmentation bootstrap (it would multiply the cost by its number
of resamples); every claim is judged as in the main analysis otherwise, with its verdict
word (PASS, FAIL, NOT DIAGNOSTIC, NOT ASSESSABLE); the stability claim is not evaluated in
replicates and is reported as such (so it is no premise there). The analysis is told how
the scenario's sample composition came about (its design: built exactly, or sampled),
never the truth.

An expectation is met when the binomial 95 % interval (Wilson) of the observed rate is on
the right side of its bound: a claim expected to fail must not be shown to PASS in more
than 5 % of samples (the interval's lower end at most 0.05), one expected to pass must not
be shown to PASS in fewer than 95 % (upper end at least 0.95), and likewise for the other
verdicts. So R = 100 replicates judge a rule at 5 % to within their Monte Carlo error.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from ..errors import ReplicationError
from ..study.spec import StudySpec, load_study
from .parallel import dask_client, parallel_backend  # noqa: F401 (dask_client: the name callers import)
from .shares import NOT_ASSESSABLE, NOT_DIAGNOSTIC, PASS
from .uncertainty import spawn_seeds

#: Expected outcomes a scenario can state for a claim, and the verdict whose rate each is about.
EXPECTATIONS = {"pass": PASS, "fail": PASS, "not_assessable": NOT_ASSESSABLE, "not_diagnostic": NOT_DIAGNOSTIC}
#: The bound of an expectation: ``fail`` means PASS in at most 5 %; the others at least 95 %.
BOUND = 0.05


#: Samples per scenario for the comparison of segmentation methods (each compares three
#: methods, with their own choice of k: seconds, not the controls' fraction of a second).
METHOD_SEEDS = 10


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AddedSegment(_Strict):
    id: str
    name: str
    share: float
    profile: dict[str, Any]


class GeneratorOverrides(_Strict):
    n: int | None = None
    separation: float | None = None
    composition: str | None = None
    predictor_error: bool | None = None
    shuffle_dimensions: bool = False
    dimensions_from_predictors: float | None = None
    remove_segments: list[str] = []
    add_segments: list[AddedSegment] = []
    profiles: dict[str, dict[str, Any]] = {}
    shares: dict[str, float] = {}
    coefficients: dict[str, dict[str, float]] | str | None = None
    #: A response style: every Likert answer this many points higher (clipped to the scale).
    response_shift: int = 0
    #: Profiling variables that do not depend on the segment (every segment at the base rate).
    flat_profiling: bool = False


class Scenario(_Strict):
    id: str
    title: str
    description: str
    base: str
    generator: GeneratorOverrides = GeneratorOverrides()
    #: Claim ids (glob patterns such as ``share.*``) this scenario contradicts: they should fail.
    contradicts: list[str] = []
    #: Other expected outcomes, by claim id pattern: ``pass``, ``fail``, ``not_assessable``
    #: or ``not_diagnostic`` (``contradicts`` comes first and means ``fail``; then the first
    #: matching pattern here wins).
    expect: dict[str, Literal["pass", "fail", "not_assessable", "not_diagnostic"]] = {}
    #: Whether this is the study's default (every claim should pass).
    default: bool = False
    #: Whether the generated data hold segments at all (False: no segment structure).
    segments: bool = True


def scenario_folder() -> Path:
    return Path(str(resources.files("replication") / "studies" / "scenarios"))


def shipped_scenarios(study_id: str) -> list[Path]:
    """The scenario files shipped for a study (``studies/scenarios/<study>/*.yaml``), sorted."""
    folder = scenario_folder() / study_id
    return sorted(folder.glob("*.yaml")) if folder.is_dir() else []


def load_scenario(path: str | Path) -> Scenario:
    path = Path(path)
    try:
        from ..study.spec import UniqueKeyLoader
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=UniqueKeyLoader)  # noqa: S506 (a SafeLoader)
    except FileNotFoundError:
        raise ReplicationError(f"{path}: scenario file not found") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}, line {mark.line + 1}" if mark else str(path)
        raise ReplicationError(f"{where}: malformed YAML: {getattr(exc, 'problem', exc)}") from None
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ReplicationError(f"{path}: {'.'.join(map(str, err['loc']))}: {err['msg']}") from None


def generating_spec(base: StudySpec, scenario: Scenario) -> StudySpec:
    """The base specification with the scenario's generator overrides applied.

    Only what the generator reads changes (segments, their shares and profiles, the true
    slopes); claims are dropped because the generator does not read them.
    """
    g = scenario.generator
    d = base.model_dump()
    known = set(base.segment_ids)
    for sid in [*g.remove_segments, *g.profiles, *g.shares]:
        if sid not in known:
            raise ReplicationError(f"scenario '{scenario.id}': unknown segment '{sid}' of study '{base.id}'")
    segs = [s for s in d["segments"] if s["id"] not in g.remove_segments]
    for s in segs:
        if s["id"] in g.profiles:
            s["profile"] = {"value": {**s["profile"]["value"], **g.profiles[s["id"]]}, "assumed": "scenario"}
        if s["id"] in g.shares:
            s["share"] = {"value": g.shares[s["id"]], "assumed": "scenario"}
    for a in g.add_segments:
        segs.append({"id": a.id, "name": {"value": a.name, "assumed": "scenario"},
                     "share": {"value": a.share, "assumed": "scenario"},
                     "profile": {"value": a.profile, "assumed": "scenario"}})
    total = sum(s["share"]["value"] for s in segs)
    for s in segs:   # renormalise to 100 so the generator's apportionment is well defined
        s["share"] = {"value": 100 * s["share"]["value"] / total, "assumed": "scenario"}
    d["segments"] = segs
    d["n_segments"] = {"value": len(segs), "assumed": "scenario"}
    d["claims"] = []
    ids = {s["id"] for s in segs}
    for p in d.get("profiling", []):
        if p.get("segment_rates"):
            p["segment_rates"]["value"] = {k: v for k, v in p["segment_rates"]["value"].items()
                                           if k in ids and not g.flat_profiling}
    if d.get("membership"):
        if d["membership"]["reference"]["value"] not in ids:
            d["membership"]["reference"]["value"] = max(segs, key=lambda s: s["share"]["value"])["id"]
        sim = d["simulation"]
        if g.coefficients == "zero":
            sim["coefficients"] = None
        elif isinstance(g.coefficients, dict):
            sim["coefficients"] = {"value": g.coefficients, "assumed": "scenario"}
        if sim.get("coefficients"):
            ref = d["membership"]["reference"]["value"]
            sim["coefficients"]["value"] = {k: v for k, v in sim["coefficients"]["value"].items()
                                            if k in ids and k != ref}
    try:
        return StudySpec.model_validate(d)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ReplicationError(f"scenario '{scenario.id}': {'.'.join(map(str, err['loc']))}: {err['msg']}") from None


def scenario_sample(base: StudySpec, gen: StudySpec, scenario: Scenario, seed: int):
    """One synthetic sample of a scenario (``gen`` is :func:`generating_spec` of it)."""
    from ..study.simulate import simulate_survey

    g = scenario.generator
    return simulate_survey(gen, n=g.n or base.n.value, separation=g.separation, random_state=seed,
                           composition=g.composition, predictor_error=g.predictor_error,
                           shuffle_dimensions=g.shuffle_dimensions,
                           dimensions_from_predictors=g.dimensions_from_predictors,
                           response_shift=g.response_shift)


def scenario_composition(base: StudySpec, scenario: Scenario) -> str:
    """How a scenario's samples get their composition (its design, which the analysis is
    told, as a researcher knows how a sample was drawn): ``exact`` or ``sampled``."""
    from .shares import composition_of

    if scenario.generator.composition is not None:
        return "exact" if scenario.generator.composition == "exact" else "sampled"
    return composition_of(base)


def _replicate(base: StudySpec, gen: StudySpec, scenario: Scenario, seed: int) -> dict:
    """One replicate: simulate from the scenario, analyse with the base study."""
    from sklearn.metrics import adjusted_rand_score
    from threadpoolctl import threadpool_limits

    from ..analysis import analyse

    with threadpool_limits(limits=1):
        sample = scenario_sample(base, gen, scenario, seed)
        try:
            result = analyse(base, sample.survey, crosscheck=False, stability=False,
                             composition=scenario_composition(base, scenario))
        except ReplicationError as exc:          # e.g. a survey the analysis cannot segment
            return {"seed": seed, "error": str(exc)}
    truth = sample.true_segments.reindex(result.assignments["respondent_id"]).to_numpy()
    out = {"seed": seed, "ari_truth": adjusted_rand_score(truth, result.assignments["cluster"])}
    out.update({f"claim:{c}": v for c, v in zip(result.scorecard["claim"], result.scorecard["verdict"])})
    return out


def _methods_replicate(base: StudySpec, gen: StudySpec, scenario: Scenario, seed: int) -> list[dict]:
    """Every segmentation method on one sample of a scenario (the method comparison)."""
    from threadpoolctl import threadpool_limits

    from .comparison import method_comparison

    with threadpool_limits(limits=1):
        sample = scenario_sample(base, gen, scenario, seed)
        try:
            table = method_comparison(base, sample.survey, truth=sample.truth)
        except ReplicationError as exc:
            return [{"scenario": scenario.id, "seed": seed, "error": str(exc)}]
    return [{"scenario": scenario.id, "seed": seed, "method": r.method, "k_chosen": int(r.k_chosen),
             "all_matched": bool(r.all_matched), "ari_vs_paper_at_reported_k": r.ari_vs_paper_at_reported_k,
             "ari_vs_truth_at_reported_k": r.ari_vs_truth_at_reported_k} for r in table.itertuples()]


def methods_over_scenarios(base: StudySpec, scenarios: list[Scenario], n_seeds: int = 5, seed: int = 0,
                           n_jobs: int = 2, backend: str = "loky", progress: bool = True,
                           scheduler: str | None = None) -> pd.DataFrame:
    """The comparison of segmentation methods over the control scenarios: per scenario and
    method, how often it chooses the reported k, the k it chooses most, whether every
    cluster fits a reported profile, and its mean agreement (at the reported k, like
    ``all_clusters_named``) with the truth and with the paper's method (``n_seeds`` samples per scenario, seeds spawned as for the controls;
    ``backend``, ``n_jobs`` and ``scheduler`` as for :func:`.parallel.parallel_backend`)."""
    from joblib import Parallel, delayed
    from tqdm import tqdm

    jobs = [delayed(_methods_replicate)(base, generating_spec(base, sc), sc, s)
            for sc in scenarios for s in spawn_seeds(seed, n_seeds)]
    # Parallel(return_as="generator") yields in submission order: rows in scenario, seed order.
    with parallel_backend(backend, n_jobs, scheduler):
        parts = list(tqdm(Parallel(return_as="generator")(jobs), total=len(jobs), desc="methods over scenarios",
                          disable=None if progress else True, leave=False))
    rows = pd.DataFrame([r for part in parts for r in part])
    ok = rows[rows["method"].notna()] if "method" in rows else rows.iloc[0:0]
    k = base.n_segments.value
    out = []
    for (sc, method), g in ok.groupby(["scenario", "method"], sort=False):
        out.append({"scenario": sc, "method": method, "samples": len(g),
                    "chooses_reported_k": float((g["k_chosen"] == k).mean()),
                    "k_chosen_most": int(g["k_chosen"].mode().min()),
                    "all_clusters_named": float(g["all_matched"].mean()),
                    "mean_ari_vs_truth": float(g["ari_vs_truth_at_reported_k"].mean()),
                    "mean_ari_vs_paper": float(g["ari_vs_paper_at_reported_k"].mean())})
    return pd.DataFrame(out)


def replicate_table(base: StudySpec, scenario: Scenario, n_seeds: int, seed: int = 0, n_jobs: int = 2,
                    backend: str = "loky", progress: bool = True, scheduler: str | None = None) -> pd.DataFrame:
    """One row per replicate: seed, ARI against the truth, pass/fail of every claim.

    ``backend``: ``"loky"`` (processes on this machine), ``"sequential"`` or ``"dask"`` (a
    dask.distributed cluster: the one at ``scheduler``, else the active client if there is
    one, else a local cluster on 127.0.0.1); see :func:`.parallel.parallel_backend`.
    """
    from joblib import Parallel, delayed
    from tqdm import tqdm

    gen = generating_spec(base, scenario)
    seeds = spawn_seeds(seed, n_seeds)
    jobs = (delayed(_replicate)(base, gen, scenario, s) for s in seeds)
    with parallel_backend(backend, n_jobs, scheduler):
        results = Parallel(return_as="generator")(jobs)
        rows = list(tqdm(results, total=n_seeds, desc=f"controls: {scenario.id}",
                         disable=None if progress else True, leave=False))
    # Rows in seed order whatever the backend delivered first.
    return pd.DataFrame(rows).set_index("seed").loc[seeds].reset_index()


def expectation(claim_id: str, scenario: Scenario) -> str:
    """What a scenario expects of a claim: ``pass``, ``fail``, ``not_assessable``,
    ``not_diagnostic`` or ``-`` (nothing stated)."""
    if any(fnmatch.fnmatchcase(claim_id, pat) for pat in scenario.contradicts):
        return "fail"
    for pattern, outcome in scenario.expect.items():
        if fnmatch.fnmatchcase(claim_id, pattern):
            return outcome
    return "pass" if scenario.default else "-"


def rate_interval(hits: int, n: int) -> tuple[float, float]:
    """Wilson 95 % interval of a rate observed in ``hits`` of ``n`` replicates."""
    from statsmodels.stats.proportion import proportion_confint
    lo, hi = proportion_confint(hits, n, alpha=0.05, method="wilson") if n else (np.nan, np.nan)
    return float(lo), float(hi)


def meets(expected: str, hits: int, n: int) -> bool | None:
    """Whether an observed rate meets an expectation within Monte Carlo error (see the
    module docstring); None where nothing is expected."""
    if expected not in EXPECTATIONS or not n:
        return None
    lo, hi = rate_interval(hits, n)
    return bool(lo <= BOUND) if expected == "fail" else bool(hi >= 1 - BOUND)


def _verdicts(replicates: pd.DataFrame, claim_id: str) -> pd.Series:
    col = f"claim:{claim_id}"
    return replicates[col].fillna("error") if col in replicates else pd.Series(dtype=object)


def summarise(base: StudySpec, scenario: Scenario, replicates: pd.DataFrame) -> pd.DataFrame:
    """Verdict rates of every claim in a scenario, with what the scenario expects.

    Columns: ``scenario, claim, expected, pass_rate, pass_low, pass_high`` (Wilson 95 %
    interval), ``not_diagnostic_rate, not_assessable_rate, meets_expectation, replicates``.
    """
    rows = []
    n = len(replicates)
    for claim in base.claims:
        v = _verdicts(replicates, claim.id)
        expected = expectation(claim.id, scenario)
        if claim.kind == "stability":
            rows.append({"scenario": scenario.id, "claim": claim.id, "expected": "not evaluated in replicates",
                         "pass_rate": np.nan, "pass_low": np.nan, "pass_high": np.nan, "not_diagnostic_rate": np.nan,
                         "not_assessable_rate": np.nan, "meets_expectation": None, "replicates": n})
            continue
        hits = {w: int((v == w).sum()) for w in (PASS, NOT_DIAGNOSTIC, NOT_ASSESSABLE)}
        lo, hi = rate_interval(hits[PASS], n)
        rows.append({"scenario": scenario.id, "claim": claim.id, "expected": expected,
                     "pass_rate": hits[PASS] / n if n else np.nan, "pass_low": lo, "pass_high": hi,
                     "not_diagnostic_rate": hits[NOT_DIAGNOSTIC] / n if n else np.nan,
                     "not_assessable_rate": hits[NOT_ASSESSABLE] / n if n else np.nan,
                     "meets_expectation": meets(expected, hits.get(EXPECTATIONS.get(expected, PASS), 0), n),
                     "replicates": n})
    judged = _judged_claims(base, replicates)
    rows.append({"scenario": scenario.id, "claim": "(all diagnostic claims)",
                 "expected": "pass" if scenario.default else "-",
                 "pass_rate": all_diagnostic_pass(replicates, judged), "meets_expectation": None, "replicates": n})
    rows.append({"scenario": scenario.id, "claim": "(median ARI vs truth)", "expected": "-",
                 "pass_rate": float(replicates["ari_truth"].median()) if "ari_truth" in replicates else np.nan,
                 "meets_expectation": None, "replicates": n})
    out = pd.DataFrame(rows)
    out["errors"] = int(replicates["error"].notna().sum()) if "error" in replicates else 0
    return out


def _judged_claims(base: StudySpec, replicates: pd.DataFrame) -> list[str]:
    return [f"claim:{c.id}" for c in base.claims if f"claim:{c.id}" in replicates]


def all_diagnostic_pass(replicates: pd.DataFrame, columns: list[str]) -> float:
    """Share of replicates in which every claim that is diagnostic in that replicate (its
    verdict is not NOT DIAGNOSTIC) passes."""
    if not columns or not len(replicates):
        return np.nan
    v = replicates[columns].fillna("error")
    return float(((v == PASS) | (v == NOT_DIAGNOSTIC)).all(axis=1).mean())


def run_controls(base: StudySpec, scenarios: list[Scenario], n_seeds: int = 100, seed: int = 0,
                 n_jobs: int = 2, backend: str = "loky", progress: bool = True,
                 scheduler: str | None = None) -> pd.DataFrame:
    """Every scenario's claim pass rates, stacked (see :func:`summarise`)."""
    for sc in scenarios:
        if sc.base not in (base.id, str(base.path)):
            raise ReplicationError(f"scenario '{sc.id}' is for study '{sc.base}', not '{base.id}'")
    frames = []
    with parallel_backend(backend, n_jobs, scheduler):      # one cluster for every scenario
        for sc in scenarios:
            frames.append(summarise(base, sc, replicate_table(base, sc, n_seeds, seed, n_jobs, backend, progress)))
    out = pd.concat(frames, ignore_index=True)
    out["segments_in_data"] = out["scenario"].map({sc.id: sc.segments for sc in scenarios})
    return out


def diagnostic_table(controls: pd.DataFrame, scenarios: list[Scenario] | None = None) -> pd.DataFrame:
    """Claims x scenarios PASS rates, with what shows that each claim can fail.

    ``fails_when_contradicted``: in every scenario that contradicts the claim, its PASS
    rate's Wilson 95 % interval reaches down to 5 % or below (``untested`` if no scenario
    contradicts it). ``false_pass``: the highest PASS rate among those scenarios, with its
    interval. ``diagnostic_of_segments``: likewise in every scenario whose data hold no
    segments at all (``segments: false``). ``shown_to_fail_by``: the scenarios in which the
    claim was shown to fail (the page names them beside the verdict).
    """
    claims = controls[~controls["claim"].str.startswith("(")]
    order = list(dict.fromkeys(claims["claim"]))
    wide = claims.pivot(index="claim", columns="scenario", values="pass_rate").reindex(order)
    expected = claims.pivot(index="claim", columns="scenario", values="expected").reindex(order)
    low = claims.pivot(index="claim", columns="scenario", values="pass_low").reindex(order)
    high = claims.pivot(index="claim", columns="scenario", values="pass_high").reindex(order)
    no_segments = [sc.id for sc in (scenarios or []) if not sc.segments and sc.id in wide.columns]
    fails, diag, false_pass, shown = [], [], [], []
    for claim in order:
        contra = [s for s in wide.columns if expected.loc[claim, s] == "fail" and not pd.isna(wide.loc[claim, s])]
        fails.append("untested" if not contra else "yes" if all(low.loc[claim, s] <= BOUND for s in contra) else "no")
        if contra:
            worst = max(contra, key=lambda s: wide.loc[claim, s])
            false_pass.append(f"{wide.loc[claim, worst]:.2f} ({low.loc[claim, worst]:.2f}-{high.loc[claim, worst]:.2f}, "
                              f"{worst})")
        else:
            false_pass.append("")
        shown.append(", ".join(s for s in contra if low.loc[claim, s] <= BOUND))
        null = [s for s in no_segments if not pd.isna(wide.loc[claim, s])]
        diag.append("untested" if not null else "yes" if all(low.loc[claim, s] <= BOUND for s in null) else "no")
    wide.insert(0, "shown_to_fail_by", shown)
    wide.insert(0, "false_pass", false_pass)
    wide.insert(0, "diagnostic_of_segments", diag)
    wide.insert(0, "fails_when_contradicted", fails)
    return wide.reset_index()


@dataclass
class CurvePoint:
    separation: float
    replicates: pd.DataFrame


def replicability_curve(base: StudySpec, separations, n_seeds: int = 200, seed: int = 0, n_jobs: int = 2,
                        backend: str = "loky", progress: bool = True, scheduler: str | None = None) -> pd.DataFrame:
    """Monte Carlo over the separation, with sampled (multinomial) composition: the
    probability that each claim passes (and that it reads NOT DIAGNOSTIC: ``<claim>:not_diagnostic``),
    that every claim diagnostic in the sample passes (``all_claims``), and the median ARI
    against the truth."""
    rows = []
    scenarios = [Scenario(id=f"separation_{sep:g}", title=f"separation {sep:g}", description="replicability curve",
                          base=base.id, generator=GeneratorOverrides(separation=float(sep), composition="multinomial"))
                 for sep in separations]
    with parallel_backend(backend, n_jobs, scheduler):      # one cluster for every separation
        reps_by_sep = [replicate_table(base, sc, n_seeds, seed, n_jobs, backend, progress) for sc in scenarios]
    for sep, reps in zip(separations, reps_by_sep):
        claim_cols = _judged_claims(base, reps)
        row = {"separation": float(sep), "replicates": len(reps),
               "all_claims": all_diagnostic_pass(reps, claim_cols),
               "median_ari": float(reps["ari_truth"].median())}
        row.update({c.removeprefix("claim:"): float((reps[c] == PASS).mean()) for c in claim_cols})
        row.update({f"{c.removeprefix('claim:')}:not_diagnostic": float((reps[c] == NOT_DIAGNOSTIC).mean())
                    for c in claim_cols})
        rows.append(row)
    return pd.DataFrame(rows)


def replicable_above(curve: pd.DataFrame, probability: float = 0.8, column: str = "all_claims") -> float | None:
    """The smallest separation from which ``column`` (default: all claims together) passes
    with at least ``probability`` at that and at every larger separation simulated."""
    c = curve.sort_values("separation")
    ok = (c[column] >= probability).to_numpy()[::-1]
    run = int(np.argmin(ok)) if not ok.all() else len(ok)     # trailing separations that pass
    return float(c["separation"].iloc[len(c) - run]) if run else None


def claim_columns(curve: pd.DataFrame) -> list[str]:
    return [c for c in curve.columns if c not in ("separation", "replicates", "all_claims", "median_ari")
            and not c.endswith(":not_diagnostic")]


def replicability_statement(curve: pd.DataFrame, base: StudySpec, probability: float = 0.8) -> str:
    """What the replicability curve says, in a few sentences (the page, the log, the README).

    With sampled composition a share claim is judged with its power: at an N where a share
    difference of its margin cannot be detected it reads NOT DIAGNOSTIC instead of passing or
    failing by chance, so "all claims" means all claims that are diagnostic in the sample.
    """
    each = {c: replicable_above(curve, probability, c) for c in claim_columns(curve)}
    joint = replicable_above(curve, probability)
    top = curve.sort_values("separation").iloc[-1]
    default = base.simulation.separation.value if base.simulation else None
    out = []
    # Not diagnostic at this N: where the structure is clearest (the largest separation
    # simulated) the claim still reads NOT DIAGNOSTIC, so only power keeps it from a verdict.
    never_diag = [c for c in claim_columns(curve) if f"{c}:not_diagnostic" in curve and top[f"{c}:not_diagnostic"] >= 0.95]
    judged = {c: v for c, v in each.items() if c not in never_diag}
    if judged and all(v is not None for v in judged.values()):
        worst = max(judged, key=judged.get)
        out.append(f"Each diagnostic claim alone passes with probability >= {probability:g} from separation "
                   f"{max(judged.values()):g} (the last to get there: {worst}).")
    elif judged:
        never = [c for c, v in judged.items() if v is None]
        out.append(f"{len(never)} claim(s) never pass with probability >= {probability:g} at the separations "
                   f"simulated: {', '.join(never)}.")
    if joint is not None:
        out.append(f"All diagnostic claims pass together with probability >= {probability:g} from separation {joint:g}.")
    else:
        out.append(f"All diagnostic claims never pass together with probability >= {probability:g} at the separations "
                   f"simulated (at separation {top['separation']:g}: {top['all_claims']:.2f}).")
    if default is not None and (curve["separation"] == default).any():
        at = curve.loc[curve["separation"] == default, "all_claims"].iloc[0]
        out.append(f"At the default separation {default:g} they pass together in {at:.0%} of samples.")
    if never_diag:
        out.append(f"With sampled composition at N = {base.n.value:,}, {len(never_diag)} claim(s) read NOT DIAGNOSTIC in at least "
                   f"95 % of samples even at separation {top['separation']:g} ({', '.join(never_diag)}): at this N a "
                   "share difference as large as the claim's margin cannot be detected with 80 % power, so they are "
                   "not counted either way.")
    return " ".join(out)
