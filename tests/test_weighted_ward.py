"""Tests of Ward's clustering of weighted points (replication.segmentation.weighted_ward).

The reference is scipy's ``linkage(X, "ward")``: with unit weights the weighted linkage
must reproduce it, and with integer weights it must reproduce scipy's Ward on the data
with each point repeated ``weight`` times (the exactness the two-stage scalable path
relies on). Data are continuous normals so that no two merge heights tie and the trees
are unique. The whole file runs in about 5 s, imports included; the slowest test is the
memory one (1.5 s, as tracemalloc slows allocation).

Tolerances: heights are compared to 1e-10 relative. The two computations differ only in
rounding (scipy updates a distance matrix with the Lance-Williams formula, we recompute
Ward distances from the weighted centroids), which is ~1e-15 relative on these data; any
real error in the formula or the merge order is far larger.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from scipy.cluster.hierarchy import fcluster, is_monotonic, is_valid_linkage, linkage
from sklearn.metrics import adjusted_rand_score

from replication.segmentation.weighted_ward import weighted_cluster_centroids, weighted_ward_linkage

RTOL = 1e-10


def cut(Z, k):
    """The k-cluster partition of a linkage matrix (scipy's maxclust cut)."""
    return fcluster(Z, k, criterion="maxclust")


def replicated_problem(seed, m=30, d=3):
    """``m`` distinct normal points with integer weights 1..5, and the data repeated by weight."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(m, d))
    w = rng.integers(1, 6, size=m)
    return X, w, np.repeat(X, w, axis=0)


# 1. Unit weights: scipy's Ward, merge for merge --------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("m", [2, 3, 50, 400])
@pytest.mark.parametrize("d", [1, 3, 5])
def test_unit_weights_reproduce_scipy_ward(seed, m, d):
    X = np.random.default_rng(seed).normal(size=(m, d))
    Z = weighted_ward_linkage(X, np.ones(m))
    Zs = linkage(X, method="ward")
    np.testing.assert_allclose(Z[:, 2], Zs[:, 2], rtol=RTOL, atol=0)
    # Same merges under the same ids and the same counts: the relabelling is scipy's.
    np.testing.assert_array_equal(Z[:, [0, 1, 3]], Zs[:, [0, 1, 3]])
    for k in range(2, min(8, m) + 1):
        assert adjusted_rand_score(cut(Zs, k), cut(Z, k)) == 1.0, f"k={k}"


def test_input_arrays_are_not_modified():
    # d = 1 matters: there X.T is already contiguous, so a careless
    # np.ascontiguousarray(X.T) would be a view and the merges would overwrite X.
    for d in (1, 4):
        X = np.random.default_rng(3).normal(size=(20, d))
        w = np.arange(1.0, 21.0)
        X0, w0 = X.copy(), w.copy()
        weighted_ward_linkage(X, w)
        np.testing.assert_array_equal(X, X0)
        np.testing.assert_array_equal(w, w0)


# 2. Integer weights = replication (the exactness of the weighted path) --------------

@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_integer_weights_equal_repeated_points(seed):
    X, w, R = replicated_problem(seed)
    m = len(X)
    Zs = linkage(R, method="ward")
    # Scipy first merges the copies of each point at height 0; the distinct points
    # give strictly positive heights, so exactly sum(w) - m rows are at 0.
    zero = Zs[:, 2] == 0
    assert zero.sum() == w.sum() - m
    above = Zs[~zero]

    Z = weighted_ward_linkage(X, w)
    np.testing.assert_allclose(Z[:, 2], above[:, 2], rtol=RTOL, atol=0)
    # A merge's weight is the number of respondents scipy counts in it.
    np.testing.assert_array_equal(Z[:, 3], above[:, 3])

    # Same k-cluster partitions. Every copy of a point must land in one cluster; the
    # point's label is that of its first copy.
    Zl = weighted_ward_linkage(X, w, counts="leaves")
    first_copy = np.concatenate([[0], np.cumsum(w)[:-1]])
    for k in range(2, 9):
        lab_rep = cut(Zs, k)
        assert all(len(set(lab_rep[s:s + n])) == 1 for s, n in zip(first_copy, w))
        assert adjusted_rand_score(lab_rep[first_copy], cut(Zl, k)) == 1.0, f"k={k}"


def test_hand_computed_three_points():
    # Points 0, 1, 10 on a line, weights 1, 3, 2. Ward distances
    # sqrt(2 wa wb / (wa + wb)) |ca - cb|: {0,1}: sqrt(1.5) = 1.22, {1,10}: sqrt(2.4) 9 = 13.9,
    # {0,10}: sqrt(4/3) 10 = 11.5. So {0,1} merge first into centroid 0.75, weight 4; then
    # with 10 (weight 2): sqrt(2 * 4 * 2 / 6) * 9.25.
    Z = weighted_ward_linkage([[0.0], [1.0], [10.0]], [1, 3, 2])
    expected = [[0, 1, np.sqrt(1.5), 4], [2, 3, np.sqrt(8 / 3) * 9.25, 6]]
    np.testing.assert_allclose(Z, expected, rtol=1e-14)


def test_scaling_all_weights_scales_heights_and_keeps_the_tree():
    # Non-integer weights: multiplying every weight by c multiplies every Ward distance
    # by sqrt(c) and leaves the merge order alone. c is not a power of 2, so this is
    # not exact in floating point; 1e-10 relative as elsewhere.
    X, w, _ = replicated_problem(5, m=60)
    c = 0.37
    Z = weighted_ward_linkage(X, w)
    Zc = weighted_ward_linkage(X, c * w)
    np.testing.assert_array_equal(Zc[:, :2], Z[:, :2])
    np.testing.assert_allclose(Zc[:, 2], np.sqrt(c) * Z[:, 2], rtol=RTOL, atol=0)
    np.testing.assert_allclose(Zc[:, 3], c * Z[:, 3], rtol=1e-12)


# 3. A valid, monotone linkage matrix --------------------------------------------------

def test_valid_monotone_linkage_with_total_weight_at_the_root():
    rng = np.random.default_rng(7)
    m = 300
    X = rng.normal(size=(m, 4))
    w = rng.uniform(0.5, 40.0, size=m)            # non-integer sizes, total >> m
    Zw = weighted_ward_linkage(X, w)
    Zl = weighted_ward_linkage(X, w, counts="leaves")

    assert Zw.shape == (m - 1, 4)
    np.testing.assert_array_equal(Zw[:, :3], Zl[:, :3])    # counts only changes column 3
    assert is_valid_linkage(Zl)
    assert is_monotonic(Zl) and np.all(np.diff(Zl[:, 2]) >= 0)
    assert np.all(Zl[:, 2] > 0)
    # Sums are accumulated in a different order from w.sum(): 1e-12 relative.
    np.testing.assert_allclose(Zw[-1, 3], w.sum(), rtol=1e-12)
    assert Zl[-1, 3] == m
    assert len(np.unique(cut(Zl, 6))) == 6

    # Why counts="leaves" exists: scipy rejects a cluster "count" above m, which a total
    # weight exceeds, so fcluster cannot cut the weight-count matrix.
    assert not is_valid_linkage(Zw)
    with pytest.raises(ValueError, match="excessive observations"):
        cut(Zw, 6)


def test_ties_are_handled_deterministically():
    # A 6 x 6 grid with every point doubled: many exactly equal distances (0 between
    # copies, 1 between neighbours). The chain must not cycle, the result must be a
    # valid monotone tree, and the same on every call.
    g = np.arange(6.0)
    grid = np.array([(a, b) for a in g for b in g])
    X = np.vstack([grid, grid])
    w = np.ones(len(X))
    Z = weighted_ward_linkage(X, w, counts="leaves")
    assert is_valid_linkage(Z) and is_monotonic(Z)
    np.testing.assert_array_equal(Z, weighted_ward_linkage(X, w, counts="leaves"))
    assert np.sum(Z[:, 2] == 0) == len(grid)      # each point merges with its copy at 0
    # Next, two doubled neighbours (weights 2 and 2, 1 apart): sqrt(2 * 2 * 2 / 4) * 1.
    assert Z[len(grid), 2] == pytest.approx(np.sqrt(2), rel=1e-14)

    same = weighted_ward_linkage(np.zeros((5, 2)), np.ones(5))
    assert is_valid_linkage(same) and np.all(same[:, 2] == 0)


# 4. O(m·d) memory ----------------------------------------------------------------------

def test_memory_stays_linear_in_m():
    # numpy reports its buffers to tracemalloc, so any m x m or condensed distance
    # matrix would show up in the peak: for m = 4000 the condensed matrix alone is
    # m (m - 1) / 2 * 8 bytes = 64 MB. The weighted linkage keeps a few length-m
    # vectors, the (d, m) centroid copy and the (m - 1, 4) result: well under 1 MB.
    m = 4000
    rng = np.random.default_rng(11)
    X = rng.normal(size=(m, 5))
    w = rng.integers(1, 30, size=m).astype(float)

    tracemalloc.start()
    try:
        Z = weighted_ward_linkage(X, w)
        _, peak = tracemalloc.get_traced_memory()
        # Control: the same measurement does see a condensed-matrix-sized allocation.
        tracemalloc.reset_peak()
        np.ones(m * (m - 1) // 2)
        _, control_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert Z.shape == (m - 1, 4)
    assert control_peak > 60e6
    assert peak < 20e6, f"peak {peak / 1e6:.1f} MB"


# 5. Bad inputs ---------------------------------------------------------------------------

GOOD_X = np.arange(12.0).reshape(4, 3)
GOOD_W = np.ones(4)


@pytest.mark.parametrize("centroids, weights, message", [
    (np.where(GOOD_X == 5, np.nan, GOOD_X), GOOD_W, "NaN or infinite"),
    (np.where(GOOD_X == 5, np.inf, GOOD_X), GOOD_W, "NaN or infinite"),
    (GOOD_X, [1, 1, np.nan, 1], "NaN or infinite"),
    (GOOD_X, [1, 1, np.inf, 1], "NaN or infinite"),
    (GOOD_X, [1, -2, 1, 1], "positive"),
    (GOOD_X, [1, 0, 1, 1], "positive"),
    (GOOD_X, [1, 1, 1], "3 entries but there are 4"),
    (GOOD_X[:1], [1], "at least 2 points"),
    (np.arange(4.0), GOOD_W, "2-D"),
    (GOOD_X, GOOD_W[:, None], "1-D"),
])
def test_bad_inputs_raise_value_error(centroids, weights, message):
    with pytest.raises(ValueError, match=message):
        weighted_ward_linkage(centroids, weights)


def test_unknown_counts_option_raises():
    with pytest.raises(ValueError, match="counts"):
        weighted_ward_linkage(GOOD_X, GOOD_W, counts="size")


# 6. Weighted centroids of a cut --------------------------------------------------------

def test_weighted_cluster_centroids_by_hand():
    C = [[0, 0], [2, 0], [0, 4], [10, 10]]
    w = [1, 3, 2, 5]
    labels = np.array([0, 0, 1, 1])
    # Label 0: (1*(0,0) + 3*(2,0)) / 4 = (1.5, 0).
    # Label 1: (2*(0,4) + 5*(10,10)) / 7 = (50/7, 58/7).
    expected = [[1.5, 0.0], [50 / 7, 58 / 7]]
    np.testing.assert_allclose(weighted_cluster_centroids(C, w, labels, 2), expected, rtol=1e-14)


def test_weighted_centroids_of_the_cut_are_the_means_of_the_repeated_data():
    X, w, R = replicated_problem(4)
    k = 4
    labels = cut(weighted_ward_linkage(X, w, counts="leaves"), k) - 1
    seeds = weighted_cluster_centroids(X, w, labels, k)
    rep_labels = np.repeat(labels, w)
    expected = np.vstack([R[rep_labels == j].mean(axis=0) for j in range(k)])
    np.testing.assert_allclose(seeds, expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("labels, k, message", [
    ([1, 1, 2, 2], 2, r"0\.\.1"),           # fcluster's 1-based labels, not shifted
    ([0, 0, 2, 2], 3, r"\[1\] have no points"),
    ([0.0, 0.0, 1.0, 1.0], 2, "integers"),
    ([0, 1, 1], 2, "one entry per centroid"),
])
def test_weighted_cluster_centroids_bad_labels(labels, k, message):
    with pytest.raises(ValueError, match=message):
        weighted_cluster_centroids(GOOD_X, GOOD_W, np.array(labels), k)


def test_many_identical_points_with_weights_end_and_keep_wards_heights():
    """A bootstrap sample of discrete scale scores holds many identical points; their merged
    centroids move by an ulp, which once made the nearest-neighbour chain cycle for ever
    (a weighted 2.8 M-row run hung in its bootstrap). Twelve such samples, each in a
    subprocess with a 60 s limit (a linkage takes ~0.1 s): each ends, and with equal
    weights the heights are scipy's Ward heights (to 1e-9 relative: another summation order)."""
    import subprocess
    import sys
    code = """
import numpy as np
from scipy.cluster.hierarchy import linkage
from replication.segmentation.weighted_ward import weighted_ward_linkage
rng = np.random.default_rng(0)
for trial in range(12):
    base = rng.integers(4, 29, (300, 3)) / 4.0
    idx = rng.integers(0, 300, 2000)
    X = base[idx]
    w = np.round(rng.uniform(0.5, 2, 300), 3)[idx]
    X = (X - X.mean(0)) / X.std(0)
    weighted_ward_linkage(X, w, counts="leaves")
    Z = weighted_ward_linkage(X, np.ones(len(X)), counts="leaves")
    np.testing.assert_allclose(np.sort(Z[:, 2]), np.sort(linkage(X, "ward")[:, 2]), rtol=1e-9, atol=1e-12)
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
