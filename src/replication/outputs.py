"""The one list: every step, every output and every notebook, and which study needs which.

The command line's step subcommands, the outputs :meth:`AnalysisResult.save` writes,
the manifest and ``verify``, the notebooks the report executes, and the README's list of
tables and figures (``replication outputs``) all derive from the lists below (in the
spirit of showyourwork: every output traces to the code that made it). A test fails when
the README's copy is out of date, or when a listed output is not written.

An item that ``requires`` something applies only to studies that have it:
``simulation`` (a synthetic sample with its generating truth), ``membership`` (a
membership model), ``profiling`` (profiling variables), ``data`` (the study's own
survey), ``weights`` (survey weights: a ``weight:`` column in its ``data:`` block),
``predictors`` (single-column predictors of the membership model) or ``carried`` (a
survey file with columns beyond the items: ``data.carry``, single-column predictors).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Step:
    name: str
    help: str
    description: str


@dataclass(frozen=True)
class Output:
    name: str                 # file stem
    kind: str                 # raw | processed | table | text | figure
    what: str
    step: str                 # the CLI step (``replication <step>``) that writes it
    function: str             # the library function that computes it
    notebook: str             # the notebook that shows and explains it
    requires: tuple = ()
    #: Monte Carlo outputs: written only by their own command (minutes of compute), not by
    #: ``run``; the manifest records their checksums, ``verify`` does not regenerate them.
    on_demand: bool = False

    @property
    def filename(self) -> str:
        ext = {"raw": "", "processed": ".csv", "table": ".csv", "text": ".txt", "figure": ".png",
               "file": ""}[self.kind]
        return self.name + ext

    def path(self, layout) -> Path:
        """Where the output lives for a study's :class:`~replication.layout.Layout`."""
        folder = {"raw": layout.raw, "processed": layout.processed, "table": layout.tables,
                  "text": layout.tables, "figure": layout.figures, "file": layout.processed}[self.kind]
        return folder / self.filename

    def template(self) -> str:
        """The path with ``<study>`` for the study id (the README's form)."""
        folder = {"raw": "data/raw/<study>", "processed": "data/processed/<study>",
                  "table": "reports/<study>/tables", "text": "reports/<study>/tables",
                  "figure": "reports/<study>/figures", "file": "data/processed/<study>"}[self.kind]
        return f"{folder}/{self.filename}"


@dataclass(frozen=True)
class Notebook:
    name: str
    title: str
    requires: tuple = ()


#: The pipeline's steps in order. ``run`` does all of them in one process.
STEPS = [
    Step("generate", "simulate the synthetic survey into data/raw/<study>/",
         "Simulate the synthetic survey (survey.csv, codebook.csv, truth.json, generation.json) into "
         "data/raw/<study>/. Existing raw data is never overwritten unless --force is given."),
    Step("score", "scale scores and reliability",
         "Validate the raw survey against its codebook; write the scale scores and Cronbach's alpha."),
    Step("cluster", "segmentation: segments, tables, figures",
         "The study's segmentation method (for ward_kmeans: Ward's method on the standardized "
         "segmentation dimensions, k-means from the Ward centroids), naming by the reported "
         "profiles, k-selection criteria, and the segment tables and figures."),
    Step("logit", "membership model (studies that have one)",
         "Multinomial logit of the recovered segment on the predictor constructs: tables and figures."),
    Step("recovery", "compare results with the generating truth (synthetic data only)",
         "Adjusted Rand index, confusion matrix and logit coefficient recovery against "
         "data/raw/<study>/truth.json: the only step that reads the truth."),
    Step("check", "the scorecard of reported claims; exit 1 if any fails",
         "Evaluate every claim in the study specification against a fresh in-memory analysis; "
         "write the scorecard; exit 1 when any claim fails."),
    Step("controls", "control scenarios: how often each claim passes where the structure is absent (Monte Carlo)",
         "Simulate R seeded replicates of each control scenario (studies/scenarios/<study>/*.yaml, or --scenario), "
         "analyse each with the unmodified study, and write the pass rate of every claim next to what the "
         "scenario expects. Parallel (joblib; --backend dask for a dask.distributed cluster)."),
    Step("curve", "replicability curve: pass probability of every claim against the separation (Monte Carlo)",
         "Simulate R replicates at each separation (sampled composition), and write the probability that each "
         "claim and all claims pass, and the median ARI against the truth, with a figure."),
    Step("threestep", "membership model under classification error: naive vs BCH vs ML (Monte Carlo)",
         "Simulate R samples at a weak separation (relative entropy about 0.7) and estimate the membership "
         "model on each naively (modal classes) and with the three-step BCH and ML corrections; write the "
         "bias and 95 % interval coverage of every estimator against the true slopes, with a figure."),
    Step("notebooks", "execute the notebooks for the study into reports/<study>/notebooks/",
         "Execute the notebooks that apply to the study and render each to HTML."),
    Step("report", "write the study page, its manifest, and the landing page",
         "Render reports/<study>/index.html, reports/<study>/manifest.json and reports/index.html."),
]

