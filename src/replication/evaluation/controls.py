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
of resamples); every claim is judged as in the main analysis otherwise (share claims by
the sampling interval, profile claims by the absolute rule, the stability claim is not
evaluated in replicates and is reported as such).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from ..errors import ReplicationError
from ..study.spec import StudySpec, load_study
from .parallel import dask_client, parallel_backend  # noqa: F401 (dask_client: the name callers import)
from .uncertainty import spawn_seeds


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


class Scenario(_Strict):
    id: str
    title: str
    description: str
    base: str
    generator: GeneratorOverrides = GeneratorOverrides()
    #: Claim ids (glob patterns such as ``share.*``) this scenario contradicts: they should fail.
    contradicts: list[str] = []
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
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
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
        p["segment_rates"]["value"] = {k: v for k, v in p["segment_rates"]["value"].items() if k in ids}
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
                           dimensions_from_predictors=g.dimensions_from_predictors)


def _replicate(base: StudySpec, gen: StudySpec, scenario: Scenario, seed: int) -> dict:
    """One replicate: simulate from the scenario, analyse with the base study."""
    from sklearn.metrics import adjusted_rand_score
    from threadpoolctl import threadpool_limits

    from ..analysis import analyse

    with threadpool_limits(limits=1):
        sample = scenario_sample(base, gen, scenario, seed)
        try:
            result = analyse(base, sample.survey, crosscheck=False, stability=False)
        except ReplicationError as exc:          # e.g. a survey the analysis cannot segment
            return {"seed": seed, "error": str(exc)}
    truth = sample.true_segments.reindex(result.assignments["respondent_id"]).to_numpy()
    out = {"seed": seed, "ari_truth": adjusted_rand_score(truth, result.assignments["cluster"])}
    out.update({f"claim:{c}": bool(p) for c, p in zip(result.scorecard["claim"], result.scorecard["passed"])})
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


def _contradicted(claim_id: str, scenario: Scenario) -> bool:
    return any(fnmatch.fnmatchcase(claim_id, pat) for pat in scenario.contradicts)


