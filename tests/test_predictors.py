"""Any predictor in the membership model: single numeric columns (age), single ordinal items
(a 1-7 attitude), categorical columns (dummy-coded against a named reference level, value
labels kept as level names) beside the multi-item constructs; and the carried columns,
written to the assignments and profiled by segment.

The survey is the demonstration survey (generated, labelled SPSS) with a 1-7 attitude item
added (99 = "No answer", declared user-missing) and an age of 999 declared user-missing.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyreadstat
import pytest
import statsmodels.api as sm
from scipy import stats

from replication import cli
from replication.errors import ReplicationError
from replication.membership.design import code_predictors
from replication.membership.model_card import (build_model_card, classify, load_model_card, read_new_respondents,
                                               save_model_card, write_assignments)
from replication.segmentation.carried import carried_by_segment, carried_columns
from replication.study.demo import DEMO_STUDY_ID, REGIONS_RU, demo_frame, demo_yaml
from replication.study.sources import read_user_survey
from replication.study.spec import load_study, parse_study

from conftest import analyse_fast

PREDICTORS = """  predictors:
    - {id: age, type: numeric, label: Age in years}
    - {id: attitude, type: ordinal, scale_points: 7, label: Attitude to personalization}
    - {id: gender, type: categorical, reference: female}
    - {id: region, type: categorical, reference: 1}
