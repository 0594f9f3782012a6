"""The chunked reader of large CSV files (study.fastcsv) reads what the row-by-row reader
reads, and leaves every file it cannot read exactly to it.

Both readers run on the same small files: the chunked one because its size threshold is
lowered to 0 here. The survey each gives must be identical (values, dtypes, ids, dropped
rows and reasons, notes), and a file with a problem must give the row-by-row reader's
message.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from replication.errors import ReplicationError
from replication.study import fastcsv
from replication.study.sources import read_user_survey


def _items(spec):
    return [it for c in spec.constructs for it in c.items.value]


def _read(block, spec, folder, monkeypatch, fast: bool):
    """The survey read by one of the two readers; with ``fast``, the chunked one must have read it."""
    used = []
    real = fastcsv.read_plain_csv

    def spy(*args, **kwargs):
        out = real(*args, **kwargs)
        used.append(out is not None)
        return out

    monkeypatch.setattr(fastcsv, "FAST_BYTES", 0 if fast else 2**62)
    monkeypatch.setattr(fastcsv, "CHUNK_ROWS", 7)          # several chunks even in a small file
    monkeypatch.setattr(fastcsv, "read_plain_csv", spy)
    try:
        return read_user_survey(block, spec, folder), used
    finally:
        monkeypatch.undo()


def _file(spec, sample, n=60):
    s = sample.survey.head(n).copy()
    f = s[_items(spec)].astype(object).copy()
    f.insert(0, "resp", [f"{i:04d}" for i in range(1, n + 1)])            # "0001": stays text
    for name in [p.id for p in spec.profiling] + [d.id for d in spec.demographics]:
        f[name] = s[name]
    f["weight"] = np.linspace(0.5, 1.5, n)
    f["note"] = ["a b" if i % 3 else "" for i in range(n)]
    f.loc[3, "cp2"] = ""                                                   # blank: missing
    f.loc[4, "pc1"] = 99                                                   # a missing code
    f.loc[5, "cp3"] = 99
    f.loc[9, "ih1"] = 9                                                    # out of range: dropped
    f.loc[11, "cp1"], f.loc[11, "cp2"] = "", ""                            # beyond min_items 3
    return f


BLOCK = {"file": "s.csv", "id": "resp", "carry": ["weight", "note"], "missing": {"min_items": 3},
         "missing_codes": [99], "out_of_range": "drop"}


def _same(a, b):
    pd.testing.assert_frame_equal(a.survey, b.survey, check_exact=True)
    assert list(a.survey.dtypes) == list(b.survey.dtypes)
    pd.testing.assert_frame_equal(a.dropped, b.dropped, check_exact=True)
    assert (a.n_read, a.notes, a.excluded) == (b.n_read, b.notes, b.excluded)


@pytest.mark.parametrize("twist", ["plain", "crlf", "bom", "spaces", "text_code", "numeric_ids", "float_carry"])
def test_chunked_reader_gives_the_row_by_row_survey(twist, spec, sample, tmp_path, monkeypatch):
    f = _file(spec, sample)
    block = dict(BLOCK)
    newline, encoding = "\n", "utf-8"
    if twist == "crlf":
        newline = "\r\n"
    elif twist == "bom":
        encoding = "utf-8-sig"
    elif twist == "spaces":
        f.loc[7, "cp4"] = f" {f.loc[7, 'cp4']} "
        f.loc[8, "note"] = "  padded  "
    elif twist == "text_code":
        f.loc[20, "pc2"] = "NA"                                            # a text missing code: a text column
        block["missing_codes"] = [99, "NA"]
    elif twist == "numeric_ids":
        f["resp"] = np.arange(101, 101 + len(f))
    elif twist == "float_carry":
        f["weight"] = np.linspace(0.1, 7.3, len(f)) ** 3                   # not exact in float32
    with open(tmp_path / "s.csv", "w", encoding=encoding, newline="") as fh:
        f.to_csv(fh, index=False, lineterminator=newline)
    slow, _ = _read(block, spec, tmp_path, monkeypatch, fast=False)
    fast, used = _read(block, spec, tmp_path, monkeypatch, fast=True)
    assert used == [True]
    _same(fast, slow)
    if twist == "plain":
        assert fast.survey["respondent_id"].iloc[0] == "0001"
        assert fast.n == len(f) - 2 and fast.dropped["n"].tolist() == [1, 1]
    if twist == "bom":
        assert any("byte-order mark" in n for n in fast.notes)


@pytest.mark.parametrize("twist, expected", [
    ("short_row", "row 6 (line 7): malformed CSV: 41 field(s), but the header has 42"),
    ("long_and_short_rows", "row 6 (line 7): malformed CSV"),
    ("blank_line", None),
    ("quoted", None),
    ("empty_id", "row 8 (line 9), column 'resp': the respondent id is empty"),
    ("text_answer", "row 31 (line 32), column 'cp1': 'abc' is text"),
    ("infinite", "row 12 (line 13), column 'pc4': 'inf' is not a finite number"),
])
def test_anything_unusual_gives_the_row_by_row_result(twist, expected, spec, sample, tmp_path, monkeypatch):
    """The chunked reader leaves the file to the row-by-row reader (or gives its very message)."""
    f = _file(spec, sample)
    if twist == "empty_id":
        f.loc[7, "resp"] = ""
    elif twist == "text_answer":
        f.loc[30, "cp1"] = "abc"
    elif twist == "infinite":
        f.loc[11, "pc4"] = "inf"
    f.to_csv(tmp_path / "s.csv", index=False)
    lines = (tmp_path / "s.csv").read_text().splitlines(keepends=True)
    if twist == "short_row":
        lines[6] = lines[6].rsplit(",", 1)[0] + "\n"
    elif twist == "long_and_short_rows":                                   # the delimiter counts even out
        lines[6] = lines[6].rsplit(",", 1)[0] + "\n"
        lines[8] = lines[8].rstrip("\n") + ",x\n"
    elif twist == "blank_line":
        lines.insert(5, "\n")
        lines.insert(9, ",,,\n".replace(",,,", "," * (len(f.columns) - 1)))
    elif twist == "quoted":
        lines[10] = lines[10].replace("a b", '"a, b"')
    (tmp_path / "s.csv").write_text("".join(lines))
    outcomes = []
    for fast in (False, True):
        try:
            outcomes.append(_read(BLOCK, spec, tmp_path, monkeypatch, fast=fast)[0])
        except ReplicationError as exc:
            outcomes.append(str(exc))
    slow, quick = outcomes
    if expected is None:
        _same(quick, slow)
    else:
        assert isinstance(slow, str) and expected in slow, slow
        assert quick == slow


def test_large_file_shows_progress(spec, sample, tmp_path, monkeypatch, capsys):
    _file(spec, sample).to_csv(tmp_path / "s.csv", index=False)
    monkeypatch.setattr(fastcsv, "FAST_BYTES", 0)
    monkeypatch.setattr(fastcsv, "PROGRESS_BYTES", 0)
    read_user_survey(BLOCK, spec, tmp_path)
    err = capsys.readouterr().err
    assert "reading s.csv" in err and "100%" in err


def test_corrected_membership_follows_the_panel_rule(spec, sample):
    """Above the exact limit the three-step model is estimated on a seeded sample of
    panel_resample_size, and both tables say so; below it, on everyone, with no such column."""
    from replication.analysis import corrected_membership
    from replication.study.measurement import scale_scores

    scores = scale_scores(sample.survey, spec)
    n = len(scores)
    full = corrected_membership(spec, scores.head(300))
    sampled = corrected_membership(spec, scores, sample_size=300)
    again = corrected_membership(spec, scores, sample_size=300)
    for name in ("three_step_coefficients", "three_step_wald"):
        assert "estimated_on" not in full[name]
        assert set(sampled[name]["estimated_on"]) == {f"a seeded sample of 300 of {n:,} respondents"}
        pd.testing.assert_frame_equal(sampled[name], again[name], check_exact=True)     # seeded
        # a sample of 300 of the 586, not the first 300: other estimates
        assert not np.allclose(sampled[name].select_dtypes("number").to_numpy(),
                               full[name].select_dtypes("number").to_numpy())


def test_faster_mnlogit_hessian_is_statsmodels_own():
    """The membership model's Hessian (one matrix product, in row chunks) is statsmodels'
    to rounding (relative 1e-12: sums of a few thousand products in another order), and so
    are the fitted estimates and standard errors."""
    import statsmodels.api as sm
    from replication.membership import mnlogit

    rng = np.random.default_rng(5)
    n = 2500
    X = sm.add_constant(rng.normal(size=(n, 3)))
    beta = np.column_stack([np.zeros(4), rng.normal(scale=0.7, size=(4, 3))])
    p = np.exp(X @ beta)
    p /= p.sum(axis=1, keepdims=True)
    y = (p.cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1)
    ours, theirs = mnlogit.MNLogit(y, X), sm.MNLogit(y, X)
    params = rng.normal(scale=0.3, size=4 * 3)
    old = mnlogit.CHUNK_ROWS
    try:
        mnlogit.CHUNK_ROWS = 1000                          # several chunks
        np.testing.assert_allclose(ours.hessian(params), theirs.hessian(params), rtol=1e-12, atol=1e-9)
        a, b = ours.fit(method="newton", disp=False), theirs.fit(method="newton", disp=False)
    finally:
        mnlogit.CHUNK_ROWS = old
    np.testing.assert_allclose(a.params, b.params, rtol=1e-10)
    np.testing.assert_allclose(a.bse, b.bse, rtol=1e-10)
    assert a.llf == pytest.approx(b.llf, rel=1e-13)


def test_weighted_mnlogit_hessian_is_statsmodels_on_duplicated_rows():
    """With integer frequency weights the weighted model's one-product Hessian is
    statsmodels' own Hessian of the rows duplicated ``w_i`` times (relative 1e-12: the
    same sums in another order), in several chunks."""
    import statsmodels.api as sm
    from replication.membership import mnlogit
    from replication.membership.weighted_logit import WeightedMNLogit

    rng = np.random.default_rng(6)
    n = 1200
    X = sm.add_constant(rng.normal(size=(n, 2)))
    y = rng.integers(4, size=n)
    w = rng.integers(1, 4, size=n)
    ours = WeightedMNLogit(y, X, freq_weights=w)
    theirs = sm.MNLogit(np.repeat(y, w), np.repeat(X, w, axis=0))
    old = mnlogit.CHUNK_ROWS
    try:
        mnlogit.CHUNK_ROWS = 500                           # several chunks
        for _ in range(3):
            params = rng.normal(scale=0.4, size=3 * 3)
            np.testing.assert_allclose(ours.hessian(params), theirs.hessian(params), rtol=1e-12, atol=1e-9)
    finally:
        mnlogit.CHUNK_ROWS = old


def test_header_only_reads_only_the_start_of_a_large_file(tmp_path, monkeypatch):
    from pathlib import Path

    from replication.study.readers import read_table

    rows = "\n".join(f"R-{i:07d},{i % 7 + 1},{i % 5 + 1}" for i in range(120_000))
    (tmp_path / "big.csv").write_text("id,a,b\n" + rows + "\n")
    assert (tmp_path / "big.csv").stat().st_size > 2**20

    def whole_file(self):
        raise AssertionError("read the whole file")

    monkeypatch.setattr(Path, "read_bytes", whole_file)
    raw = read_table(tmp_path / "big.csv", header_only=True)
    assert raw.header == ["id", "a", "b"] and raw.columns["id"][0] == "R-0000000"


def test_long_tables_are_written_byte_for_byte_as_before(tmp_path, monkeypatch):
    """Formatting a float column once per distinct value gives the very bytes pandas'
    %.6g formatting of every cell gives (NaN, -0.0, infinities, ties in rounding)."""
    from replication import files

    rng = np.random.default_rng(3)
    n = 5000
    scores = rng.integers(4, 29, size=n) / 4.0                             # scale scores: few values
    scores[::97] = np.nan
    scores[5], scores[6], scores[7], scores[8] = -0.0, np.inf, -np.inf, 1234567.5
    df = pd.DataFrame({"respondent_id": [f"R{i}" for i in range(n)], "score": scores,
                       "third": np.round(rng.integers(0, 3, size=n) / 3, 12), "many": rng.normal(size=n),
                       "k": rng.integers(0, 5, size=n)})
    monkeypatch.setattr(files, "PREFORMAT_ROWS", 100)
    files.write_csv(tmp_path / "t.csv", df)
    expected = df.to_csv(index=False, lineterminator="\n", float_format="%.6g").encode()
    assert (tmp_path / "t.csv").read_bytes() == expected
    kinds = files.preformat(df, 6).dtypes
    assert kinds["score"] != np.float64 and kinds["third"] != np.float64     # formatted once per value
    assert kinds["many"] == np.float64                                     # continuous: left to pandas


def test_long_user_tables_are_written_byte_for_byte_as_pandas_writes_them(tmp_path, monkeypatch):
    """The assignment CSV of a long table (float columns formatted once per distinct value,
    pandas' default text) has the very bytes of pandas writing every cell: NaN, -0.0,
    infinities, whole numbers as "35.0", large and tiny values, the ``float_columns``."""
    from replication import files
    from replication.study.spss import write_user_table

    rng = np.random.default_rng(4)
    n = 5000
    age = rng.integers(18, 80, size=n).astype(float)
    age[::89] = np.nan
    age[3], age[4], age[5], age[6], age[7] = -0.0, np.inf, -np.inf, 1e17, 1e-20
    df = pd.DataFrame({"respondent_id": [f"R-{i:04d}" for i in range(n)], "age": age,
                       "weight": np.round(rng.uniform(.3, 3, size=n), 3), "distance": rng.random(n) * 3,
                       "segment": rng.choice(["a,b", 'say "x"', "plain"], size=n), "cluster": rng.integers(1, 6, n)})
    monkeypatch.setattr(files, "PREFORMAT_ROWS", 100)
    write_user_table(df, tmp_path / "t.csv", float_columns=["distance"])
    expected = df.assign(distance=[f"{x:.6g}" for x in df["distance"]]).to_csv(
        index=False, lineterminator="\n").encode()
    assert (tmp_path / "t.csv").read_bytes() == expected


@pytest.mark.parametrize("encoding, expected", [("utf-16", "the file is UTF-16 text (with a byte-order mark)"),
                                                ("utf-16-le", "the file is UTF-16 text (without a byte-order mark)"),
                                                ("cp1252", "not UTF-8 text (byte 0xe9)")])
def test_other_encodings_get_the_row_by_row_message(encoding, expected, spec, sample, tmp_path, monkeypatch):
    f = _file(spec, sample)
    f.loc[2, "note"] = "café"
    f.to_csv(tmp_path / "s.csv", index=False, encoding=encoding)
    messages = []
    for fast in (False, True):
        with pytest.raises(ReplicationError) as info:
            _read(BLOCK, spec, tmp_path, monkeypatch, fast=fast)
        messages.append(str(info.value))
    assert expected in messages[0] and messages[1] == messages[0]


def test_calinski_harabasz_and_davies_bouldin_from_sums_are_scikit_learns():
    """Above ``SUMS_ABOVE`` rows the k criteria come from per-cluster sums: equal to
    scikit-learn's functions to rounding (relative 1e-9: the same sums in another order),
    for 1-based labels with a missing label, k = 2, and a separated cluster."""
    from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score

    from replication.segmentation.kselect import _ch_db_from_sums

    rng = np.random.default_rng(3)
    X = rng.normal(size=(5000, 3))
    for labels in (rng.integers(1, 7, 5000), rng.integers(0, 2, 5000), np.where(rng.random(5000) < .5, 1, 4)):
        X2 = X + 3.0 * (labels == labels.max())[:, None]
        ch, db = _ch_db_from_sums(X2, labels)
        assert ch == pytest.approx(calinski_harabasz_score(X2, labels), rel=1e-9)
        assert db == pytest.approx(davies_bouldin_score(X2, labels), rel=1e-9)


def test_a_refit_without_a_predictor_sees_its_columns_without_a_copy():
    """The likelihood-ratio refits take the design without the dropped columns as a view
    of the same memory, with exactly the values of ``X[kept]``, and the design is whole
    again afterwards (also after an error inside)."""
    from replication.membership.logit import _columns_dropped

    rng = np.random.default_rng(0)
    for dropped in ([2], [0, 3], [5], [1, 2, 4]):
        design = np.asfortranarray(rng.normal(size=(50, 6)))
        before = design.copy()
        keep = [j for j in range(6) if j not in dropped]
        with _columns_dropped(design, dropped) as view:
            assert np.array_equal(view, before[:, keep]) and np.shares_memory(view, design)
        assert np.array_equal(design, before)
        with pytest.raises(ZeroDivisionError), _columns_dropped(design, dropped):
            1 / 0
        assert np.array_equal(design, before)


@pytest.mark.parametrize("columns", [["s", "o", "i", "big", "u"], ["s"], ["o"], ["i"], ["s", "f"], ["s", "b"], ["m"],
                                     ["e"], []])
def test_csv_rows_written_directly_are_pandas_to_csv(columns):
    """Tables of text and integer columns go to the csv module directly
    (:func:`replication.files.write_rows`); the text is pandas' ``to_csv`` exactly, with
    commas, quotes, line breaks, non-ASCII text, empty and missing cells, negative and large
    integers; floats, booleans and mixed objects are left to pandas (the same text too)."""
    import io

    from replication.files import write_rows

    rng = np.random.default_rng(0)
    n = 500
    full = pd.DataFrame({
        "s": pd.array(rng.choice(["a,b", 'say "hi"', "line\nbreak", "é", "", "plain", None], n), dtype="str"),
        "o": np.array(rng.choice(["x", None, "y;z", " lead"], n), dtype=object),
        "i": rng.integers(-5, 5, n), "big": rng.integers(0, 10**12, n), "u": rng.integers(0, 3, n).astype(np.uint8),
        "f": rng.random(n), "b": rng.random(n) > 0.5, "m": np.array(rng.choice([1, "a", None], n), dtype=object),
        "e": [""] * n,
    })
    for frame in (full[columns], full[columns].iloc[:0]):
        for header in (True, False):
            ours, theirs = io.StringIO(), io.StringIO()
            write_rows(ours, frame, header=header, float_format="%.6g")
            frame.to_csv(theirs, index=False, header=header, lineterminator="\n", float_format="%.6g")
            assert ours.getvalue() == theirs.getvalue()
