"""Comparing segmentation methods: does the answer depend on the reading of "two-stage"?

>>> table = method_comparison(spec, survey, truth=sample.truth)      # doctest: +SKIP
>>> print(divergence_notes(table, spec))                            # doctest: +SKIP

The paper names only "a two-stage cluster analysis". :func:`method_comparison` runs each
candidate method on the same scale scores (``scale_scores(survey, spec)[spec.dimension_ids]``)
and reports, per method:

* the k it chooses by **its own criterion**: ``ward_kmeans`` the most common
  ``preferred_k`` of the package's k criteria (:func:`~replication.segmentation.kselect.k_selection`
  on Ward's tree, as :func:`~replication.segmentation.profiles.segment_analysis` computes
  them; a tie goes to the smaller k), ``twostep`` SPSS's BIC and distance-jump rule
  (:func:`~replication.segmentation.spss_twostep.select_k`), ``lpa`` the
  lowest BIC (:func:`~replication.segmentation.mixture.select_k`);
* its cluster shares at that k (largest first) and, at the **reported** k, the share of
  each reported segment, the clusters named by
  :func:`~replication.segmentation.naming.match_segments` so the shares line up with the
  reported segments (``pct_unmatched``: clusters that fit no reported profile);
* the adjusted Rand index against the paper's method (``ward_kmeans`` at the reported k)
  and, on synthetic data, against the true segments (``truth["respondents"]``), each
  computed twice, with the method at the reported k and at the k it chooses; the column
  names say which (``..._at_reported_k``, ``..._at_chosen_k``), since a method that
  chooses another k (Forrester's latent profile analysis: 9 for 5) is compared at both.

:func:`divergence_notes` turns the table into a few neutral sentences (different k,
shares more than :data:`SHARE_POINTS` points apart, ARI below :data:`ARI_AGREEMENT`), in
the words of the specification.

Every method is built by :func:`~replication.segmentation.registry.make_segmentation`, the
one place that maps the name a specification gives (``segmentation.method``) to an estimator.
"""

from __future__ import annotations

import copy
import time
from collections import Counter

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score

from ..errors import ReplicationError
from ..segmentation.kselect import k_selection
from ..segmentation.naming import match_segments
from ..segmentation.registry import (K_RULES, METHOD_LABELS, PAPER_METHOD,  # and re-exported
                                     make_segmentation, select_k)
from ..study.measurement import scale_scores
from ..study.spec import StudySpec

#: Shares this many percentage points apart count as different.
SHARE_POINTS = 3.0
#: An adjusted Rand index below this counts as a different partition.
ARI_AGREEMENT = 0.8
#: Above this many respondents, TwoStep and LPA choose k on a seeded sample of this size.
SAMPLE_LIMIT = 10_000


def choose_k(method: str, X, spec: StudySpec, sample_limit: int | None = None):
    """The k ``method`` chooses by its own criterion, and the table behind the choice.

    With more than ``sample_limit`` respondents, TwoStep's and the latent profile
    analysis's candidates are fitted on a seeded random sample of that size (the Ward
    criteria sample internally, as in :func:`k_selection`).
    """
    seg = spec.segmentation
    X = np.asarray(X, dtype=float)
    if method != "ward_kmeans" and sample_limit is not None and len(X) > sample_limit:
        rng = np.random.default_rng(spec.seed.value)
        X = X[np.sort(rng.choice(len(X), size=sample_limit, replace=False))]
    if method == "ward_kmeans":
        model = make_segmentation(method, spec.n_segments.value, spec).fit(X)
        Z = (np.asarray(X, dtype=float) - model.mean_) / model.scale_
        _, preferred, _ = k_selection(Z[model.order_], model.linkage_, k_range=range(seg.k_min, seg.k_max + 1),
                                      n_references=seg.gap_references, random_state=spec.seed.value,
                                      labels_at=model.stage1_labels)
        counts = Counter(preferred["preferred_k"].astype(int))
        top = max(counts.values())
        return min(k for k, c in counts.items() if c == top), preferred
    model = make_segmentation(method, spec.n_segments.value, spec)
    table, k = select_k(method, model, X, seg.k_min, seg.k_max)
    return int(k), table


