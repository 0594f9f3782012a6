"""Survey weights (a ``weight:`` column in the ``data:`` block): Kish's effective N, the
weighted segmentation, shares and membership model, and the reader's checks.

The central check is the frequency-weight equivalence: a respondent of integer weight w
must count exactly as w copies of that respondent, in the segments, the shares and the
logit. Tolerances are floating-point ones (1e-8 relative or absolute): the two
computations are the same arithmetic in a different order, not approximations.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import analyse_fast
from sklearn.metrics import adjusted_rand_score
from statsmodels.stats.proportion import multinomial_proportions_confint

from replication.errors import ReplicationError
from replication.evaluation.shares import share_verdicts
from replication.membership.logit import multinomial_logit
from replication.segmentation.ward_kmeans import TwoStageClustering
from replication.study.datablock import data_source
from replication.study.sources import read_user_survey
from replication.weights import as_frequency, kish_effective_n, weighted_sd

TOL = 1e-8      # floating-point agreement of two orderings of the same sums


def three_groups(seed=1, n=60):
    """Continuous data in three groups (no tied distances, so no tie-breaking differs)."""
    rng = np.random.default_rng(seed)
    return np.vstack([rng.normal(m, 1, (n, 3)) for m in ([0, 0, 0], [3, 0, 1], [0, 3, -2])])


# --- Kish's effective N -----------------------------------------------------------------

def test_effective_n_is_kish_formula():
    w = np.random.default_rng(0).uniform(0.2, 3, 500)
    assert kish_effective_n(w) == pytest.approx(w.sum() ** 2 / (w ** 2).sum(), rel=1e-12)
    # Equal weights lose nothing; one weight of 3 beside a 1: (4 ** 2) / (1 + 9) = 1.6.
    assert kish_effective_n(np.full(40, 2.5)) == pytest.approx(40)
    assert kish_effective_n([1, 3]) == pytest.approx(1.6)
    # Invariant to the weights' scale, and never above N.
    assert kish_effective_n(7 * w) == pytest.approx(kish_effective_n(w))
    assert kish_effective_n(w) < len(w)
    assert as_frequency(w).sum() == pytest.approx(kish_effective_n(w))


def test_weighted_sd_of_integer_weights_is_sd_of_duplicated_rows():
    X = three_groups()
    w = np.random.default_rng(2).integers(1, 5, len(X))
    np.testing.assert_allclose(weighted_sd(X, w), np.repeat(X, w, axis=0).std(axis=0, ddof=1), rtol=TOL)


# --- segmentation -------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["exact", "micro-clusters"])
def test_integer_weights_segment_like_duplicated_rows(path):
    X = three_groups()
    w = np.random.default_rng(3).integers(1, 4, len(X))
    weighted = TwoStageClustering(3).fit(X, sample_weight=w)
    duplicated = TwoStageClustering(3).fit(np.repeat(X, w, axis=0))
    assert adjusted_rand_score(np.repeat(weighted.labels_, w), duplicated.labels_) == 1.0
    np.testing.assert_allclose(weighted.cluster_centers_raw_, duplicated.cluster_centers_raw_, atol=TOL)
    np.testing.assert_allclose(weighted.weighted_sizes_, duplicated.sizes_)
    if path == "micro-clusters":
        # The scalable path starts Ward from weighted micro-clusters, an approximation of
        # the exact tree: on three well-separated groups it may move a border point or two.
        micro = TwoStageClustering(3, exact_limit=50, n_micro=30).fit(X, sample_weight=w)
        assert micro.path_ == "micro-clusters"
        assert micro.weighted_sizes_.sum() == w.sum()
        assert adjusted_rand_score(micro.labels_, weighted.labels_) >= 0.95


def test_equal_weights_segment_like_no_weights():
    X = three_groups()
    a, b = TwoStageClustering(3).fit(X, sample_weight=np.full(len(X), 2.5)), TwoStageClustering(3).fit(X)
    assert (a.labels_ == b.labels_).all()
    np.testing.assert_allclose(a.cluster_centers_raw_, b.cluster_centers_raw_, atol=TOL)


def test_weights_move_the_centroids():
    """Weighting one group up moves the standardization's mean and the weighted sizes."""
    X = three_groups()
    w = np.where(np.arange(len(X)) < 60, 5.0, 1.0)
    fit = TwoStageClustering(3).fit(X, sample_weight=w)
    assert fit.mean_ == pytest.approx(np.average(X, axis=0, weights=w))
    assert fit.weighted_sizes_.sum() == pytest.approx(w.sum())
    assert fit.weighted_sizes_[0] == pytest.approx(w[fit.labels_ == 0].sum()) and fit.weighted_sizes_[0] > 200


