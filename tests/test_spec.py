"""The study specification: the shipped file loads, apportionment, and every validation message."""

from __future__ import annotations

import copy
import re

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from replication.errors import ReplicationError
from replication.study.spec import largest_remainder, load_study, provenance_table, shipped_studies, study_path

SHIPPED = study_path("golovacheva2022")
REPORTED_SHARES = [10, 8, 17, 22, 43]


@pytest.fixture(scope="module")
def base():
    """The shipped specification as plain data, to be modified one thing at a time."""
    return yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))


def write_spec(tmp_path, data, name="study.yaml"):
    """Dump ``data`` to a YAML file; return its path and the dumped text."""
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1000)
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path, text


def line_of(text, pattern, occurrence=1):
    """1-based number of the ``occurrence``-th line matching the regex ``pattern``."""
    hits = [i for i, line in enumerate(text.splitlines(), 1) if re.search(pattern, line)]
    assert len(hits) >= occurrence, f"{pattern!r} occurs {len(hits)} time(s) in the dumped YAML"
    return hits[occurrence - 1]


def load_error(path) -> str:
    with pytest.raises(ReplicationError) as info:
        load_study(path)
    return str(info.value)


def modified(base, change):
    data = copy.deepcopy(base)
    change(data)
    return data


def assert_names_file(message, path):
    """Every line of the message starts with the file it is about."""
    assert str(path) in message
    for line in message.splitlines():
        assert line.startswith(str(path)), line


# -- the shipped specification ---------------------------------------------------------------


def test_shipped_spec_loads(spec):
    assert spec.study.id == "golovacheva2022"
    assert spec.n.value == 586
    assert spec.n_segments.value == len(spec.segments) == 5
    assert [s.share.value for s in spec.segments] == REPORTED_SHARES
    assert len(spec.clustering_constructs) == 3
    assert len(spec.predictor_constructs) == 5
    assert spec.membership.reference.value in spec.segment_ids
    assert spec.reference_segment == spec.membership.reference.value == "individualization_lovers"
    assert spec.id == "golovacheva2022"
    assert spec.path == SHIPPED.resolve()


def test_dumped_copy_of_shipped_spec_loads(base, tmp_path, spec):
    """The round trip the validation tests rely on: an unmodified dump is valid."""
    path, _ = write_spec(tmp_path, base)
    loaded = load_study(path)
    # Equal in every field; only the remembered file differs.
    assert loaded.model_dump() == spec.model_dump()
    assert loaded.path == path.resolve() != spec.path


def test_shipped_shares_give_reported_counts(spec):
    assert largest_remainder([0.10, 0.08, 0.17, 0.22, 0.43], 586).tolist() == [58, 47, 100, 129, 252]
    assert spec.segment_counts().tolist() == [58, 47, 100, 129, 252]
    assert spec.segment_counts().sum() == 586


def test_largest_remainder_small_cases():
    # 1/3 each of 10: quotas 3.33 each; the single leftover goes to the earliest share.
    assert largest_remainder([1 / 3, 1 / 3, 1 / 3], 10).tolist() == [4, 3, 3]
    # Largest remainder wins: quotas 1.2, 1.7, 2.1 -> floors 1, 1, 2 -> leftover 1 goes to 1.7.
    assert largest_remainder([0.24, 0.34, 0.42], 5).tolist() == [1, 2, 2]
    assert largest_remainder([0.5, 0.5], 0).tolist() == [0, 0]


def _check_apportionment(shares, n):
    shares = np.asarray(shares, dtype=float)
    shares = shares / shares.sum()
    counts = largest_remainder(shares, n)
    quotas = shares * n
    assert counts.sum() == n
    assert (counts >= 0).all()
    # Hamilton's method gives each share the floor or the ceiling of its quota.
    assert (np.abs(counts - quotas) < 1 + 1e-9).all()
    # Deterministic.
    assert counts.tolist() == largest_remainder(shares, n).tolist()


@settings(max_examples=300, deadline=None)
@given(shares=st.lists(st.floats(min_value=0, max_value=100, allow_nan=False, allow_subnormal=False),
                       min_size=1, max_size=12).filter(lambda s: sum(s) > 0),
       n=st.integers(min_value=0, max_value=1_000_000))
def test_largest_remainder_always_sums_to_n(shares, n):
    _check_apportionment(shares, n)


@settings(max_examples=200, deadline=None)
@given(shares=st.lists(st.integers(min_value=1, max_value=100), min_size=2, max_size=10),
       n=st.integers(min_value=1, max_value=5000))
