"""Tests of the two-stage cluster analysis (Ward's method, then k-means from the Ward
centroids), its naming by the reported profiles, the choice of k, and its errors.

Fixtures are module-scoped and defined here (not in conftest.py) so this file stands on
its own. The whole file runs in well under 15 s: the expensive pieces (the default
analysis with k-selection, the null analysis) are computed once per module.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal
from sklearn.metrics import adjusted_rand_score

from replication import cli, pipeline
from replication.errors import ReplicationError
from replication.evaluation.claims import evaluate_claims
from replication.evaluation.recovery import clustering_recovery
from replication.outputs import outputs_for
from replication.segmentation import profiles, ward
from replication.segmentation.kmeans import kmeans_refine
from replication.segmentation.naming import match_segments
from replication.segmentation.ward_kmeans import TwoStageClustering
from replication.study.measurement import reliability, scale_scores
from replication.study.simulate import simulate_survey

CLUSTER_CLAIM_KINDS = {"segment_share", "segment_profile", "n_segments"}


# ---------------------------------------------------------------------------------------
# Fixtures (module-scoped)
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def needs(spec):
    return [c.id for c in spec.clustering_constructs]


@pytest.fixture(scope="module")
def default_sample(spec):
    """The default synthetic sample: the study's N, separation and seed."""
    return simulate_survey(spec)


@pytest.fixture(scope="module")
def default_scores(spec, default_sample):
    return scale_scores(default_sample.survey, spec)


@pytest.fixture(scope="module")
def default_X(default_scores, needs):
    return default_scores[needs].to_numpy()


@pytest.fixture(scope="module")
def default_result(spec, default_sample, default_scores):
    """The full analysis (k-selection and profiling included) on the default sample."""
    return profiles.segment_analysis(spec, default_scores, default_sample.survey)


@pytest.fixture(scope="module")
def null_sample(spec):
    """separation=0: one multivariate-normal cloud on the needs, same N and constructs."""
    return simulate_survey(spec, separation=0)


@pytest.fixture(scope="module")
def null_result(spec, null_sample):
    return profiles.segment_analysis(spec, scale_scores(null_sample.survey, spec), null_sample.survey)


def profile_matrix(spec, needs):
    """Segments x needs, +1 for a reported High and -1 for a reported Low."""
    return np.array([[1.0 if s.profile.value[c] == "H" else -1.0 for c in needs] for s in spec.segments])


def cluster_claims(spec, result, survey, premises=True):
    """The scorecard rows of the cluster-analysis claims (share, profile, number of segments);
    with ``premises=False`` each judged on its own (the k and stability claims left out)."""
    from replication.evaluation.shares import share_verdicts
    tables = dict(result.tables)
    tables["reliability"] = reliability(survey, spec)
    X = scale_scores(survey, spec)[spec.dimension_ids].to_numpy(dtype=float)
    tables["share_verdicts"] = share_verdicts(spec, result.assignments["segment"], result.model.labels_, X)
    card = evaluate_claims(spec, tables, skip_kinds=() if premises else ("n_segments", "stability"))
    kinds = {c.id: c.kind for c in spec.claims}
    card["kind"] = card["claim"].map(kinds)
    return card[card["kind"].isin(CLUSTER_CLAIM_KINDS)]


# ---------------------------------------------------------------------------------------
# 1. Acceptance at the default seed
# ---------------------------------------------------------------------------------------


def test_default_seed_shares_within_two_points(spec, default_result, default_scores):
    sizes = default_result.tables["cluster_sizes"]
    # Every reported segment has a row and no cluster was left unnamed.
    assert sizes["segment"].tolist() == spec.segment_ids
    # 2.0 points: the paper rounds shares to whole percent; 2 points allows rounding plus the
    # misclassification expected at separation 5.5 (the claims use the 95 % interval).
    diff = (sizes["replicated_pct"] - sizes["reported_pct"]).abs()
    assert (diff <= 2.0).all(), sizes[["segment", "reported_pct", "replicated_pct"]]
    from replication.evaluation.shares import share_verdicts
    X = default_scores[spec.dimension_ids].to_numpy(dtype=float)
    v = share_verdicts(spec, default_result.assignments["segment"], default_result.model.labels_, X)
    assert (v["verdict"] == "PASS").all(), v
    # The replicated shares are the assignments, recounted independently of the table.
    counts = default_result.assignments["segment"].value_counts()
    n = len(default_result.assignments)
    for _, row in sizes.iterrows():
        assert row["n"] == counts[row["segment"]]
        assert row["replicated_pct"] == pytest.approx(100 * counts[row["segment"]] / n, abs=1e-12)