def summarise(base: StudySpec, scenario: Scenario, replicates: pd.DataFrame) -> pd.DataFrame:
    """Pass rate of every claim in a scenario, with what the scenario expects."""
    rows = []
    n = len(replicates)
    for claim in base.claims:
        col = f"claim:{claim.id}"
        rate = float(replicates[col].fillna(False).mean()) if col in replicates else np.nan
        contradicted = _contradicted(claim.id, scenario)
        expected = "fail" if contradicted else ("pass" if scenario.default else "-")
        if claim.kind == "stability":
            rate, expected = np.nan, "not evaluated in replicates"
        meets = (rate <= 0.05 if expected == "fail" else rate >= 0.95 if expected == "pass" else None) \
            if not np.isnan(rate) else None
        rows.append({"scenario": scenario.id, "claim": claim.id, "expected": expected, "pass_rate": rate,
                     "meets_expectation": meets, "replicates": n})
    rows.append({"scenario": scenario.id, "claim": "(all claims)", "expected": "pass" if scenario.default else "-",
                 "pass_rate": float(replicates[[c for c in replicates if c.startswith("claim:")
                                                and not c.endswith(":stability")]].fillna(False).all(axis=1).mean()),
                 "meets_expectation": None, "replicates": n})
    rows.append({"scenario": scenario.id, "claim": "(median ARI vs truth)", "expected": "-",
                 "pass_rate": float(replicates["ari_truth"].median()) if "ari_truth" in replicates else np.nan,
                 "meets_expectation": None, "replicates": n})
    out = pd.DataFrame(rows)
    out["errors"] = int(replicates["error"].notna().sum()) if "error" in replicates else 0
    return out


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
    """Claims x scenarios pass rates, with two verdicts per claim.

    ``fails_when_contradicted``: the claim passes in at most 5 % of the replicates of every
    scenario that contradicts it (``untested`` if none does). ``diagnostic_of_segments``:
    it also passes in at most 5 % of the replicates of every scenario whose data hold no
    segments at all (``segments: false``): a claim that passes there does not test the
    segment structure, whatever else it tests.
    """
    claims = controls[~controls["claim"].str.startswith("(")]
    order = list(dict.fromkeys(claims["claim"]))
    wide = claims.pivot(index="claim", columns="scenario", values="pass_rate").reindex(order)
    expected = claims.pivot(index="claim", columns="scenario", values="expected").reindex(order)
    no_segments = [sc.id for sc in (scenarios or []) if not sc.segments and sc.id in wide.columns]
    fails, diag = [], []
    for claim in order:
        rates = [wide.loc[claim, s] for s in wide.columns if expected.loc[claim, s] == "fail"]
        fails.append("untested" if not rates else "yes" if all(r <= 0.05 for r in rates) else "no")
        null = [wide.loc[claim, s] for s in no_segments]
        null = [r for r in null if not pd.isna(r)]
        diag.append("untested" if not null else "yes" if all(r <= 0.05 for r in null) else "no")
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
    probability that each claim, and all claims, pass; the median ARI against the truth."""
    rows = []
    scenarios = [Scenario(id=f"separation_{sep:g}", title=f"separation {sep:g}", description="replicability curve",
                          base=base.id, generator=GeneratorOverrides(separation=float(sep), composition="multinomial"))
                 for sep in separations]
    with parallel_backend(backend, n_jobs, scheduler):      # one cluster for every separation
        reps_by_sep = [replicate_table(base, sc, n_seeds, seed, n_jobs, backend, progress) for sc in scenarios]
    for sep, reps in zip(separations, reps_by_sep):
        claim_cols = [c for c in reps if c.startswith("claim:") and not c.endswith(":stability")]
        row = {"separation": float(sep), "replicates": len(reps),
               "all_claims": float(reps[claim_cols].fillna(False).all(axis=1).mean()),
               "median_ari": float(reps["ari_truth"].median())}
        row.update({c.removeprefix("claim:"): float(reps[c].fillna(False).mean()) for c in claim_cols})
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
    return [c for c in curve.columns if c not in ("separation", "replicates", "all_claims", "median_ari")]


def replicability_statement(curve: pd.DataFrame, base: StudySpec, probability: float = 0.8) -> str:
    """What the replicability curve says, in a few sentences (the page, the log, the README).

    With sampled composition each share claim judged by a 95 % interval fails in about 5 %
    of samples even when the segments are recovered perfectly, so with m such claims all
    claims pass together with probability at most about ``0.95 ** m`` (the shares are not
    independent, hence "about"): a ceiling that no separation can lift.
    """
    each = {c: replicable_above(curve, probability, c) for c in claim_columns(curve)}
    joint = replicable_above(curve, probability)
    interval_claims = [c for c in base.claims if c.kind == "segment_share_interval"]
    level = base.uncertainty.level
    ceiling = level ** len(interval_claims)
    top = curve.sort_values("separation").iloc[-1]
    out = []
    if all(v is not None for v in each.values()):
        worst = max(each, key=each.get)
        out.append(f"Each claim alone passes with probability >= {probability:g} from separation "
                   f"{max(each.values()):g} (the last to get there: {worst}).")
    else:
        never = [c for c, v in each.items() if v is None]
        out.append(f"{len(never)} claim(s) never pass with probability >= {probability:g} at the separations "
                   f"simulated: {', '.join(never)}.")
    if joint is not None:
        out.append(f"All claims pass together with probability >= {probability:g} from separation {joint:g}.")
    else:
        out.append(f"All claims never pass together with probability >= {probability:g} at the separations "
                   f"simulated (at separation {top['separation']:g}: {top['all_claims']:.2f}).")
    if interval_claims:
        out.append(f"With sampled composition, each of the {len(interval_claims)} share claims judged by its "
                   f"{100 * level:g} % interval fails in about {100 * (1 - level):g} % of samples even when the "
                   f"segments are recovered perfectly, so all claims can pass together with probability at most "
                   f"about {level:g}^{len(interval_claims)} = {ceiling:.2f}; no separation lifts that ceiling.")
    return " ".join(out)