def test_largest_remainder_whole_percent_shares(shares, n):
    _check_apportionment(shares, n)


def test_shares_summing_to_101_are_accepted_and_normalised(base, tmp_path):
    shares = [20, 17, 30, 16, 18]
    assert sum(shares) == 101

    def change(d):
        for seg, share in zip(d["segments"], shares):
            seg["share"]["value"] = share

    path, _ = write_spec(tmp_path, modified(base, change))
    spec = load_study(path)
    assert spec.shares.sum() == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(spec.shares, np.array(shares) / 101)
    assert spec.segment_counts().sum() == spec.n.value


# -- validation messages ---------------------------------------------------------------------


def test_unknown_top_level_key(base, tmp_path):
    path, text = write_spec(tmp_path, modified(base, lambda d: d.__setitem__("colour_scheme", "blue")))
    msg = load_error(path)
    assert_names_file(msg, path)
    assert "unknown key 'colour_scheme'" in msg
    assert f"line {line_of(text, r'^colour_scheme:')}:" in msg


def test_unknown_nested_key(base, tmp_path):
    path, text = write_spec(tmp_path, modified(base, lambda d: d["segments"][1].__setitem__("colour", "blue")))
    msg = load_error(path)
    assert_names_file(msg, path)
    assert "segments.1.colour" in msg
    assert "unknown key 'colour'" in msg
    line = line_of(text, r"^\s+colour:")
    assert f"line {line}: segments.1.colour" in msg


def test_unknown_key_inside_a_sourced_value(base, tmp_path):
    path, text = write_spec(tmp_path, modified(base, lambda d: d["simulation"]["separation"].__setitem__("units", "sd")))
    msg = load_error(path)
    assert_names_file(msg, path)
    assert "simulation.separation.units: unknown key 'units'" in msg
    line = line_of(text, r"^\s+units:")
    assert f"line {line}: simulation.separation.units" in msg


def _set_shares(shares):
    def change(d):
        for seg, share in zip(d["segments"], shares):
            seg["share"]["value"] = share
    return change


@pytest.mark.parametrize("shares, total", [([10, 8, 17, 22, 40], 97), ([10, 8, 17, 22, 46], 103)])
def test_shares_not_summing_to_100(base, tmp_path, shares, total):
    assert sum(shares) == total
    path, text = write_spec(tmp_path, modified(base, _set_shares(shares)))
    msg = load_error(path)
    assert_names_file(msg, path)
    assert f"segment shares sum to {total}, not 100" in msg
    assert f"line {line_of(text, r'^segments:')}:" in msg


def test_duplicate_segment_id(base, tmp_path):
    path, text = write_spec(tmp_path, modified(base, lambda d: d["segments"][2].__setitem__("id", "avoiders")))
    msg = load_error(path)
    assert_names_file(msg, path)
    assert "segments.2.id: duplicate id 'avoiders'" in msg
    assert f"line {line_of(text, r'^- id: avoiders$', occurrence=2)}: segments.2.id" in msg


def test_duplicate_construct_id(base, tmp_path):
    def change(d):
        twin = copy.deepcopy(d["constructs"][3])  # hedonic_orientation, with fresh items
        twin["items"]["value"] = ["tw1", "tw2", "tw3", "tw4"]
        d["constructs"].append(twin)

    path, text = write_spec(tmp_path, modified(base, change))
    msg = load_error(path)
    assert_names_file(msg, path)
    assert "duplicate id 'hedonic_orientation'" in msg
    assert f"line {line_of(text, r'^- id: hedonic_orientation$', occurrence=2)}:" in msg


def test_item_in_two_constructs(base, tmp_path):
    def change(d):
        d["constructs"][-1]["items"]["value"][0] = "ho1"  # privacy_control_awareness borrows ho1

    path, _ = write_spec(tmp_path, modified(base, change))
    msg = load_error(path)
    assert_names_file(msg, path)
    assert "item 'ho1' appears in more than one construct" in msg


def test_profile_names_unknown_construct(base, tmp_path):
    path, _ = write_spec(tmp_path, modified(
        base, lambda d: d["segments"][0]["profile"]["value"].__setitem__("price_sensitivity", "H")))
    msg = load_error(path)
    assert_names_file(msg, path)
    assert "segment 'avoiders' profile names 'price_sensitivity', which is not a clustering construct" in msg