_NB1, _NB2, _NB3, _NB4, _NB5 = ("01_synthetic_sample", "02_two_stage_clustering", "03_segment_profiles",
                                "04_multinomial_logit", "05_your_own_survey")

#: The notebooks, in reading order.
NOTEBOOKS = [
    Notebook(_NB1, "The synthetic sample", ("simulation",)),
    Notebook(_NB2, "Finding the segments: a two-stage cluster analysis"),
    Notebook(_NB3, "What the segments look like"),
    Notebook(_NB4, "Who belongs where: the membership model", ("membership",)),
    Notebook(_NB5, "Your own survey: segments written back and a typing tool", ("data",)),
]

_SIM, _MEM, _PRO, _DATA = ("simulation",), ("membership",), ("profiling",), ("data",)
_WT, _CAR = ("data", "weights"), ("data", "carried")

#: Every output, in pipeline order.
OUTPUTS = [
    Output("survey.csv", "raw", "synthetic survey answers", "generate", "study.simulate.simulate_survey", _NB1, _SIM),
    Output("codebook.csv", "raw", "codebook of every survey column", "generate", "study.simulate.make_codebook", _NB1, _SIM),
    Output("truth.json", "raw", "generating truth (recovery checks only)", "generate", "study.simulate.simulate_survey", _NB1, _SIM),
    Output("generation.json", "raw", "settings that generated the raw data (seed, N, separation)", "generate", "pipeline.generate", _NB1, _SIM),
    Output("respondents_dropped", "table", "respondents dropped by the missing-data policy, and why", "score", "study.sources.read_user_survey", _NB1, _DATA),
    Output("weighting", "table", "the survey weights: their range, Kish's effective N and design effect", "score", "analysis.weighting_table", _NB5, _WT),
    Output("scores", "processed", "scale scores", "score", "study.measurement.scale_scores", _NB1),
    Output("reliability", "table", "Cronbach's alpha per construct", "score", "study.measurement.reliability", _NB1),
    Output("assignments.csv", "file", "each respondent's segment and the distance behind it (your data)", "cluster", "membership.model_card.write_assignments", _NB5, _DATA),
    Output("assignments.sav", "file", "the same as SPSS .sav, the segment as `segment_code` with its names as value labels", "cluster", "membership.model_card.write_assignments", _NB5, _DATA),
    Output("model_card.json", "file", "the typing tool's model card (replication classify)", "cluster", "membership.model_card.build_model_card", _NB5, _DATA),
    Output("segments", "processed", "cluster and segment of each respondent", "cluster", "segmentation.profiles.segment_analysis", _NB2),
    Output("cluster_sizes", "table", "reported vs replicated segment shares", "cluster", "segmentation.profiles.cluster_size_table", _NB2),
    Output("cluster_size_check", "figure", "segment-size check", "cluster", "report.figures.cluster_size_check", _NB2),
    Output("agglomeration_schedule_tail", "table", "tail of Ward's agglomeration schedule", "cluster", "segmentation.ward.agglomeration_schedule", _NB2),
    Output("dendrogram", "figure", "truncated dendrogram", "cluster", "report.figures.dendrogram", _NB2),
    Output("k_selection", "table", "k-selection criteria for each candidate k", "cluster", "segmentation.kselect.k_selection", _NB2),
    Output("k_preferred", "table", "k preferred by each criterion", "cluster", "segmentation.kselect.k_selection", _NB2),
    Output("segmentation_path", "table", "how the segmentation was computed (exact or micro-cluster path; what each k criterion used)", "cluster", "segmentation.profiles.segmentation_path_table", _NB2),
    Output("k_selection", "figure", "k-selection criteria", "cluster", "report.figures.k_selection", _NB2),
    Output("centroids", "table", "centroids, raw and standardized", "cluster", "segmentation.profiles.centroid_table", _NB3),
    Output("segment_match", "table", "naming of clusters by reported profiles", "cluster", "segmentation.naming.match_segments", _NB3),
    Output("profile_check", "table", "each reported High/Low level checked relative to the sample and to the other segments", "cluster", "segmentation.profiles.profile_check", _NB3),
    Output("segment_profiles", "figure", "segment profile plot", "cluster", "report.figures.segment_profiles", _NB3),
    Output("need_anova", "table", "ANOVA and Kruskal-Wallis of each segmentation dimension", "cluster", "segmentation.profiles.need_anova", _NB3),
    Output("profiling_by_segment", "table", "profiling variables by segment", "cluster", "segmentation.profiling.profiling_by_segment", _NB3, _PRO),
    Output("profiling_tests", "table", "tests of the profiling variables across segments", "cluster", "segmentation.profiling.profiling_tests", _NB3, _PRO),
    Output("profiling_contrasts", "table", "each segment against the others on every profiling variable (one-sided tests)", "cluster", "segmentation.profiling.profiling_contrasts", _NB3, _PRO),
    Output("carried_by_segment", "table", "carried columns (carry, single-column predictors) by segment: mean or percentage", "cluster", "segmentation.carried.carried_by_segment", _NB3, _CAR),
    Output("carried_tests", "table", "tests of the carried columns across segments (ANOVA, chi-square)", "cluster", "segmentation.carried.carried_by_segment", _NB3, _CAR),
    Output("logit_predictors", "table", "every predictor of the membership model and how it enters it (single-column predictors)", "logit", "membership.design.predictor_table", _NB4, ("membership", "data", "predictors")),
    Output("logit_coefficients", "table", "coefficients and odds ratios", "logit", "membership.logit.multinomial_logit", _NB4, _MEM),
    Output("logit_fit", "table", "fit statistics, hit rate, chance criteria", "logit", "membership.logit.multinomial_logit", _NB4, _MEM),
    Output("logit_lr_tests", "table", "likelihood-ratio test per predictor", "logit", "membership.logit.multinomial_logit", _NB4, _MEM),
    Output("logit_classification", "table", "classification table", "logit", "membership.logit.multinomial_logit", _NB4, _MEM),
    Output("logit_crosscheck", "table", "statsmodels vs scikit-learn coefficients", "logit", "membership.logit.sklearn_crosscheck", _NB4, _MEM),
    Output("logit_summary", "text", "printed model summary", "logit", "membership.logit.MultinomialLogitResult.summary", _NB4, _MEM),
    Output("logit_odds_ratios", "figure", "odds-ratio forest plot per contrast", "logit", "report.figures.odds_ratio_forest", _NB4, _MEM),
    Output("logit_probabilities", "figure", "predicted probabilities along each predictor", "logit", "report.figures.predicted_probabilities", _NB4, _MEM),
    Output("recovery_clustering", "table", "adjusted Rand index vs the truth", "recovery", "evaluation.recovery.clustering_recovery", _NB3, _SIM),
    Output("recovery_confusion", "table", "true vs recovered segment", "recovery", "evaluation.recovery.clustering_recovery", _NB3, _SIM),
    Output("recovery_logit", "table", "estimated vs true slopes", "recovery", "evaluation.recovery.logit_recovery", _NB4, _SIM + _MEM),
    Output("recovery_logit_summary", "table", "signs recovered, interval coverage", "recovery", "evaluation.recovery.logit_recovery", _NB4, _SIM + _MEM),
    Output("share_verdicts", "table", "how each share claim was judged: margin, interval or tolerance, detectable difference, verdict", "check", "evaluation.shares.share_verdicts", _NB2),
    Output("bootstrap_shares", "table", "bootstrap intervals of the shares with re-segmentation", "check", "evaluation.uncertainty.bootstrap_stability", _NB2),
    Output("bootstrap_centroids", "table", "bootstrap intervals of every centroid", "check", "evaluation.uncertainty.bootstrap_stability", _NB3),
    Output("stability", "table", "per-segment bootstrap Jaccard (Hennig)", "check", "evaluation.uncertainty.bootstrap_stability", _NB2),
    Output("stability_global", "table", "mean bootstrap ARI (global stability)", "check", "evaluation.uncertainty.bootstrap_stability", _NB2),
    Output("row_order_agreement", "table", "ARI across random row orders", "check", "evaluation.uncertainty.row_order_agreement", _NB2),
    Output("method_comparison", "table", "each segmentation method's k, shares and agreement (Ward + k-means, TwoStep, latent profiles)", "recovery", "evaluation.comparison.compare_methods", _NB2),
    Output("three_step_coefficients", "table", "membership model corrected for classification error (BCH, ML) beside the naive one", "logit", "analysis.corrected_membership", _NB4, _MEM),
    Output("three_step_wald", "table", "Wald test per predictor for the naive, BCH and ML estimators", "logit", "analysis.corrected_membership", _NB4, _MEM),
    Output("scorecard", "table", "every claim: pass/fail", "check", "evaluation.claims.evaluate_claims", "(report)"),
    Output("controls", "table", "pass rate of every claim in every control scenario", "controls", "evaluation.controls.run_controls", "(report)", _SIM, True),
    Output("controls_matrix", "table", "claims x scenarios, and which claims are diagnostic of segment structure", "controls", "evaluation.controls.diagnostic_table", "(report)", _SIM, True),
    Output("method_comparison_controls", "table", "the segmentation methods compared over the control scenarios", "controls", "evaluation.controls.methods_over_scenarios", "(report)", _SIM, True),
    Output("replicability", "table", "pass probability of each claim against the separation", "curve", "evaluation.controls.replicability_curve", "(report)", _SIM, True),
    Output("replicability", "figure", "replicability curve", "curve", "report.montecarlo.replicability_curve", "(report)", _SIM, True),
    Output("three_step_montecarlo", "table", "bias and coverage of the naive, BCH and ML membership models against the true slopes", "threestep", "evaluation.three_step_mc.three_step_montecarlo", "(report)", _SIM + _MEM, True),
    Output("three_step_slopes", "table", "the same per slope", "threestep", "evaluation.three_step_mc.summarise", "(report)", _SIM + _MEM, True),
    Output("three_step_montecarlo", "figure", "mean estimate against the truth, coverage and attenuation per estimator", "threestep", "report.montecarlo.three_step_bias", "(report)", _SIM + _MEM, True),
]