# --- the membership model -------------------------------------------------------------------

@pytest.fixture(scope="module")
def logit_data():
    rng = np.random.default_rng(3)
    n = 150
    d = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    eta = np.column_stack([np.zeros(n), 0.8 * d.a, -0.6 * d.b + 0.3])
    p = np.exp(eta) / np.exp(eta).sum(axis=1, keepdims=True)
    d["segment"] = np.array(["r", "s", "t"])[[rng.choice(3, p=pi) for pi in p]]
    return d, rng.integers(1, 4, n)


def test_integer_weights_give_the_logit_of_duplicated_rows(logit_data):
    d, w = logit_data
    weighted = multinomial_logit(d, "segment", ["a", "b"], "r", weights=w)
    duplicated = multinomial_logit(d.loc[d.index.repeat(w)].reset_index(drop=True), "segment", ["a", "b"], "r")
    cols = ["coef", "se", "z", "p_value", "or_ci_low", "or_ci_high"]
    np.testing.assert_allclose(weighted.coefficients[cols], duplicated.coefficients[cols], rtol=1e-7, atol=TOL)
    np.testing.assert_allclose(weighted.lr_tests["lr_chi2"], duplicated.lr_tests["lr_chi2"], rtol=1e-7)
    fit_w = weighted.fit.set_index("statistic")["value"]
    fit_d = duplicated.fit.set_index("statistic")["value"]
    np.testing.assert_allclose(fit_w[fit_d.index], fit_d, rtol=1e-7)
    assert fit_w["respondents"] == len(d)
    assert (weighted.classification.drop(columns="recovered").to_numpy()
            == duplicated.classification.drop(columns="recovered").to_numpy()).all()
    assert weighted.crosscheck["abs_difference"].max() < 1e-6       # scikit-learn with sample_weight agrees


def test_survey_weights_give_standard_errors_of_the_effective_n(logit_data):
    """Scaling weights leaves the coefficients (per scale point: the SD used to standardize
    has frequency-weight degrees of freedom); as_frequency makes the SEs those of n_eff."""
    d, w = logit_data
    w = w * 0.37
    scaled = multinomial_logit(d, "segment", ["a", "b"], "r", weights=as_frequency(w), standardize=False)
    raw = multinomial_logit(d, "segment", ["a", "b"], "r", weights=w, standardize=False)
    np.testing.assert_allclose(scaled.coefficients["coef"], raw.coefficients["coef"], rtol=1e-7, atol=TOL)
    ratio = scaled.coefficients["se"] / raw.coefficients["se"]
    np.testing.assert_allclose(ratio, np.sqrt(w.sum() / kish_effective_n(w)), rtol=1e-6)
    assert scaled.stat("n") == pytest.approx(kish_effective_n(w))


# --- shares ---------------------------------------------------------------------------------

def test_weighted_shares_and_intervals_on_the_effective_n(spec):
    rng = np.random.default_rng(5)
    segs = rng.choice(spec.segment_ids, size=400)
    w = rng.uniform(0.3, 3, 400)
    table = share_verdicts(spec, segs, composition="sampled", weights=w)
    n_eff = kish_effective_n(w)
    expected = [100 * w[segs == s].sum() / w.sum() for s in spec.segment_ids]
    np.testing.assert_allclose(table["replicated_pct"], expected, rtol=1e-12)
    assert (table["effective_n"] == n_eff).all()
    ci = 100 * multinomial_proportions_confint(np.array(expected) / 100 * n_eff, alpha=1 - spec.uncertainty.level,
                                               method="goodman")
    np.testing.assert_allclose(table[["ci_low", "ci_high"]], ci, rtol=1e-12)
    # Unequal weights widen the intervals against equal ones at the same shares.
    unweighted = share_verdicts(spec, segs, composition="sampled")
    assert ((table["ci_high"] - table["ci_low"]).mean() > (unweighted["ci_high"] - unweighted["ci_low"]).mean())