def test_profile_missing_clustering_construct(base, tmp_path):
    path, _ = write_spec(tmp_path, modified(
        base, lambda d: d["segments"][3]["profile"]["value"].pop("interaction_humanization")))
    msg = load_error(path)
    assert_names_file(msg, path)
    assert "segment 'digital_customizers' profile lacks clustering construct 'interaction_humanization'" in msg


def test_n_smaller_than_number_of_segments(base, tmp_path):
    path, text = write_spec(tmp_path, modified(base, lambda d: d["n"].__setitem__("value", 3)))
    msg = load_error(path)
    assert_names_file(msg, path)
    assert "N = 3 is smaller than the number of segments (5)" in msg
    assert f"line {line_of(text, r'^n:')}:" in msg


def test_reference_segment_does_not_exist(base, tmp_path):
    path, text = write_spec(tmp_path, modified(
        base, lambda d: d["membership"]["reference"].__setitem__("value", "nobody")))
    msg = load_error(path)
    assert_names_file(msg, path)
    assert "membership.reference: reference segment 'nobody' is not one of the segments" in msg
    assert f"line {line_of(text, r'^  reference:')}: membership.reference" in msg


@pytest.mark.parametrize("how", ["both", "neither"])
def test_value_needs_exactly_one_source(base, tmp_path, how):
    def change(d):
        share = d["segments"][1]["share"]
        if how == "both":
            share["assumed"] = "a guess"
        else:
            del share["reported"]

    path, text = write_spec(tmp_path, modified(base, change))
    msg = load_error(path)
    assert_names_file(msg, path)
    assert "segments.1.share: give exactly one of 'reported: <where>' or 'assumed: <why>'" in msg
    line = line_of(text, r"^\s+share:", occurrence=2)
    assert f"line {line}: segments.1.share" in msg


def test_malformed_yaml_reports_line(tmp_path):
    lines = SHIPPED.read_text(encoding="utf-8").splitlines()
    target = next(i for i, line in enumerate(lines) if line.startswith("n_segments:"))
    lines[target] = "n_segments: value: 5"  # a mapping value where none is allowed
    path = tmp_path / "broken.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    msg = load_error(path)
    assert msg.startswith(f"{path}, line {target + 1}, column ")
    assert "malformed YAML" in msg
    assert "Traceback" not in msg


@pytest.mark.parametrize("content", ["", "\n\n", "# nothing but a comment\n"])
def test_empty_file(tmp_path, content):
    path = tmp_path / "empty.yaml"
    path.write_text(content, encoding="utf-8")
    msg = load_error(path)
    assert_names_file(msg, path)
    assert "empty or not a mapping" in msg


def test_missing_file(tmp_path):
    path = tmp_path / "nowhere.yaml"
    msg = load_error(path)
    assert_names_file(msg, path)
    assert "not found" in msg


def test_two_cross_check_problems_give_two_lines(base, tmp_path):
    def change(d):
        d["n"]["value"] = 3
        d["membership"]["reference"]["value"] = "nobody"

    path, text = write_spec(tmp_path, modified(base, change))
    msg = load_error(path)
    head, *lines = msg.splitlines()
    assert head == f"{path}: 2 problem(s) in the study specification:"
    assert len(lines) == 2
    assert lines[0] == f"{path}, line {line_of(text, r'^n:')}: n: N = 3 is smaller than the number of segments (5)"
    assert lines[1].startswith(f"{path}, line {line_of(text, r'^  reference:')}: membership.reference: "
                               "reference segment 'nobody'")


def test_two_structural_problems_give_two_lines(base, tmp_path):
    def change(d):
        d["surplus"] = 1
        del d["seed"]["assumed"]

    path, _ = write_spec(tmp_path, modified(base, change))
    msg = load_error(path)
    head, *lines = msg.splitlines()
    assert "2 problem(s)" in head
    assert len(lines) == 2
    assert_names_file(msg, path)
    assert any("unknown key 'surplus'" in line for line in lines)
    assert any("seed: give exactly one of" in line for line in lines)


# -- provenance -----------------------------------------------------------------------------


def test_every_value_has_a_status_and_a_source(spec):
    rows = provenance_table(spec)
    assert len(rows) > 50
    for row in rows:
        assert row["status"] in {"reported", "assumed"}, row
        assert isinstance(row["source"], str) and row["source"].strip(), row
    assert len({r["path"] for r in rows}) == len(rows)