def _named_shares(model, X, spec):
    """Segment of each respondent at the reported k (``"unmatched"`` where no profile fits)."""
    X = np.asarray(X, dtype=float)
    centers_z = (model.cluster_centers_raw_ - X.mean(axis=0)) / X.std(axis=0, ddof=1)
    match = match_segments(centers_z, spec)
    return match.segment_of(model.labels_), match


def method_comparison(spec: StudySpec, survey: pd.DataFrame, truth: dict | None = None,
                      methods=("ward_kmeans", "twostep", "lpa"),
                      sample_limit: int | None = SAMPLE_LIMIT) -> pd.DataFrame:
    """Each segmentation method on the same data: its k, its shares, its agreement.

    Parameters
    ----------
    spec : StudySpec
    survey : DataFrame
        ``respondent_id`` and the items.
    truth : dict, optional
        The generator's truth (``simulate_survey(...).truth``); adds ``ari_vs_truth``.
    methods : iterable of str
        Names from :data:`~replication.segmentation.registry.METHODS`.
    sample_limit : int or None
        Above this many respondents, TwoStep and the latent profile analysis choose k on
        a seeded random sample of this size (``k_chosen_on`` says so); every fit at the
        reported and at the chosen k uses all respondents. None: always all.

    Returns
    -------
    DataFrame
        One row per method: ``method, label, k_rule, k_chosen, k_chosen_on, k_reported,
        shares_at_chosen_k`` (percent, largest first), ``pct_<segment id>`` for every
        reported segment and ``pct_unmatched`` (at the reported k), ``all_matched`` (at
        the reported k), ``ari_vs_paper_at_reported_k`` and ``ari_vs_paper_at_chosen_k``
        (the method at that k against ``ward_kmeans`` at the reported k),
        ``ari_vs_truth_at_reported_k`` and ``ari_vs_truth_at_chosen_k`` (NaN without a
        truth), ``path`` (of the fit at the reported k) and ``seconds``.
    """
    scores = scale_scores(survey, spec)
    X = scores[spec.dimension_ids]
    k_rep = spec.n_segments.value
    paper = make_segmentation(PAPER_METHOD, k_rep, spec).fit(X)
    true = None
    if truth is not None:
        t = pd.DataFrame(truth["respondents"]).set_index("respondent_id")["segment"]
        true = t.reindex(scores["respondent_id"].to_numpy()).to_numpy()
        if pd.isna(true).any():
            raise ReplicationError("method comparison: the truth lacks some respondents of the survey")
    rows = []
    for method in methods:
        start = time.perf_counter()
        k_own, _ = choose_k(method, X, spec, sample_limit)
        at_rep = paper if method == PAPER_METHOD else make_segmentation(method, k_rep, spec).fit(X)
        if k_own == k_rep:
            at_own = at_rep
        else:   # a shallow copy shares what does not depend on k (TwoStep's CF tree)
            at_own = copy.copy(at_rep).set_params(n_clusters=k_own).fit(X)
        segments, match = _named_shares(at_rep, X, spec)
        n = len(segments)
        row = {"method": method, "label": METHOD_LABELS[method], "k_rule": K_RULES[method],
               "k_chosen": k_own,
               "k_chosen_on": (f"a seeded random sample of {sample_limit:,} of {len(X):,} respondents"
                               if method != "ward_kmeans" and sample_limit is not None and len(X) > sample_limit
                               else f"all {len(X):,} respondents"),
               "k_reported": k_rep,
               "shares_at_chosen_k": " / ".join(f"{100 * s / n:.1f}" for s in sorted(at_own.sizes_, reverse=True))}
        row.update({f"pct_{s}": 100 * float(np.mean(segments == s)) for s in spec.segment_ids})
        row["pct_unmatched"] = 100 * float(np.mean(segments == "unmatched"))
        row["all_matched"] = match.all_matched
        row["ari_vs_paper_at_reported_k"] = adjusted_rand_score(paper.labels_, at_rep.labels_)
        row["ari_vs_truth_at_reported_k"] = adjusted_rand_score(true, at_rep.labels_) if true is not None else np.nan
        row["ari_vs_paper_at_chosen_k"] = adjusted_rand_score(paper.labels_, at_own.labels_)
        row["ari_vs_truth_at_chosen_k"] = adjusted_rand_score(true, at_own.labels_) if true is not None else np.nan
        row["path"] = at_rep.path_
        row["seconds"] = time.perf_counter() - start
        rows.append(row)
    return pd.DataFrame(rows)