def test_equal_weights_give_the_unweighted_share_verdicts(spec):
    segs = np.random.default_rng(6).choice(spec.segment_ids, size=300)
    weighted = share_verdicts(spec, segs, composition="sampled", weights=np.full(300, 4.0))
    plain = share_verdicts(spec, segs, composition="sampled")
    pd.testing.assert_frame_equal(weighted.drop(columns="effective_n"), plain, rtol=1e-10)


# --- the whole analysis ---------------------------------------------------------------------

def test_analysis_with_integer_weights_is_the_analysis_of_duplicated_respondents(spec, sample):
    survey = sample.survey.head(200).reset_index(drop=True)
    w = np.random.default_rng(8).integers(1, 4, len(survey))
    dup = survey.loc[survey.index.repeat(w)].reset_index(drop=True)
    dup["respondent_id"] = np.arange(1, len(dup) + 1)
    # Weights describe a sample drawn from a population: its shares are judged as sampled.
    weighted = analyse_fast(spec, survey, weights=w, composition="sampled")
    duplicated = analyse_fast(spec, dup, composition="sampled")
    assert adjusted_rand_score(np.repeat(weighted.assignments["segment"], w), duplicated.assignments["segment"]) == 1.0
    sizes_w, sizes_d = weighted.tables["cluster_sizes"], duplicated.tables["cluster_sizes"]
    np.testing.assert_allclose(sizes_w["replicated_pct"], sizes_d["replicated_pct"], rtol=1e-12)
    np.testing.assert_allclose(sizes_w["weighted_n"], sizes_d["n"])
    # The analysis counts survey weights on Kish's effective N, duplicates on their number, so
    # the per-SD scales differ by a constant: per scale point the coefficients agree.
    per_point = [r.membership.coefficients.assign(coef=lambda c, r=r: c["coef"] / c["term"].map(
        {**r.membership.scale.to_dict(), "const": 1.0})) for r in (weighted, duplicated)]
    np.testing.assert_allclose(per_point[0]["coef"], per_point[1]["coef"], rtol=1e-6, atol=1e-8)
    weighting = weighted.tables["weighting"].set_index("statistic")["value"]
    assert weighting["effective_n"] == pytest.approx(kish_effective_n(w))


# --- reading the weight column --------------------------------------------------------------

def weighted_csv(spec, sample, tmp_path, weights):
    s = sample.survey.head(60).copy()
    s["wt"] = weights
    s.to_csv(tmp_path / "s.csv", index=False)
    return {"file": "s.csv", "id": "respondent_id", "weight": "wt"}


def test_weight_column_is_read_and_carried(spec, sample, tmp_path):
    w = np.linspace(0.5, 2, 60)
    user = read_user_survey(weighted_csv(spec, sample, tmp_path, w), spec, tmp_path)
    np.testing.assert_allclose(user.survey["wt"], w)


@pytest.mark.parametrize("bad, words", [(0, "is not positive (0)"), (-1.5, "is not positive (-1.5)"),
                                        ("", "is missing"), ("heavy", "'heavy' is not a number"),
                                        ("inf", "is not a finite number")])
def test_bad_weight_is_one_clear_error(spec, sample, tmp_path, bad, words):
    w = np.ones(60).astype(object)
    w[7] = bad
    block = weighted_csv(spec, sample, tmp_path, w)
    with pytest.raises(ReplicationError) as err:
        read_user_survey(block, spec, tmp_path)
    msg = str(err.value)
    assert "s.csv, row 8" in msg and "column 'wt'" in msg and words in msg and "\n" not in msg