def test_default_seed_every_cluster_matched_once(spec, default_result):
    match = default_result.match
    assert match.all_matched
    # Each reported segment names exactly one cluster (a one-to-one naming).
    assert sorted(match.table["segment"]) == sorted(spec.segment_ids)
    assert sorted(m for m in match.mapping.values()) == sorted(spec.segment_ids)
    assert "unmatched" not in set(default_result.assignments["segment"])


def test_default_seed_recovers_true_segments(spec, default_sample, default_result):
    summary, confusion = clustering_recovery(spec, default_sample.truth, default_result.assignments)
    stats = summary.set_index("statistic")["value"]
    # ARI >= 0.90: at separation 5.5 the generator puts High and Low needs ~5.5 latent SDs
    # apart; misclassification comes only from the tails, so agreement with the truth is high
    # (0.94 at the default seed), and 0.90 leaves room without accepting a poor recovery.
    assert stats["adjusted_rand_index"] >= 0.90
    assert stats["n"] == spec.n.value


def test_default_seed_kmeans_converged(default_result):
    model = default_result.model
    assert model.converged_
    assert model.n_iter_ < model.max_iter


# ---------------------------------------------------------------------------------------
# 2. Across 50 seeds
# ---------------------------------------------------------------------------------------


def test_shares_within_three_points_in_90_percent_of_seeds(spec, needs):
    # 3.0 points (looser than the 2-point acceptance) because this is a statement about the
    # method across samples, and 90% of seeds because a few samples may be unlucky; the spec
    # says 98% of seeds are within 2 points at this separation, so this has ample margin
    # while still failing if recovery broke for a sizeable share of seeds.
    ok, worst = 0, {}
    for seed in range(50):
        sample = simulate_survey(spec, random_state=seed)
        result = profiles.segment_analysis(spec, scale_scores(sample.survey, spec), None,
                                           with_k_selection=False)
        sizes = result.tables["cluster_sizes"]
        named = sizes["segment"].tolist() == spec.segment_ids   # no 'unmatched' row
        diff = (sizes["replicated_pct"] - sizes["reported_pct"]).abs().max()
        worst[seed] = diff if named else np.inf
        ok += bool(named and diff <= 3.0)
    assert ok >= 45, f"only {ok} of 50 seeds within 3 points; worst: {sorted(worst.items(), key=lambda kv: -kv[1])[:5]}"


# ---------------------------------------------------------------------------------------
# 3. Negative control: no segment structure
# ---------------------------------------------------------------------------------------


def test_negative_control_fails_cluster_claims(spec, null_sample, null_result):
    assert null_sample.truth["parameters"]["separation"] == 0
    assert len(null_sample.survey) == spec.n.value
    card = cluster_claims(spec, null_result, null_sample.survey)
    assert set(card["kind"]) == CLUSTER_CLAIM_KINDS
    assert not card["passed"].all(), card[["claim", "replicated_value", "passed"]]
    shares = card[card["kind"] == "segment_share"]
    assert len(shares) == len(spec.segments)
    assert not shares["passed"].any(), shares[["claim", "replicated_value"]]
    # On their own (premises left out) the share and profile comparisons fail too.
    alone = cluster_claims(spec, null_result, null_sample.survey, premises=False)
    assert not alone.loc[alone["kind"] == "segment_share", "passed"].all()


@pytest.mark.parametrize("seed", range(5))
def test_negative_control_fails_cluster_claims_across_seeds(spec, seed):
    # Without k-selection (the gap statistic would triple the time), so the n_segments
    # claim is "not computed" and fails trivially; it is left out here and the check rests
    # on the share and profile claims, which are computed. (With k-selection, n_segments
    # passes by chance at random_state=2: three criteria pick 5 on a structureless cloud.)
    sample = simulate_survey(spec, separation=0, random_state=seed)
    result = profiles.segment_analysis(spec, scale_scores(sample.survey, spec), None,
                                       with_k_selection=False)
    card = cluster_claims(spec, result, sample.survey, premises=False)
    assert len(card) == 2 * len(spec.segments)
    assert not card["passed"].all()
    assert not card.loc[card["kind"] == "segment_share", "passed"].all()


