"""The simulator: exact segment sizes, valid answers, determinism, and what leaves the truth out."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from replication import pipeline
from replication.errors import ReplicationError
from replication.study.measurement import scale_scores
from replication.study.simulate import simulate_survey

RAW_FILES = ("survey", "codebook", "truth", "generation")


def counts_by_segment(spec, sample):
    counts = sample.true_segments.value_counts()
    return [int(counts.get(s, 0)) for s in spec.segment_ids]


def test_counts_are_largest_remainder_counts(spec, sample):
    assert counts_by_segment(spec, sample) == [58, 47, 100, 129, 252]
    assert sample.truth["segment_counts"] == dict(zip(spec.segment_ids, [58, 47, 100, 129, 252]))


@pytest.mark.parametrize("n, separation", [(1000, None), (586, 0.0), (1000, 0.0), (137, None)])
def test_counts_exact_for_other_n_and_separation(spec, n, separation):
    sample = simulate_survey(spec, n=n, separation=separation)
    expected = spec.segment_counts(n).tolist()
    assert sum(expected) == n
    assert counts_by_segment(spec, sample) == expected
    assert len(sample.survey) == n


def test_item_answers_are_integers_on_the_scale(spec, sample):
    for c in spec.constructs:
        items = sample.survey[c.items.value]
        assert all(pd.api.types.is_integer_dtype(items[col]) for col in items)
        values = items.to_numpy()
        assert values.min() >= 1 and values.max() <= c.scale_points.value
        # Not degenerate: answers use most of the scale.
        assert len(np.unique(values)) >= 5


def test_demographics_within_codebook(spec, sample):
    for d in spec.demographics:
        col = sample.survey[d.id]
        assert pd.api.types.is_integer_dtype(col)
        if d.kind == "integer":
            assert col.between(d.min, d.max).all()
        else:
            assert set(col.unique()) <= set(d.categories.value)
            assert len(col.unique()) > 1


def test_profiling_within_range(spec, sample):
    for p in spec.profiling:
        col = sample.survey[p.id]
        assert pd.api.types.is_integer_dtype(col)
        hi = p.max if p.kind == "count" else 1
        assert col.between(0, hi).all()
        assert col.nunique() > 1


def test_survey_values_match_codebook_bounds(sample):
    cb = sample.codebook.set_index("column")
    for col in sample.survey.columns:
        lo, hi = cb.loc[col, "min"], cb.loc[col, "max"]
        if lo != "":
            assert sample.survey[col].min() >= int(lo), col
        if hi != "":
            assert sample.survey[col].max() <= int(hi), col


def _generate_bytes(spec, root, **kwargs):
    layout = pipeline.layout_for(spec, root)
    pipeline.generate(spec, layout, **kwargs)
    return {name: getattr(layout, name).read_bytes() for name in RAW_FILES}


def test_same_seed_gives_identical_files(spec, tmp_path):
    first = _generate_bytes(spec, tmp_path / "a")
    second = _generate_bytes(spec, tmp_path / "b")
    for name in RAW_FILES:
        assert len(first[name]) > 100
        assert first[name] == second[name], name


def test_same_explicit_seed_gives_identical_files(spec, tmp_path):
    first = _generate_bytes(spec, tmp_path / "a", seed=7, n=200)
    second = _generate_bytes(spec, tmp_path / "b", seed=7, n=200)
    assert first == second


def test_different_seed_gives_different_data(spec, sample):
    other = simulate_survey(spec, random_state=spec.seed.value + 1)
    items = [it for c in spec.constructs for it in c.items.value]
    assert not sample.survey[items].equals(other.survey[items])
    assert (sample.survey[items].to_numpy() != other.survey[items].to_numpy()).mean() > 0.3
    assert other.truth["seed"] == spec.seed.value + 1


def test_survey_holds_only_id_and_codebook_columns(raw_layout):
    survey = pd.read_csv(raw_layout.survey)
    codebook = pd.read_csv(raw_layout.codebook, dtype=str, keep_default_na=False)
    truth = json.loads(raw_layout.truth.read_text())
    assert survey.columns[0] == "respondent_id"
    assert list(survey.columns) == list(codebook["column"])
    assert "segment" not in survey.columns
    lowered = {c.lower() for c in survey.columns}
    assert not lowered & {"segment", "cluster", "true_segment", "latent"}
    # Nothing from the truth beyond the respondent id leaks into the survey.
    truth_keys = set(truth) | {k for r in truth["respondents"] for k in r}
    assert set(survey.columns) & truth_keys == {"respondent_id"}
    segment_names = set(truth["segment_counts"])
    assert not survey.astype(str).isin(segment_names).any().any()


def test_codebook_has_one_row_per_survey_column(spec, sample):
    cb = sample.codebook
    assert cb["column"].is_unique
    assert list(cb["column"]) == list(sample.survey.columns)
    items = [it for c in spec.constructs for it in c.items.value]
    roles = cb.set_index("column")["role"]
    assert all(roles[it].endswith("item") for it in items)
    assert roles["respondent_id"] == "id"


def test_truth_has_one_entry_per_respondent(raw_layout):
    survey = pd.read_csv(raw_layout.survey)
    truth = json.loads(raw_layout.truth.read_text())
    ids = [r["respondent_id"] for r in truth["respondents"]]
    assert len(ids) == len(survey) == truth["n"] == 586
    assert ids == survey["respondent_id"].tolist()
    assert len(set(ids)) == len(ids)
    assert {r["segment"] for r in truth["respondents"]} <= set(truth["segment_counts"])


def test_generate_refuses_to_overwrite_without_force(spec, raw_layout):
    before = {name: getattr(raw_layout, name).read_bytes() for name in RAW_FILES}
    with pytest.raises(ReplicationError, match=r"already exists.*--force") as info:
        pipeline.generate(spec, raw_layout, seed=99)
    assert str(raw_layout.survey) in str(info.value)
    after = {name: getattr(raw_layout, name).read_bytes() for name in RAW_FILES}
    assert after == before


def test_generate_refuses_when_only_one_raw_file_exists(spec, tmp_path):
    layout = pipeline.layout_for(spec, tmp_path)
    layout.raw.mkdir(parents=True)
    layout.truth.write_text("sentinel")
    with pytest.raises(ReplicationError, match="already exists"):
        pipeline.generate(spec, layout)
    assert layout.truth.read_text() == "sentinel"
    assert not layout.survey.exists()


def test_generate_overwrites_with_force(spec, raw_layout):
    before = raw_layout.survey.read_bytes()
    pipeline.generate(spec, raw_layout, seed=99, n=300, force=True)
    after = raw_layout.survey.read_bytes()
    assert after != before
    assert len(pd.read_csv(raw_layout.survey)) == 300
    assert json.loads(raw_layout.truth.read_text())["seed"] == 99


def _need_means(spec, sample):
    scores = scale_scores(sample.survey, spec).set_index("respondent_id")
    scores["segment"] = sample.true_segments
    return scores.groupby("segment")[[c.id for c in spec.clustering_constructs]].mean()


def test_zero_separation_leaves_no_segment_structure(spec):
    # Tolerance: with separation 0 every segment's need is N(0, 1) on the latent scale, i.e.
    # 0.6 scale points per SD plus item noise 0.5/sqrt(4), so a scale score has SD ~0.65.
    # At N = 4000 the smallest segment has ~320 respondents (SE of its mean ~0.036), so the
    # range of five segment means is ~0.1 by chance; 0.3 is far outside chance yet far below
    # any real High/Low gap (~2.7 points at the default separation).
    means = _need_means(spec, simulate_survey(spec, n=4000, separation=0.0))
    spread = means.max() - means.min()
    assert (spread < 0.3).all(), spread.to_dict()


def test_default_separation_separates_high_and_low(spec, sample):
    # Tolerance: at the shipped separation s (5.5 latent SDs when written; 4.5 before) the High
    # and Low latent needs differ by s * need_loading = 3.3 (2.7) scale points, before rounding
    # and clipping at 1 and 7 pull the gap in a little. With >= 47 respondents per segment the
    # SE of a difference of segment means is < 0.15, so a gap above 2 points must hold by a wide
    # margin, and a gap below it means the profiles were not applied.
    assert spec.simulation.separation.value * spec.simulation.need_loading.value > 2.5
    means = _need_means(spec, sample)
    for c in spec.clustering_constructs:
        high = [s.id for s in spec.segments if s.profile.value[c.id] == "H"]
        low = [s.id for s in spec.segments if s.profile.value[c.id] == "L"]
        assert high and low
        # Every High segment sits more than 2 points above every Low segment.
        assert means.loc[high, c.id].min() - means.loc[low, c.id].max() > 2, means[c.id].to_dict()


def test_simulate_rejects_impossible_settings(spec):
    with pytest.raises(ReplicationError, match="smaller than the number of segments"):
        simulate_survey(spec, n=4)
    with pytest.raises(ReplicationError, match="separation must be >= 0"):
        simulate_survey(spec, separation=-1)


# -- a study without a membership model, a middle level, a study without a simulation ----------


@pytest.fixture(scope="module")
def forrester_sample(forrester):
    return simulate_survey(forrester)


def test_forrester_counts_and_truth_without_membership_model(forrester, forrester_sample):
    assert counts_by_segment(forrester, forrester_sample) == forrester.segment_counts().tolist()
    assert sum(counts_by_segment(forrester, forrester_sample)) == forrester.n.value
    truth = forrester_sample.truth
    assert truth["study"] == "forrester2016"
    assert "logit" not in truth  # no membership model, so no true slopes
    assert set(truth["parameters"]) == {"separation", "need_loading", "need_item_noise", "composition",
                                        "predictor_error", "shuffle_dimensions", "dimensions_from_predictors"}
    items = [it for c in forrester.constructs for it in c.items.value]
    assert list(forrester_sample.survey.columns) == ["respondent_id"] + items
    assert list(forrester_sample.codebook["column"]) == list(forrester_sample.survey.columns)
    assert forrester_sample.survey[items].isin(range(1, 6)).all().all()


def test_middle_level_sits_between_high_and_low(forrester, forrester_sample):
    # Convenience conformers claim no side on self-efficacy ("M", level 0): their latent
    # mean is the scale's centre, 3 on the 5-point scale, while High and Low segments sit
    # separation/2 * need_loading (>= 1.2) points above and below it, less what clipping at
    # 1 and 5 takes. Segments have >= 150 respondents and a scale score has SD ~0.5, so
    # the SE of a segment mean is < 0.05: a 0.9-point margin either side is far outside
    # chance, and fails if "M" were treated as High or Low.
    sim = forrester.simulation
    assert sim.separation.value / 2 * sim.need_loading.value >= 1.2
    assert forrester.segment_counts().min() >= 150
    means = _need_means(forrester, forrester_sample)["self_efficacy"]
    dims = forrester.dimension_ids
    high = [s.id for s in forrester.segments if s.pattern(dims).split("/")[-1] == "H"]
    low = [s.id for s in forrester.segments if s.pattern(dims).split("/")[-1] == "L"]
    middle = means["convenience_conformers"]
    assert abs(middle - 3.0) < 0.3, means.to_dict()
    assert means[high].min() - middle > 0.9, means.to_dict()
    assert middle - means[low].max() > 0.9, means.to_dict()


def test_study_without_simulation_cannot_be_simulated(spec, tmp_path):
    real = spec.model_copy(update={"simulation": None})
    assert not real.is_synthetic
    with pytest.raises(ReplicationError, match="no 'simulation' block"):
        simulate_survey(real)
    layout = pipeline.layout_for(real, tmp_path)
    pipeline.ensure_raw(real, layout, log=lambda *a: None)   # real data is never made up
    assert not layout.raw.exists()
    with pytest.raises(ReplicationError, match="no 'simulation' block"):
        pipeline.generate(real, layout)


def test_ensure_raw_generates_missing_data_once(spec, tmp_path):
    layout = pipeline.layout_for(spec, tmp_path)
    messages = []
    pipeline.ensure_raw(spec, layout, log=messages.append)
    assert len(messages) == 1 and str(layout.raw) in messages[0]
    first = {name: getattr(layout, name).read_bytes() for name in RAW_FILES}
    assert first["survey"] == _generate_bytes(spec, tmp_path / "fresh")["survey"]
    pipeline.ensure_raw(spec, layout, log=messages.append)   # present: nothing happens
    assert len(messages) == 1
    assert {name: getattr(layout, name).read_bytes() for name in RAW_FILES} == first


def test_ensure_raw_refuses_partial_raw_data(spec, tmp_path):
    layout = pipeline.layout_for(spec, tmp_path)
    layout.raw.mkdir(parents=True)
    layout.truth.write_text("sentinel")
    with pytest.raises(ReplicationError, match="part of the raw data is missing"):
        pipeline.ensure_raw(spec, layout, log=lambda *a: None)
    assert layout.truth.read_text() == "sentinel"
    assert not layout.survey.exists()
