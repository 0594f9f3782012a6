"""The paper's behavioural findings as claims: "segment S stands out on profiling variable V".

Each finding is judged by a one-sided test of S against the other named segments together
(Fisher's exact test for a yes/no variable or a level of a categorical one, Mann-Whitney U
for a count) at alpha = .05 fixed in advance, and presupposes the segment structure and its
segment's profile, as the share and profile claims do. The Monte Carlo evidence that the
claims can fail is the ``profiling_flat`` control scenario (``replication controls``;
here at R = 6 in tests/test_controls.py).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from replication import analyse, load_study, simulate_survey
from replication.errors import ReplicationError
from replication.evaluation.claims import evaluate_claims, premises
from replication.evaluation.controls import GeneratorOverrides, Scenario, generating_spec
from replication.study.sources import read_user_survey

BEHAVIOUR = ["behaviour.cooperation_options", "behaviour.interactive_options", "behaviour.loyalty_member"]


@pytest.fixture(scope="module")
def golovacheva(spec):
    return spec                   # conftest's shipped study, under this module's name for it


@pytest.fixture(scope="module")
def default_result(analysed):
    return analysed               # conftest's full analysis of the default sample


def test_the_scorecard_lists_twenty_reported_claims(golovacheva):
    reported = [c for c in golovacheva.claims if c.reported]
    assert len(reported) == 20
    assert [c.id for c in golovacheva.claims if c.kind == "segment_stands_out"] == BEHAVIOUR
    for cid in BEHAVIOUR:
        claim = next(c for c in golovacheva.claims if c.id == cid)
        assert claim.alpha == 0.05 and claim.tolerance_source.startswith("assumed")
        assert {p.id for p in premises(claim, golovacheva)} == {"n_segments", "stability", f"profile.{claim.segment}"}


def test_the_findings_pass_on_the_default_sample_and_say_they_are_built_in(default_result):
    card = default_result.scorecard.set_index("claim").loc[BEHAVIOUR]
    assert (card["verdict"] == "PASS").all(), card["replicated_value"]
    assert card["basis"].str.startswith("built into the generator").all()


def test_a_finding_fails_when_the_segment_is_not_higher(golovacheva, default_result):
    tables = dict(default_result.tables)
    c = tables["profiling_contrasts"].copy()
    mine = (c["variable"] == "loyalty_member") & (c["segment"] == "omnichannel_seekers")
    c.loc[mine, ["difference", "p_value"]] = [-0.05, 0.9]
    tables["profiling_contrasts"] = c
    card = evaluate_claims(golovacheva, tables, skip_kinds=("stability",)).set_index("claim")
    assert card.loc["behaviour.loyalty_member", "verdict"] == "FAIL"
    assert (card.loc[["behaviour.cooperation_options", "behaviour.interactive_options"], "verdict"] == "PASS").all()


def test_flat_behaviour_fails_the_findings(golovacheva):
    """Profiling behaviour at the base rate in every segment: with the segments recovered,
    the three findings are judged and fail. Five samples; at the 5 % level a finding may
    pass by chance, so each may pass in at most one of them (two or more has probability
    0.023 at a 5 % false-pass rate); the rate at R = 100 is in the controls."""
    flat = generating_spec(golovacheva, Scenario(id="f", title="f", description="f", base=golovacheva.id,
                                                 generator=GeneratorOverrides(flat_profiling=True)))
    assert all(not p.segment_rates.value for p in flat.profiling)
    passes = pd.Series(0, index=BEHAVIOUR)
    for seed in range(5):
        result = analyse(golovacheva, simulate_survey(flat, random_state=seed).survey, stability=False,
                         crosscheck=False)
        card = result.scorecard.set_index("claim")
        assert (card.loc[BEHAVIOUR, "verdict"].isin(["PASS", "FAIL"])).all()       # judged: segments found
        passes += card.loc[BEHAVIOUR, "verdict"] == "PASS"
    assert (passes <= 1).all(), passes


def test_a_missing_profile_premise_leaves_the_finding_not_assessable(golovacheva, default_result):
    tables = dict(default_result.tables)
    check = tables["profile_check"].copy()
    check.loc[check["segment"] == "social_customizers", "holds"] = False
    tables["profile_check"] = check
    card = evaluate_claims(golovacheva, tables, skip_kinds=("stability",)).set_index("claim")
    assert card.loc["behaviour.interactive_options", "verdict"] == "NOT ASSESSABLE"
    assert card.loc["behaviour.loyalty_member", "verdict"] == "PASS"


# --- on a researcher's own data ------------------------------------------------------------

def own_study(golovacheva, tmp_path, channel_effect: bool):
    """The Golovacheva design as a study of one's own data (a CSV and a data: block), with a
    count, a binary and a categorical profiling variable and a claim on each."""
    sample = simulate_survey(golovacheva, random_state=11)
    survey = sample.survey.copy()
    rng = np.random.default_rng(3)
    truth = sample.true_segments.reindex(survey["respondent_id"]).to_numpy()
    p_store = np.where((truth == "social_customizers") & channel_effect, 0.7, 0.25)
    survey["channel"] = np.where(rng.random(len(survey)) < p_store, 2, rng.choice([1, 3], size=len(survey)))
    survey.to_csv(tmp_path / "mine.csv", index=False)
    d = yaml.safe_load(golovacheva.path.read_text(encoding="utf-8"))
    d["study"]["id"] = "my_survey"
    del d["simulation"]
    d["data"] = {"file": "mine.csv", "id": "respondent_id"}
    for p in d["profiling"]:
        del p["rate"], p["segment_rates"]
    d["profiling"].append({"id": "channel", "label": {"value": "Preferred channel", "assumed": "my survey"},
                           "kind": "categorical", "categories": {1: "online", 2: "store", 3: "both"}})
    d["claims"].append({"id": "behaviour.channel", "kind": "segment_stands_out", "segment": "social_customizers",
                        "variable": "channel", "level": 2, "statement": "Social customizers prefer the store",
                        "assumed": "my hypothesis", "alpha": 0.05})
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(d, sort_keys=False, allow_unicode=True), encoding="utf-8")
    spec = load_study(path)
    user = read_user_survey(spec.data, spec, tmp_path)
    return spec, analyse(spec, user.survey, stability=False)


@pytest.mark.parametrize("effect", [True, False])
def test_findings_on_ones_own_data_with_count_binary_and_categorical(golovacheva, tmp_path, effect):
    spec, result = own_study(golovacheva, tmp_path, effect)
    assert not spec.is_synthetic
    card = result.scorecard.set_index("claim")
    assert (card.loc[BEHAVIOUR, "verdict"] == "PASS").all(), card.loc[BEHAVIOUR, "replicated_value"]
    assert card.loc[BEHAVIOUR, "basis"].isna().all()          # nothing built in: real data
    assert card.loc["behaviour.channel", "verdict"] == ("PASS" if effect else "FAIL")
    assert "share 'store'" in card.loc["behaviour.channel", "replicated_value"]
    by = result.tables["profiling_by_segment"]
    assert set(by.loc[by["variable"] == "channel", "level"]) == {1, 2, 3}


def test_claim_on_an_unknown_variable_or_without_its_level_is_a_clear_error(golovacheva, tmp_path):
    d = yaml.safe_load(golovacheva.path.read_text(encoding="utf-8"))
    d["claims"][-2]["variable"] = "nonsense"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(d, sort_keys=False), encoding="utf-8")
    with pytest.raises(ReplicationError, match="'nonsense', which is not a profiling variable"):
        load_study(path)


def test_the_page_of_ones_own_study_shows_the_findings(golovacheva, tmp_path):
    """Through the whole pipeline: the page shows a categorical variable one column per level
    and the contrast behind each behavioural claim."""
    from replication import pipeline
    spec, _ = own_study(golovacheva, tmp_path, channel_effect=True)
    run = pipeline.run_study(spec, tmp_path / "project", notebooks=False, log=lambda *a: None)
    page = run.layout.page.read_text(encoding="utf-8")
    assert "channel = 2" in page and "one-sided tests of the behavioural claims" in page
    assert run.result.scorecard.set_index("claim").loc["behaviour.channel", "verdict"] == "PASS"