"""
ANCHOR = '  standardize_predictors: {value: true, assumed: "odds ratios per SD"}\n'
#: Respondents with a user-missing predictor value: attitude 99 (two), age 999 (one).
ATTITUDE_MISSING, AGE_MISSING = [5, 9], [11]


def study_text(predictors: str = PREDICTORS, extra: str = "") -> str:
    text = demo_yaml("survey.sav", weighted=False, single_predictors=False)
    assert ANCHOR in text
    return text.replace(ANCHOR, ANCHOR + predictors) + extra


def write_survey(folder, n=400, seed=7):
    df, meta = demo_frame(n, seed)
    rng = np.random.default_rng(3)
    df["attitude"] = rng.integers(1, 8, len(df)).astype(float)
    df.loc[ATTITUDE_MISSING, "attitude"] = 99
    df.loc[AGE_MISSING, "age"] = 999
    meta["value_labels"]["attitude"] = {1: "not at all", 7: "very much", 99: "No answer"}
    meta["missing_ranges"].update(attitude=[99], age=[999])
    pyreadstat.write_sav(df, str(folder / "survey.sav"), column_labels=meta["variable_labels"],
                         variable_value_labels=meta["value_labels"], missing_ranges=meta["missing_ranges"])
    return df


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    folder = tmp_path_factory.mktemp("predictors")
    raw = write_survey(folder)
    (folder / "study.yaml").write_text(study_text(), encoding="utf-8")
    spec = load_study(folder / "study.yaml")
    user = read_user_survey(spec.data, spec, folder)
    result = analyse_fast(spec, user.survey, labels=user.labels, source=user.source)
    return {"folder": folder, "raw": raw, "spec": spec, "user": user, "result": result}


def by_hand_design(result):
    """The membership model's data built by hand with pandas: segment, z-scored constructs
    and numeric predictors, gender and region dummies against their reference levels."""
    spec, survey = result.spec, result.survey
    data = result.scores.merge(result.assignments[["respondent_id", "segment"]], on="respondent_id")
    data = data.merge(survey[["respondent_id", "age", "attitude", "gender", "region"]], on="respondent_id")
    data = data.dropna(subset=["age", "attitude"]).reset_index(drop=True)
    numeric = [c.id for c in spec.predictor_constructs] + ["age", "attitude"]
    X = (data[numeric] - data[numeric].mean()) / data[numeric].std(ddof=1)
    # reference female (code 1) and region 1 (Central): drop_first drops the lowest code
    dummies = pd.get_dummies(data[["gender", "region"]].astype(int).astype(str), drop_first=True, dtype=float)
    return data, sm.add_constant(pd.concat([X, dummies], axis=1))


# ---------------------------------------------------------------------------------------
# the model
# ---------------------------------------------------------------------------------------


def test_membership_model_has_a_row_for_each_predictor(study):
    m, spec = study["result"].membership, study["spec"]
    constructs = [c.id for c in spec.predictor_constructs]
    assert m.lr_tests["predictor"].tolist() == constructs + ["age", "attitude", "gender", "region"]
    terms = list(dict.fromkeys(m.coefficients["term"]))
    assert terms[:len(constructs) + 3] == ["const", *constructs, "age", "attitude"]
    assert "gender[male]" in terms and "gender[female]" not in terms      # female is the reference
    region = [t for t in terms if t.startswith("region[")]
    assert len(region) == 7 and f"region[{REGIONS_RU[1]}]" not in region   # 8 districts, the first the reference
    # value labels are the level names; the page names every term
    assert f"region[{REGIONS_RU[8]}]" in region                            # Cyrillic level names kept
    assert m.labels["gender[male]"].endswith("Gender: male")
    assert m.labels["age"] == "Age in years"


def test_lr_test_df_is_levels_minus_one_times_contrasts(study):
    m = study["result"].membership
    k = len(m.segments)
    lr = m.lr_tests.set_index("predictor")
    assert lr.loc["age", "df"] == k - 1 and lr.loc["attitude", "df"] == k - 1
    assert lr.loc["gender", "df"] == 1 * (k - 1)
    assert lr.loc["region", "df"] == 7 * (k - 1)
    assert m.stat("lr_df") == (k - 1) * (len(m.predictors))
    # The region test drops its seven dummies together: the refit by hand agrees.
    data, X = by_hand_design(study["result"])
    y = data["segment"].map({s: i for i, s in enumerate(m.segments)})
    full = sm.MNLogit(y, X).fit(method="newton", disp=False)
    reduced = sm.MNLogit(y, X.drop(columns=[c for c in X.columns if c.startswith("region_")])).fit(
        method="newton", disp=False)
    # Both fits are Newton's method to convergence on the same data: their log-likelihoods
    # agree to the solver's tolerance (1e-8 relative), far below the 1e-6 allowed.
    assert lr.loc["region", "lr_chi2"] == pytest.approx(2 * (full.llf - reduced.llf), rel=1e-6)
    assert lr.loc["region", "p_value"] == pytest.approx(stats.chi2.sf(2 * (full.llf - reduced.llf), 7 * (k - 1)),
                                                        rel=1e-5)


def test_logit_equals_statsmodels_with_pandas_dummies(study):
    """The package's design (z-scored numbers, 0/1 dummies against the named reference)
    is the one a researcher builds by hand: same coefficients and standard errors."""
    m = study["result"].membership
    data, X = by_hand_design(study["result"])
    assert len(data) == m.stat("n") == 398 - len(ATTITUDE_MISSING) - len(AGE_MISSING)
    y = data["segment"].map({s: i for i, s in enumerate(m.segments)})
    res = sm.MNLogit(y, X).fit(method="newton", disp=False)
    # the levels named by the file's value labels (the demonstration's are in Russian)
    rename = {"gender_2": "gender[male]", **{f"region_{c}": f"region[{n}]" for c, n in REGIONS_RU.items() if c != 1}}
    mine = m.params
    theirs = pd.DataFrame(np.asarray(res.params), index=[rename.get(c, c) for c in X.columns], columns=m.segments[1:])
    # Same maximum likelihood estimate by the same Newton iterations: agreement to 1e-6
    # (absolute; coefficients are of order 0.1-3) leaves room only for solver round-off.
    np.testing.assert_allclose(mine.loc[theirs.index].to_numpy(), theirs.to_numpy(), atol=1e-6)
    np.testing.assert_allclose(m.bse.loc[theirs.index].to_numpy(), np.asarray(res.bse), atol=1e-6)
    # Dummies are not standardized: their odds ratio compares the level with the reference.
    assert m.mean["gender[male]"] == 0 and m.scale["gender[male]"] == 1


def test_reference_by_code_or_by_label_is_the_same_model(study):
    spec, user = study["spec"], study["user"]
    by_code = parse_study(study_text(PREDICTORS.replace("reference: female", "reference: 1")), study["folder"] / "x.yaml")
    by_code._path = spec.path
    a = code_predictors(spec, user.survey, user.labels, user.source)
    b = code_predictors(by_code, user.survey, user.labels, user.source)
    assert a.codings == b.codings
    male_ref = parse_study(study_text(PREDICTORS.replace("reference: female", "reference: Male")), spec.path)
    c = code_predictors(male_ref, user.survey, user.labels, user.source)
    assert c.groups["gender"] == ["gender[female]"]                    # labels match regardless of case


def test_unknown_reference_level_names_file_column_field_and_levels(study):
    spec = parse_study(study_text(PREDICTORS.replace("reference: female", "reference: other")), "study.yaml")
    user = study["user"]
    with pytest.raises(ReplicationError) as info:
        code_predictors(spec, user.survey, user.labels, user.source)
    msg = str(info.value)
    assert str(user.source) in msg and "column 'gender'" in msg and "membership.predictors[2]" in msg
    assert "'other'" in msg and "female (1), male (2)" in msg


def test_text_in_a_numeric_predictor_names_the_respondent(study):
    spec, user = study["spec"], study["user"]
    survey = user.survey.copy()
    survey["age"] = survey["age"].astype(object)
    survey.loc[4, "age"] = "forty"
    with pytest.raises(ReplicationError, match=r"column 'age'.*respondent .*'forty', which is not a number"):
        code_predictors(spec, survey, user.labels, user.source)
    survey.loc[4, "age"] = float("inf")
    with pytest.raises(ReplicationError, match="not a finite number"):
        code_predictors(spec, survey, user.labels, user.source)


def test_ordinal_answer_off_its_scale_is_an_error(study):
    spec, user = study["spec"], study["user"]
    survey = user.survey.copy()
    survey.loc[7, "attitude"] = 8
    with pytest.raises(ReplicationError, match=r"column 'attitude'.*8, which is not an answer point 1-7"):
        code_predictors(spec, survey, user.labels, user.source)


def test_user_missing_predictor_values_leave_the_respondent_out_of_the_model_only(study):
    result, user = study["result"], study["user"]
    assert result.n == user.n == 398                                   # the segmentation keeps them
    survey = user.survey.set_index("respondent_id")
    ids = study["raw"]["case_id"]
    assert survey.loc[ids[AGE_MISSING], "age"].isna().all()           # 999 is user-missing
    assert survey.loc[ids[ATTITUDE_MISSING], "attitude"].isna().all()  # 99 is user-missing
    assert any("3 respondent(s) without a value" in p for p in result.problems)
    table = result.tables["logit_predictors"].set_index("predictor")
    assert table.loc[["age", "attitude", "gender"], "n_missing"].tolist() == [len(AGE_MISSING), len(ATTITUDE_MISSING), 0]
    assert table.loc["region", "terms"] == 7 and f"reference '{REGIONS_RU[1]}'" in table.loc["region", "coding"]


# ---------------------------------------------------------------------------------------
# the specification
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("entry, message", [
    ("{id: gender, type: categorical}", "needs 'reference'"),
    ("{id: age, type: numeric, reference: 30}", "'reference' applies to a categorical predictor only"),
    ("{id: age, type: numeric, scale_points: 7}", "'scale_points' applies to an ordinal predictor only"),
    ("{id: age, type: number}", "membership.predictors.0.type"),
    ("{id: privacy_concerns, column: age, type: numeric}", "has the id of a construct"),
    ("{id: avoiders, column: age, type: numeric}", "has the id of a segment"),
    ("{id: q, column: pr1, type: ordinal}", "holds an item of a construct"),
    ("{id: age, type: numeric, colour: red}", "unknown key 'colour'"),
])
def test_bad_predictor_entries_are_named_with_their_line(entry, message):
    text = study_text(f"  predictors:\n    - {entry}\n")
    with pytest.raises(ReplicationError, match=message) as info:
        parse_study(text, "my.yaml")
    assert "my.yaml, line" in str(info.value)


def test_duplicate_predictor_and_no_data_block_are_refused():
    with pytest.raises(ReplicationError, match="duplicate predictor 'age'"):
        parse_study(study_text("  predictors:\n    - {id: age, type: numeric}\n    - {id: age, type: numeric}\n"),
                    "my.yaml")
    shipped = load_study("golovacheva2022").path.read_text(encoding="utf-8")
    anchor = "  standardize_predictors:"
    i = shipped.index(anchor)
    j = shipped.index("\n", i) + 1
    text = shipped[:j] + "  predictors:\n    - {id: age, type: numeric}\n" + shipped[j:]
    with pytest.raises(ReplicationError, match="needs a `data:` block"):
        parse_study(text, "g.yaml")


def test_a_claim_may_test_a_single_column_predictor():
    claim = ("\nclaims:\n  - {id: lr.age, kind: predictor_lr_test, predictor: age, alpha: 0.05,\n"
             "     statement: \"Age predicts membership\", assumed: \"a test of my own\"}\n")
    spec = parse_study(study_text(extra=claim), "my.yaml")
    assert spec.claims[0].predictor == "age"
    with pytest.raises(ReplicationError, match="not a predictor construct or membership predictor"):
        parse_study(study_text(extra=claim.replace("predictor: age", "predictor: height")), "my.yaml")


# ---------------------------------------------------------------------------------------
# carried columns and the typing tool
# ---------------------------------------------------------------------------------------


def test_carried_columns_are_profiled_by_segment(study):
    result, user, spec = study["result"], study["user"], study["spec"]
    assert carried_columns(spec, user.survey) == ["age", "gender", "region", "attitude"]
    by, tests = result.tables["carried_by_segment"], result.tables["carried_tests"]
    seg = result.assignments.set_index("respondent_id").loc[user.survey["respondent_id"], "segment"].to_numpy()
    ages = by[by["variable"] == "age"].set_index("segment")["value"]
    want = user.survey.assign(segment=seg).groupby("segment")["age"].mean()
    np.testing.assert_allclose(ages[want.index], want, rtol=1e-12)
    gender = by[by["variable"] == "gender"]
    assert set(gender["level"]) == {"female", "male"}                 # value labels
    np.testing.assert_allclose(gender.groupby("segment")["value"].sum(), 100.0)
    t = tests.set_index("variable")
    assert t.loc["age", "test"] == "one-way ANOVA" and t.loc["gender", "test"] == "chi-square"
    chi2 = stats.chi2_contingency(pd.crosstab(seg, user.survey["gender"]).to_numpy())[0]
    assert t.loc["gender", "statistic"] == pytest.approx(chi2)
    assert t.loc["region", "df"] == (len(spec.segments) - 1) * 7


def test_classify_round_trips_with_every_kind_of_predictor(study, tmp_path):
    result, spec = study["result"], study["spec"]
    card = build_model_card(result, data_block=spec.data)
    design = card["membership"]["design"]
    assert [d["id"] for d in design] == ["age", "attitude", "gender", "region"]
    loaded = load_model_card(save_model_card(card, tmp_path / "card.json"), study_id=DEMO_STUDY_ID)
    assert loaded == json.loads(json.dumps(card))
    new = read_new_respondents(loaded, study["folder"] / "survey.sav")
    out = classify(loaded, new.survey).set_index("respondent_id")
    a = result.assignments.set_index("respondent_id")
    assert (out.loc[a.index, "segment"] == a["segment"]).all()
    # The card's probabilities are the fitted model's, respondent for respondent.
    m = result.membership
    data = result.membership_data.set_index("respondent_id")
    want = m.predict_proba(data[m.predictors])
    got = out.loc[data.index, [f"p_{s}" for s in m.segments]].to_numpy()
    np.testing.assert_allclose(got, want.to_numpy(), atol=1e-9)
    # Respondents without a predictor value get a segment but no probabilities.
    missing = study["raw"]["case_id"][AGE_MISSING + ATTITUDE_MISSING]
    assert out.loc[missing, f"p_{m.segments[0]}"].isna().all()


def test_card_with_an_unknown_predictor_term_is_refused(study, tmp_path):
    card = build_model_card(study["result"], data_block=study["spec"].data)
    card["membership"]["design"][2]["terms"] = ["gender[other]"]
    path = tmp_path / "card.json"
    path.write_text(json.dumps(card), encoding="utf-8")
    with pytest.raises(ReplicationError, match=r"membership\.predictors\[\d+\]: 'gender\[male\]' is neither"):
        load_model_card(path)


def test_run_writes_carried_columns_names_every_predictor_and_chapter_4_agrees(study, tmp_path):
    """The run: carried columns in the assignments (.csv and .sav), every predictor named on
    the page; Chapter 4's MNLogit by hand (dummies unstandardized, a predictor's terms dropped
    together) equals the package's model (its assert would stop the notebook otherwise)."""
    from replication import pipeline
    from replication.report.notebooks import execute_notebooks

    folder = study["folder"]
    fast = "\nuncertainty:\n  stability_resamples: 0\n  row_orders: 0\n"
    (folder / "fast.yaml").write_text(study_text(extra=fast), encoding="utf-8")
    spec = load_study(folder / "fast.yaml")
    run = pipeline.run_study(spec, tmp_path / "root", notebooks=False, log=lambda *a: None)
    processed = run.layout.processed
    table = pd.read_csv(processed / "assignments.csv")
    assert list(table.columns[-4:]) == ["age", "gender", "region", "attitude"]
    sav, meta = pyreadstat.read_sav(str(processed / "assignments.sav"))
    assert meta.variable_value_labels["gender"] == {1.0: "female", 2.0: "male"}
    np.testing.assert_array_equal(sav["attitude"].to_numpy(), table["attitude"].to_numpy())
    page = run.layout.page.read_text(encoding="utf-8")
    for text in ("Age in years", "Attitude to personalization", "Gender: male", "0/1 per level against the reference",
                 "Further columns of the survey by segment", "The predictors and how each enters the model"):
        assert text in page
    lr = pd.read_csv(run.layout.tables / "logit_lr_tests.csv")
    assert lr["predictor"].tolist()[-4:] == ["age", "attitude", "gender", "region"]

    out = execute_notebooks(spec, run.layout, names=["04_multinomial_logit"], log=lambda *a: None, result=run.result)
    chapter = out[0].read_text(encoding="utf-8")
    assert "largest |coefficient by hand - package|" in chapter and "(9 predictors;" in chapter
    assert "Traceback" not in chapter and 'data-mime-type="application/vnd.jupyter.stderr"' not in chapter


