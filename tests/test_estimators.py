"""The segmentation estimators and the membership result behave as scikit-learn and
statsmodels objects do, and the package's modules import each other without circles
(but for the orchestration's, which is rewritten elsewhere)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy.cluster.hierarchy import fcluster, linkage
from sklearn.base import clone
from sklearn.cluster import KMeans
from sklearn.exceptions import NotFittedError
from sklearn.metrics import adjusted_rand_score

from replication.membership.logit import multinomial_logit
from replication.segmentation.mixture import LatentProfileClustering
from replication.segmentation.ward_kmeans import TwoStageClustering
from replication.segmentation.spss_twostep import TwoStepClustering
from replication.study.measurement import scale_scores

ESTIMATORS = [TwoStageClustering, TwoStepClustering, LatentProfileClustering]
#: Non-default settings of each, so a round trip through get/set_params shows.
OTHER_PARAMS = {TwoStageClustering: {"n_clusters": 4, "max_iter": 50, "canonical_order": False},
                TwoStepClustering: {"n_clusters": 4, "max_leaves": 150, "order": "given"},
                LatentProfileClustering: {"n_clusters": 4, "n_init": 3, "covariance_type": "spherical"}}


@pytest.fixture(scope="module")
def X(spec, sample):
    """The default sample's segmentation dimensions (586 respondents x 3)."""
    return scale_scores(sample.survey, spec)[spec.dimension_ids].to_numpy(dtype=float)


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_clone_gives_an_unfitted_copy_with_equal_params(cls, X):
    model = cls(n_clusters=5).fit(X)
    copy = clone(model)
    assert copy is not model and type(copy) is cls
    assert copy.get_params() == model.get_params()
    assert not hasattr(copy, "labels_")
    with pytest.raises(NotFittedError):
        copy.predict(X)


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_get_params_round_trips_through_set_params(cls):
    model = cls()
    params = model.get_params()
    assert params["n_clusters"] == 5 and "standardize" in params
    other = cls().set_params(**OTHER_PARAMS[cls])
    assert {k: other.get_params()[k] for k in OTHER_PARAMS[cls]} == OTHER_PARAMS[cls]
    assert cls().set_params(**other.get_params()).get_params() == other.get_params()
    assert cls(**params).get_params() == params


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_predict_before_fit_raises_not_fitted(cls, X):
    with pytest.raises(NotFittedError):
        cls().predict(X)


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_fit_predict_equals_fit_labels(cls, X):
    np.testing.assert_array_equal(cls(n_clusters=5).fit_predict(X), cls(n_clusters=5).fit(X).labels_)


def test_two_stage_equals_ward_then_kmeans_by_hand(X):
    """Ward on the standardized rows in canonical (sorted) order, cut at k, its centroids
    as the start of Lloyd's k-means run until no respondent moves: the estimator's labels
    up to their numbering (the estimator numbers clusters by size)."""
    k = 5
    order = np.lexsort(X.T[::-1])
    Xs = X[order]
    Z = (Xs - Xs.mean(axis=0)) / Xs.std(axis=0, ddof=1)
    ward = fcluster(linkage(Z, "ward"), t=k, criterion="maxclust") - 1
    centroids = np.vstack([Z[ward == j].mean(axis=0) for j in range(k)])
    km = KMeans(n_clusters=k, init=centroids, n_init=1, max_iter=300, tol=0.0, algorithm="lloyd").fit(Z)
    by_hand = np.empty(len(X), int)
    by_hand[order] = km.labels_
    model = TwoStageClustering(n_clusters=k).fit(X)
    assert model.path_ == "exact"
    assert adjusted_rand_score(by_hand, model.labels_) == 1.0
    ward_by_hand = np.empty(len(X), int)
    ward_by_hand[order] = ward
    assert adjusted_rand_score(ward_by_hand, model.ward_labels_) == 1.0


# -- the membership result ------------------------------------------------------------------

@pytest.fixture(scope="module")
def logit_data():
    """Three segments that depend on two predictors (a known multinomial logit)."""
    rng = np.random.default_rng(11)
    n = 600
    x = rng.normal(size=(n, 2)) * [1.5, 0.7] + [4.0, 3.0]
    z = (x - x.mean(axis=0)) / x.std(axis=0, ddof=1)
    eta = np.column_stack([np.zeros(n), 0.3 + z @ [1.0, -0.5], -0.2 + z @ [-0.8, 0.9]])
    p = np.exp(eta) / np.exp(eta).sum(axis=1, keepdims=True)
    seg = np.array(["a", "b", "c"])[[rng.choice(3, p=row) for row in p]]
    return pd.DataFrame({"segment": seg, "x1": x[:, 0], "x2": x[:, 1]})


