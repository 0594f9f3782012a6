"""The pipeline's steps, each reading files and writing files, as the Makefile runs them.

Data flows one way: study specification -> raw survey -> scale scores -> segments ->
membership model -> checks -> report. Each step function takes the study and a
:class:`Layout` (where files live) so the same steps can run into a temporary folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import figures, files
from .errors import ReplicationError, location
from .checks import evaluate_claims, read_tables
from .loader import read_survey
from .logit import multinomial_logit
from .measurement import reliability, scale_scores
from .recovery import clustering_recovery, logit_recovery
from .segments import segment_analysis
from .simulate import simulate_survey
from .spec import StudySpec


@dataclass(frozen=True)
class Layout:
    """Where a run's files live, below one root folder."""

    root: Path = Path(".")

    def __post_init__(self):
        object.__setattr__(self, "root", Path(self.root))  # accept a str too

    @property
    def raw(self) -> Path:
        return self.root / "data" / "raw"

    @property
    def processed(self) -> Path:
        return self.root / "data" / "processed"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def tables(self) -> Path:
        return self.reports / "tables"

    @property
    def figures(self) -> Path:
        return self.reports / "figures"

    # raw inputs
    @property
    def survey(self) -> Path:
        return self.raw / "survey.csv"

    @property
    def codebook(self) -> Path:
        return self.raw / "codebook.csv"

    @property
    def generation(self) -> Path:
        """How the raw data were generated (study, seed, N, separation): no truth in it."""
        return self.raw / "generation.json"

    @property
    def truth(self) -> Path:
        """The generating truth: only recovery checks may read it."""
        return self.raw / "truth.json"

    # processed
    @property
    def scores(self) -> Path:
        return self.processed / "scores.csv"

    @property
    def segments(self) -> Path:
        return self.processed / "segments.csv"


def generate(spec: StudySpec, layout: Layout, n=None, separation=None, seed=None, force=False) -> list[Path]:
    """Simulate the survey and write ``survey.csv``, ``codebook.csv`` and ``truth.json``."""
    targets = [layout.survey, layout.codebook, layout.truth, layout.generation]
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


def check_survey_matches(spec: StudySpec, survey: pd.DataFrame, path: Path) -> None:
    """Every item the specification names must be in the survey."""
    for c in spec.constructs:
        for item in c.items.value:
            if item not in survey.columns:
                raise ReplicationError(f"{path}, column '{item}': the study specification's construct "
                                       f"'{c.id}' needs this item, but the survey lacks it")


def score(spec: StudySpec, layout: Layout) -> list[Path]:
    """Scale scores to ``data/processed/scores.csv`` and reliability to a table."""
    survey = load_survey(layout)
    check_survey_matches(spec, survey, layout.survey)
    files.write_csv(layout.scores, scale_scores(survey, spec))
    files.write_csv(layout.tables / "reliability.csv", reliability(survey, spec))
    return [layout.scores, layout.tables / "reliability.csv"]


def _read_numeric(path: Path, what: str, step: str, columns: list[str]) -> pd.DataFrame:
    """Read a processed CSV whose ``columns`` must be present, numeric and finite."""
    try:
        df = pd.read_csv(path)
    except FileNotFoundError:
        raise ReplicationError(f"{path}: no {what} yet (run `replication {step}`)") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ReplicationError(f"{path}: malformed CSV: {exc}") from None
    for col in columns:
        if col not in df.columns:
            raise ReplicationError(f"{location(path, column=col)}: column is missing")
        values = pd.to_numeric(df[col], errors="coerce")
        bad = ~np.isfinite(values.to_numpy(dtype=float))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise ReplicationError(f"{location(path, row + 1, col)}: '{df[col].iloc[row]}' is not a finite number")
    return df


def read_scores(layout: Layout, spec: StudySpec | None = None) -> pd.DataFrame:
    """Scale scores, checked: every construct column present, numeric and finite."""
    cols = ["respondent_id"] + ([c.id for c in spec.constructs] if spec else [])
    return _read_numeric(layout.scores, "scale scores", "score", cols)