def test_a_notebook_analysing_the_file_itself_names_the_levels_by_their_labels(study, tmp_path):
    from replication.notebook import setup

    folder = study["folder"]
    fast = "\nuncertainty:\n  stability_resamples: 0\n  row_orders: 0\n"
    (folder / "fast2.yaml").write_text(study_text(extra=fast), encoding="utf-8")
    nb = setup(str(folder / "fast2.yaml"), tmp_path)        # no cache: it analyses the file
    assert nb.result.membership.groups["gender"] == ["gender[male]"]


def test_predictor_fields_are_described_and_the_readme_example_is_valid():
    import re
    from pathlib import Path

    import yaml

    from replication.study.predictors import PREDICTOR_FIELDS, Predictor
    from replication.study.spec import Membership

    assert set(PREDICTOR_FIELDS) == set(Predictor.model_fields)
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    block = next(b for b in re.findall(r"```yaml\n(.*?)```", readme, re.S) if "predictors:" in b)
    membership = Membership.model_validate(yaml.safe_load(block)["membership"])
    assert [p.type for p in membership.predictors] == ["numeric", "ordinal", "categorical"]


def test_csv_with_text_levels_and_text_missing_codes(tmp_path):
    """A CSV file: gender as text codes, 'NA' for a missing age (a text code of the data
    block applies to a numeric predictor; the number 99 does not), 99 for a missing attitude."""
    df, _ = demo_frame(300, 5)
    rng = np.random.default_rng(4)
    df["gender"] = df["gender"].map({1: "f", 2: "m"})
    df["attitude"] = rng.integers(1, 8, len(df))
    df["channel"] = np.where(rng.random(len(df)) < 0.5, "web", "app")      # a carried text column
    df = df.astype(object)
    df.loc[3, "age"] = "NA"
    df.loc[4, "attitude"] = 99
    df.to_csv(tmp_path / "survey.csv", index=False)
    preds = ("  predictors:\n    - {id: age, type: numeric}\n    - {id: attitude, type: ordinal, scale_points: 7}\n"
             "    - {id: gender, type: categorical, reference: f}\n")
    text = study_text(preds).replace("survey.sav", "survey.csv")
    text = text.replace("  missing: {min_items: 3}", "  missing_codes: [99, NA]\n  missing: {min_items: 3}")
    text = text.replace("  carry: [age, gender, region]", "  carry: [age, gender, region, channel]")
    (tmp_path / "csv.yaml").write_text(text, encoding="utf-8")
    spec = load_study(tmp_path / "csv.yaml")
    user = read_user_survey(spec.data, spec, tmp_path)
    design = code_predictors(spec, user.survey, user.labels, user.source)
    assert design.groups["gender"] == ["gender[m]"]
    assert design.codings[0]["missing_codes"] == ["NA"] and design.codings[1]["missing_codes"] == [99, "NA"]
    result = analyse_fast(spec, user.survey, labels=user.labels, source=user.source)
    assert result.membership.stat("n") == user.n - 2
    # 'NA' is no value in a carried column either: age stays numeric; a text column has levels.
    assert user.survey["age"].dtype == float and user.survey["age"].isna().sum() == 1
    tests = result.tables["carried_tests"].set_index("variable")
    assert tests.loc["age", "test"] == "one-way ANOVA" and tests.loc["channel", "test"] == "chi-square"
    by = result.tables["carried_by_segment"]
    assert set(by.loc[by["variable"] == "channel", "level"]) == {"app", "web"}