def test_missing_weight_column_and_weight_on_an_item(spec, sample, tmp_path):
    block = weighted_csv(spec, sample, tmp_path, np.ones(60))
    with pytest.raises(ReplicationError, match="column 'wgt': no such column.*data.weight"):
        read_user_survey({**block, "weight": "wgt"}, spec, tmp_path)
    item = spec.constructs[0].items.value[0]
    with pytest.raises(ReplicationError, match=rf"data.weight: '{item}' is an item"):
        read_user_survey({**block, "weight": item}, spec, tmp_path)
    assert data_source(block).weight == "wt"


# --- through the command line: the page, and a bad weight -------------------------------------

@pytest.fixture(scope="module")
def weighted_demo(tmp_path_factory):
    """The demonstration survey as a CSV with a weight column, and its study YAML
    (n = 150, the stability resamples and row orders off: this checks the plumbing)."""
    import re

    import pyreadstat

    from replication.study.demo import write_demo_survey
    folder = tmp_path_factory.mktemp("weighted")
    sav, yml = write_demo_survey(folder, n=150, seed=7)
    df, _ = pyreadstat.read_sav(str(sav), user_missing=True)
    df["wt"] = np.round(np.random.default_rng(11).uniform(0.4, 2.5, len(df)), 3)
    df.to_csv(folder / "weighted.csv", index=False)
    text = re.sub(r"  file: \S+", "  file: weighted.csv", yml.read_text(encoding="utf-8"))
    # The demonstration declares its own weight column; this test gives it another one, 'wt'.
    text = text.replace("  weight: weight ", "  weight: wt ")
    text = text.replace("  missing: {min_items: 3}", "  missing: {min_items: 3}\n  missing_codes: [98, 99]")
    text += "\nuncertainty: {stability_resamples: 0, row_orders: 0}\n"
    (folder / "weighted.yaml").write_text(text, encoding="utf-8")
    return folder, df


def run_main(*args) -> int:
    from replication import cli
    with pytest.raises(SystemExit) as info:
        cli.main([str(a) for a in args])
    return info.value.code


def test_weighted_study_page_says_weighted_with_the_effective_n(weighted_demo, tmp_path):
    folder, df = weighted_demo
    assert run_main("run", "--study", folder / "weighted.yaml", "--root", tmp_path, "--no-notebooks") == 0
    [page] = tmp_path.glob("reports/*/index.html")
    text = page.read_text(encoding="utf-8")
    weighting = pd.read_csv(page.parent / "tables" / "weighting.csv").set_index("statistic")["value"]
    n_eff = float(weighting["effective_n"])
    assert "These results are weighted" in text and f"= <b>{n_eff:.1f}</b>" in text
    assert "Kish" in text and "weighted n" in text
    sizes = pd.read_csv(page.parent / "tables" / "cluster_sizes.csv")
    assert sizes["weighted_n"].sum() == pytest.approx(float(weighting["sum_of_weights"]), rel=1e-6)
    fit = pd.read_csv(page.parent / "tables" / "logit_fit.csv").set_index("statistic")["value"]
    assert fit["n"] == pytest.approx(n_eff, rel=1e-5)


def test_zero_weight_stops_the_run_writing_nothing(weighted_demo, tmp_path, capsys):
    folder, df = weighted_demo
    bad = df.copy()
    bad.loc[4, "wt"] = 0
    bad.to_csv(folder / "bad.csv", index=False)
    (folder / "bad.yaml").write_text((folder / "weighted.yaml").read_text(encoding="utf-8")
                                     .replace("file: weighted.csv", "file: bad.csv"), encoding="utf-8")
    assert run_main("run", "--study", folder / "bad.yaml", "--root", tmp_path / "out", "--no-notebooks") == 2
    err = capsys.readouterr().err
    assert "bad.csv, row 5 (line 6), column 'wt': the survey weight is not positive (0.0)" in err
    assert "Traceback" not in err and not (tmp_path / "out").exists()


