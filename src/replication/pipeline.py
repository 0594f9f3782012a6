"""The pipeline around the in-memory analysis: raw data in, files out.

Data flow one way: study specification -> survey (generated once, never overwritten
silently) -> :func:`~replication.analysis.analyse` (in memory) -> recovery (synthetic data
only; the only reader of the truth) -> outputs, notebooks and pages. :func:`run_study`
does it all in one process; the CLI's step commands run the same analysis and write a
subset of its outputs. Nothing is written until the analysis has succeeded, so a failed
run leaves every existing file as it was.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from . import files
from .analysis import AnalysisResult, analyse
from .errors import ReplicationError
from .evaluation.recovery import recovery_tables
from .layout import Layout
from .study.loader import read_survey
from .study.simulate import simulate_survey
from .study.spec import StudySpec

RAW_FILES = ("survey", "codebook", "truth", "generation")


def layout_for(spec: StudySpec, root: str | Path = ".") -> Layout:
    return Layout(Path(root), spec.id)


def generate(spec: StudySpec, layout: Layout, n=None, separation=None, seed=None, force=False) -> list[Path]:
    """Simulate the survey; write ``survey.csv``, ``codebook.csv``, ``truth.json`` and
    ``generation.json``. Existing raw data is never overwritten unless ``force``."""
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


def ensure_raw(spec: StudySpec, layout: Layout, log=print) -> None:
    """Generate a synthetic study's raw data when it is missing (never overwriting)."""
    if spec.is_synthetic and not layout.survey.exists():
        if any(getattr(layout, name).exists() for name in RAW_FILES):
            raise ReplicationError(f"{layout.raw}: part of the raw data is missing ({layout.survey.name}); "
                                   "regenerate it explicitly with `replication generate --force`")
        log(f"{spec.id}: generating the synthetic survey into {layout.raw}")
        generate(spec, layout)


def analyse_study(spec: StudySpec, layout: Layout) -> StudyRun:
    """Read the study's raw data, analyse it in memory, and (synthetic data) check recovery."""
    survey = load_survey(layout)
    result = analyse(spec, survey, source=layout.survey)
    recovery = recovery_tables(result, read_truth(layout)) if spec.is_synthetic else None
    return StudyRun(spec, layout, result, recovery, read_generation(layout))


def write_study(run: StudyRun, notebooks: bool = True, log=print, kernel=None) -> StudyRun:
    """Write a study's outputs, execute its notebooks, write its page, manifest and the landing page."""
    from .report.manifest import write_manifest
    from .report.notebooks import execute_notebooks
    from .report.page import write_study_page

    import time

    spec, layout = run.spec, run.layout
    timings, start = {}, time.perf_counter()
    written = run.result.save(layout, run.recovery)
    timings["outputs"] = round(time.perf_counter() - start, 2)
    log(f"{spec.id}: {len(written)} outputs written below {layout.reports} and {layout.processed}")
    if notebooks:
        start = time.perf_counter()
        execute_notebooks(spec, layout, kernel=kernel, log=log, result=run.result)
        timings["notebooks"] = round(time.perf_counter() - start, 2)
    write_study_page(run)
    write_manifest(run, timings)
    return run


def run_study(spec: StudySpec, root: str | Path = ".", notebooks: bool = True, log=print,
              kernel=None) -> StudyRun:
    """The whole pipeline for one study: raw data (if missing), analysis, outputs, notebooks,
    the study page and its manifest.

    Parameters
    ----------
    spec : StudySpec
    root : str or Path
        The project folder holding ``data/`` and ``reports/``.
    notebooks : bool
        Execute the study's notebooks into ``reports/<study>/notebooks/``.
    kernel : NotebookKernel, optional
        A running kernel to execute the notebooks in (shared across studies for speed).
    """
    layout = layout_for(spec, root)
    ensure_raw(spec, layout, log)
    run = analyse_study(spec, layout)          # in memory: a failure here writes nothing
    return write_study(run, notebooks=notebooks, log=log, kernel=kernel)