def test_validate_and_run_name_a_bad_predictor_and_write_nothing(study, tmp_path, capsys):
    folder = study["folder"]
    bad = folder / "bad.yaml"
    bad.write_text(study_text(PREDICTORS.replace("reference: female", "reference: other")), encoding="utf-8")
    for command in (["validate", "--study", str(bad)], ["run", "--study", str(bad), "--root", str(tmp_path),
                                                        "--no-notebooks"]):
        with pytest.raises(SystemExit) as info:
            cli.main(command)
        assert info.value.code == 2
        err = capsys.readouterr().err
        assert "reference level 'other'" in err and "membership.predictors[2]" in err and "Traceback" not in err
    assert not (tmp_path / "reports").exists() and not (tmp_path / "data").exists()


def test_weighted_membership_model_with_every_kind_of_predictor(tmp_path):
    """Weights and predictors together: the weighted logit (weights of the model's complete
    cases, rescaled to their Kish effective N) equals WeightedMNLogit on pandas dummies."""
    from replication.analysis import survey_weights
    from replication.membership.weighted_logit import WeightedMNLogit
    from replication.weights import as_frequency, weighted_mean, weighted_sd

    raw = write_survey(tmp_path)
    df, meta = pyreadstat.read_sav(str(tmp_path / "survey.sav"), user_missing=True)
    df["wt"] = np.random.default_rng(8).uniform(0.5, 2.0, len(df))
    pyreadstat.write_sav(df, str(tmp_path / "survey.sav"), column_labels=meta.column_names_to_labels,
                         variable_value_labels=meta.variable_value_labels, missing_ranges=meta.missing_ranges)
    text = study_text().replace("  missing: {min_items: 3}", "  weight: wt\n  missing: {min_items: 3}")
    (tmp_path / "w.yaml").write_text(text, encoding="utf-8")
    spec = load_study(tmp_path / "w.yaml")
    user = read_user_survey(spec.data, spec, tmp_path)
    result = analyse_fast(spec, user.survey, labels=user.labels, source=user.source,
                          weights=survey_weights(spec, user.survey))
    m = result.membership
    data, _ = by_hand_design(result)
    assert len(data) == len(raw) - 2 - len(AGE_MISSING) - len(ATTITUDE_MISSING)
    w = user.survey.set_index("respondent_id").loc[data["respondent_id"], "wt"].to_numpy()
    numeric = [c.id for c in spec.predictor_constructs] + ["age", "attitude"]
    X = data[numeric].to_numpy(float)
    fw = as_frequency(w)                  # as the package passes them: summing to the effective N
    X = (X - weighted_mean(X, fw)) / weighted_sd(X, fw)
    dummies = pd.get_dummies(data[["gender", "region"]].astype(int).astype(str), drop_first=True, dtype=float)
    design = sm.add_constant(pd.concat([pd.DataFrame(X, columns=numeric), dummies], axis=1))
    y = data["segment"].map({s: i for i, s in enumerate(m.segments)})
    res = WeightedMNLogit(y, design, freq_weights=fw).fit(method="newton", disp=False)
    # The same weighted likelihood maximized by Newton's method: agreement to solver round-off.
    np.testing.assert_allclose(np.asarray(m.params), np.asarray(res.params), atol=1e-6)
    assert m.lr_tests.set_index("predictor").loc["region", "df"] == 7 * (len(m.segments) - 1)


