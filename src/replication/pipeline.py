"""The pipeline around the in-memory analysis: raw data in, files out.

Data flow one way: study specification -> survey (generated once, never overwritten
silently) -> :func:`~replication.analysis.analyse` (in memory) -> recovery (synthetic data
only; the only reader of the truth) -> outputs, notebooks and pages.

:func:`run_studies` is ``replication run``, one straight path:

1. start the notebooks' Jupyter kernels (they import the scientific stack meanwhile);
2. analyse every study in this process (:func:`prepare_study`), store each analysis for
   the notebooks (:mod:`replication.cache`), and execute the study's notebooks in a
   kernel (:mod:`replication.report.notebooks`, nbclient) while the next study is analysed
   and then, the notebooks not needing them, every study's recovery checks are computed
   (:func:`add_recovery`);
3. only when every analysis and every notebook succeeded, write: each study's tables,
   figures and processed files (:func:`write_study_outputs`), its notebooks, its page and
   manifest (:func:`write_study_pages`), and last the landing page.

So a failed run leaves every existing file as it was. The CLI's step commands run the same
analysis and write a subset of its outputs. This module imports the scientific stack only
when it is used, so that the kernels start first.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from . import files
from .errors import ReplicationError
from .layout import Layout
from .memory import release_memory
from .outcome import StudyOutcome
from .study.spec import StudySpec

if TYPE_CHECKING:
    import pandas as pd

    from .analysis import AnalysisResult

RAW_FILES = ("survey", "codebook", "truth", "generation")


def layout_for(spec: StudySpec, root: str | Path = ".") -> Layout:
    return Layout(Path(root), spec.id)


def generate(spec: StudySpec, layout: Layout, n=None, separation=None, seed=None, force=False) -> list[Path]:
    """Simulate the survey; write ``survey.csv``, ``codebook.csv``, ``truth.json`` and
    ``generation.json``. Existing raw data is never overwritten unless ``force``."""
    from .study.simulate import simulate_survey
    targets = [getattr(layout, name) for name in RAW_FILES]
    files.guard_raw(targets, force)
    sample = simulate_survey(spec, n=n, separation=separation, random_state=seed)
    files.write_csv(layout.codebook, sample.codebook)
    files.write_csv(layout.survey, sample.survey)
    files.write_json(layout.truth, sample.truth)
    settings = {k: sample.truth[k] for k in ("study", "seed", "n", "generator_version")}
    settings["separation"] = sample.truth["parameters"]["separation"]
    files.write_json(layout.generation, settings)
    return targets


def read_generation(layout: Layout) -> dict:
    """The settings that generated the raw data (empty if unknown)."""
    try:
        return json.loads(layout.generation.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def load_survey(layout: Layout) -> pd.DataFrame:
    """The raw survey, validated against its codebook."""
    from .study.loader import read_survey
    return read_survey(layout.survey, layout.codebook)


def read_truth(layout: Layout) -> dict:
    """The generating truth. Call this only from recovery checks."""
    try:
        return json.loads(layout.truth.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReplicationError(f"{layout.truth}: no generating truth (was the survey generated here?)") from None
    except json.JSONDecodeError as exc:
        raise ReplicationError(f"{layout.truth}, line {exc.lineno}: malformed JSON: {exc.msg}") from None


@dataclass
class StudyRun:
    """One study's pass through the pipeline: the analysis, its recovery, and where it lives."""

    spec: StudySpec
    layout: Layout
    result: AnalysisResult
    recovery: dict | None
    generation: dict
    user: object = None          # UserSurvey of a study on real data
    card: dict | None = None     # its model card (the typing tool)
    timings: dict = field(default_factory=dict)   # seconds per stage, for the run log

    def outcome(self) -> StudyOutcome:
        from .evaluation.claims import verdict_counts
        card = self.result.scorecard
        words = ", ".join(f"{n} {v}" for v, n in verdict_counts(card).items() if n)
        return StudyOutcome(self.spec.id, self.result.n, int(card["passed"].sum()) if len(card) else 0,
                            len(card), str(self.layout.page), words)


def load_user_data(spec: StudySpec):
    """A study's own survey (its ``data:`` block), read, mapped, reverse-coded, cleaned."""
    from .study.sources import read_user_survey
    user = read_user_survey(spec.data, spec, spec.path.parent if spec.path else Path("."))
    release_memory()            # the file's parsed text columns
    return user