# ---------------------------------------------------------------------------------------
# 4. Permutation invariance
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("perm_seed", range(5))
def test_row_permutation_permutes_labels(default_X, perm_seed):
    base = TwoStageClustering(5).fit(default_X)
    perm = np.random.default_rng(perm_seed).permutation(len(default_X))
    model = TwoStageClustering(5).fit(default_X[perm])
    # Exact equality, no tolerance: fit sorts the rows into a canonical order before
    # anything is computed, so the arithmetic is identical whatever the input order.
    assert np.array_equal(model.labels_, base.labels_[perm])
    assert np.array_equal(model.cluster_centers_, base.cluster_centers_)
    assert np.array_equal(model.sizes_, base.sizes_)


# ---------------------------------------------------------------------------------------
# 5. Equivalence with the steps done by hand
# ---------------------------------------------------------------------------------------


def test_fit_equals_hand_made_steps(default_X):
    model = TwoStageClustering(5).fit(default_X)
    Z = (default_X - default_X.mean(axis=0)) / default_X.std(axis=0, ddof=1)
    linkage = ward.ward_linkage(Z)
    w = ward.ward_clusters(linkage, 5)
    km = kmeans_refine(Z, ward.cluster_centroids(Z, w, 5))
    assert adjusted_rand_score(model.labels_, km.labels) == 1.0
    # 1e-9: the same computation on rows in another order; only floating-point summation
    # order differs (observed differences ~1e-15).
    np.testing.assert_allclose(np.sort(model.cluster_centers_, axis=0), np.sort(km.centers, axis=0),
                               rtol=0, atol=1e-9)
    # Row-sorted comparison too (sorting columns separately could hide a mismatch).
    a = model.cluster_centers_[np.lexsort(model.cluster_centers_.T[::-1])]
    b = km.centers[np.lexsort(km.centers.T[::-1])]
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-9)
    np.testing.assert_allclose(model.mean_, default_X.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(model.scale_, default_X.std(axis=0, ddof=1), rtol=1e-12)
    np.testing.assert_allclose(model.cluster_centers_raw_, model.cluster_centers_ * model.scale_ + model.mean_)


# ---------------------------------------------------------------------------------------
# 6. predict
# ---------------------------------------------------------------------------------------


def test_predict_training_data_reproduces_labels(default_result, default_X):
    model = default_result.model
    assert model.converged_
    pred = model.predict(default_X)
    # Converged k-means: every respondent is nearest its own final centroid, so 100%.
    assert (pred == model.labels_).mean() >= 0.99
    assert np.array_equal(pred, model.labels_)


def test_predict_new_respondents(spec, default_result, needs):
    model = default_result.model
    new = scale_scores(simulate_survey(spec, n=20, random_state=7).survey, spec)[needs].to_numpy()
    pred = model.predict(new[:8])
    assert pred.shape == (8,)
    assert set(pred.tolist()) <= set(range(5))
    # A centroid (on the raw scale) is nearest to itself.
    assert model.predict(model.cluster_centers_raw_).tolist() == list(range(5))


# ---------------------------------------------------------------------------------------
# 7. Label numbering
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [None, 0, 1, 2])
def test_clusters_numbered_largest_first(spec, needs, seed):
    X = scale_scores(simulate_survey(spec, random_state=seed).survey, spec)[needs].to_numpy()
    model = TwoStageClustering(5).fit(X)
    assert np.all(np.diff(model.sizes_) <= 0), model.sizes_
    assert np.array_equal(model.sizes_, np.bincount(model.labels_, minlength=5))
    assert model.sizes_.sum() == len(X)


# ---------------------------------------------------------------------------------------
# 8. Clear errors
# ---------------------------------------------------------------------------------------


def test_fewer_respondents_than_clusters(default_X):
    with pytest.raises(ReplicationError, match=r"^4 respondents cannot form 5 clusters$"):
        TwoStageClustering(5).fit(default_X[:4])


def test_constant_column(default_scores, needs):
    X = default_scores[needs].copy()
    X["product_customization"] = 4.0
    with pytest.raises(ReplicationError, match=r"clustering variable 'product_customization' is constant"):
        TwoStageClustering(5).fit(X)


def test_missing_value_names_variable_and_row(default_scores, needs):
    X = default_scores[needs].copy()
    X.iloc[6, 1] = np.nan   # 7th respondent (row 7, 1 = first row), product_customization
    with pytest.raises(ReplicationError, match=r"clustering variable 'product_customization' has 1 missing "
                                               r"value\(s\) \(first in row 7\)"):
        TwoStageClustering(5).fit(X)