def test_reported_and_assumed_where_they_should_be(spec):
    rows = {r["path"]: r for r in provenance_table(spec)}
    for s in spec.segments:
        for field in ("share", "profile"):
            row = rows[f"segments[{s.id}].{field}"]
            assert row["status"] == "reported", row
    assert rows["segments[avoiders].share"]["value"] == 10
    simulation = [r for p, r in rows.items() if p.startswith("simulation.")]
    assert len(simulation) == 9   # incl. composition and predictor_error (defaults, assumed)
    assert all(r["status"] == "assumed" for r in simulation), simulation
    assert rows["n"] == {"path": "n", "value": 586, "status": "reported", "source": spec.n.reported}


# -- the second shipped study and the specification's optional parts --------------------------


def test_shipped_studies_are_listed_and_load(spec, forrester):
    assert shipped_studies() == sorted(shipped_studies())
    assert {"golovacheva2022", "forrester2016"} <= set(shipped_studies())
    for sid in shipped_studies():
        loaded = load_study(sid)
        assert loaded.id == sid
        assert loaded.path == study_path(sid).resolve()
        assert loaded.path.name == f"{sid}.yaml"
    assert load_study(str(study_path("forrester2016"))).model_dump() == forrester.model_dump()


def test_forrester_has_no_membership_model(forrester):
    assert forrester.n.value >= 1000
    assert forrester.n_segments.value == len(forrester.segments) == 5
    assert [s.share.value for s in forrester.segments] == [20, 17, 30, 16, 18]  # 101: rounded shares
    assert forrester.membership is None and not forrester.has_membership_model
    assert forrester.is_synthetic
    assert forrester.predictor_constructs == []
    # Without a membership model the reference is the largest segment.
    assert forrester.reference_segment == "convenience_conformers"
    kinds = {c.kind for c in forrester.claims}
    assert "segment_share" in kinds
    assert not kinds & {"model_lr_test", "predictor_lr_test"}


def test_profile_matrix_and_patterns(spec, forrester):
    dims = spec.dimension_ids
    assert dims == [c.id for c in spec.clustering_constructs]
    by_hand = np.array([[1.0 if s.profile.value[d] == "H" else -1.0 for d in dims] for s in spec.segments])
    np.testing.assert_array_equal(spec.profile_matrix(), by_hand)
    assert spec.segment("social_customizers").pattern(dims) == "L/H/H"
    assert spec.segment_names["avoiders"] == "Avoiders"
    assert spec.dimension_labels["content_personalization"] == "Need for content personalization"
    # "M" claims no side: level 0.
    conformers = forrester.segment("convenience_conformers")
    assert conformers.pattern(forrester.dimension_ids) == "L/H/H/L/M"
    assert forrester.profile_matrix()[forrester.segment_ids.index("convenience_conformers")].tolist() == \
        [-1.0, 1.0, 1.0, -1.0, 0.0]


@pytest.mark.parametrize("level, value, side", [(0.8, 0.8, "H"), (-0.5, -0.5, "L"), (0.3, 0.3, "M"),
                                                (1, 1.0, "H"), ("M", 0.0, "M")])
def test_numeric_profile_levels(base, tmp_path, level, value, side):
    def change(d):
        d["segments"][0]["profile"]["value"]["product_customization"] = level

    path, _ = write_spec(tmp_path, modified(base, change))
    loaded = load_study(path)
    avoiders = loaded.segment("avoiders")
    assert avoiders.level("product_customization") == value
    assert avoiders.pattern(loaded.dimension_ids) == f"L/{side}/L"
    assert loaded.profile_matrix()[0, 1] == value


@pytest.mark.parametrize("level", [1.5, -2, float("nan")])
def test_profile_level_out_of_range(base, tmp_path, level):
    path, text = write_spec(tmp_path, modified(
        base, lambda d: d["segments"][0]["profile"]["value"].__setitem__("product_customization", level)))
    msg = load_error(path)
    assert_names_file(msg, path)
    assert "segments.0.profile" in msg
    assert "must be H, L, M or a number from -1 to 1" in msg


def test_profile_level_unknown_letter(base, tmp_path):
    path, _ = write_spec(tmp_path, modified(
        base, lambda d: d["segments"][0]["profile"]["value"].__setitem__("product_customization", "X")))
    msg = load_error(path)
    assert_names_file(msg, path)
    assert "segments.0.profile" in msg


def test_study_without_simulation_is_not_synthetic(base, tmp_path):
    path, _ = write_spec(tmp_path, modified(base, lambda d: d.pop("simulation")))
    loaded = load_study(path)
    assert loaded.simulation is None and not loaded.is_synthetic
    assert loaded.has_membership_model


