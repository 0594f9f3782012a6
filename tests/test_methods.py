"""Alternative segmentation methods (TwoStep, latent profile analysis), the method
comparison, and the three-step membership model corrected for classification error."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from sklearn.metrics import adjusted_rand_score

from replication import load_study, simulate_survey
from replication.evaluation.comparison import divergence_notes, make_segmentation, method_comparison
from replication.membership import three_step as ts
from replication.membership.logit import multinomial_logit
from replication.segmentation import mixture, spss_twostep
from replication.segmentation.mixture import LatentProfileClustering
from replication.segmentation.spss_twostep import (TwoStepClustering, agglomerate, bic_table, cluster_features,
                                              cluster_log_likelihood, cut_merges, log_likelihood_distance,
                                              order_agreement, spss_rule)
from replication.study.measurement import scale_scores


@pytest.fixture(scope="module")
def needs(spec, sample):
    """Scale scores of the default sample's segmentation dimensions, and the true segments."""
    scores = scale_scores(sample.survey, spec)
    return scores[spec.dimension_ids], sample.true_segments.reindex(scores["respondent_id"]).to_numpy()


@pytest.fixture(scope="module")
def lpa5(needs):
    return LatentProfileClustering(5).fit(needs[0])


# -- TwoStep ---------------------------------------------------------------------------------
def xi_direct(points, delta):
    """Chiu et al.'s xi from the raw points of one cluster."""
    return -len(points) * 0.5 * np.log(points.var(axis=0) + delta).sum()


def test_log_likelihood_distance_matches_the_raw_points():
    rng = np.random.default_rng(1)
    a = rng.normal(0, 1, (5, 3))
    b = rng.normal(1.5, 0.7, (7, 3))
    delta = np.vstack([a, b]).var(axis=0)
    cf = lambda p: (len(p), p.sum(axis=0), (p ** 2).sum(axis=0))  # noqa: E731
    direct = xi_direct(a, delta) + xi_direct(b, delta) - xi_direct(np.vstack([a, b]), delta)
    assert log_likelihood_distance(cf(a), cf(b), delta) == pytest.approx(direct, rel=1e-12)
    assert direct > 0
    # A single point has variance 0: Delta_k keeps its log-likelihood finite.
    assert np.isfinite(cluster_log_likelihood(np.array([1.0]), a[:1], a[:1] ** 2, delta)).all()


def test_agglomeration_merges_the_closest_pair_first():
    rng = np.random.default_rng(2)
    groups = [rng.normal(m, 0.3, (6, 2)) for m in (0.0, 0.2, 3.0, 6.0)]
    Z = np.vstack(groups)
    labels = np.repeat(np.arange(4), 6)
    n, ls, ss = cluster_features(Z, labels, 4)
    delta = Z.var(axis=0)
    merges = agglomerate(n, ls, ss, delta)
    d = {(i, j): xi_direct(groups[i], delta) + xi_direct(groups[j], delta)
         - xi_direct(np.vstack([groups[i], groups[j]]), delta) for i in range(4) for j in range(i + 1, 4)}
    first = min(d, key=d.get)
    assert tuple(merges[0, :2].astype(int)) == first
    assert merges[0, 2] == pytest.approx(d[first])
    assert merges[-1, 3] == 24


def test_spss_rule_on_a_table_by_hand():
    # BIC falls steeply to 3 clusters, then flattens: R1 drops below 0.04 at J = 3.
    bic = np.array([1000.0, 600.0, 400.0, 395.0, 394.0, 393.5])
    merges = np.array([np.nan, 50.0, 40.0, 5.0, 4.5, 4.0])    # d_min(C_J), J = 1..6
    t = pd.DataFrame({"k": np.arange(1, 7), "bic": bic})
    dbic = t["bic"] - t["bic"].shift(-1)
    t["r1"] = dbic / dbic.iloc[0]
    t["distance_ratio"] = merges / np.concatenate([merges[1:], [np.nan]])
    k, detail = spss_rule(t, 1, 5)
    assert detail["initial"] == 3          # R1(3) = 5 / 400 < 0.04
    assert k == 3                           # R2(3) = 8 > 1.15 * R2(2) = 1.25
    # When the two largest ratios are within 1.15 of each other, the larger k is taken.
    t2 = t.copy()
    t2["distance_ratio"] = [np.nan, 2.0, 1.9, 1.0, 1.0, np.nan]
    k2, d2 = spss_rule(t2, 1, 5)
    assert (d2["j1"], d2["j2"], k2) == (2, 3, 3)