def test_fewer_distinct_respondents_than_clusters_is_a_clear_error():
    # Ten respondents but only three distinct answer patterns cannot form five clusters.
    # Ward's cut then has empty clusters; the error should be a ReplicationError, not a
    # ValueError from scikit-learn about NaN in the k-means start.
    X = np.array([[1, 2, 3]] * 4 + [[4, 5, 6]] * 3 + [[7, 1, 2]] * 3, dtype=float)
    with pytest.raises(ReplicationError):
        TwoStageClustering(5).fit(X)


def test_infinite_value_is_a_clear_error(default_X):
    X = default_X.copy()
    X[3, 0] = np.inf
    with pytest.raises(ReplicationError):
        TwoStageClustering(5).fit(X)


def test_cli_cluster_with_constant_need(spec, tmp_path, capsys):
    # Every step reruns the analysis from the raw survey, so a clustering problem surfaces
    # through `replication cluster` as a one-line user error, and nothing is written.
    layout = pipeline.layout_for(spec, tmp_path)
    pipeline.generate(spec, layout)
    survey = pd.read_csv(layout.survey)
    for item in spec.constructs[2].items.value:   # interaction_humanization: all answered 4
        survey[item] = 4
    survey.to_csv(layout.survey, index=False)
    with pytest.raises(SystemExit) as info:
        cli.main(["cluster", "--root", str(tmp_path)])
    err = capsys.readouterr().err
    assert info.value.code == 2, err
    assert "error:" in err
    assert "Traceback" not in err
    assert "'interaction_humanization' is constant" in err
    for o in outputs_for(spec, step="cluster"):
        assert not o.path(layout).exists(), o.name
    assert not layout.processed.exists() and not layout.reports.exists()


# ---------------------------------------------------------------------------------------
# 9. match_segments
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("perm_seed", range(5))
def test_match_segments_recovers_shuffled_profiles(spec, needs, perm_seed):
    P = profile_matrix(spec, needs)
    perm = np.random.default_rng(perm_seed).permutation(len(P))
    match = match_segments(P[perm], spec)
    assert match.all_matched
    assert [match.mapping[c] for c in range(len(P))] == [spec.segment_ids[i] for i in perm]
    assert match.table["agreement"].tolist() == [1.0] * len(P)


@pytest.mark.parametrize("perm_seed", range(4))
def test_match_segments_two_identical_patterns_leave_one_unmatched(spec, needs, perm_seed):
    # Two H/H/H clusters and no L/L/L one: one H/H/H cluster is lovers, the other fits no
    # remaining profile. The three other clusters fit their profiles exactly and must keep
    # their names; exactly one cluster is 'unmatched'.
    P = profile_matrix(spec, needs)
    ids = spec.segment_ids
    lovers = ids.index("individualization_lovers")
    rows = [lovers, lovers] + [ids.index(s) for s in ("social_customizers", "omnichannel_seekers",
                                                      "digital_customizers")]
    order = np.random.default_rng(perm_seed).permutation(5)
    centers = P[rows][order]
    match = match_segments(centers, spec)
    t = match.table
    assert (t["segment"] == "unmatched").sum() == 1, t[["pattern", "segment", "assigned_profile"]]
    assert t.loc[t["segment"] == "unmatched", "pattern"].tolist() == ["H/H/H"]
    assert sorted(t.loc[t["matched"], "segment"]) == sorted(ids[i] for i in set(rows))
    assert not match.all_matched


def test_match_segments_does_not_sacrifice_a_perfect_fit(spec, needs):
    # Same situation without exact ties: the duplicate H/H/H cluster is as far out as the
    # first, the L/H/H cluster lies closer to the sample mean. The L/H/H cluster still fits
    # social_customizers perfectly and should be named so; only the extra H/H/H is unmatched.
    centers = np.array([[1.0, 1.0, 1.0],
                        [1.0, 1.0, 1.0],
                        [-0.5, 0.5, 0.5],     # L/H/H
                        [1.0, -1.0, 1.0],     # H/L/H
                        [1.0, 1.0, -1.0]])    # H/H/L
    t = match_segments(centers, spec).table
    assert t.loc[2, "segment"] == "social_customizers", t[["pattern", "segment", "assigned_profile"]]
    assert (t["segment"] == "unmatched").sum() == 1


# ---------------------------------------------------------------------------------------
# 10. Choosing k
# ---------------------------------------------------------------------------------------


