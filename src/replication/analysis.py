"""The analysis in one call: a study specification and a survey in, every result out.

>>> from replication import analyse, load_study, simulate_survey   # doctest: +SKIP
>>> spec = load_study("golovacheva2022")                            # doctest: +SKIP
>>> result = analyse(spec, simulate_survey(spec).survey)            # doctest: +SKIP
>>> print(result.summary())                                         # doctest: +SKIP

:func:`analyse` reads like the methods section: score the scales, segment the
respondents on the segmentation dimensions with the study's method, name the segments by
the reported profiles, fit the membership model (when the study has one) and check every
claim. It works in memory and writes nothing; :meth:`AnalysisResult.save` writes the
outputs listed in :mod:`replication.outputs`. The generating truth is never an input:
recovery checks (:mod:`replication.evaluation.recovery`) take the result afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn import config_context as sklearn_config
from threadpoolctl import threadpool_limits

from . import files
from .errors import ReplicationError
from .evaluation.claims import card_fails, evaluate_claims, verdict_counts
from .evaluation.shares import share_verdicts
from .evaluation.uncertainty import bootstrap_stability, row_order_agreement
from .layout import Layout
from .memory import release_memory
from .membership.design import code_predictors, join_on_id, membership_data, predictor_table
from .membership.logit import MultinomialLogitResult, multinomial_logit
from .outputs import outputs_for, study_has
from .segmentation.carried import carried_by_segment
from .segmentation.profiles import SegmentAnalysis, segment_analysis
from .study.kind import study_kind
from .study.measurement import reliability, scale_scores
from .study.predictors import membership_predictors
from .study.spec import StudySpec
from .weights import as_frequency, kish_effective_n

#: Result tables of the membership model, by output name -> attribute of the logit result.
LOGIT_TABLES = {"logit_coefficients": "coefficients", "logit_fit": "fit", "logit_lr_tests": "lr_tests",
                "logit_classification": "classification", "logit_crosscheck": "crosscheck"}


@dataclass
class AnalysisResult:
    """Everything one analysis produced (statsmodels-style: print :meth:`summary`).

    Attributes
    ----------
    spec : StudySpec
        The study specification the analysis followed.
    survey : DataFrame
        The survey analysed (respondent id, items, carried columns).
    scores : DataFrame
        Scale score of every construct per respondent.
    segmentation : SegmentAnalysis
        The fitted segmentation (``.model``), the naming (``.match``) and the
        respondents' clusters and segments (``.assignments``).
    membership : MultinomialLogitResult or None
        The fitted membership model; None for a study without one, or when it could not
        be estimated (then ``problems`` says why).
    membership_data : DataFrame or None
        The data the membership model was fitted to (segment and predictor scores).
    tables : dict
        Every result table by output name (``cluster_sizes``, ``logit_fit``, ...,
        ``scorecard``).
    scorecard : DataFrame
        One row per claim of the specification: reported and replicated value, tolerance,
        pass or fail.
    problems : list of str
        What could not be computed, and why (shown in the summary and the report).
    """

    spec: StudySpec
    survey: pd.DataFrame
    scores: pd.DataFrame
    segmentation: SegmentAnalysis
    membership: MultinomialLogitResult | None
    membership_data: pd.DataFrame | None
    tables: dict
    scorecard: pd.DataFrame
    problems: list = field(default_factory=list)
    _pngs: dict | None = field(default=None, repr=False, compare=False)   # figure_pngs(), once drawn

    # -- views ----------------------------------------------------------------------------
    @property
    def n(self) -> int:
        """Respondents analysed."""
        return len(self.survey)

    @property
    def assignments(self) -> pd.DataFrame:
        return self.segmentation.assignments

    @property
    def passed(self) -> bool:
        """Whether no claim FAILs or is NOT ASSESSABLE (True for a study with no claims; a
        NOT DIAGNOSTIC claim does not count against it: the sample cannot tell)."""
        return not card_fails(self.scorecard)

    def figures(self) -> dict:
        """Every figure, by output name (matplotlib figures; shown inline in a notebook)."""
        from .report.figures import study_figures
        return study_figures(self)

    def figure_pngs(self) -> dict:
        """Every figure as PNG bytes, by output name: what :meth:`save` writes and what the
        notebooks show. Rendered once, on first use (the result does not change after
        the analysis), because drawing a figure costs more than most of the analysis."""
        if self._pngs is None:
            from .report.figures import render_png
            self._pngs = {name: render_png(fig) for name, fig in self.figures().items()}
        return self._pngs

    def summary(self) -> str:
        """A readable text summary: the sample, the segments, the model and the scorecard."""
        spec = self.spec
        sizes = self.tables["cluster_sizes"]
        heading = "Segmentation" if study_kind(spec) == "explore" else "Replication"   # no source, no replication
        lines = [f"{heading}: {spec.study.title} ({spec.id})", "=" * 78,
                 f"Respondents analysed: {self.n}    segmentation: {spec.segmentation.method.value}, "
                 f"k = {spec.n_segments.value}    membership model: "
                 f"{spec.membership.model.value if spec.membership else 'none'}", "",
                 "Segment sizes (percent of the sample)",
                 sizes[["name", "reported_pct", "n", "replicated_pct"]].to_string(
                     index=False, float_format=lambda x: f"{x:.1f}")]
        if self.membership is not None:
            f = self.membership.fit.set_index("statistic")["value"]
            lines += ["", f"Membership model: LR chi2({int(f['lr_df'])}) = {f['lr_chi2']:.1f}, "
                          f"p = {f['lr_p_value']:.3g}; McFadden R2 = {f['mcfadden_r2']:.3f}; "
                          f"hit rate {f['hit_rate']:.3f}"]
        card = self.scorecard
        counts = ", ".join(f"{n} {v}" for v, n in verdict_counts(card).items() if n)
        lines += ["", f"Scorecard: {len(card)} claims: {counts or 'none'}"]
        lines += [f"  {r.verdict} {r.claim}: reported {r.reported_value}, replicated {r.replicated_value} "
                  f"({r.tolerance})" for r in card[~card["passed"]].itertuples()]
        lines += [f"Problem: {p}" for p in self.problems]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    # -- output ---------------------------------------------------------------------------
    def save(self, layout: Layout, recovery: dict | None = None, steps=None) -> list[Path]:
        """Write the outputs of :mod:`replication.outputs` below ``layout``.

        Parameters
        ----------
        layout : Layout
            The study's folders.
        recovery : dict, optional
            Recovery tables (from :func:`replication.evaluation.recovery.recovery_tables`).
        steps : iterable of str, optional
            Write only the outputs of these steps (default: every step's).

        Returns
        -------
        list of Path
            The files written. An output that applies to the study but could not be
            computed (see ``problems``) is removed, so no stale copy of an earlier run
            is left beside this run's outputs.
        """
        tables = {**self.tables, **(recovery or {})}
        written = []
        for o in outputs_for(self.spec, kinds=("processed", "table", "text", "figure")):
            if steps is not None and o.step not in steps:
                continue
            if o.step == "recovery" and recovery is None and o.name not in self.tables:
                continue        # computed with the recovery checks (or, on real data, here)
            path = o.path(layout)
            if o.kind == "processed":
                frame = {"scores": self.scores, "segments": self.assignments}[o.name]
                written.append(files.write_csv(path, frame))
            elif o.kind == "text":
                if self.membership is not None:
                    written.append(files.atomic_write_text(path, self.membership.summary() + "\n"))
                else:
                    path.unlink(missing_ok=True)
            elif o.kind == "table":
                if o.name in tables:
                    written.append(files.write_csv(path, tables[o.name]))
                else:
                    path.unlink(missing_ok=True)
            else:
                pngs = self.figure_pngs()
                if o.name in pngs:
                    written.append(files.atomic_write_bytes(path, pngs[o.name]))
                else:
                    path.unlink(missing_ok=True)
        return written


def corrected_membership(spec: StudySpec, scores: pd.DataFrame, terms: list[str] | None = None,
                         dummies=(), sample_size: int | None = None) -> dict:
    """The membership model corrected for classification error (three-step BCH and ML,
    Vermunt 2010) beside the naive modal-assignment logit, all on one latent profile
    model of the segmentation dimensions at the reported k. ``terms``: the predictor
    columns of ``scores`` (default: the predictor constructs).

    With ``sample_size`` (the panel rule: above ``segmentation.exact_limit`` respondents,
    ``uncertainty.panel_resample_size``), it is estimated on a seeded random sample of that
    many respondents, stated in an ``estimated_on`` column of both tables.
    """
    from .membership.three_step import ThreeStepLogit
    from .segmentation.mixture import LatentProfileClustering

    n, on = len(scores), None
    if sample_size is not None and n > sample_size:
        rows = np.sort(np.random.default_rng(spec.seed.value).choice(n, sample_size, replace=False))
        scores = scores.iloc[rows].reset_index(drop=True)
        on = f"a seeded sample of {sample_size:,} of {n:,} respondents"
    k, dims = spec.n_segments.value, scores[spec.dimension_ids]
    preds = scores[terms or [c.id for c in spec.predictor_constructs]]
    measurement = LatentProfileClustering(k, standardize=spec.segmentation.standardize.value,
                                          random_state=spec.seed.value).fit(dims)
    coefs, walds = [], []
    for correction, label in ((None, "naive (modal assignment)"), ("BCH", "BCH"), ("ML", "ML")):
        r = ThreeStepLogit(k, correction=correction, reference=spec.membership.reference.value,
                           standardize=spec.membership.standardize_predictors.value, random_state=spec.seed.value,
                           spec=spec, measurement=measurement).fit(dims, preds, dummies=dummies).result_
        coefs.append(r.coefficients.assign(estimator=label, se_method=r.se_method))
        walds.append(r.wald_tests.assign(estimator=label))
    tables = {"three_step_coefficients": pd.concat(coefs, ignore_index=True),
              "three_step_wald": pd.concat(walds, ignore_index=True)}
    if on is not None:
        for table in tables.values():
            table["estimated_on"] = on
    return tables


def weighting_table(weights, column=None) -> pd.DataFrame:
    """The weighting in numbers: respondents, the weights' range, Kish's effective N and
    the design effect of unequal weighting ``N / n_eff``."""
    w = np.asarray(weights, dtype=float)
    n_eff = kish_effective_n(w)
    return pd.DataFrame([("weight_column", column or ""), ("n", len(w)), ("sum_of_weights", float(w.sum())),
                         ("min_weight", float(w.min())), ("max_weight", float(w.max())),
                         ("effective_n", n_eff), ("design_effect", len(w) / n_eff)],
                        columns=["statistic", "value"])


def check_survey_matches(spec: StudySpec, survey: pd.DataFrame, source="the survey") -> None:
    """Every item the specification names must be a column of the survey."""
    for c in spec.constructs:
        for item in c.items.value:
            if item not in survey.columns:
                raise ReplicationError(f"{source}, column '{item}': the study specification's construct "
                                       f"'{c.id}' needs this item, but the survey lacks it")
    if len(survey) < spec.n_segments.value:
        raise ReplicationError(f"{source}: {len(survey)} respondents cannot form "
                               f"{spec.n_segments.value} segments")


def survey_weights(spec: StudySpec, survey: pd.DataFrame):
    """The survey weights of a study on real data (its ``data.weight`` column, validated by
    the reader), as floats in the survey's row order; None for an unweighted study."""
    column = spec.data.weight if spec.data is not None else None
    return None if column is None else survey[column].to_numpy(dtype=float)


def analyse(spec: StudySpec, survey: pd.DataFrame, *, with_k_selection: bool = True,
            crosscheck: bool = True, stability: bool = True, n_jobs: int | None = None,
            source="the survey", composition: str | None = None, weights=None,
            labels: dict | None = None) -> AnalysisResult:
    """Run the study's whole analysis on a survey, in memory.

    Parameters
    ----------
    spec : StudySpec
        The study specification: constructs, segments, method, membership model, claims.
    survey : DataFrame
        ``respondent_id`` and at least every item the specification names (validated
        answers; see :func:`replication.study.loader.read_survey`).
    with_k_selection : bool, default True
        Compute the k-selection criteria (the ``n_segments`` claim needs them).
    crosscheck : bool, default True
        Refit the membership model with scikit-learn as a cross-check.
    stability : bool, default True
        Re-segment bootstrap samples and random row orders (intervals with the
        segmentation's own variability, stability); Monte Carlo replicates skip it.
    n_jobs : int, optional
        Worker processes for the bootstrap (results do not depend on it). Default: this
        process, which is quicker for the shipped studies (see the comment in the code).
    source : str
        How error messages name the survey (usually its file).
    composition : {"exact", "sampled"}, optional
        How the survey's segment composition came about, which decides how the share claims
        are judged (:mod:`replication.evaluation.shares`): ``exact`` for a synthetic sample
        built with the reported composition, ``sampled`` for a real survey or one drawn
        respondent by respondent. Default: from the specification (its ``data:`` block or
        ``simulation.composition``). This is the sample's design, never its truth.
    weights : array of shape (n_respondents,), optional
        Survey weights, one per row of ``survey`` (:func:`survey_weights`); None (the
        default) is unweighted. Weighted: the segmentation, shares (intervals on Kish's
        effective N), centroids, profiles and the membership model (weights rescaled to sum
        to the effective N, :func:`replication.weights.as_frequency`) and the bootstrap
        (respondents resampled with their weights). The row-order check, the comparison of
        methods and the corrected membership model stay unweighted.
    labels : dict, optional
        The survey file's labels (:attr:`UserSurvey.labels`): value labels name the levels
        of categorical predictors and carried columns.

    Returns
    -------
    AnalysisResult
    """
    check_survey_matches(spec, survey, source)
    # Below the exact limit every array is small: BLAS/OpenMP threads cost more in start-up
    # and contention than they save (k-means at N = 586: 57 ms with threads, 13 ms without),
    # so the analysis runs single-threaded and parallelism goes to the bootstrap's workers.
    limit = 1 if len(survey) <= spec.segmentation.exact_limit else None
    # scikit-learn re-validates its arguments on every call (about a tenth of a Monte Carlo
    # replicate); the arguments here are the package's own, and the data were checked above.
    with threadpool_limits(limits=limit), sklearn_config(skip_parameter_validation=True):
        return _analyse(spec, survey, with_k_selection, crosscheck, stability, n_jobs, source, composition, weights,
                        labels)


def _analyse(spec, survey, with_k_selection, crosscheck, stability, n_jobs, source, composition,
             weights=None, labels=None) -> AnalysisResult:
    # Single-column predictors are coded first: a bad one stops the run before the work.
    design = code_predictors(spec, survey, labels, source) if membership_predictors(spec) else None
    scores = scale_scores(survey, spec)
    tables = {"reliability": reliability(survey, spec, scores)}
    if weights is not None:
        weights = np.asarray(weights, dtype=float)
        tables["weighting"] = weighting_table(weights, spec.data.weight if spec.data is not None else None)
    segmentation = segment_analysis(spec, scores, survey, with_k_selection=with_k_selection, weights=weights)
    tables.update(segmentation.tables)
    u = spec.uncertainty
    segments = segmentation.assignments["segment"].to_numpy()
    tables["share_verdicts"] = share_verdicts(spec, segments, segmentation.model.labels_,
                                              scores[spec.dimension_ids].to_numpy(dtype=float), composition,
                                              weights=weights)
    # Above the exact limit the resampling runs on samples of panel_resample_size (see
    # evaluation.uncertainty): a refit of all respondents costs seconds there.
    panel = u.panel_resample_size if len(survey) > spec.segmentation.exact_limit else None
    if stability and (u.stability_resamples or u.row_orders):
        # One thread per refit: the resampled segmentations are small (samples of
        # panel_resample_size at panel scale), where BLAS and OpenMP threads cost more
        # than they save; worker processes (n_jobs) would cost more to start than they save.
        with threadpool_limits(limits=1):
            if u.stability_resamples:
                tables.update(bootstrap_stability(spec, scores, segmentation.model.labels_, segments,
                                                  u.stability_resamples, spec.seed.value, n_jobs=n_jobs or 1,
                                                  level=u.level, resample_size=panel, weights=weights))
            if u.row_orders and spec.segmentation.method.value == "ward_kmeans":
                tables["row_order_agreement"] = row_order_agreement(spec, scores, segmentation.model.labels_,
                                                                    u.row_orders, spec.seed.value, sample_size=panel)

    membership, data, problems = None, None, []
    if panel:
        release_memory()        # the segmentation's and the resampling's working arrays
    if spec.membership is not None:
        m = spec.membership
        md = membership_data(spec, scores, segmentation.assignments, survey, labels, source, design)
        data = md.data
        if md.codings:
            tables["logit_predictors"] = predictor_table(spec, md)
        if md.n_incomplete:
            problems.append(f"membership model: {md.n_incomplete} respondent(s) without a value of a "
                            "single-column predictor are left out of it (complete cases)")
        try:
            # Weights of the respondents in the model (complete cases), rescaled on them.
            membership = multinomial_logit(data, "segment", md.terms, m.reference.value,
                                           standardize=m.standardize_predictors.value, crosscheck=crosscheck,
                                           order=spec.segment_ids, groups=md.groups, dummies=md.dummies,
                                           labels=md.labels, panel_size=panel, random_state=spec.seed.value,
                                           weights=as_frequency(None if weights is None else weights[md.rows]))
            membership.codings = md.codings
        except ReplicationError as exc:
            # A segmentation that leaves the reference segment empty, or separates a
            # segment perfectly, has no membership model: its claims fail as not computed.
            problems.append(f"membership model not estimated: {exc}")
        else:
            tables.update({name: getattr(membership, attr) for name, attr in LOGIT_TABLES.items()})
    if study_has(spec, "carried"):
        segs = join_on_id(survey[["respondent_id"]], segmentation.assignments[["respondent_id", "segment"]],
                          how="left")["segment"]
        tables["carried_by_segment"], tables["carried_tests"] = carried_by_segment(spec, survey, segs, labels)
    if stability and not spec.is_synthetic:
        # On real data the comparison of methods belongs to the analysis; on synthetic data
        # it is computed with the recovery checks, which add its agreement with the truth.
        from .evaluation.comparison import compare_methods
        tables["method_comparison"] = compare_methods(spec, survey)
    if stability and membership is not None:
        try:
            # The panel rule (as for the resampling above): a seeded sample at panel scale.
            tables.update(corrected_membership(spec, data, md.terms, md.dummies, sample_size=panel))
        except ReplicationError as exc:
            problems.append(f"corrected membership model not estimated: {exc}")
    scorecard = evaluate_claims(spec, tables, skip_kinds=() if stability else ("stability",))
    tables["scorecard"] = scorecard
    return AnalysisResult(spec=spec, survey=survey, scores=scores, segmentation=segmentation,
                          membership=membership, membership_data=data, tables=tables,
                          scorecard=scorecard, problems=problems)