def test_study_without_membership_model(base, tmp_path):
    def change(d):
        d.pop("membership")
        d["simulation"].pop("coefficients")
        d["claims"] = [c for c in d["claims"] if c["kind"] not in ("model_lr_test", "predictor_lr_test")]

    path, _ = write_spec(tmp_path, modified(base, change))
    loaded = load_study(path)
    assert not loaded.has_membership_model
    assert loaded.reference_segment == "individualization_lovers"  # the largest segment


def test_membership_claims_need_a_membership_model(base, tmp_path):
    def change(d):
        d.pop("membership")
        d["simulation"].pop("coefficients")

    path, text = write_spec(tmp_path, modified(base, change))
    msg = load_error(path)
    assert_names_file(msg, path)
    assert "claim 'logit.model' tests the membership model, but the study has none" in msg
    assert "claim 'logit.privacy_concerns' tests the membership model" in msg


def test_true_coefficients_need_a_membership_model(base, tmp_path):
    def change(d):
        d.pop("membership")
        d["claims"] = [c for c in d["claims"] if c["kind"] not in ("model_lr_test", "predictor_lr_test")]

    path, text = write_spec(tmp_path, modified(base, change))
    msg = load_error(path)
    assert_names_file(msg, path)
    assert "simulation.coefficients: true coefficients need a membership model" in msg


def test_predictor_simulation_fields_required_when_there_are_predictors(base, tmp_path):
    path, _ = write_spec(tmp_path, modified(base, lambda d: d["simulation"].pop("predictor_loading")))
    msg = load_error(path)
    assert_names_file(msg, path)
    assert "missing key 'predictor_loading'" in msg


@pytest.mark.parametrize("older", ["segment_share_rounds", "segment_share_interval"])
def test_older_share_kinds_read_as_the_one_share_rule(base, tmp_path, older):
    """Specifications written for earlier versions keep working: every share claim is
    judged by the one stated rule (replication.evaluation.shares)."""
    def change(d):
        d["claims"][1]["kind"] = older
    path, _ = write_spec(tmp_path, modified(base, change))
    spec = load_study(path)
    assert spec.claims[1].kind == "segment_share"


def test_a_share_tolerance_is_no_longer_a_setting(base, tmp_path):
    def change(d):
        d["share_tolerance_pp"] = {"value": 2.0, "assumed": "old"}
    path, _ = write_spec(tmp_path, modified(base, change))
    msg = load_error(path)
    assert_names_file(msg, path)
    assert "share_tolerance_pp" in msg


def test_citation_fields_beyond_id_and_title_are_optional(base, tmp_path):
    def change(d):
        d["study"] = {"id": "minimal", "title": "A minimal study"}

    path, _ = write_spec(tmp_path, modified(base, change))
    loaded = load_study(path)
    assert loaded.id == "minimal"
    assert loaded.study.authors == [] and loaded.study.doi is None and loaded.study.citation is None
    assert loaded.study.population == "respondents"
    assert loaded.study.dimensions == "segmentation dimensions"


@pytest.mark.parametrize("bad_id", ["../escape", "a b", "", "-leading-dash"])
def test_study_id_must_be_a_folder_name(base, tmp_path, bad_id):
    path, _ = write_spec(tmp_path, modified(base, lambda d: d["study"].__setitem__("id", bad_id)))
    msg = load_error(path)
    assert_names_file(msg, path)
    assert "study.id" in msg and "it names folders" in msg


def test_reported_k_outside_candidate_range(base, tmp_path):
    path, text = write_spec(tmp_path, modified(base, lambda d: d["segmentation"].__setitem__("k_min", 6)))
    msg = load_error(path)
    assert_names_file(msg, path)
    assert "the reported k = 5 lies outside the candidate range k_min..k_max = 6..10" in msg
    assert f"line {line_of(text, r'^segmentation:')}: segmentation" in msg


def test_candidate_range_needs_three_k(base, tmp_path):
    path, _ = write_spec(tmp_path, modified(base, lambda d: d["segmentation"].__setitem__("k_max", 3)))
    msg = load_error(path)
    assert_names_file(msg, path)
    assert "k_min must be at least 2 and at least two below k_max" in msg


def test_unknown_segmentation_method(base, tmp_path):
    path, _ = write_spec(tmp_path, modified(
        base, lambda d: d["segmentation"]["method"].__setitem__("value", "latent_class")))
    msg = load_error(path)
    assert_names_file(msg, path)
    assert "segmentation.method" in msg
