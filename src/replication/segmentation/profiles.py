"""Describing the recovered segments: sizes against the reported shares, centroids,
differences in the dimensions across segments, and (:mod:`.profiling`) the profiling variables."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from .kselect import k_selection
from .profiling import profiling_by_segment, profiling_contrasts, profiling_tests
from .registry import K_RULES, make_segmentation, select_k
from .naming import SegmentMatch, match_segments
from ..errors import ReplicationError
from ..study.spec import StudySpec
from ..weights import weighted_mean, weighted_sd
from .ward_kmeans import TwoStageClustering
from .ward import agglomeration_schedule

#: Rows of the agglomeration schedule's tail shown in the table.
SCHEDULE_TAIL = 15


@dataclass
class SegmentAnalysis:
    """Everything the two-stage cluster analysis produced, in memory.

    Attributes
    ----------
    model : TwoStageClustering
    match : SegmentMatch
    assignments : DataFrame
        ``respondent_id, cluster, segment``.
    tables : dict
        Table name (file stem) -> DataFrame.
    """

    model: TwoStageClustering
    match: SegmentMatch
    assignments: pd.DataFrame
    tables: dict


def segment_analysis(spec: StudySpec, scores: pd.DataFrame, survey: pd.DataFrame | None = None,
                     with_k_selection: bool = True, weights=None) -> SegmentAnalysis:
    """Run the paper's cluster analysis on scale scores, as the methods section reads.

    Standardize the segmentation dimensions (if the study says so); Ward's method; cut at the reported k; k-means from the
    Ward centroids; name clusters by the reported profiles; describe the segments.

    Parameters
    ----------
    spec : StudySpec
    scores : DataFrame
        ``respondent_id`` and one column per construct (from :func:`scale_scores`).
    survey : DataFrame, optional
        The raw survey, for the profiling variables; skipped when not given.
    with_k_selection : bool
        Compute the k-selection criteria (the gap statistic takes a fraction of a second).
    weights : array of shape (n_respondents,), optional
        Survey weights (rows as ``scores``); None = unweighted. Weighted: the clustering
        (Ward and k-means, :meth:`TwoStageClustering.fit`), the shares, the centroids and
        their z-scores, the profile check and the profiling means. The k criteria other
        than Ward's agglomeration jump, the ANOVA and the profiling tests stay unweighted.

    Returns
    -------
    SegmentAnalysis
    """
    dims = [c.id for c in spec.clustering_constructs]
    k = spec.n_segments.value
    method = spec.segmentation
    if weights is None:
        model = make_segmentation(method.method.value, k, spec).fit(scores[dims])
    elif method.method.value != "ward_kmeans":
        raise ReplicationError(f"survey weights (data.weight) are supported for the segmentation method "
                               f"'ward_kmeans' only, not '{method.method.value}' (segmentation.method)")
    else:
        model = make_segmentation(method.method.value, k, spec).fit(scores[dims], sample_weight=weights)
    # Naming reads centroids as z-scores against the sample, whether or not the
    # clustering itself ran on standardized variables.
    X = scores[dims].to_numpy(dtype=float)
    if weights is None:
        centers_z = (model.cluster_centers_raw_ - X.mean(axis=0)) / X.std(axis=0, ddof=1)
    else:
        centers_z = (model.cluster_centers_raw_ - weighted_mean(X, weights)) / weighted_sd(X, weights)
    match = match_segments(centers_z, spec)
    segment = pd.Series(match.segment_of(model.labels_), index=scores.index)
    assignments = pd.DataFrame({"respondent_id": scores["respondent_id"].to_numpy(),
                                "cluster": model.labels_ + 1, "segment": segment.to_numpy()})
    tables = {
        "cluster_sizes": cluster_size_table(spec, segment, weights),
        "centroids": centroid_table(model, match, dims, centers_z),
        "segment_match": match.table,
        "need_anova": need_anova(scores, model.labels_, dims),
        "profile_check": profile_check(spec, scores, segment, weights),
    }
    if model.linkage_ is not None:
        tables["agglomeration_schedule_tail"] = agglomeration_schedule(model.linkage_).tail(SCHEDULE_TAIL)
    if with_k_selection and model.linkage_ is None:
        # A method without Ward's tree chooses k by its own criterion (TwoStep: BIC and the
        # distance jump; latent profiles: BIC); that single criterion is the k check.
        own, chosen = select_k(method.method.value, model, scores[dims].to_numpy(dtype=float), method.k_min,
                               method.k_max)
        preferred = pd.DataFrame([{"criterion": f"{method.method.value} own rule", "rule": K_RULES[method.method.value],
                                   "preferred_k": int(chosen)}])
        preferred["agrees_with_reported_k"] = preferred["preferred_k"] == k
        tables["k_selection"], tables["k_preferred"] = own, preferred
        tables["segmentation_path"] = pd.DataFrame([{"item": "segmentation", "how": model.path_},
                                                    {"item": "k criterion", "how": K_RULES[method.method.value]}])
    elif with_k_selection:
        Z = (scores[dims].to_numpy() - model.mean_) / model.scale_
        criteria, preferred, sampling = k_selection(
            Z[model.order_], model.linkage_, k_range=range(method.k_min, method.k_max + 1),
            n_references=method.gap_references, random_state=spec.seed.value, labels_at=model.stage1_labels,
            weighted_tree=weights is not None)
        preferred["agrees_with_reported_k"] = preferred["preferred_k"] == k
        tables["k_selection"], tables["k_preferred"] = criteria, preferred
        tables["segmentation_path"] = segmentation_path_table(model, sampling)
    if survey is not None and spec.profiling:
        tables["profiling_by_segment"] = profiling_by_segment(survey, segment, spec, weights)
        tables["profiling_tests"] = profiling_tests(survey, segment, spec)
        tables["profiling_contrasts"] = profiling_contrasts(survey, segment, spec, weights)
    return SegmentAnalysis(model=model, match=match, assignments=assignments, tables=tables)


def segmentation_path_table(model, sampling: pd.DataFrame) -> pd.DataFrame:
    """How the segmentation was computed: the path, and what each k criterion was computed on."""
    n = int(model.sizes_.sum())
    if model.path_ == "exact":
        stage1 = f"exact: Ward's method on all {n:,} respondents (N <= {model.exact_limit:,})"
    else:
        stage1 = (f"micro-clusters: {len(model.micro_sizes_):,} seeded k-means micro-clusters of all {n:,} "
                  f"respondents, merged by Ward's method weighted by their sizes (N > {model.exact_limit:,})")
    rows = [{"item": "stage 1 (Ward)", "how": stage1},
            {"item": "stage 2 (k-means)", "how": f"k-means on all {n:,} respondents from the Ward centroids"}]
    rows += [{"item": f"k criterion: {c}", "how": how} for c, how in zip(sampling["criterion"], sampling["computed_on"])]
    return pd.DataFrame(rows)


def cluster_size_table(spec: StudySpec, segments: pd.Series, weights=None) -> pd.DataFrame:
    """Reported share against replicated size for every segment.

    Parameters
    ----------
    spec : StudySpec
    segments : Series
        Segment id of each respondent (``"unmatched"`` for clusters with no name).
    weights : array, optional
        Survey weights: ``replicated_pct`` is then the weighted share (``n`` stays the
        count of respondents) and a column ``weighted_n`` (summed weights) is added.

    Returns
    -------
    DataFrame
        ``segment, name, reported_pct, normalised_pct, n, replicated_pct, difference_pp``;
        a row ``unmatched`` is added when some clusters have no name. ``difference_pp`` is
        replicated minus reported as printed; ``normalised_pct`` is the reported share
        rescaled so that the shares sum to 100 (it differs from ``reported_pct`` only where
        the rounded reported shares do not sum to 100; the synthetic sample is built from it).
        Whether a share agrees is judged by :mod:`replication.evaluation.shares`.
    """
    if weights is not None:
        return _weighted_size_table(spec, segments, weights)
    n = len(segments)
    counts = segments.value_counts()
    rows = []
    for s, share in zip(spec.segments, spec.shares * 100):
        k = int(counts.get(s.id, 0))
        pct = 100 * k / n
        rows.append({"segment": s.id, "name": s.name.value, "reported_pct": s.share.value,
                     "normalised_pct": share, "n": k, "replicated_pct": pct,
                     "difference_pp": pct - s.share.value})
    k = int(counts.get("unmatched", 0))
    if k:
        rows.append({"segment": "unmatched", "name": "(clusters fitting no reported profile)",
                     "reported_pct": 0.0, "normalised_pct": 0.0, "n": k, "replicated_pct": 100 * k / n,
                     "difference_pp": 100 * k / n})
    return pd.DataFrame(rows)


def _weighted_size_table(spec: StudySpec, segments: pd.Series, weights) -> pd.DataFrame:
    """:func:`cluster_size_table` with survey weights (a separate path: the unweighted table is unchanged)."""
    seg, w = np.asarray(segments, dtype=object), np.asarray(weights, dtype=float)
    total = w.sum()
    rows = []
    for s, share in zip(spec.segments, spec.shares * 100):
        mine = seg == s.id
        pct = 100 * w[mine].sum() / total
        rows.append({"segment": s.id, "name": s.name.value, "reported_pct": s.share.value,
                     "normalised_pct": share, "n": int(mine.sum()), "weighted_n": float(w[mine].sum()),
                     "replicated_pct": pct, "difference_pp": pct - s.share.value})
    mine = seg == "unmatched"
    if mine.any():
        pct = 100 * w[mine].sum() / total
        rows.append({"segment": "unmatched", "name": "(clusters fitting no reported profile)",
                     "reported_pct": 0.0, "normalised_pct": 0.0, "n": int(mine.sum()),
                     "weighted_n": float(w[mine].sum()), "replicated_pct": pct, "difference_pp": pct})
    return pd.DataFrame(rows)


def centroid_table(model, match, dims: list[str], centers_z=None) -> pd.DataFrame:
    """Final centroids per cluster on the raw scale and as z-scores, with the naming."""
    centers_z = model.cluster_centers_ if centers_z is None else centers_z
    rows = []
    for c in range(model.n_clusters):
        row = {"cluster": c + 1, "segment": match.table.loc[c, "segment"], "n": int(model.sizes_[c])}
        if getattr(model, "sample_weight_", None) is not None:     # a weighted fit: its summed weights too
            row["weighted_n"] = float(model.weighted_sizes_[c])
        row.update({f"{v}_mean": model.cluster_centers_raw_[c, j] for j, v in enumerate(dims)})
        row.update({f"{v}_z": centers_z[c, j] for j, v in enumerate(dims)})
        row.update({"pattern": match.table.loc[c, "pattern"],
                    "reported_profile": match.table.loc[c, "assigned_profile"],
                    "agreement": match.table.loc[c, "agreement"],
                    "matched": bool(match.table.loc[c, "matched"])})
        rows.append(row)
    return pd.DataFrame(rows)


#: The profile rule, relative to the sample and between segments: a reported High (Low)
#: level holds when the segment's mean lies above (below) the sample mean of that dimension
#: AND at least EFFECT_SIZE_MIN pooled within-segment SDs above (below) the mean of the
#: segments reported on the other side (Cohen's d; 0.8 is "large"). Both parts are
#: unchanged when every answer moves or is squeezed by a response style; without segments
#: the structure claims (k, stability) fail and the profile claims are not assessable.
EFFECT_SIZE_MIN = 1.0


def profile_check(spec: StudySpec, scores: pd.DataFrame, segment: pd.Series, weights=None) -> pd.DataFrame:
    """Each reported High/Low level checked relative to the sample and to the other segments.

    Naming (:func:`match_segments`) already puts each named cluster on its reported side
    of the sample mean; this check adds that the segments must also be clearly apart: for
    segment s and dimension d reported High, s's mean lies above the sample mean of d, and
    Cohen's d of s against the segments reported Low on d (their pooled mean; pooled
    within-segment SD of all segments) is at least :data:`EFFECT_SIZE_MIN`; mirrored for
    Low. A level with no side (``M``) is not checked. No part refers to the answer scale's
    midpoint, so a response style (everyone a point higher) does not change a verdict.

    With survey ``weights`` every mean and SD is weighted (:mod:`replication.weights`).

    Returns
    -------
    DataFrame
        One row per segment and dimension: ``segment, dimension, reported, mean, z``
        (the segment mean in sample SDs from the sample mean), ``other_side_mean,
        effect_size, holds`` (``holds`` is False for a segment no cluster was named after).
    """
    dims = spec.dimension_ids
    seg = np.asarray(segment)
    rows = []
    if weights is not None:
        return _weighted_profile_check(spec, scores, seg, np.asarray(weights, dtype=float))
    member = _Membership(seg)
    for d in dims:
        x = scores[d].to_numpy(dtype=float)
        groups = [x[member.of(g)] for g in member.groups]
        within = sum(((g - g.mean()) ** 2).sum() for g in groups)
        sd = float(np.sqrt(within / max(len(x) - len(groups), 1))) or np.nan
        centre, spread = float(x.mean()), float(x.std(ddof=1)) or np.nan
        for s in spec.segments:
            side = s.pattern([d])
            mine = x[member.of(s.id)]
            others = [o.id for o in spec.segments if o.pattern([d]) not in (side, "M")]
            theirs = x[member.any_of(others)]
            mean = float(mine.mean()) if mine.size else np.nan
            other = float(theirs.mean()) if theirs.size else np.nan
            rows.append(_profile_row(s, d, side, mine.size, theirs.size, mean, other, centre, spread, sd))
    return pd.DataFrame(rows)


class _Membership:
    """Masks of segments of a per-respondent label array, by integer codes (comparing
    millions of text labels one by one took seconds per mask at panel scale)."""

    def __init__(self, seg):
        codes, labels = pd.factorize(np.asarray(seg))
        self.codes = codes
        self.index = {g: i for i, g in enumerate(labels)}
        self.groups = sorted(self.index)            # np.unique's order

    def of(self, g) -> np.ndarray:
        return self.codes == self.index[g] if g in self.index else np.zeros(len(self.codes), bool)

    def any_of(self, gs) -> np.ndarray:
        return np.isin(self.codes, [self.index[g] for g in gs if g in self.index])


def _weighted_profile_check(spec: StudySpec, scores: pd.DataFrame, seg, w) -> pd.DataFrame:
    """:func:`profile_check` with survey weights: weighted means, and SDs with frequency-weight
    degrees of freedom (``sum w - 1``; pooled within: ``sum w - groups``)."""
    rows = []
    member = _Membership(seg)
    for d in spec.dimension_ids:
        x = scores[d].to_numpy(dtype=float)
        groups = [member.of(g) for g in member.groups]
        within = sum((w[g] * (x[g] - np.average(x[g], weights=w[g])) ** 2).sum() for g in groups)
        sd = float(np.sqrt(within / max(w.sum() - len(groups), 1))) or np.nan
        centre, spread = float(weighted_mean(x, w)), float(weighted_sd(x, w)) or np.nan
        for s in spec.segments:
            side = s.pattern([d])
            mine = member.of(s.id)
            others = member.any_of([o.id for o in spec.segments if o.pattern([d]) not in (side, "M")])
            mean = float(np.average(x[mine], weights=w[mine])) if mine.any() else np.nan
            other = float(np.average(x[others], weights=w[others])) if others.any() else np.nan
            rows.append(_profile_row(s, d, side, int(mine.sum()), int(others.sum()), mean, other, centre, spread, sd))
    return pd.DataFrame(rows)


def _profile_row(s, d, side, n_mine, n_theirs, mean, other, centre, spread, sd) -> dict:
    """One row of :func:`profile_check`: the level's verdict from the means and SDs."""
    sign = 1.0 if side == "H" else -1.0
    effect = sign * (mean - other) / sd if n_mine and n_theirs else np.nan
    z = (mean - centre) / spread if n_mine else np.nan
    if side == "M":
        holds = bool(n_mine)
    else:
        holds = bool(n_mine) and sign * z > 0 and \
            (np.isnan(effect) and not n_theirs or effect >= EFFECT_SIZE_MIN)
    return {"segment": s.id, "dimension": d, "reported": side, "mean": mean, "z": z,
            "other_side_mean": other, "effect_size": effect, "holds": bool(holds)}


def need_anova(scores: pd.DataFrame, labels, dims: list[str]) -> pd.DataFrame:
    """One-way ANOVA and Kruskal-Wallis test of each need across clusters.

    The F test is descriptive here: clusters were formed to differ on these variables,
    so its p-value is not a test of a hypothesis (a point textbooks make about
    post-clustering ANOVA); eta squared says how much of each need the clusters explain.
    """
    labels = np.asarray(labels)
    groups = np.unique(labels)
    rows = []
    for v in dims:
        x = scores[v].to_numpy()
        parts = [x[labels == g] for g in groups]
        f, p = stats.f_oneway(*parts)
        h, p_kw = stats.kruskal(*parts)
        ss_between = sum(len(g) * (g.mean() - x.mean()) ** 2 for g in parts)
        ss_total = ((x - x.mean()) ** 2).sum()
        rows.append({"construct": v, "F": f, "df_between": len(parts) - 1, "df_within": len(x) - len(parts),
                     "p_value": p, "eta_squared": ss_between / ss_total, "kruskal_H": h, "kruskal_p": p_kw})
    return pd.DataFrame(rows)