def write_user_outputs(run: StudyRun) -> list[Path]:
    """A real-data study's assignments (CSV and .sav with value labels) and model card."""
    from .membership.model_card import save_model_card, write_assignments
    from .segmentation.carried import carried_columns
    if run.user is None:
        return []
    p = run.layout.processed
    written = list(write_assignments(run.result, p / "assignments.csv", p / "assignments.sav", labels=run.user,
                                     carry=carried_columns(run.spec, run.result.survey)) or [])
    written.append(save_model_card(run.card, p / "model_card.json"))
    return written


def ensure_raw(spec: StudySpec, layout: Layout, log=print) -> None:
    """Generate a synthetic study's raw data when it is missing (never overwriting)."""
    if spec.is_synthetic and not layout.survey.exists():
        if any(getattr(layout, name).exists() for name in RAW_FILES):
            raise ReplicationError(f"{layout.raw}: part of the raw data is missing ({layout.survey.name}); "
                                   "regenerate it explicitly with `replication generate --force`")
        log(f"{spec.id}: generating the synthetic survey into {layout.raw}")
        generate(spec, layout)


def analyse_study(spec: StudySpec, layout: Layout, recovery: bool = True) -> StudyRun:
    """Read the study's raw data, analyse it in memory, and (synthetic data, ``recovery``)
    check recovery; without ``recovery``, :func:`add_recovery` does that later."""
    from .analysis import analyse
    if spec.data is not None:
        from .membership.model_card import build_model_card
        user = load_user_data(spec)
        from .analysis import survey_weights
        result = analyse(spec, user.survey, source=user.source, weights=survey_weights(spec, user.survey),
                         labels=user.labels)
        result.tables["respondents_dropped"] = user.dropped
        card = build_model_card(result, data_block=spec.data)   # built before anything is written
        return StudyRun(spec, layout, result, None, {}, user=user, card=card)
    survey = load_survey(layout)
    result = analyse(spec, survey, source=layout.survey)
    run = StudyRun(spec, layout, result, None, read_generation(layout))
    return add_recovery(run) if recovery else run


def add_recovery(run: StudyRun, cache_folder: str | Path | None = None) -> StudyRun:
    """A synthetic study's recovery tables (against its generating truth), on ``run``; the
    method comparison taken from ``cache_folder`` where a kernel of the run stored it
    (:func:`replication.cache.load_comparison`)."""
    from .cache import load_comparison
    from .evaluation.recovery import recovery_tables
    if run.spec.is_synthetic and run.recovery is None:
        run.recovery = recovery_tables(run.result, read_truth(run.layout),
                                       comparison=load_comparison(run.spec, run.result.survey, cache_folder))
    return run


