"""``replication init`` on a survey nobody here wrote: explore it (constructs from the
items' correlations, k from the k criteria, segments named by their profile) and test a
paper's claims on it (``--like``). The survey is tests/own_survey.py's labelled SPSS file
(string ids, 98/99 declared user-missing, blanks, twelve items named alike measuring four
needs, three true segments)."""

from __future__ import annotations

import html
import re

import numpy as np
import pandas as pd
import pyreadstat
import pytest
import yaml
from sklearn.metrics import adjusted_rand_score

from replication import cli, pipeline
from replication.errors import ReplicationError
from replication.explore import explore_yaml, like_yaml, segment_name
from replication.study.item_clusters import propose_constructs
from replication.study.kind import study_kind
from replication.study.spec import load_study

from own_survey import own_survey_frame, write_own_survey


def run_main(*args) -> int:
    with pytest.raises(SystemExit) as info:
        cli.main([str(a) for a in args])
    return info.value.code


@pytest.fixture(scope="module")
def explored(tmp_path_factory):
    """The survey, `replication init` on it, and the run of the YAML as written."""
    folder = tmp_path_factory.mktemp("own")
    sav, truth = write_own_survey(folder)
    assert run_main("init", sav) == 0
    yml = folder / "my_survey.yaml"
    spec = load_study(yml)
    run = pipeline.run_study(spec, folder / "root", notebooks=False, log=lambda *a: None)
    ids = pyreadstat.read_sav(str(sav))[0]["resp_id"]
    return {"folder": folder, "sav": sav, "yaml": yml, "spec": spec, "run": run,
            "truth": pd.Series(truth, index=ids)}