def divergence_notes(table: pd.DataFrame, spec: StudySpec) -> str:
    """Where the methods diverge, in neutral sentences built from the table and the spec.

    Reported: a k other than the reported one; a segment share more than
    :data:`SHARE_POINTS` points from the paper's method's; clusters fitting no reported
    profile; an adjusted Rand index against the paper's method below
    :data:`ARI_AGREEMENT`. Returns one sentence per line (``"- "`` bullets).
    """
    k_rep = spec.n_segments.value
    who = spec.study.population
    names = spec.segment_names
    label = dict(zip(table["method"], table["label"]))
    paper = table[table["method"] == PAPER_METHOD]
    base = paper.iloc[0] if len(paper) else None
    notes = []
    differ_k = table[table["k_chosen"] != k_rep]
    if differ_k.empty:
        notes.append(f"Every method's own criterion chooses the reported {k_rep} segments.")
    for r in differ_k.itertuples():
        notes.append(f"{r.label} chooses k = {r.k_chosen} by its own criterion ({r.k_rule}); "
                     f"the study reports {k_rep} segments.")
    for r in table.itertuples():
        if r.method == PAPER_METHOD:
            continue
        if not r.all_matched:
            notes.append(f"At k = {k_rep}, {r.label} forms clusters that fit no reported profile of "
                         f"{spec.study.dimensions} ({r.pct_unmatched:.0f}% of {who}).")
        for s in spec.segment_ids:
            ours = getattr(r, f"pct_{s}")
            if base is not None:
                theirs, against = base[f"pct_{s}"], label[PAPER_METHOD]
            else:
                theirs, against = 100 * spec.shares[spec.segment_ids.index(s)], "the reported share"
            if abs(ours - theirs) > SHARE_POINTS:
                notes.append(f"{names[s]}: {ours:.0f}% of {who} with {r.label}, {theirs:.0f}% with {against} "
                             f"({ours - theirs:+.0f} points).")
        if base is not None and r.ari_vs_paper_at_reported_k < ARI_AGREEMENT:
            notes.append(f"At k = {k_rep}, {r.label} and {label[PAPER_METHOD]} put {who} in different segments more "
                         f"often than a small share of borderline cases would explain (adjusted Rand index "
                         f"{r.ari_vs_paper_at_reported_k:.2f} < {ARI_AGREEMENT}).")
    if len(notes) == 1 and differ_k.empty:
        against = label.get(PAPER_METHOD, "the paper's method")
        notes.append(f"At k = {k_rep} the methods agree: every segment share within {SHARE_POINTS:.0f} points "
                     f"and an adjusted Rand index of at least {ARI_AGREEMENT} against {against}.")
    return "\n".join(f"- {n}" for n in notes)


#: Above this many respondents the methods are compared on a seeded sample of this size,
#: the sample size of the k criteria at scale (``kselect.SAMPLE_LIMIT``): the latent
#: profile analysis's nine k with ten EM starts each took about a minute at N = 60,000 and
#: 10 s at 5,000, about 3 s at 2,000 (where a 16 % segment still has over 300 respondents).
COMPARE_LIMIT = 2000


def compare_methods(spec: StudySpec, survey: pd.DataFrame, truth: dict | None = None) -> pd.DataFrame:
    """:func:`method_comparison` as the report shows it: on a seeded sample of
    :data:`COMPARE_LIMIT` respondents above that size (stated in ``compared_on``), without
    the run-time column (so reruns give identical files)."""
    n = len(survey)
    if n > COMPARE_LIMIT:
        rows = np.sort(np.random.default_rng(spec.seed.value).choice(n, COMPARE_LIMIT, replace=False))
        survey = survey.iloc[rows].reset_index(drop=True)
        on = f"a seeded sample of {COMPARE_LIMIT:,} of {n:,} respondents"
    else:
        on = f"all {n:,} respondents"
    table = method_comparison(spec, survey, truth=truth).drop(columns=["seconds"], errors="ignore")
    table.insert(1, "compared_on", on)
    return table