def _timed(timings: dict, key: str, fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    timings[key] = round(time.perf_counter() - start, 2)
    return out


# --- the stages of a run, one study at a time ---------------------------------------------

def prepare_study(spec: StudySpec, root: str | Path = ".", log=print, recovery: bool = True) -> StudyRun:
    """Stage 1: the raw data (generated if missing, never overwritten) and the analysis in
    memory, with its recovery checks unless not ``recovery`` (then :func:`add_recovery`).
    Writes nothing else."""
    layout = layout_for(spec, root)
    ensure_raw(spec, layout, log)
    timings = {}
    run = _timed(timings, "analysis", analyse_study, spec, layout, recovery)
    run.timings.update(timings)
    return run


def write_study_outputs(run: StudyRun, log=print) -> list[Path]:
    """Stage 2: every table, figure and processed file of the analysis."""
    release_memory()
    written = _timed(run.timings, "outputs", run.result.save, run.layout, run.recovery)
    written += write_user_outputs(run)
    log(f"{run.spec.id}: {len(written)} outputs written below {run.layout.reports} and {run.layout.processed}")
    return written


def write_study_pages(run: StudyRun, landing: bool = True) -> StudyOutcome:
    """Stage 3 (after the notebooks): the study page and its manifest, and (``landing``) the
    landing page."""
    from .report.manifest import write_manifest
    from .report.page import write_landing_page, write_study_page
    write_study_page(run)
    write_manifest(run, run.timings)
    if landing:
        write_landing_page(run.layout.root)
    return run.outcome()


#: At most this many notebook kernels. A run has one kernel for each core this process
#: leaves free (at least one): starting a kernel costs the CPU time of one import of the
#: scientific stack, so on the 2-core reference machine a second kernel made the run slower
#: (its import competed with the analyses that every notebook waits for), not faster.
MAX_KERNELS = 2


def run_studies(specs: list[StudySpec], root: str | Path = ".", notebooks: bool = False, log=print,
                on_study_done=None) -> list[StudyRun]:
    """The whole pipeline for several studies: ``replication run``.

    Every study is analysed (in memory), and its notebooks executed, before any output is
    written, so bad input in one study, or a failing notebook cell, stops the run with
    every existing file as it was (raw data generated for a study that had none
    excepted). Then each study's tables, figures, notebooks, page and manifest are
    written, and last the landing page.

    Parameters
    ----------
    specs : list of StudySpec
    root : str or Path
        The project folder holding ``data/`` and ``reports/``.
    notebooks : bool
        Execute each study's notebooks into ``reports/<study>/notebooks/``: in Jupyter
        kernels started first (one per core left free, at most :data:`MAX_KERNELS`),
        each notebook getting this process's analysis of its study
        (:mod:`replication.cache`); before their first notebook the kernels compare the
        segmentation methods of the synthetic studies for the recovery checks.
    on_study_done : callable, optional
        Called with each finished study's :class:`StudyOutcome`.

    Returns
    -------
    list of StudyRun
    """
    import os
    import tempfile
    from concurrent.futures import ThreadPoolExecutor

    from . import cache
    from .outputs import notebooks_for
    from .report.notebooks import NotebookKernels, offline_exporter, write_notebooks
    from .study.spec import check_distinct_ids

    check_distinct_ids(specs)
    with_notebooks = {s.id for s in specs if notebooks and notebooks_for(s)}
    n_kernels = (min(MAX_KERNELS, len(with_notebooks), max(1, (os.cpu_count() or 1) - 1))
                 if with_notebooks else 0)
    staging = tempfile.TemporaryDirectory(prefix="replication-run-")   # the analyses for the notebooks
    kernels = NotebookKernels(n_kernels, Path(root), cache=Path(staging.name))   # they start importing now
    # Their first work, while this process imports the stack and analyses the first study:
    # the method comparisons of the synthetic studies (they need no analysis).
    kernels.precompute_comparisons([s for s in specs if s.id in with_notebooks and s.is_synthetic], Path(root))
    pool = ThreadPoolExecutor(max(1, n_kernels))
    executions = {}   # study id -> {notebook name: future of the executed notebook}
    def check_notebooks():   # a failed notebook stops the run now
        for jobs in executions.values():
            for job in jobs.values():
                if job.done():
                    job.result()

    try:
        runs = []
        # Every study's analysis first, each study's notebooks submitted as soon as it is
        # stored; then, once they have executed (and so every kernel has done what it was
        # given before them), the recovery checks, which the notebooks do not need (Chapter
        # 3 computes the ones it shows), with the kernels' method comparisons.
        # The smallest study first (by its specification's N): its notebooks can start
        # while the larger ones are analysed. Everything is written in the given order.
        for spec in sorted(specs, key=lambda s: s.n.value):
            run = prepare_study(spec, root, log, recovery=False)
            log(f"{spec.id}: analysed")
            runs.append(run)
            if spec.id in with_notebooks:
                cache.store(run.result, staging.name)
                # One job per notebook, each in whichever kernel is free.
                executions[spec.id] = {nb.name: pool.submit(kernels.execute, spec, run.layout, nb.name, log)
                                       for nb in notebooks_for(spec)}
            check_notebooks()
        # The HTML export here, in this thread, only now: exporting while the studies were
        # analysed would compete with them for this process (its interpreter lock), and
        # every notebook waits for its study's analysis. Now the kernel executes the last
        # notebooks meanwhile.
        exporter = offline_exporter() if executions else None
        rendered = {study: {name: _export(exporter, job.result()) for name, job in jobs.items()}
                    for study, jobs in executions.items()}
        runs.sort(key=lambda r: [s.id for s in specs].index(r.spec.id))   # back in the given order
        for run in runs:
            _timed(run.timings, "recovery", add_recovery, run, staging.name)
        kernels.close()   # done with them: their memory back before the writes
        # Every study analysed and its notebooks executed: now, and only now, write.
        for run in runs:
            write_study_outputs(run, log)
        for run in runs:
            if run.spec.id in rendered:
                write_notebooks(run.layout, {name: html for name, (html, _) in rendered[run.spec.id].items()})
                run.timings["notebooks"] = round(sum(t for _, t in rendered[run.spec.id].values()), 2)
            write_study_pages(run, landing=False)
            if on_study_done:
                on_study_done(run.outcome())
        from .report.page import write_landing_page
        write_landing_page(Path(root))
        return runs
    finally:
        # Stop the kernels first: an interrupted or failed run ends at once (a notebook
        # still executing fails with its kernel, and its error is not wanted any more).
        kernels.close()
        pool.shutdown(wait=True, cancel_futures=True)
        staging.cleanup()


def _export(exporter, executed) -> tuple[str, float]:
    """An executed notebook and its seconds (:meth:`NotebookKernels.execute`) as its HTML
    and the seconds of both steps."""
    nb, seconds = executed
    start = time.perf_counter()
    body, _ = exporter.from_notebook_node(nb)
    return body, seconds + time.perf_counter() - start


def run_study(spec: StudySpec, root: str | Path = ".", notebooks: bool = False, log=print) -> StudyRun:
    """The whole pipeline for one study: raw data (if missing), analysis, outputs, notebooks,
    the study page and its manifest (:func:`run_studies` for one study)."""
    return run_studies([spec], root, notebooks=notebooks, log=log)[0]


def monte_carlo(spec: StudySpec, layout: Layout, which: str, seeds: int, n_jobs: int = 2, backend: str = "loky",
                scenarios=None, separations=None, log=print, scheduler: str | None = None) -> list[Path]:
    """Run the control scenarios (``which="controls"``), the replicability curve
    (``"curve"``) or the three-step Monte Carlo (``"threestep"``) for a synthetic study and
    write their on-demand outputs.

    ``backend``, ``n_jobs`` and ``scheduler`` say where the replicates run
    (:func:`.evaluation.parallel.parallel_backend`); the tables do not depend on them.
    """
    from .evaluation import controls as C
    from .evaluation.parallel import check_backend, parallel_backend
    from .outputs import outputs_for

    check_backend(backend, scheduler)
    if not spec.is_synthetic:
        raise ReplicationError(f"study '{spec.id}' has no simulation block: control scenarios need a generator")
    if which == "controls":      # the user's scenario files checked before any cluster starts
        paths = scenarios or C.shipped_scenarios(spec.id)
        if not paths:
            raise ReplicationError(f"no control scenarios for study '{spec.id}' (give --scenario PATH)")
        loaded = [C.load_scenario(p) for p in paths]
    written = []
    # One block around the whole command: with dask, one cluster (or one connection) for
    # all of it; the Monte Carlo functions inside find its client and use it.
    with parallel_backend(backend, n_jobs, scheduler):
        if which == "controls":
            table = C.run_controls(spec, loaded, n_seeds=seeds, seed=spec.seed.value, n_jobs=n_jobs, backend=backend)
            matrix = C.diagnostic_table(table, loaded)
            methods = C.methods_over_scenarios(spec, loaded, n_seeds=min(seeds, C.METHOD_SEEDS), seed=spec.seed.value,
                                               n_jobs=n_jobs, backend=backend)
            written += [files.write_csv(layout.tables / "controls.csv", table),
                        files.write_csv(layout.tables / "controls_matrix.csv", matrix),
                        files.write_csv(layout.tables / "method_comparison_controls.csv", methods)]
            for sc_id, part in table.groupby("scenario", sort=False):
                bad = part[part["meets_expectation"] == False]  # noqa: E712 (None means no expectation)
                log(f"{sc_id}: " + ("every expectation met" if bad.empty else
                                    "NOT met: " + ", ".join(f"{r.claim} passes {r.pass_rate:.0%}" for r in bad.itertuples())))
        elif which == "threestep":
            from .evaluation import three_step_mc as T
            from .report.figures import save_figure
            from .report.montecarlo import three_step_bias
            tables = T.three_step_montecarlo(spec, n_seeds=seeds, seed=spec.seed.value, n_jobs=n_jobs, backend=backend)
            written += [files.write_csv(layout.tables / f"{name}.csv", tables[name])
                        for name in ("three_step_montecarlo", "three_step_slopes")]
            written.append(save_figure(three_step_bias(tables["three_step_slopes"], tables["three_step_montecarlo"]),
                                       layout.figures / "three_step_montecarlo.png"))
            log(T.statement(tables["three_step_montecarlo"]))
        else:
            # The study's own separation is always among them: the page reads the curve there.
            separations = sorted({*map(float, separations or [0, 1, 2, 3, 4, 5, 6]), spec.simulation.separation.value})
            curve = C.replicability_curve(spec, separations, n_seeds=seeds, seed=spec.seed.value, n_jobs=n_jobs,
                                          backend=backend)
            written.append(files.write_csv(layout.tables / "replicability.csv", curve))
            from .report.figures import save_figure
            from .report.montecarlo import replicability_curve
            default = spec.simulation.separation.value
            written.append(save_figure(replicability_curve(curve, default), layout.figures / "replicability.png"))
            log(C.replicability_statement(curve, spec))
    expected = {o.path(layout) for o in outputs_for(spec, step=which, on_demand=True)}
    assert set(written) <= expected, set(written) - expected
    return written