def page_text(run) -> str:
    s = run.layout.page.read_text(encoding="utf-8")
    s = re.sub(r"<img[^>]*>|<style.*?</style>", "", s, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", s)).split())


def test_factor_analysis_splits_items_named_alike_by_what_they_measure():
    df, _, _ = own_survey_frame()
    items = df[[f"Q3_{i}" for i in range(1, 13)]].where(lambda x: x < 90)
    proposal = propose_constructs(items)
    # Four needs of three items each (the names would lump all twelve into one).
    assert proposal.n_factors == 4
    assert proposal.groups == [[f"Q3_{3 * j + i}" for i in (1, 2, 3)] for j in range(4)]
    assert proposal.loadings.shape == (12, 4) and not proposal.reversed
    assert "Exploratory factor analysis" in proposal.summary()


def test_factor_analysis_proposes_reverse_coding_and_leaves_out_noise():
    df, _, _ = own_survey_frame()
    items = df[[f"Q3_{i}" for i in range(1, 13)]].where(lambda x: x < 90).copy()
    items["Q3_2"] = 6 - items["Q3_2"]                     # stored the other way round
    items["noise"] = np.random.default_rng(0).integers(1, 6, size=len(items))
    proposal = propose_constructs(items)
    assert proposal.reversed == ["Q3_2"] and proposal.factor_of("Q3_2") == 0
    assert proposal.factor_of("noise") is None and "below 0.4" in proposal.unassigned["noise"]


def test_init_writes_a_study_that_runs_as_written_and_finds_the_segments(explored):
    spec, run, text = explored["spec"], explored["run"], explored["yaml"].read_text(encoding="utf-8")
    assert "TODO" not in text and "reported:" not in text.replace("`reported:`", "") and not spec.claims
    assert study_kind(spec) == "explore"
    assert spec.n_segments.value == 3                      # the true k, chosen by the k criteria
    assert "k criteria" in spec.n_segments.source and spec.segmentation.k_rule
    assert len(spec.clustering_constructs) == 4 and "Loadings" in text
    assert spec.data.id == "resp_id"
    assert spec.data.weight == "weight"                    # the survey weight found and used
    assert "weighting" in run.result.tables
    a = run.result.assignments
    assert a["respondent_id"].iloc[0] == "R-0001"          # string ids kept
    assert adjusted_rand_score(explored["truth"].loc[a["respondent_id"]], a["segment"]) >= 0.95
    assert set(a["segment"]) == set(spec.segment_ids)      # every cluster matched its own profile


def test_the_page_is_a_segmentation_report(explored):
    text = page_text(explored["run"])
    spec = explored["spec"]
    assert f"Segmentation report: {spec.study.title}" in text     # the Cyrillic file label
    assert "Replication report" not in text and "Scorecard" not in text
    assert spec.segmentation.k_rule in text and "What was found" in text
    assert "Reported vs replicated shares" not in text and "rounds to the reported" not in text
    assert "What the source reports" not in text
    for name in spec.segment_names.values():
        assert name in text


def test_segment_names_follow_the_profile():
    assert segment_name([1.0, -0.7, 0.1], ["A", "B", "C"]) == "High A; low B"
    assert segment_name([0.6, 0.9, -0.1], ["A", "B", "C"]) == "High A and B"
    assert segment_name([0.1, -0.2], ["A", "B"]) == "Average on every dimension"


def test_init_like_carries_the_papers_claims_and_maps_the_constructs(explored, tmp_path):
    out = tmp_path / "like.yaml"
    assert run_main("init", explored["sav"], "--like", "golovacheva2022", "--output", out) == 0
    text = out.read_text(encoding="utf-8")
    doc = yaml.safe_load(text)
    paper = load_study("golovacheva2022")
    assert doc["study"]["like"] == "golovacheva2022" and doc["study"]["id"] != paper.id
    assert {c["id"] for c in doc["claims"]} >= {"n_segments", "share.avoiders", "logit.model"}
    ids = [c["id"] for c in doc["constructs"]]
    assert ids == [c.id for c in paper.clustering_constructs + paper.predictor_constructs]
    # The file proposes four constructs: three needs and one predictor mapped, four not.
    assert doc["constructs"][0]["items"]["value"] == ["Q3_1", "Q3_2", "Q3_3"]
    assert "NOT MAPPED" in text and "simulation" not in doc
    assert run_main("run", "--study", out, "--root", tmp_path / "root", "--no-notebooks") == 2


def test_an_unmapped_construct_stops_the_run_with_one_message(explored, tmp_path, capsys):
    out = tmp_path / "like.yaml"
    out.write_text(like_yaml(explored["sav"], "golovacheva2022", yaml_dir=tmp_path), encoding="utf-8")
    with pytest.raises(ReplicationError) as info:
        load_study(out)
    msg = str(info.value)
    assert "'privacy_concerns' is not mapped to your survey" in msg and "UNMAPPED" in msg and "line" in msg
    assert "appears in more than one construct" not in msg


def test_a_paper_tested_on_your_survey_is_judged_and_says_so(tmp_path):
    """On a survey with the paper's structure (the demonstration file, its items under
    other names), every construct is mapped and the paper's claims are judged on it."""
    from replication.study.demo import write_demo_survey

    sav, _ = write_demo_survey(tmp_path / "demo", n=300, seed=3)
    out = tmp_path / "demo" / "like.yaml"
    assert run_main("init", sav, "--like", "golovacheva2022", "--output", out) == 0
    spec = load_study(out)
    assert study_kind(spec) == "like" and "UNMAPPED" not in out.read_text(encoding="utf-8")
    run = pipeline.run_study(spec, tmp_path / "root", notebooks=False, log=lambda *a: None)
    card = run.result.scorecard
    assert "n_segments" in set(card["claim"]) and len(card) == len(spec.claims)
    text = page_text(run)
    assert "The claims of a paper tested on your survey" in text
    assert f"The claims of {spec.study.citation} tested on your survey" in text


def test_explore_needs_items(tmp_path):
    path = tmp_path / "few.csv"
    pd.DataFrame({"id": [1, 2, 3, 4], "age": [20, 30, 40, 50], "x": [1, 2, 3, 1]}).to_csv(path, index=False)
    with pytest.raises(ReplicationError, match=r"few.csv: fewer than two columns look like"):
        explore_yaml(path)


def test_init_is_deterministic_and_caps_k_for_a_small_file(explored, tmp_path):
    again = explore_yaml(explored["sav"], yaml_dir=explored["folder"])
    assert again == explored["yaml"].read_text(encoding="utf-8")      # same file, same study
    small, _ = write_own_survey(tmp_path, n=60, seed=5, name="small.sav")
    doc = yaml.safe_load(explore_yaml(small))
    used = int(re.search(r"(\d+) respondents\)", doc["n_segments"]["assumed"]).group(1))
    k_max = doc["segmentation"]["k_max"]
    assert used < 80 and k_max == used // 10 and f"k = 2..{k_max}" in doc["n_segments"]["assumed"]
    tiny, _ = write_own_survey(tmp_path, n=30, seed=5, name="tiny.sav")
    assert run_main("init", tiny) == 2                                  # one message, no YAML
    assert not (tmp_path / "tiny.yaml").exists()


def test_init_explores_a_csv_with_undeclared_no_answer_codes(tmp_path):
    """A CSV has no declared missing values: 98/99 stand apart from the 1-5 answers, so init
    lists them as missing codes, and the study runs as written."""
    df, _, truth = own_survey_frame(n=300, seed=3)
    path = tmp_path / "survey.csv"
    df.to_csv(path, index=False)
    assert run_main("init", path) == 0
    spec = load_study(tmp_path / "survey.yaml")
    assert spec.data.missing_codes == [98, 99] and spec.data.id == "resp_id"
    assert len(spec.clustering_constructs) == 4 and spec.n_segments.value == 3
    from replication import analyse
    from replication.study.sources import read_user_survey
    result = analyse(spec, read_user_survey(spec.data, spec).survey, crosscheck=False, stability=False)
    assert result.summary().startswith("Segmentation: ")
    got = result.assignments.set_index("respondent_id")["segment"]
    assert adjusted_rand_score(pd.Series(truth, index=df["resp_id"]).loc[got.index], got) >= 0.95


def test_a_file_named_like_a_shipped_study_gets_another_id(explored, tmp_path):
    sav = tmp_path / "golovacheva2022.sav"
    sav.write_bytes(explored["sav"].read_bytes())
    assert yaml.safe_load(explore_yaml(sav))["study"]["id"] == "golovacheva2022_own"


def test_the_issues_survey_end_to_end_with_predictors_and_classify(explored, tmp_path):
    """The whole own-survey path on the labelled SPSS file (string ids, 98/99 user-missing,
    age, a 1-7 attitude item, a labelled gender, a weight column, a Cyrillic title):
    init's YAML with its proposed membership model uncommented runs through the CLI, the
    membership model has a row for each of age, attitude and gender, and the model card
    types the same respondents into the same segments (classify round-trips)."""
    text = explored["yaml"].read_text(encoding="utf-8")
    head, hint = text.split("# A membership model", 1)
    block = [line[2:] for line in hint.splitlines()[3:] if line.startswith("# ")]
    yml = explored["folder"] / "with_predictors.yaml"
    yml.write_text(head + "\n".join(block) + "\n", encoding="utf-8")
    root = tmp_path / "root"
    assert run_main("run", "--study", yml, "--root", root, "--no-notebooks") == 0
    spec = load_study(yml)
    processed = root / "data" / "processed" / spec.id
    lr = pd.read_csv(root / "reports" / spec.id / "tables" / "logit_lr_tests.csv")
    assert set(lr["predictor"]) == {"age", "attitude", "gender"}
    assigned = pd.read_csv(processed / "assignments.csv", dtype={"respondent_id": str})
    truth = explored["truth"].loc[assigned["respondent_id"]]
    assert adjusted_rand_score(truth, assigned["segment"]) >= 0.95
    out = tmp_path / "typed.csv"
    assert run_main("classify", processed / "model_card.json", explored["sav"], "--output", out) == 0
    typed = pd.read_csv(out, dtype={"respondent_id": str}).set_index("respondent_id")
    both = assigned.set_index("respondent_id")["segment"]
    assert (typed.loc[both.index, "segment"] == both).mean() >= 0.99
