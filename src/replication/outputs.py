"""Which program makes which output: the map behind the README's list of tables and
figures and the report's provenance section (in the spirit of showyourwork).

``replication outputs`` prints it as Markdown; a test fails when the README's copy is
out of date.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Output:
    path: str
    what: str
    step: str        # CLI command (and Make target) that writes it
    function: str    # library function that computes it
    notebook: str    # notebook that shows and explains it


NB1, NB2, NB3, NB4 = ("01_synthetic_sample", "02_two_stage_clustering", "03_segment_profiles",
                      "04_multinomial_logit")

OUTPUTS: list[Output] = [
    Output("data/raw/survey.csv", "synthetic survey answers", "generate", "simulate.simulate_survey", NB1),
    Output("data/raw/codebook.csv", "codebook of every survey column", "generate", "simulate.make_codebook", NB1),
    Output("data/raw/truth.json", "generating truth (recovery checks only)", "generate", "simulate.simulate_survey", NB1),
    Output("data/raw/generation.json", "settings that generated the raw data (seed, N, separation)", "generate", "pipeline.generate", NB1),
    Output("data/processed/scores.csv", "scale scores", "score", "measurement.scale_scores", NB1),
    Output("reports/tables/reliability.csv", "Cronbach's alpha per construct", "score", "measurement.reliability", NB1),
    Output("data/processed/segments.csv", "cluster and segment of each respondent", "cluster", "segments.segment_analysis", NB2),
    Output("reports/tables/cluster_sizes.csv", "reported vs replicated segment shares", "cluster", "segments.cluster_size_table", NB2),
    Output("reports/figures/cluster_size_check.png", "segment-size check with tolerance band", "cluster", "figures.cluster_size_check", NB2),
    Output("reports/tables/agglomeration_schedule_tail.csv", "tail of Ward's agglomeration schedule", "cluster", "ward.agglomeration_schedule", NB2),
    Output("reports/figures/dendrogram.png", "truncated dendrogram", "cluster", "figures.dendrogram", NB2),
    Output("reports/tables/k_selection.csv", "k-selection criteria for k = 2..10", "cluster", "kselect.k_selection", NB2),
    Output("reports/tables/k_preferred.csv", "k preferred by each criterion", "cluster", "kselect.k_selection", NB2),
    Output("reports/figures/k_selection.png", "k-selection criteria", "cluster", "figures.k_selection", NB2),
    Output("reports/tables/centroids.csv", "centroids, raw and standardized", "cluster", "segments.centroid_table", NB3),
    Output("reports/tables/segment_match.csv", "naming of clusters by reported profiles", "cluster", "naming.match_segments", NB3),
    Output("reports/figures/segment_profiles.png", "segment profile plot", "cluster", "figures.segment_profiles", NB3),
    Output("reports/tables/need_anova.csv", "ANOVA and Kruskal-Wallis of each need", "cluster", "segments.need_anova", NB3),
    Output("reports/tables/profiling_by_segment.csv", "profiling variables by segment", "cluster", "segments.profiling_by_segment", NB3),
    Output("reports/tables/profiling_tests.csv", "chi-square tests of profiling variables", "cluster", "segments.profiling_tests", NB3),
    Output("reports/tables/logit_coefficients.csv", "coefficients and odds ratios", "logit", "logit.multinomial_logit", NB4),
    Output("reports/tables/logit_fit.csv", "fit statistics, hit rate, chance criteria", "logit", "logit.multinomial_logit", NB4),
    Output("reports/tables/logit_lr_tests.csv", "likelihood-ratio test per predictor", "logit", "logit.multinomial_logit", NB4),
    Output("reports/tables/logit_classification.csv", "classification table", "logit", "logit.multinomial_logit", NB4),
    Output("reports/tables/logit_crosscheck.csv", "statsmodels vs scikit-learn coefficients", "logit", "logit.sklearn_crosscheck", NB4),
    Output("reports/tables/logit_summary.txt", "printed model summary", "logit", "logit.MultinomialLogitResult.summary", NB4),
    Output("reports/figures/logit_odds_ratios.png", "odds-ratio forest plot per contrast", "logit", "figures.odds_ratio_forest", NB4),
    Output("reports/figures/logit_probabilities.png", "predicted probabilities along each predictor", "logit", "figures.predicted_probabilities", NB4),
    Output("reports/tables/recovery_clustering.csv", "adjusted Rand index vs the truth", "recovery", "recovery.clustering_recovery", NB3),
    Output("reports/tables/recovery_confusion.csv", "true vs recovered segment", "recovery", "recovery.clustering_recovery", NB3),
    Output("reports/tables/recovery_logit.csv", "estimated vs true slopes", "recovery", "recovery.logit_recovery", NB4),
    Output("reports/tables/recovery_logit_summary.csv", "signs recovered, interval coverage", "recovery", "recovery.logit_recovery", NB4),
    Output("reports/tables/scorecard.csv", "every reported claim: pass/fail", "check", "checks.evaluate_claims", "(report)"),
]


def markdown_table() -> str:
    """The README's table: every output, the command and function that make it, its notebook."""
    lines = ["| output | what | command | library function | notebook |",
             "| --- | --- | --- | --- | --- |"]
    for o in OUTPUTS:
        nb = f"`notebooks/{o.notebook}.ipynb`" if not o.notebook.startswith("(") else o.notebook
        lines.append(f"| `{o.path}` | {o.what} | `replication {o.step}` | `{o.function}` | {nb} |")
    return "\n".join(lines)