def test_twostep_recovers_the_segments_and_picks_k(spec, needs):
    X, truth = needs
    model = TwoStepClustering(5).fit(X)
    assert adjusted_rand_score(truth, model.labels_) >= 0.9
    assert list(model.sizes_) == sorted(model.sizes_, reverse=True)
    assert model.linkage_ is None and "TwoStep" in model.path_
    assert model.n_leaves_ <= 200
    np.testing.assert_array_equal(model.predict(X), model.labels_)   # the final pass is a predict
    table, k = spss_twostep.select_k(TwoStepClustering(), X, spec.segmentation.k_min, spec.segmentation.k_max)
    assert k == spec.n_segments.value
    assert {"k", "bic", "bic_change", "ratio_bic_change", "distance_ratio"} <= set(table.columns)
    assert table.loc[table["chosen"], "k"].item() == k


def test_twostep_bic_from_merges_equals_bic_of_the_cut(needs):
    model = TwoStepClustering(4).fit(needs[0])
    m = model.n_leaves_
    xi_leaves = cluster_log_likelihood(model.leaf_n_, model.leaf_ls_, model.leaf_ss_, model.delta_)
    table = bic_table(model.tree_, m, xi_leaves.sum(), 586, 3, 6)
    cut = cut_merges(model.tree_, m, 4)
    n, ls, ss = (np.array([a[cut == j].sum(axis=0) for j in range(4)])
                 for a in (model.leaf_n_, model.leaf_ls_, model.leaf_ss_))
    bic4 = -2 * cluster_log_likelihood(n, ls, ss, model.delta_).sum() + 2 * 4 * 3 * np.log(586)
    assert table.set_index("k").loc[4, "bic"] == pytest.approx(bic4)


def test_twostep_is_deterministic_and_order_free_by_default(needs):
    X = needs[0].to_numpy()
    a = TwoStepClustering(5).fit(X).labels_
    np.testing.assert_array_equal(a, TwoStepClustering(5).fit(X).labels_)
    perm = np.random.default_rng(3).permutation(len(X))
    b = TwoStepClustering(5).fit(X[perm]).labels_
    np.testing.assert_array_equal(a[perm], b)
    agree = order_agreement(TwoStepClustering(5, random_state=4), X, n_orders=3)
    assert list(agree.columns) == ["order", "ari", "sizes"] and len(agree) == 3
    assert (agree["ari"] > 0.9).all()


def test_twostep_on_the_six_segment_fixture():
    spec6 = load_study("tests/fixtures/six_segments_no_predictors.yaml")
    s = simulate_survey(spec6)
    X = scale_scores(s.survey, spec6)[spec6.dimension_ids]
    model = make_segmentation("twostep", 6, spec6).fit(X)
    assert adjusted_rand_score(s.true_segments.to_numpy(), model.labels_) >= 0.9


# -- latent profile analysis -------------------------------------------------------------------
def test_lpa_recovers_the_segments(needs, lpa5):
    X, truth = needs
    assert adjusted_rand_score(truth, lpa5.labels_) >= 0.9
    assert lpa5.membership_proba_.shape == (len(X), 5)
    np.testing.assert_allclose(lpa5.membership_proba_.sum(axis=1), 1)
    np.testing.assert_array_equal(lpa5.membership_proba_.argmax(axis=1), lpa5.labels_)
    np.testing.assert_allclose(lpa5.predict_proba(X), lpa5.membership_proba_, atol=1e-10)
    assert list(lpa5.sizes_) == sorted(lpa5.sizes_, reverse=True)
    assert lpa5.relative_entropy_ > 0.9 and lpa5.linkage_ is None