def study_has(spec, need: str) -> bool:
    """Whether a study has what an output or notebook ``requires``."""
    return {"simulation": spec.is_synthetic, "membership": spec.has_membership_model,
            "profiling": bool(spec.profiling), "data": spec.data is not None,
            "weights": spec.data is not None and spec.data.weight is not None,
            # Columns of a survey file beyond the items: data.carry, single-column predictors.
            "predictors": bool(getattr(spec.membership, "predictors", None)),
            "carried": spec.data is not None and bool(spec.data.carry or spec.demographics or
                                                      getattr(spec.membership, "predictors", None))}[need]


def applies(item, spec) -> bool:
    return all(study_has(spec, need) for need in item.requires)


def outputs_for(spec, step: str | None = None, kinds=None, on_demand: bool = False) -> list[Output]:
    """The outputs that apply to a study, optionally of one step or of some kinds; the
    on-demand (Monte Carlo) outputs only with ``on_demand=True``."""
    return [o for o in OUTPUTS if applies(o, spec) and (step is None or o.step == step)
            and (kinds is None or o.kind in kinds) and (on_demand or not o.on_demand)]


def notebooks_for(spec) -> list[Notebook]:
    return [nb for nb in NOTEBOOKS if applies(nb, spec)]


def markdown_table() -> str:
    """The README's table: every output, the command and function that make it, its notebook."""
    lines = ["| output | what | command | library function | notebook | studies |",
             "| --- | --- | --- | --- | --- | --- |"]
    for o in OUTPUTS:
        nb = f"`notebooks/{o.notebook}.ipynb`" if not o.notebook.startswith("(") else o.notebook
        who = "with " + " and ".join(o.requires) if o.requires else "all"
        lines.append(f"| `{o.template()}` | {o.what} | `replication {o.step}` | `{o.function}` | {nb} | {who} |")
    return "\n".join(lines)