def cluster(spec: StudySpec, layout: Layout) -> list[Path]:
    """The two-stage cluster analysis, its naming, and its tables and figures."""
    scores = read_scores(layout, spec)
    result = segment_analysis(spec, scores, load_survey(layout))
    written = [files.write_csv(layout.segments, result.assignments)]
    written += [files.write_csv(layout.tables / f"{name}.csv", df) for name, df in result.tables.items()]
    needs = [c.id for c in spec.clustering_constructs]
    k = spec.n_segments.value
    names = {s.id: s.name.value for s in spec.segments}
    t, f = result.tables, layout.figures
    figs = {
        f / "cluster_size_check.png": figures.cluster_size_check(t["cluster_sizes"]),
        f / "segment_profiles.png": figures.segment_profiles(t["centroids"], needs, names),
        f / "dendrogram.png": figures.dendrogram(result.model.linkage_, k),
        f / "k_selection.png": figures.k_selection(t["k_selection"], t["k_preferred"], k),
    }
    written += [figures.save_figure(fig, path) for path, fig in figs.items()]
    return written


def read_segments(layout: Layout) -> pd.DataFrame:
    try:
        return pd.read_csv(layout.segments)
    except FileNotFoundError:
        raise ReplicationError(f"{layout.segments}: no segments yet (run `replication cluster`)") from None


def membership_data(spec: StudySpec, layout: Layout) -> pd.DataFrame:
    """Recovered segment and predictor scale scores, one row per respondent."""
    return read_scores(layout, spec).merge(read_segments(layout), on="respondent_id", validate="one_to_one")


def logit(spec: StudySpec, layout: Layout, standardize: bool | None = None) -> list[Path]:
    """The membership model: tables and figures (standardized as the specification says)."""
    if standardize is None:
        standardize = spec.method.standardize_predictors.value
    data = membership_data(spec, layout)
    predictors = [c.id for c in spec.predictor_constructs]
    result = multinomial_logit(data, "segment", predictors, spec.logit_reference.value,
                               standardize=standardize, order=spec.segment_ids)
    t = layout.tables
    written = [files.write_csv(t / f"logit_{name}.csv", df) for name, df in {
        "coefficients": result.coefficients, "fit": result.fit, "lr_tests": result.lr_tests,
        "classification": result.classification, "crosscheck": result.crosscheck}.items()]
    written.append(files.atomic_write_text(t / "logit_summary.txt", result.summary() + "\n"))
    names = {s.id: s.name.value for s in spec.segments}
    f = layout.figures
    written.append(figures.save_figure(figures.odds_ratio_forest(result.coefficients, result.reference, names,
                                                                   "per SD" if standardize else "per scale point"),
                                       f / "logit_odds_ratios.png"))
    written.append(figures.save_figure(figures.predicted_probabilities(result.probability_curves(data), names),
                                       f / "logit_probabilities.png"))
    return written


def recovery(spec: StudySpec, layout: Layout) -> list[Path]:
    """Recovery against the generating truth: the only step that reads truth.json."""
    truth = read_truth(layout)
    summary, confusion = clustering_recovery(spec, truth, read_segments(layout))
    data = membership_data(spec, layout)
    predictors = [c.id for c in spec.predictor_constructs]
    # The analysis's own estimates (per SD); the SDs convert the per-point truth to that scale.
    coefs = pd.read_csv(layout.tables / "logit_coefficients.csv")
    table, logit_summary = logit_recovery(truth, coefs, data[predictors].std(ddof=1),
                                          standardized=spec.method.standardize_predictors.value)
    t = layout.tables
    return [files.write_csv(t / "recovery_clustering.csv", summary),
            files.write_csv(t / "recovery_confusion.csv", confusion),
            files.write_csv(t / "recovery_logit.csv", table),
            files.write_csv(t / "recovery_logit_summary.csv", logit_summary)]


def check(spec: StudySpec, layout: Layout) -> tuple[list[Path], pd.DataFrame]:
    """The scorecard of every claim; returns it so the caller can set the exit code."""
    card = evaluate_claims(spec, read_tables(layout.tables))
    return [files.write_csv(layout.tables / "scorecard.csv", card)], card


def read_truth(layout: Layout) -> dict:
    """The generating truth. Call this only from recovery checks."""
    try:
        return json.loads(layout.truth.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReplicationError(f"{layout.truth}: no generating truth (was the survey generated here?)") from None