def test_k_selection_prefers_reported_k(default_result):
    crit = default_result.tables["k_selection"]
    pref = default_result.tables["k_preferred"]
    assert crit["k"].tolist() == list(range(2, 11))
    assert crit[["calinski_harabasz", "silhouette", "davies_bouldin", "gap"]].notna().all().all()
    assert len(pref) == 5
    prefers = dict(zip(pref["criterion"], pref["preferred_k"]))
    # The report states every criterion prefers 5 at the default seed.
    assert all(k == 5 for k in prefers.values()), prefers
    assert pref["agrees_with_reported_k"].all()


def test_k_selection_on_null_data_does_not_support_five(null_result):
    pref = null_result.tables["k_preferred"]
    agree = int((pref["preferred_k"] == 5).sum())
    # Fewer than 3 (the n_segments claim's min_agree): at the default seed 2 of 5 criteria
    # land on 5 by chance. (Not true for every seed: at random_state=2 three do.)
    assert agree < 3, dict(zip(pref["criterion"], pref["preferred_k"]))


# ---------------------------------------------------------------------------------------
# 11. Agglomeration schedule
# ---------------------------------------------------------------------------------------


def test_agglomeration_coefficient_is_within_cluster_ss(default_result, default_X):
    model = default_result.model
    schedule = ward.agglomeration_schedule(model.linkage_)
    assert len(schedule) == len(default_X) - 1
    assert schedule["clusters_after"].iloc[-1] == 1
    Zs = ((default_X - model.mean_) / model.scale_)[model.order_]   # the rows Ward saw
    for k in [5, 2, 3, 4, 6, 10]:
        labels = ward.ward_clusters(model.linkage_, k)
        assert len(np.unique(labels)) == k
        direct = sum(((Zs[labels == j] - Zs[labels == j].mean(axis=0)) ** 2).sum() for j in range(k))
        coef = schedule.loc[schedule["clusters_after"] == k, "coefficient"].item()
        # rel 1e-9: an exact identity (Ward's increase is height**2 / 2), summed over ~580
        # merges in floating point; the error is ~1e-13 relative.
        assert coef == pytest.approx(direct, rel=1e-9)
    # At one cluster, the coefficient is the total sum of squares: (n - 1) * p for z-scores.
    assert schedule["coefficient"].iloc[-1] == pytest.approx((len(default_X) - 1) * default_X.shape[1], rel=1e-9)


# ---------------------------------------------------------------------------------------
# 12. Determinism
# ---------------------------------------------------------------------------------------


def test_segment_analysis_is_deterministic(spec, default_sample, default_scores, default_result):
    again = profiles.segment_analysis(spec, default_scores.copy(), default_sample.survey.copy())
    assert set(again.tables) == set(default_result.tables)
    assert "k_selection" in again.tables and "profiling_tests" in again.tables
    for name, table in default_result.tables.items():
        assert_frame_equal(again.tables[name], table, check_exact=True, obj=name)
    assert_frame_equal(again.assignments, default_result.assignments, check_exact=True)


# ---------------------------------------------------------------------------------------
# 13. The specification's method parameters and levels that claim no side
# ---------------------------------------------------------------------------------------


def test_candidate_k_range_comes_from_the_specification(spec, default_scores, default_result):
    method = spec.segmentation.model_copy(update={"k_min": 3, "k_max": 7, "gap_references": 5})
    narrow = spec.model_copy(update={"segmentation": method})
    result = profiles.segment_analysis(narrow, default_scores)
    assert result.tables["k_selection"]["k"].tolist() == list(range(3, 8))
    # The clustering itself does not depend on the candidate range.
    assert_frame_equal(result.assignments, default_result.assignments, check_exact=True)


@pytest.mark.parametrize("side", [1.0, -1.0])
def test_match_segments_middle_level_agrees_either_way(forrester, side):
    # Convenience conformers are L/H/H/L/M: a centroid on either side of self-efficacy fits.
    P = forrester.profile_matrix()
    i = forrester.segment_ids.index("convenience_conformers")
    P[i, -1] = side
    # No other segment has the pattern L/H/H/L/<side>, so every cluster is named as itself.
    match = match_segments(P, forrester)
    assert match.all_matched
    assert [match.mapping[c] for c in range(len(P))] == forrester.segment_ids
    assert match.table["agreement"].tolist() == [1.0] * len(P)
    assert match.table.loc[i, "assigned_profile"] == "L/H/H/L/M"
