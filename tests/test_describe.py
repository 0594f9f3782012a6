"""Tests of the descriptive tables (Table 1, item distributions, provenance)."""

import numpy as np
import pandas as pd
import pytest

from replication.errors import ReplicationError
from replication.study import describe
from replication.study.simulate import simulate_survey


@pytest.fixture(scope="module")
def survey(spec):
    return simulate_survey(spec).survey


def test_demographics_counts_sum_to_n_per_categorical(spec, survey):
    table = describe.demographics_table(survey, spec)
    categorical = [d for d in spec.demographics if d.kind == "categorical"]
    assert categorical
    for d in categorical:
        rows = table[table["variable"] == d.id]
        assert rows["n"].sum() == len(survey)
        assert abs(rows["percent"].sum() - 100.0) < 1e-9
        # every category of the specification, in code order, with its label
        assert rows["code"].tolist() == sorted(d.categories.value)
        assert rows["category"].tolist() == [d.categories.value[k] for k in sorted(d.categories.value)]


def test_demographics_integer_rows(spec, survey):
    table = describe.demographics_table(survey, spec)
    for d in (d for d in spec.demographics if d.kind == "integer"):
        row = table[table["variable"] == d.id]
        assert len(row) == 1
        row = row.iloc[0]
        assert row["n"] == len(survey)
        assert row["mean"] == pytest.approx(survey[d.id].mean())
        assert row["sd"] == pytest.approx(survey[d.id].std(ddof=1))
        assert d.min <= row["min"] <= row["max"] <= d.max
        assert np.isnan(row["percent"])


def test_demographics_order_follows_spec(spec, survey):
    table = describe.demographics_table(survey, spec)
    assert list(dict.fromkeys(table["variable"])) == [d.id for d in spec.demographics]
    assert list(table.columns) == describe.DEMOGRAPHICS_COLUMNS


def test_demographics_keeps_empty_categories(spec, survey):
    d = next(d for d in spec.demographics if d.kind == "categorical")
    first = min(d.categories.value)
    only_first = survey.assign(**{d.id: first})
    rows = describe.demographics_table(only_first, spec).query("variable == @d.id")
    assert len(rows) == len(d.categories.value)
    assert rows["n"].tolist() == [len(survey)] + [0] * (len(d.categories.value) - 1)


def test_demographics_unknown_code_is_an_error(spec, survey):
    d = next(d for d in spec.demographics if d.kind == "categorical")
    bad = survey.copy()
    bad.loc[0, d.id] = 99
    with pytest.raises(ReplicationError, match=d.id):
        describe.demographics_table(bad, spec)


def test_item_distributions_cover_every_item_and_answer(spec, survey):
    dist = describe.item_distributions(survey, spec)
    items = [it for c in spec.constructs for it in c.items.value]
    assert list(dict.fromkeys(dist["item"])) == items
    for item, rows in dist.groupby("item", sort=False):
        assert rows["n"].sum() == len(survey)
        assert rows["answer"].tolist() == list(range(1, 8))
        assert abs(rows["percent"].sum() - 100.0) < 1e-9
    roles = dist.drop_duplicates("construct").set_index("construct")["role"]
    assert roles.to_dict() == {c.id: c.role for c in spec.constructs}


def test_item_distributions_include_zero_counts(spec, survey):
    item = spec.constructs[0].items.value[0]
    constant = survey.assign(**{item: 4})
    rows = describe.item_distributions(constant, spec).query("item == @item")
    assert rows["n"].tolist() == [0, 0, 0, len(survey), 0, 0, 0]


def test_item_distributions_reject_out_of_range(spec, survey):
    item = spec.constructs[0].items.value[0]
    bad = survey.copy()
    bad.loc[3, item] = 8
    with pytest.raises(ReplicationError, match=item):
        describe.item_distributions(bad, spec)


def test_provenance_frame_has_reported_and_assumed_rows(spec):
    prov = describe.provenance_frame(spec)
    assert list(prov.columns) == ["path", "value", "status", "source"]
    assert set(prov["status"]) == {"reported", "assumed"}
    assert (prov["status"] == "reported").any() and (prov["status"] == "assumed").any()
    assert prov["value"].map(lambda v: isinstance(v, str) and len(v) <= 60).all()
    assert prov["source"].str.len().gt(0).all()
    n_row = prov.set_index("path").loc["n"]
    assert n_row["value"] == "586" and n_row["status"] == "reported"
    assert prov.set_index("path").loc["simulation.coefficients", "status"] == "assumed"


def test_describe_is_deterministic(spec, survey):
    pd.testing.assert_frame_equal(describe.demographics_table(survey, spec),
                                  describe.demographics_table(survey, spec))
    pd.testing.assert_frame_equal(describe.item_distributions(survey, spec),
                                  describe.item_distributions(survey, spec))