def test_logit_result_has_statsmodels_attributes_equal_to_mnlogit_by_hand(logit_data):
    """The result's params, bse, pvalues, llf, llnull, prsquared, aic and bic equal
    statsmodels' MNLogit fitted by hand on the same standardized design. Tolerance 1e-6:
    both are Newton's method on the same likelihood, but the package computes the
    intercept-only log-likelihood in closed form where statsmodels fits it numerically,
    and the two fits need not stop at the same last digit."""
    res = multinomial_logit(logit_data, "segment", ["x1", "x2"], "a", crosscheck=False, order=["a", "b", "c"])
    d = logit_data
    Xz = (d[["x1", "x2"]] - d[["x1", "x2"]].mean()) / d[["x1", "x2"]].std(ddof=1)
    y = d["segment"].map({"a": 0, "b": 1, "c": 2}).to_numpy()
    ref = sm.MNLogit(y, sm.add_constant(Xz, has_constant="add")).fit(method="newton", maxiter=100, disp=False)
    for name in ("params", "bse", "pvalues"):
        got = getattr(res, name)
        assert list(got.columns) == ["b", "c"] and list(got.index) == ["const", "x1", "x2"]
        np.testing.assert_allclose(got.to_numpy(), np.asarray(getattr(ref, name)), rtol=1e-6, atol=1e-6)
    for name in ("llf", "llnull", "prsquared", "aic", "bic"):
        assert getattr(res, name) == pytest.approx(float(getattr(ref, name)), rel=1e-6, abs=1e-6), name
    # The written tables say the same.
    fit = res.fit.set_index("statistic")["value"]
    assert fit["log_likelihood"] == res.llf and fit["mcfadden_r2"] == res.prsquared
    coef = res.coefficients.set_index(["segment", "term"])
    assert coef.loc[("c", "x2"), "coef"] == res.params.loc["x2", "c"]
    assert coef.loc[("b", "x1"), "se"] == res.bse.loc["x1", "b"]


def test_logit_result_declares_its_standardization(logit_data):
    res = multinomial_logit(logit_data, "segment", ["x1", "x2"], "a", crosscheck=False)
    assert "mean" in type(res).__dataclass_fields__
    pd.testing.assert_series_equal(res.mean, logit_data[["x1", "x2"]].mean())
    raw = multinomial_logit(logit_data, "segment", ["x1", "x2"], "a", crosscheck=False, standardize=False)
    assert (raw.mean == 0).all() and (raw.scale == 1).all()
    np.testing.assert_allclose(res.predict_proba(logit_data).to_numpy(), raw.predict_proba(logit_data).to_numpy(),
                               atol=1e-8)


# -- import circles -----------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT.parent / "shared" / "tools" / "import-circles"
#: The notebook-kernel orchestration, whose circle another piece of work removes.
ORCHESTRATION = re.compile(r"replication\.(pipeline|verify|cache|notebook|report\.\w+|outputs|cli)$")


@pytest.mark.skipif(not TOOL.exists(), reason=f"{TOOL} is not beside the clone (CI puts shared/ there)")
def test_no_import_circle_but_the_orchestrations():
    out = subprocess.run([sys.executable, str(TOOL), "src/replication"], cwd=ROOT, capture_output=True,
                         text=True, timeout=120).stdout
    circles = [line.removeprefix("circle: ").split(", ") for line in out.splitlines() if line.startswith("circle: ")]
    outside = [c for c in circles if not all(ORCHESTRATION.match(m) for m in c)]
    assert not outside, out


# -- the corrected membership model, one estimator --------------------------------------------

def test_three_step_is_one_estimator_with_the_correction_as_a_parameter(spec, sample, X):
    """ThreeStepLogit composes like a scikit-learn estimator (clone, set_params,
    NotFittedError) and its fit is three_step_logit's result exactly, for each correction;
    the corrections differ (BCH and ML are not the naive estimate)."""
    from replication.membership.three_step import ThreeStepLogit, three_step_logit
    from replication.segmentation.mixture import LatentProfileClustering

    scores = scale_scores(sample.survey, spec)
    preds = scores[[c.id for c in spec.predictor_constructs]]
    step1 = LatentProfileClustering(5, random_state=1).fit(X)
    est = ThreeStepLogit(5, correction="ML", spec=spec, measurement=step1, random_state=1)
    with pytest.raises(NotFittedError):
        est.summary()
    twin = clone(est).set_params(correction="BCH")
    assert twin.get_params()["correction"] == "BCH" and not hasattr(twin, "result_")
    fits = {}
    for correction in (None, "BCH", "ML"):
        fitted = clone(est).set_params(correction=correction, measurement=step1).fit(X, preds)
        by_hand = three_step_logit(X, preds, 5, correction=correction, random_state=1, spec=spec, measurement=step1)
        pd.testing.assert_frame_equal(fitted.coefficients_, by_hand.coefficients)
        pd.testing.assert_frame_equal(fitted.wald_tests_, by_hand.wald_tests)
        assert fitted.segments_ == by_hand.segments and "three-step" in fitted.summary().lower()
        fits[correction] = fitted.coefficients_["coef"].to_numpy()
    assert not np.allclose(fits[None], fits["BCH"]) and not np.allclose(fits[None], fits["ML"])
