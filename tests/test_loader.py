"""The survey loader: a valid file reads cleanly; every corruption stops with file, row and column."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from replication.errors import ReplicationError
from replication.outputs import OUTPUTS
from replication.study.loader import read_survey


def output_path(name, layout):
    """Where the output ``name`` (``scores``, ``reliability``, ...) of the study lives."""
    return next(o for o in OUTPUTS if o.name == name).path(layout)


@pytest.fixture
def lines(raw_layout):
    """The generated survey.csv as a list of lines (header first, no line endings)."""
    return raw_layout.survey.read_text(encoding="utf-8").splitlines()


def write_lines(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def set_cell(lines, row, column, value):
    """A copy of ``lines`` with data row ``row`` (1 = first respondent) of ``column`` set to ``value``."""
    out = list(lines)
    j = out[0].split(",").index(column)
    fields = out[row].split(",")
    fields[j] = value
    out[row] = ",".join(fields)
    return out


def survey_error(path, raw_layout) -> str:
    with pytest.raises(ReplicationError) as info:
        read_survey(path, raw_layout.codebook)
    msg = str(info.value)
    assert msg.startswith(str(path)), msg
    assert "Traceback" not in msg
    return msg


def test_valid_survey_reads_as_integers(raw_layout, spec):
    df = read_survey(raw_layout.survey, raw_layout.codebook)
    assert len(df) == 586
    assert df.shape[1] == 40
    assert all(pd.api.types.is_integer_dtype(df[c]) for c in df.columns)
    assert df["respondent_id"].tolist() == list(range(1, 587))
    items = [it for c in spec.constructs for it in c.items.value]
    assert df[items].isin(range(1, 8)).all().all()
    # Same values as the file, column for column.
    assert df.equals(pd.read_csv(raw_layout.survey).astype("int64"))


def test_codebook_can_be_passed_as_a_dataframe(raw_layout, sample):
    df = read_survey(raw_layout.survey, sample.codebook)
    assert len(df) == 586


def test_missing_column(raw_layout, lines, tmp_path):
    j = lines[0].split(",").index("pc3")
    cut = [",".join(f for k, f in enumerate(line.split(",")) if k != j) for line in lines]
    path = write_lines(tmp_path / "survey.csv", cut)
    msg = survey_error(path, raw_layout)
    assert "column 'pc3'" in msg
    assert "missing from the file" in msg


def test_extra_column(raw_layout, lines, tmp_path):
    extra = [lines[0] + ",segment"] + [line + ",avoiders" for line in lines[1:]]
    path = write_lines(tmp_path / "survey.csv", extra)
    msg = survey_error(path, raw_layout)
    assert "column 'segment'" in msg
    assert "not in the codebook" in msg


@pytest.mark.parametrize("row, column, value, expected", [
    (3, "cp2", "abc", "'abc' is not a whole number"),
    (10, "ho2", "4.5", "'4.5' is not a whole number"),
    (7, "ih4", "", "is empty (missing answer)"),
    (12, "pr1", "8", "answer 8 is out of range (allowed: 1 to 7"),
    (1, "cp1", "0", "answer 0 is out of range (allowed: 1 to 7"),
    (586, "pa4", "-3", "answer -3 is out of range (allowed: 1 to 7"),
    (5, "gender", "3", "answer 3 is out of range (allowed: 1, 2;"),
    (20, "region", "0", "answer 0 is out of range (allowed: 1, 2, 3, 4, 5, 6, 7, 8;"),
    (9, "age", "17", "answer 17 is out of range (allowed: 18 to 74"),
    (2, "interactive_options", "2", "answer 2 is out of range (allowed: 0 to 1"),
], ids=["text", "decimal", "empty", "above-scale", "zero", "negative", "gender-code",
        "region-code", "age-too-young", "binary-2"])
def test_bad_cell_names_file_row_and_column(raw_layout, lines, tmp_path, row, column, value, expected):
    path = write_lines(tmp_path / "survey.csv", set_cell(lines, row, column, value))
    msg = survey_error(path, raw_layout)
    assert msg.startswith(f"{path}, row {row}, column '{column}': "), msg
    assert expected in msg


def test_invalid_categorical_code_that_is_within_min_max(raw_layout, lines, tmp_path):
    """Codes are checked against the codebook's value labels, not only its min and max."""
    cb = pd.read_csv(raw_layout.codebook, dtype=str, keep_default_na=False)
    cb.loc[cb["column"] == "income", "values"] = "1=lowest; 2=lower-middle; 4=upper-middle; 5=highest"
    cb_path = tmp_path / "codebook.csv"
    cb.to_csv(cb_path, index=False)
    survey = read_survey(raw_layout.survey, raw_layout.codebook)
    row = int((survey["income"] == 3).to_numpy().argmax()) + 1  # first respondent coded 3
    with pytest.raises(ReplicationError) as info:
        read_survey(raw_layout.survey, cb_path)
    msg = str(info.value)
    assert msg.startswith(f"{raw_layout.survey}, row {row}, column 'income': answer 3 is out of range")
    assert "allowed: 1, 2, 4, 5" in msg