def test_lpa_bic_picks_the_true_k(needs):
    table, k = mixture.select_k(LatentProfileClustering(), needs[0], 3, 7)
    assert k == 5
    assert {"k", "bic", "icl", "relative_entropy", "log_likelihood"} <= set(table.columns)
    r = table.set_index("k")
    assert r.loc[5, "icl"] >= r.loc[5, "bic"]


def test_lpa_log_likelihood_equals_stepmix(needs, lpa5):
    """StepMix's gaussian_diag model and scikit-learn's GaussianMixture(diag), same data and
    variance floor: the maximised log-likelihoods agree within 0.05 (of about -1,773), and
    so do the class means."""
    from stepmix.stepmix import StepMix

    X = needs[0].to_numpy()
    Z = (X - X.mean(axis=0)) / X.std(axis=0, ddof=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sm_model = StepMix(n_components=5, measurement="gaussian_diag", n_init=2, random_state=0,
                           init_params="kmeans", progress_bar=0, abs_tol=1e-8,
                           measurement_params={"reg_covar": lpa5.reg_covar_}).fit(Z)
    ll_stepmix = sm_model.score(Z) * len(Z)
    assert ll_stepmix == pytest.approx(lpa5.log_likelihood_, abs=0.05)
    means = np.asarray(sm_model.get_parameters()["measurement"]["means"])
    d = ((lpa5.cluster_centers_[:, None, :] - means[None, :, :]) ** 2).sum(axis=2)
    assert d.min(axis=1).max() < 1e-3


def test_lpa_is_deterministic_whatever_the_threads(needs):
    from threadpoolctl import threadpool_limits

    X = needs[0]
    with threadpool_limits(1):
        a = LatentProfileClustering(5, random_state=7, n_init=3).fit(X).labels_
    with threadpool_limits(2):
        b = LatentProfileClustering(5, random_state=7, n_init=3).fit(X).labels_
    np.testing.assert_array_equal(a, b)


# -- the three-step membership model ------------------------------------------------------------
@pytest.fixture(scope="module")
def bakk():
    """StepMix's own covariate example data (Bakk & Kuha 2018 simulation, shipped as
    ``stepmix.datasets.data_bakk_covariate``): 6 binary indicators, 3 classes, one covariate
    with true slopes 0, -1, +1 (class 0 the reference)."""
    from stepmix.datasets import data_bakk_covariate

    return data_bakk_covariate(n_samples=2000, sep_level=0.8, random_state=42)


@pytest.mark.parametrize("correction", [None, "BCH", "ML"])
def test_step3_equals_stepmix_on_its_covariate_example(bakk, correction):
    from stepmix.stepmix import StepMix

    X, Y, labels = bakk
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = StepMix(n_components=3, n_steps=3, measurement="bernoulli", structural="covariate",
                        assignment="modal", correction=correction, n_init=2, random_state=42, progress_bar=0,
                        abs_tol=1e-10, structural_params={"method": "newton-raphson", "max_iter": 100,
                                                          "tol": 1e-10}).fit(X, Y)
    proba = model.predict_proba_class(X)
    Zd = np.column_stack([np.ones(len(Y)), Y])
    theta, cov, ll, ok, D = ts.estimate_structural(proba, Zd, correction)
    beta = np.asarray(model.get_parameters()["structural"]["beta"])
    # StepMix's ML runs EM on the step-3 likelihood (to a change of 1e-10 per respondent);
    # ours is Newton's method to a vanishing gradient: they agree to about 1e-5 relative.
    np.testing.assert_allclose(theta, (beta[1:] - beta[0]).ravel(), rtol=1e-4, atol=1e-4)
    assert ok
    if correction is not None:
        # Against the truth: align StepMix's classes with the true ones, then the slope
        # contrasts with true class 0 are -1 and +1.
        cls = np.array([np.bincount(proba.argmax(axis=1)[labels == c], minlength=3).argmax() for c in range(3)])
        assert sorted(cls) == [0, 1, 2]
        # slope of StepMix class j (class 0 is our reference: slope 0) as a contrast vector
        vec = lambda j: np.eye(4)[2 * (j - 1) + 1] if j else np.zeros(4)  # noqa: E731
        for c, truth in ((1, -1.0), (2, 1.0)):
            a = vec(cls[c]) - vec(cls[0])
            est, se = a @ theta, np.sqrt(a @ cov @ a)
            assert abs(est - truth) < 3 * se, (c, est, se)


def test_naive_equals_statsmodels_and_bch_equals_naive_without_errors():
    rng = np.random.default_rng(5)
    n = 400
    z = rng.normal(size=(n, 2))
    eta = np.column_stack([np.zeros(n), 0.3 + z @ [0.8, -0.5], -0.2 + z @ [-0.6, 0.4]])
    p = np.exp(eta) / np.exp(eta).sum(axis=1, keepdims=True)
    w = (p.cumsum(axis=1) < rng.random(n)[:, None]).sum(axis=1)
    Zd = np.column_stack([np.ones(n), z])
    onehot = np.eye(3)[w]
    theta, cov, *_ = ts.estimate_structural(onehot, Zd, None)
    res = sm.MNLogit(w, Zd).fit(method="newton", disp=False)
    np.testing.assert_allclose(theta, np.asarray(res.params).T.ravel(), atol=1e-6)
    np.testing.assert_allclose(np.sqrt(np.diag(cov)), np.asarray(res.bse).T.ravel(), rtol=1e-5)
    # Certain classification: D = I, so BCH and ML reduce to the naive estimate.
    for corr in ("BCH", "ML"):
        th, *_ , D = ts.estimate_structural(onehot, Zd, corr)
        np.testing.assert_allclose(D, np.eye(3))
        np.testing.assert_allclose(th, theta, atol=1e-6)


def test_ml_correction_equals_a_direct_maximisation():
    """The ML-corrected log-likelihood maximised by a derivative-free optimiser from its
    formula, and the analytic Hessian against finite differences of the analytic gradient."""
    from scipy import optimize

    rng = np.random.default_rng(6)
    n = 300
    x = rng.normal(size=n)
    Zd = np.column_stack([np.ones(n), x])
    eta = np.column_stack([np.zeros(n), 0.2 + 1.0 * x])
    true = (rng.random(n) < np.exp(eta[:, 1]) / np.exp(eta).sum(axis=1)).astype(int)
    D = np.array([[0.85, 0.15], [0.2, 0.8]])
    w = np.where(rng.random(n) < D[true, 1], 1, 0)
    theta, info, _, ll, ok = ts.ml_corrected_logit(Zd, w, D)

    def negll(th):
        pr1 = 1 / (1 + np.exp(-(th[0] + th[1] * x)))
        return -np.log((1 - pr1) * D[0, w] + pr1 * D[1, w]).sum()

    direct = optimize.minimize(negll, [0.0, 0.0], method="Nelder-Mead", options={"xatol": 1e-9, "fatol": 1e-12})
    np.testing.assert_allclose(theta, direct.x, atol=1e-4)
    assert ll == pytest.approx(-direct.fun, abs=1e-6)
    h = 1e-5
    grad = lambda th: optimize.approx_fprime(th, negll, 1e-6)  # noqa: E731
    num = np.array([(grad(theta + h * e) - grad(theta - h * e)) / (2 * h) for e in np.eye(2)])
    np.testing.assert_allclose(info, num, rtol=2e-2)


def test_three_step_logit_on_the_study(spec, sample, lpa5):
    scores = scale_scores(sample.survey, spec)
    dims = scores[spec.dimension_ids]
    preds = scores[[c.id for c in spec.predictor_constructs]]
    naive = multinomial_logit(_naive_data(scores, lpa5, dims, spec), "segment", list(preds.columns),
                              spec.reference_segment, standardize=False, crosscheck=False, order=spec.segment_ids)
    out = {}
    for corr in (None, "BCH", "ML"):
        r = ts.three_step_logit(dims, preds, 5, correction=corr, spec=spec, measurement=lpa5)
        out[r.correction] = r
        assert list(r.coefficients.columns) == list(naive.coefficients.columns)
        assert list(r.wald_tests.columns) == ["predictor", "wald_chi2", "df", "p_value"]
        assert r.segments[0] == spec.reference_segment and r.converged
        assert set(r.segments) == set(spec.segment_ids)
    # The naive three-step estimate is the package's logit on the modal classes.
    pd.testing.assert_series_equal(out["naive"].coefficients["coef"], naive.coefficients["coef"], atol=1e-5)
    # At this separation classification is almost certain: corrections move little.
    diff = (out["BCH"].coefficients["coef"] - out["naive"].coefficients["coef"]).abs().max()
    assert diff < 0.2
    assert "ML" in out["ML"].summary()


def _naive_data(scores, lpa, dims, spec):
    names = np.array(ts.class_names(lpa, dims, spec)[0], dtype=object)
    return scores.assign(segment=names[lpa.labels_])


def test_three_step_bootstrap_runs_seeded(spec, sample, lpa5):
    scores = scale_scores(sample.survey, spec).iloc[:300]
    dims = scores[spec.dimension_ids]
    preds = scores[["hedonic_orientation", "privacy_concerns"]]
    kw = dict(correction="BCH", spec=spec, se="bootstrap", n_bootstrap=12, n_init=2)
    a = ts.three_step_logit(dims, preds, 5, **kw)
    b = ts.three_step_logit(dims, preds, 5, **kw)
    pd.testing.assert_frame_equal(a.coefficients, b.coefficients)
    assert "bootstrap" in a.se_method and (a.coefficients["se"] > 0).all()


# -- method comparison ----------------------------------------------------------------------------
def test_method_comparison_table(spec, sample):
    small = spec.model_copy(update={"segmentation": spec.segmentation.model_copy(update={"k_max": 7,
                                                                                         "gap_references": 5})})
    table = method_comparison(small, sample.survey, truth=sample.truth)
    expected = (["method", "label", "k_rule", "k_chosen", "k_chosen_on", "k_reported", "shares_at_chosen_k"]
                + [f"pct_{s}" for s in spec.segment_ids]
                + ["pct_unmatched", "all_matched", "ari_vs_paper_at_reported_k", "ari_vs_truth_at_reported_k",
                   "ari_vs_paper_at_chosen_k", "ari_vs_truth_at_chosen_k", "path", "seconds"])
    assert list(table.columns) == expected
    assert list(table["method"]) == ["ward_kmeans", "twostep", "lpa"]
    paper = table.set_index("method").loc["ward_kmeans"]
    assert paper["ari_vs_paper_at_reported_k"] == paper["ari_vs_paper_at_chosen_k"] == 1.0
    assert (table["ari_vs_truth_at_reported_k"] >= 0.9).all()
    assert (table["k_chosen"] == 5).all()
    shares = table[[f"pct_{s}" for s in spec.segment_ids] + ["pct_unmatched"]].sum(axis=1)
    np.testing.assert_allclose(shares, 100)
    notes = divergence_notes(table, spec)
    assert notes.startswith("- ") and "5 segments" in notes


def test_divergence_notes_name_what_differs(spec):
    row = {"label": "x", "k_rule": "rule", "k_reported": 5, "shares_at_chosen_k": "", "path": "", "seconds": 0.0,
           "all_matched": True, "pct_unmatched": 0.0, "ari_vs_truth_at_reported_k": np.nan,
           "ari_vs_truth_at_chosen_k": np.nan}
    pcts = {f"pct_{s}": 100 * sh for s, sh in zip(spec.segment_ids, spec.shares)}
    paper = {**row, **pcts, "method": "ward_kmeans", "label": "Method A", "k_chosen": 5, "ari_vs_paper_at_reported_k": 1.0}
    other = {**row, **pcts, "method": "lpa", "label": "Method B", "k_chosen": 4, "ari_vs_paper_at_reported_k": 0.6}
    other["pct_avoiders"] += 5
    other["pct_individualization_lovers"] -= 5
    notes = divergence_notes(pd.DataFrame([paper, other]), spec)
    assert "Method B chooses k = 4" in notes
    assert "Avoiders" in notes and "Individualization lovers" in notes
    assert "0.60" in notes and spec.study.population in notes
    assert "Social customizers" not in notes


def test_three_step_montecarlo_shows_the_attenuation_and_its_correction(spec, tmp_path):
    """The library's Monte Carlo (``replication threestep``) on R = 2 samples of N = 2,000.
    Tolerance: over the 20 slopes the mean estimate / truth was 0.74 (naive) and 0.99 (BCH,
    ML) at R = 100 (the reference run), 0.70-0.77 and 0.94-1.02 at R = 2-4; the bounds
    below (naive <= 0.87, corrected within 0.85-1.15) leave room for the noise of 2 samples."""
    from replication.evaluation.three_step_mc import statement, three_step_montecarlo
    from replication.report.montecarlo import three_step_bias
    tables = three_step_montecarlo(spec, n_seeds=2, seed=11, n_jobs=1, progress=False)
    summary = tables["three_step_montecarlo"].set_index("method")
    assert list(summary.index) == ["naive", "BCH", "ML"]
    assert (summary["replicates"] == 2).all() and (summary["left_out"] == 0).all()
    assert 0.6 <= summary["mean_relative_entropy"].iloc[0] <= 0.8          # the weak separation it is meant for
    assert summary.loc["naive", "mean_estimate_over_truth"] <= 0.87
    for m in ("BCH", "ML"):
        assert 0.85 <= summary.loc[m, "mean_estimate_over_truth"] <= 1.15, m
        assert summary.loc[m, "coverage_95_pct"] > summary.loc["naive", "coverage_95_pct"], m
    slopes = tables["three_step_slopes"]
    assert len(slopes) == 3 * 20 and set(slopes["method"]) == {"naive", "BCH", "ML"}
    assert "naive: mean estimate / truth" in statement(tables["three_step_montecarlo"])
    fig = three_step_bias(slopes, tables["three_step_montecarlo"])
    assert [ax.get_title() for ax in fig.axes][:2] == ["Mean estimate against the truth",
                                                        "Coverage (solid) and attenuation (hatched)"]


@pytest.mark.parametrize("method", ["twostep", "lpa"])
def test_the_study_yaml_switches_the_primary_method_and_the_scorecard_follows(spec, sample, tmp_path, method):
    """The same study with ``segmentation.method`` set to TwoStep or latent profiles: the
    segmentation, the k criterion and the stability bootstrap use that method, and every
    claim passes on the default sample (where all three methods recover the segments; 8
    bootstrap samples instead of 100 keep the test quick)."""
    import yaml
    from replication import analyse

    data = yaml.safe_load(spec.path.read_text(encoding="utf-8"))
    data["study"]["id"] = f"golovacheva_{method}"
    data["segmentation"]["method"] = {"value": method, "assumed": "the test switches the method"}
    data["uncertainty"].update(stability_resamples=8, row_orders=0)
    path = tmp_path / f"{method}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    switched = load_study(path)
    result = analyse(switched, sample.survey)
    model = result.segmentation.model
    assert type(model).__name__ == {"twostep": "TwoStepClustering", "lpa": "LatentProfileClustering"}[method]
    assert model.linkage_ is None
    preferred = result.tables["k_preferred"]
    assert list(preferred["criterion"]) == [f"{method} own rule"] and preferred["preferred_k"].iloc[0] == 5
    card = result.scorecard.set_index("claim")
    assert card["passed"].all(), card.loc[~card["passed"], "replicated_value"]
    assert "8 samples" in result.tables["stability"]["computed_on"].iloc[0]
    truth = sample.true_segments.reindex(result.assignments["respondent_id"]).to_numpy()
    assert adjusted_rand_score(truth, result.assignments["cluster"]) >= 0.9
