"""Measurement: Cronbach's alpha against hand computation, reliability of the sample, scale scores."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

from replication.study.measurement import cronbach_alpha, reliability, scale_scores

# Five respondents answering three items.
SMALL = [
    [1, 2, 2],
    [2, 2, 3],
    [3, 4, 3],
    [4, 4, 5],
    [5, 3, 4],
]


def _var(xs):
    """Sample variance (n - 1 in the denominator), exactly."""
    xs = [Fraction(x) for x in xs]
    mean = sum(xs) / len(xs)
    return sum((x - mean) ** 2 for x in xs) / (len(xs) - 1)


def _alpha_by_hand(rows):
    """alpha = k/(k-1) * (1 - sum of item variances / variance of the total score)."""
    k = len(rows[0])
    item_vars = sum(_var([r[j] for r in rows]) for j in range(k))
    total_var = _var([sum(r) for r in rows])
    return Fraction(k, k - 1) * (1 - item_vars / total_var)


def test_alpha_matches_textbook_formula():
    expected = _alpha_by_hand(SMALL)
    # Item variances 2.5, 1.0, 1.3 (sum 4.8); totals 5, 7, 10, 13, 12 have variance 11.3;
    # alpha = 3/2 * (1 - 4.8/11.3) = 195/226 = 0.862832...
    assert expected == Fraction(3, 2) * (1 - Fraction(48, 113)) == Fraction(195, 226)
    assert float(expected) == pytest.approx(0.8628318584070797)
    assert cronbach_alpha(SMALL) == pytest.approx(float(expected), abs=1e-12)
    assert cronbach_alpha(pd.DataFrame(SMALL, columns=["a", "b", "c"])) == pytest.approx(float(expected), abs=1e-12)


@pytest.mark.parametrize("k", [2, 3, 5])
def test_alpha_of_identical_items_is_one(k):
    x = np.array([1, 3, 2, 5, 4, 7, 6, 2])
    assert cronbach_alpha(np.column_stack([x] * k)) == pytest.approx(1.0, abs=1e-12)


def test_alpha_of_uncorrelated_items_is_zero():
    # Zero covariance: the total's variance is exactly the sum of the item variances.
    items = np.array([[1, 1], [-1, 1], [1, -1], [-1, -1]])
    assert cronbach_alpha(items) == pytest.approx(0.0, abs=1e-12)


def test_alpha_needs_two_items():
    with pytest.raises(ValueError, match="at least two items"):
        cronbach_alpha([[1], [2], [3]])


def test_every_construct_is_reliable_in_default_sample(spec, sample):
    table = reliability(sample.survey, spec)
    assert list(table["construct"]) == [c.id for c in spec.constructs]
    assert (table["alpha"] >= 0.70).all(), table[["construct", "alpha"]]
    assert (table["alpha"] < 1).all()
    for c in spec.constructs:
        direct = cronbach_alpha(sample.survey[c.items.value])
        assert direct == pytest.approx(float(table.set_index("construct").loc[c.id, "alpha"]))
        assert _alpha_by_hand(sample.survey[c.items.value].to_numpy().tolist()) == pytest.approx(direct)


def test_scale_scores_are_item_means(spec, sample):
    scores = scale_scores(sample.survey, spec)
    assert list(scores.columns) == ["respondent_id"] + [c.id for c in spec.constructs]
    assert scores["respondent_id"].tolist() == sample.survey["respondent_id"].tolist()
    for c in spec.constructs:
        items = sample.survey[c.items.value].to_numpy(dtype=float)
        np.testing.assert_allclose(scores[c.id].to_numpy(), items.sum(axis=1) / items.shape[1])


def test_scale_scores_on_a_tiny_survey(spec):
    items = [it for c in spec.constructs for it in c.items.value]
    survey = pd.DataFrame({"respondent_id": [7, 3]})
    for j, it in enumerate(items):
        survey[it] = [1 + j % 4, 7]
    scores = scale_scores(survey, spec)
    # Every construct has four items answered 1, 2, 3, 4 by respondent 7 (mean 2.5) and all 7 by 3.
    for c in spec.constructs:
        assert scores[c.id].tolist() == [2.5, 7.0]
    assert scores["respondent_id"].tolist() == [7, 3]


def test_reliability_from_the_scale_scores_is_the_same_table(sample, spec):
    """The analysis passes the scale scores it already has: the table is the one computed
    from the items alone, exactly."""
    from replication.study.measurement import reliability, scale_scores
    pd.testing.assert_frame_equal(reliability(sample.survey, spec, scale_scores(sample.survey, spec)),
                                  reliability(sample.survey, spec), check_exact=True)


@pytest.mark.parametrize("seed", range(5))
def test_item_means_are_pandas_row_means_exactly(seed):
    """Scale scores, the reliability table and the typing tool take each row's mean of its
    answered items with :func:`item_means`: exactly pandas' ``mean(axis=1)`` (the same
    sums and counts), on whole answers, on fractions, with missing answers and with rows
    that answered nothing."""
    from replication.study.measurement import item_means
    rng = np.random.default_rng(seed)
    block = pd.DataFrame(rng.integers(1, 8, size=(500, 4)).astype(float) / (1 if seed % 2 else 3.7))
    block = block.mask(rng.random(block.shape) < 0.2)
    block.iloc[:3] = np.nan
    np.testing.assert_array_equal(item_means(block), block.mean(axis=1).to_numpy())
    np.testing.assert_array_equal(item_means(block.astype(np.float16)), block.astype(np.float16).astype(float).mean(axis=1).to_numpy())