def test_duplicate_respondent_id(raw_layout, lines, tmp_path):
    path = write_lines(tmp_path / "survey.csv", set_cell(lines, 6, "respondent_id", "2"))
    msg = survey_error(path, raw_layout)
    assert msg.startswith(f"{path}, row 6, column 'respondent_id': duplicate respondent id 2")


def test_empty_file(raw_layout, tmp_path):
    path = tmp_path / "survey.csv"
    path.write_text("", encoding="utf-8")
    msg = survey_error(path, raw_layout)
    assert "the file is empty" in msg


def test_header_only_file(raw_layout, lines, tmp_path):
    path = write_lines(tmp_path / "survey.csv", lines[:1])
    msg = survey_error(path, raw_layout)
    assert "header but no respondents" in msg


@pytest.mark.parametrize("row", [4, 1], ids=["middle-row", "first-row"])
def test_row_with_too_many_fields(raw_layout, lines, tmp_path, row):
    """A row with one field too many is malformed CSV, wherever it is.

    (pandas treats one extra field in the *first* data row as an implicit index column and
    shifts every column by one, so the file must be rejected as malformed, not misread.)
    """
    bad = list(lines)
    bad[row] = bad[row] + ",5"
    path = write_lines(tmp_path / "survey.csv", bad)
    msg = survey_error(path, raw_layout)
    assert "malformed CSV" in msg
    assert f"line {row + 1}" in msg  # file line: the header is line 1


def test_trailing_comma_on_every_row_is_not_misread(raw_layout, lines, tmp_path):
    """An empty field too many on every data row must not shift the columns by one.

    Reading it as the original data or rejecting it as malformed are both fine; blaming a
    real column for values that belong to its neighbour is not.
    """
    bad = [lines[0]] + [line + "," for line in lines[1:]]
    path = write_lines(tmp_path / "survey.csv", bad)
    try:
        df = read_survey(path, raw_layout.codebook)
    except ReplicationError as exc:
        msg = str(exc)
        assert msg.startswith(str(path))
        assert "column 'age'" not in msg, msg
    else:
        assert df.equals(read_survey(raw_layout.survey, raw_layout.codebook))


def test_huge_integer_is_a_clear_error(raw_layout, lines, tmp_path):
    path = write_lines(tmp_path / "survey.csv", set_cell(lines, 3, "cp1", "99999999999999999999"))
    msg = survey_error(path, raw_layout)
    assert msg.startswith(f"{path}, row 3, column 'cp1': "), msg


def test_duplicated_header_names_the_column_as_written(raw_layout, lines, tmp_path):
    bad = [lines[0] + ",cp1"] + [line + ",4" for line in lines[1:]]
    path = write_lines(tmp_path / "survey.csv", bad)
    msg = survey_error(path, raw_layout)
    assert "column 'cp1'" in msg
    assert "cp1.1" not in msg  # pandas' mangled name is not a column of the file


def test_cli_score_on_corrupted_survey(raw_layout, lines):
    write_lines(raw_layout.survey, set_cell(lines, 4, "pc2", "abc"))
    scores = output_path("scores", raw_layout)
    assert scores == raw_layout.processed / "scores.csv"
    scores.parent.mkdir(parents=True, exist_ok=True)
    sentinel = b"sentinel,scores\n1,2\n"
    scores.write_bytes(sentinel)
    result = subprocess.run([sys.executable, "-m", "replication", "score", "--root", str(raw_layout.root)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.count("error:") == 1
    assert result.stderr.startswith("error: ")
    assert len(result.stderr.strip().splitlines()) == 1
    assert f"{raw_layout.survey}, row 4, column 'pc2'" in result.stderr
    assert scores.read_bytes() == sentinel
    assert not output_path("reliability", raw_layout).exists()
    assert not raw_layout.reports.exists()