def test_weights_with_a_method_that_takes_none_are_a_spec_error(weighted_demo):
    from replication.study.spec import load_study
    folder, _ = weighted_demo
    text = (folder / "weighted.yaml").read_text(encoding="utf-8")
    assert "method: {value: ward_kmeans" in text
    (folder / "lpa.yaml").write_text(text.replace("method: {value: ward_kmeans", "method: {value: lpa"), encoding="utf-8")
    with pytest.raises(ReplicationError, match=r"lpa.yaml, line \d+: data.weight: survey weights need the "
                                               r"segmentation method 'ward_kmeans'"):
        load_study(folder / "lpa.yaml")


def test_bootstrap_with_integer_weights_is_weighted(spec, sample):
    """Each resample is segmented weighted: equal weights reproduce the unweighted bootstrap
    exactly (the same resamples, the same partitions), and the share estimate is weighted."""
    from replication.evaluation.uncertainty import bootstrap_stability
    from replication.study.measurement import scale_scores
    survey = sample.survey.head(150).reset_index(drop=True)
    scores = scale_scores(survey, spec)
    base = analyse_fast(spec, survey)
    labels, segs = base.segmentation.model.labels_, base.assignments["segment"].to_numpy()
    plain = bootstrap_stability(spec, scores, labels, segs, n_resamples=5, seed=1, n_jobs=1)
    equal = bootstrap_stability(spec, scores, labels, segs, n_resamples=5, seed=1, n_jobs=1,
                                weights=np.full(len(survey), 3.0))
    for name in plain:
        pd.testing.assert_frame_equal(plain[name], equal[name], rtol=1e-9)
    w = np.random.default_rng(4).integers(1, 4, len(survey)).astype(float)
    weighted = bootstrap_stability(spec, scores, labels, segs, n_resamples=5, seed=1, n_jobs=1, weights=w)
    expected = [100 * w[segs == s].sum() / w.sum() for s in spec.segment_ids]
    np.testing.assert_allclose(weighted["bootstrap_shares"]["replicated_pct"], expected, rtol=1e-12)


def test_profiles_and_profiling_with_integer_weights_are_those_of_duplicated_rows(spec, sample):
    from replication.segmentation.profiles import profile_check
    from replication.segmentation.profiling import profiling_by_segment, profiling_contrasts
    from replication.study.measurement import scale_scores
    assert spec.profiling, "the test needs a study with profiling variables"
    survey = sample.survey.head(200).reset_index(drop=True)
    segs = pd.Series(np.random.default_rng(9).choice(spec.segment_ids, size=len(survey)))
    w = np.random.default_rng(10).integers(1, 4, len(survey))
    dup, dup_segs = survey.loc[survey.index.repeat(w)].reset_index(drop=True), segs.repeat(w).reset_index(drop=True)
    scores, dup_scores = scale_scores(survey, spec), scale_scores(dup, spec)
    a, b = profile_check(spec, scores, segs, w), profile_check(spec, dup_scores, dup_segs)
    np.testing.assert_allclose(a[["mean", "z", "other_side_mean", "effect_size"]],
                               b[["mean", "z", "other_side_mean", "effect_size"]], rtol=1e-9)
    assert (a["holds"] == b["holds"]).all()
    for f in (profiling_by_segment, profiling_contrasts):
        np.testing.assert_allclose(f(survey, segs, spec, w)["mean"], f(dup, dup_segs, spec)["mean"], rtol=1e-12)


def test_weight_in_an_spss_file_user_missing_counts_as_missing(spec, sample, tmp_path):
    """A numeric .sav weight column: read as numbers; a declared user-missing code is missing."""
    import pyreadstat
    s = sample.survey.head(60).copy()
    s["wt"] = np.linspace(0.5, 2, 60)
    pyreadstat.write_sav(s, str(tmp_path / "s.sav"))
    block = {"file": "s.sav", "id": "respondent_id", "weight": "wt"}
    np.testing.assert_allclose(read_user_survey(block, spec, tmp_path).survey["wt"], s["wt"])
    s.loc[9, "wt"] = 99
    pyreadstat.write_sav(s, str(tmp_path / "s.sav"), missing_ranges={"wt": [99]})
    with pytest.raises(ReplicationError, match=r"s.sav, row 10, column 'wt': the survey weight is missing"):
        read_user_survey(block, spec, tmp_path)