def test_init_proposes_the_other_columns_as_predictors_and_they_run_uncommented(tmp_path):
    from replication.explore import explore_yaml

    write_survey(tmp_path)
    df, meta = pyreadstat.read_sav(str(tmp_path / "survey.sav"), user_missing=True)
    df["wt"] = np.random.default_rng(2).uniform(0.5, 2.0, len(df))        # a weight column init finds
    pyreadstat.write_sav(df, str(tmp_path / "survey.sav"), column_labels=meta.column_names_to_labels,
                         variable_value_labels=meta.variable_value_labels, missing_ranges=meta.missing_ranges)
    text = explore_yaml(tmp_path / "survey.sav")
    hint = text[text.index("# membership:"):]
    assert "#     - {id: age, type: numeric}" in hint
    assert "#     - {id: gender, type: categorical, reference: 1}   # 1 = female; 2 = male" in hint
    assert "#     - {id: attitude, type: ordinal}   # answers 1-7" in hint            # 99 is user-missing
    assert "case_id" not in hint and "pr1" not in hint                               # the id, an item
    assert "id: wt," not in hint                                                     # the weight column
    keep = ("# membership:", "#   ", "#     - {id: age", "#     - {id: gender", "#     - {id: attitude")
    chosen = [ln[2:] for ln in hint.splitlines()
              if ln.startswith(keep) and not ln.startswith("#     - {id: ") or ln.startswith(keep[2:])]
    (tmp_path / "init.yaml").write_text(text[:text.index("# A membership model")] + "\n".join(chosen) + "\n",
                                        encoding="utf-8")
    spec = load_study(tmp_path / "init.yaml")
    user = read_user_survey(spec.data, spec, tmp_path)
    result = analyse_fast(spec, user.survey, labels=user.labels, source=user.source)
    assert result.membership.lr_tests["predictor"].tolist() == ["age", "gender", "attitude"]
