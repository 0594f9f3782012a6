"""The verdict words and what they rest on: share margins, power, recovery tolerances and
claims that presuppose others.

Every case here builds the tables it judges, so each verdict kind is shown to arise (and
to be able to fail) without a Monte Carlo run; the control scenarios (tests/test_controls.py
and ``replication controls``) show the same on generated surveys.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from replication import analyse, simulate_survey
from replication.evaluation.claims import PREMISES, card_fails, evaluate_claims, premises, verdict_counts
from replication.evaluation.shares import (FAIL, NOT_ASSESSABLE, NOT_DIAGNOSTIC, PASS, VERDICTS, composition_of,
                                           share_margin, share_verdicts)


@pytest.fixture(scope="module")
def golovacheva(spec):
    return spec                   # conftest's shipped study, under this module's name for it


@pytest.fixture(scope="module")
def default_run(golovacheva, sample):
    return analyse(golovacheva, sample.survey, stability=False)


def sampled(spec, shares_pct, n):
    """Segment labels of ``n`` respondents with the given shares (largest remainder)."""
    counts = np.floor(np.asarray(shares_pct) / 100 * n).astype(int)
    counts[np.argsort(-(np.asarray(shares_pct) / 100 * n - counts))[: n - counts.sum()]] += 1
    return np.repeat(spec.segment_ids, counts)


# --- the margin rule -----------------------------------------------------------------------

def test_margin_is_the_original_studys_precision(golovacheva, forrester):
    """Golovacheva (N = 586): the difference the original sample had 33 % power to detect
    (two-sided 5 %) exceeds half a point; Forrester (N = 60,000): the reporting precision
    (half a point of a whole percent) is larger."""
    p, n = 0.17, 586
    by_hand = 100 * (norm.ppf(0.975) - norm.ppf(0.67)) * math.sqrt(p * (1 - p) / n)
    assert share_margin(p, n) == pytest.approx(by_hand)
    assert 2.2 < share_margin(p, n) < 2.5
    assert share_margin(0.30, forrester.n.value) == 0.5


def test_composition_comes_from_the_design(golovacheva):
    assert composition_of(golovacheva) == "exact"
    data = golovacheva.model_copy(update={"simulation": golovacheva.simulation.model_copy(
        update={"composition": golovacheva.simulation.composition.model_copy(update={"value": "multinomial"})})})
    assert composition_of(data) == "sampled"


# --- sampled composition: interval, power, margin --------------------------------------------

def test_sampled_share_at_the_original_n_is_not_diagnostic(golovacheva):
    """At N = 586 a difference of a share's margin cannot be detected with 80 % power: the
    reported composition itself reads NOT DIAGNOSTIC, with the N that would do."""
    v = share_verdicts(golovacheva, sampled(golovacheva, [10, 8, 17, 22, 43], 586), composition="sampled")
    assert (v["verdict"] == NOT_DIAGNOSTIC).all(), v
    assert (v["consistent"]).all() and not v["diagnostic"].any()
    row = v.set_index("segment").loc["omnichannel_seekers"]
    z = norm.ppf(1 - 0.05 / 10) + norm.ppf(0.8)           # family-wise over 5 shares, 80 % power
    assert row["detectable_pp"] == pytest.approx(100 * z * math.sqrt(0.17 * 0.83 / 586))
    assert row["n_diagnostic"] == math.ceil(z ** 2 * 0.17 * 0.83 / (row["margin_pp"] / 100) ** 2)
    # At that N the same composition is diagnostic, and passes.
    big = share_verdicts(golovacheva, sampled(golovacheva, [10, 8, 17, 22, 43], int(v["n_diagnostic"].max())),
                         composition="sampled")
    assert (big["verdict"] == PASS).all(), big


def test_sampled_share_far_from_the_reported_one_fails(golovacheva):
    v = share_verdicts(golovacheva, sampled(golovacheva, [20, 20, 20, 20, 20], 586), composition="sampled")
    by = v.set_index("segment")["verdict"]
    assert by["individualization_lovers"] == FAIL and by["avoiders"] == FAIL and by["social_customizers"] == FAIL
    # 20 % against a reported 22 %: within the interval at this N, so not evidence either way.
    assert by["digital_customizers"] == NOT_DIAGNOSTIC


def test_forrester_share_is_an_interval_not_rounds_to(forrester):
    """Reported 30 % means [29.5, 30.5]: the generator's 29.70 % (30 of 101) is inside it
    even though it sits 0.2 points from the rounding edge; at a million respondents the
    interval is narrow enough to pass, and a share of 29 % fails."""
    shares = 100 * forrester.shares
    n = 1_000_000
    v = share_verdicts(forrester, sampled(forrester, shares, n), composition="sampled").set_index("segment")
    assert v.loc["convenience_conformers", "replicated_pct"] == pytest.approx(29.70, abs=0.01)
    assert (v["verdict"] == PASS).all(), v
    moved = shares.copy()
    moved[2] -= 0.7
    moved[0] += 0.7
    v = share_verdicts(forrester, sampled(forrester, moved, n), composition="sampled").set_index("segment")
    assert v.loc["convenience_conformers", "verdict"] == FAIL
    assert v.loc["convenience_conformers", "difference_pp"] == pytest.approx(29.0 - 30, abs=0.01)


# --- exact composition: recovery --------------------------------------------------------------

def test_recovered_shares_pass_and_a_moved_count_fails(golovacheva, default_run):
    seg = default_run.assignments["segment"].to_numpy()
    labels = default_run.segmentation.model.labels_
    X = default_run.scores[golovacheva.dimension_ids].to_numpy(dtype=float)
    v = share_verdicts(golovacheva, seg, labels, X, composition="exact")
    assert (v["basis"] == "recovery").all() and (v["verdict"] == PASS).all(), v
    assert (v["tolerance_pp"] < v["margin_pp"]).all()
    # The same recovered segments judged against a composition three points away for two
    # segments (avoiders 7 %, digital customizers 25 %): those counts are outside the tolerance.
    from replication.evaluation.controls import GeneratorOverrides, Scenario, generating_spec
    other = generating_spec(golovacheva, Scenario(id="x", title="x", description="x", base=golovacheva.id,
                                                   generator=GeneratorOverrides(shares={"avoiders": 7, "digital_customizers": 25})))
    w = share_verdicts(other, seg, labels, X, composition="exact").set_index("segment")
    assert w.loc["digital_customizers", "verdict"] == FAIL and w.loc["avoiders", "verdict"] == FAIL
    assert (w.drop(index=["digital_customizers", "avoiders"])["verdict"] == PASS).all()


def test_exact_composition_needs_the_clusters(golovacheva):
    with pytest.raises(ValueError, match="recovery"):
        share_verdicts(golovacheva, sampled(golovacheva, [10, 8, 17, 22, 43], 586), composition="exact")


# --- premises -----------------------------------------------------------------------------------

def test_premises_are_data_on_the_claim_kinds(golovacheva):
    assert set(PREMISES["segment_share"]) == {"n_segments", "stability", "segment_profile"}
    share = next(c for c in golovacheva.claims if c.id == "share.avoiders")
    assert {p.id for p in premises(share, golovacheva)} == {"n_segments", "stability", "profile.avoiders"}
    logit = next(c for c in golovacheva.claims if c.id == "logit.model")
    assert {p.id for p in premises(logit, golovacheva)} == {"n_segments", "stability"}
    assert premises(next(c for c in golovacheva.claims if c.id == "n_segments"), golovacheva) == []


def test_a_failed_k_claim_leaves_its_dependents_not_assessable(golovacheva, default_run):
    tables = dict(default_run.tables)
    pref = tables["k_preferred"].copy()
    pref["preferred_k"] = 6
    tables["k_preferred"] = pref
    card = evaluate_claims(golovacheva, tables, skip_kinds=("stability",)).set_index("claim")
    assert card.loc["n_segments", "verdict"] == FAIL
    others = card.drop(index="n_segments")
    assert (others["verdict"] == NOT_ASSESSABLE).all(), others["verdict"]
    assert not others["passed"].any()
    assert card_fails(card.reset_index())
    assert verdict_counts(card) == {PASS: 0, FAIL: 1, NOT_DIAGNOSTIC: 0, NOT_ASSESSABLE: len(card) - 1}


def test_a_failed_stability_claim_leaves_its_dependents_not_assessable(golovacheva, default_run):
    tables = dict(default_run.tables)
    tables["stability"] = pd.DataFrame({"segment": golovacheva.segment_ids, "mean_jaccard": 0.4,
                                        "verdict": "dissolved", "resamples": 100})
    card = evaluate_claims(golovacheva, tables).set_index("claim")
    assert card.loc["stability", "verdict"] == FAIL and card.loc["n_segments", "verdict"] == PASS
    assert (card.drop(index=["stability", "n_segments"])["verdict"] == NOT_ASSESSABLE).all()


def test_a_claim_not_evaluated_in_a_run_is_no_premise(golovacheva, default_run):
    """Monte Carlo replicates skip the stability bootstrap: the claim is left off and the
    others are judged on their own comparisons."""
    card = evaluate_claims(golovacheva, default_run.tables, skip_kinds=("stability",))
    assert "stability" not in set(card["claim"]) and (card["verdict"] == PASS).all()
    assert not card["premises"].fillna("").str.contains("stability").any()


def test_not_diagnostic_shares_do_not_fail_the_scorecard(golovacheva, default_run):
    tables = dict(default_run.tables)
    v = tables["share_verdicts"].copy()
    v["verdict"] = NOT_DIAGNOSTIC
    tables["share_verdicts"] = v
    card = evaluate_claims(golovacheva, tables, skip_kinds=("stability",))
    assert verdict_counts(card)[NOT_DIAGNOSTIC] == 5 and not card_fails(card)
    assert not card.loc[card["claim"].str.startswith("share."), "passed"].any()


def test_every_verdict_word_has_its_line():
    assert list(VERDICTS) == [PASS, FAIL, NOT_DIAGNOSTIC, NOT_ASSESSABLE]
    assert all(len(text) < 140 for text in VERDICTS.values())


# --- profiles relative to the sample ------------------------------------------------------------

def test_a_response_style_does_not_change_a_profile_verdict(golovacheva):
    """Every answer one point higher (clipped at 7): the profile check reads z-scores and
    effect sizes, so every profile claim still holds (the old midpoint rule failed every Low)."""
    sample = simulate_survey(golovacheva, response_shift=1)
    result = analyse(golovacheva, sample.survey, stability=False)
    card = result.scorecard.set_index("claim")
    profiles = card[card.index.str.startswith("profile.")]
    assert (profiles["verdict"] == PASS).all(), profiles["replicated_value"]
    check = result.tables["profile_check"]
    low = check[check["reported"] == "L"]
    assert (low["mean"] > (7 + 1) / 2 - 1).any()      # Lows sit nearer the midpoint, and still hold
    assert low["holds"].all()
