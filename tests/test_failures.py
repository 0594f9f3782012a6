"""Issue 21, item 5: failures become messages, and nothing is lost.

Each case was reproduced by a reviewer: a mistake in the input (or an output the run
must not touch) used to pass silently, end in a traceback, or overwrite a file. Each
now gives one message naming the file and field (and row where it applies), exit code
2 at the command line, no traceback, and no file below the test's folder written or
changed (a digest of the folder before and after).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest

from replication import cli
from replication.errors import ReplicationError
from replication.study import spec as spec_module
from replication.study.demo import write_demo_survey
from replication.study.sources import read_user_survey

REPO = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------


def digest(folder: Path) -> dict:
    """Every file and folder below ``folder`` with the hash of its content."""
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = str(p.relative_to(folder))
        out[rel] = "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def run_main(*args) -> int:
    with pytest.raises(SystemExit) as info:
        cli.main([str(a) for a in args])
    return info.value.code


def fails_cleanly(capsys, folder: Path, *args, expect=()) -> str:
    """Run the CLI; assert exit 2, one ``error:`` message, no traceback, the folder unchanged.
    Returns the message (stderr)."""
    capsys.readouterr()
    before = digest(folder)
    code = run_main(*args)
    out = capsys.readouterr()
    assert code == 2, (code, out.out, out.err)
    assert out.err.startswith("error: ") and out.err.count("error: ") == 1, out.err
    assert "Traceback" not in out.err + out.out
    for word in expect:
        assert word in out.err, (word, out.err)
    assert digest(folder) == before, "a file was written or changed"
    return out.err


@pytest.fixture
def csv_study(tmp_path):
    """A study on a CSV survey (the demonstration survey, written as CSV, no missing codes
    left in it): returns (folder, study YAML, CSV path, the CSV's table)."""
    folder = tmp_path / "study"
    sav, yml = write_demo_survey(folder, n=120, seed=7)
    df, _ = pyreadstat.read_sav(str(sav))          # user-missing 99 read as NaN
    df["case_id"] = df["case_id"].astype(int)
    for c in df.columns:
        if c != "case_id" and (df[c].dropna() == df[c].dropna().round()).all():
            df[c] = df[c].astype("Int64")
    csv = folder / "survey.csv"
    df.to_csv(csv, index=False)
    sav.unlink()
    yml.write_text(yml.read_text(encoding="utf-8").replace("file: demo_survey.sav", "file: survey.csv"),
                   encoding="utf-8")
    return folder, yml, csv, df


# ---------------------------------------------------------------------------------------
# 1. a duplicate key in a study YAML
# ---------------------------------------------------------------------------------------


def test_duplicate_yaml_key_is_an_error_naming_file_line_and_key(csv_study, capsys):
    folder, yml, _, _ = csv_study
    text = yml.read_text(encoding="utf-8")
    text = text.replace("  k_max: 10\n", "  k_max: 10\n  k_min: 3\n")
    yml.write_text(text, encoding="utf-8")
    line = text.splitlines().index("  k_min: 3") + 1
    with pytest.raises(ReplicationError, match=rf"{re.escape(str(yml))}, line {line}: duplicate key 'k_min'"):
        spec_module.load_study(yml)
    fails_cleanly(capsys, folder, "validate", "--study", yml, expect=[str(yml), f"line {line}", "'k_min'"])


def test_duplicate_top_level_block_is_an_error(csv_study):
    _, yml, _, _ = csv_study
    text = yml.read_text(encoding="utf-8")
    yml.write_text(text + "\nn: {value: 50, assumed: \"again\"}\n", encoding="utf-8")
    with pytest.raises(ReplicationError, match="duplicate key 'n'"):
        spec_module.load_study(yml)


# ---------------------------------------------------------------------------------------
# 2. respondent ids written with leading zeros
# ---------------------------------------------------------------------------------------


def test_text_ids_keep_their_leading_zeros(csv_study, tmp_path):
    folder, yml, csv, df = csv_study
    df = df.assign(case_id=[f"{i:04d}" for i in range(1, len(df) + 1)])
    df.to_csv(csv, index=False)
    study = spec_module.load_study(yml)
    user = read_user_survey(study.data, study)
    kept = user.survey["respondent_id"]
    assert kept.map(lambda v: isinstance(v, str) and len(v) == 4).all() and kept.iloc[0].startswith("000")
    # through the run: the assignments and the model card keep them as text
    root = tmp_path / "root"
    assert run_main("run", "--study", yml, "--root", root, "--no-notebooks") == 0
    processed = root / "data" / "processed" / study.id
    assert (processed / "assignments.csv").read_text(encoding="utf-8").splitlines()[1].startswith(f"{kept.iloc[0]},")
    ids, _ = pyreadstat.read_sav(str(processed / "assignments.sav"))
    assert ids["respondent_id"].iloc[0] == kept.iloc[0]


def test_numeric_ids_stay_numbers(csv_study):
    _, yml, _, _ = csv_study
    study = spec_module.load_study(yml)
    user = read_user_survey(study.data, study)
    assert user.survey["respondent_id"].iloc[0] > 1000 and user.survey["respondent_id"].dtype.kind == "i"


# ---------------------------------------------------------------------------------------
# 3. 'inf' in an item; 4. answers outside the scale
# ---------------------------------------------------------------------------------------


def _set_cells(csv: Path, df: pd.DataFrame, cells: dict) -> None:
    out = df.astype(object).copy()
    for (row, col), value in cells.items():
        out.loc[row, col] = value
    out.to_csv(csv, index=False)


@pytest.mark.parametrize("value", ["inf", "-Infinity", "1e999"])
def test_infinite_answer_is_an_error_naming_file_row_and_column(csv_study, capsys, value):
    folder, yml, csv, df = csv_study
    _set_cells(csv, df, {(4, "cp2"): value})
    study = spec_module.load_study(yml)
    with pytest.raises(ReplicationError, match=rf"survey.csv, row 5 \(line 6\), column 'cp2': '{re.escape(value)}' "
                                               "is not a finite number"):
        read_user_survey(study.data, study)
    fails_cleanly(capsys, folder, "validate", "--study", yml, expect=["survey.csv", "row 5", "'cp2'"])


def test_undeclared_missing_codes_are_an_error_naming_column_values_and_the_fix(csv_study, capsys):
    folder, yml, csv, df = csv_study
    _set_cells(csv, df, {(2, "q7_1"): 99, (7, "q7_1"): 98, (9, "q7_1"): 99})
    study = spec_module.load_study(yml)
    with pytest.raises(ReplicationError) as info:
        read_user_survey(study.data, study)
    msg = str(info.value)
    assert "survey.csv, row 3 (line 4), column 'q7_1'" in msg
    assert "98 (1x), 99 (2x)" in msg and "missing_codes: [98, 99]" in msg and "outside the scale 1-7" in msg
    fails_cleanly(capsys, folder, "run", "--study", yml, "--root", folder, "--no-notebooks",
                  expect=["'q7_1'", "missing_codes: [98, 99]"])
    # declared missing, the same file reads
    yml.write_text(yml.read_text(encoding="utf-8").replace("  id: case_id\n", "  id: case_id\n  missing_codes: [98, 99]\n"),
                   encoding="utf-8")
    study = spec_module.load_study(yml)
    user = read_user_survey(study.data, study)
    assert user.dropped.empty or not user.dropped["reason"].str.contains("out-of-range").any()


def test_out_of_range_drop_is_kept_when_the_block_asks_for_it(csv_study):
    _, yml, csv, df = csv_study
    _set_cells(csv, df, {(2, "q7_1"): 99})
    yml.write_text(yml.read_text(encoding="utf-8").replace("  id: case_id\n", "  id: case_id\n  out_of_range: drop\n"),
                   encoding="utf-8")
    study = spec_module.load_study(yml)
    user = read_user_survey(study.data, study)
    row = user.dropped[user.dropped["reason"].str.contains("out-of-range")].iloc[0]
    assert row["n"] == 1 and row["rows"] == "3" and "q7_1 (1)" in row["columns"]


# ---------------------------------------------------------------------------------------
# 5. a construct id equal to a segment id
# ---------------------------------------------------------------------------------------


def test_construct_with_the_id_of_a_segment_is_a_spec_error(csv_study, capsys):
    folder, yml, _, _ = csv_study
    text = yml.read_text(encoding="utf-8").replace("  - id: hedonic_orientation\n", "  - id: avoiders\n")
    yml.write_text(text, encoding="utf-8")
    line = max(i for i, t in enumerate(text.splitlines(), 1) if t == "  - id: avoiders")   # the construct
    with pytest.raises(ReplicationError) as info:
        spec_module.load_study(yml)
    msg = str(info.value)
    assert f"{yml}, line {line}: constructs.3.id: construct 'avoiders' has the id of segment 'avoiders'" in msg
    fails_cleanly(capsys, folder, "validate", "--study", yml, expect=["construct 'avoiders'", "segment 'avoiders'"])


# ---------------------------------------------------------------------------------------
# 6., 7. classify: never over its own input; only what was asked
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def card_and_new(tmp_path_factory):
    """A model card of the demonstration study and a file of new respondents (.sav)."""
    from replication.membership.model_card import build_model_card, save_model_card
    from conftest import analyse_fast
    folder = tmp_path_factory.mktemp("card")
    _, yml = write_demo_survey(folder / "train", n=300, seed=3)
    study = spec_module.load_study(yml)
    user = read_user_survey(study.data, study)
    result = analyse_fast(study, user.survey)
    card = save_model_card(build_model_card(result, data_block=study.data), folder / "card.json")
    new_sav, _ = write_demo_survey(folder / "new", n=40, seed=5)
    return card, new_sav


def _copy(src: Path, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(src, folder / src.name))


@pytest.mark.parametrize("flag", ["--output", "--sav"])
def test_classify_refuses_to_write_over_its_input(card_and_new, tmp_path, capsys, flag):
    card, new = card_and_new
    card, new = _copy(card, tmp_path), _copy(new, tmp_path)
    args = ["--output", tmp_path / "out.csv", "--sav", new] if flag == "--sav" else ["--output", new]
    fails_cleanly(capsys, tmp_path, "classify", card, new, *args, "--force",
                  expect=[str(new), flag, "input survey"])
    # another spelling of the same file
    fails_cleanly(capsys, tmp_path, "classify", card, new, "--output", tmp_path / "." / new.name, "--force",
                  expect=["input survey"])


def test_classify_writes_only_what_was_asked(card_and_new, tmp_path, capsys):
    card, new = card_and_new
    card, new = _copy(card, tmp_path / "in"), _copy(new, tmp_path / "in")
    out = tmp_path / "out"
    out.mkdir()
    assert run_main("classify", card, new, "--sav", out / "x.sav") == 0
    assert sorted(p.name for p in out.iterdir()) == ["x.sav"]
    assert sorted(p.name for p in new.parent.iterdir()) == sorted([card.name, new.name])   # no default CSV


def test_classify_marks_respondents_the_analysis_would_drop(card_and_new, tmp_path, capsys):
    card, new = card_and_new
    df, _ = pyreadstat.read_sav(str(new))                  # user-missing 99 read as empty
    # respondent 2 answers every segmentation item but no item of a predictor construct
    df.loc[1, ["pr1", "pr2", "pr3", "pr4"]] = np.nan
    df.loc[1, ["cp1", "cp2", "cp3", "cp4", "pc1", "pc2", "pc3_r", "pc4", "q7_1", "q7_2", "q7_3", "q7_4"]] = 4
    f = tmp_path / "new.sav"
    pyreadstat.write_sav(df, str(f))
    out = tmp_path / "out.csv"
    assert run_main("classify", card, f, "--output", out) == 0
    table = pd.read_csv(out, keep_default_na=False)
    row = table.iloc[1]
    assert row["segment"] == "unclassified" and row["distance"] == "" and row["cluster"] == 0
    assert "missing answers beyond the policy" in row["reason"]
    assert (table["reason"] == "").sum() == (table["segment"] != "unclassified").sum()
    assert "'unclassified'" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------
# 8. too few respondents for the candidate k
# ---------------------------------------------------------------------------------------


def test_too_few_respondents_for_k_max_is_a_message_with_the_numbers(csv_study, capsys):
    folder, yml, csv, df = csv_study
    df.dropna().head(6).to_csv(csv, index=False)
    fails_cleanly(capsys, folder, "run", "--study", yml, "--root", folder, "--no-notebooks",
                  expect=["survey.csv", "6 respondent(s) left", "k_max = 10", "at least 12 respondents"])


# ---------------------------------------------------------------------------------------
# 9. a read-only output folder
# ---------------------------------------------------------------------------------------


def test_permission_error_is_one_error_line_naming_the_folder(csv_study, capsys, monkeypatch):
    """Whatever step meets a folder it may not write (simulated: the tests may run as root,
    for whom no folder is read-only)."""
    from replication import pipeline
    folder, yml, _, _ = csv_study
    target = folder / "root" / "data" / "processed"

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(target / "study"))

    monkeypatch.setattr(pipeline, "run_studies", refuse)
    fails_cleanly(capsys, folder, "run", "--study", yml, "--root", folder / "root", "--no-notebooks",
                  expect=[f"{target / 'study'}: permission denied", f"the folder {target}"])


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_root_folder(csv_study, capsys, tmp_path):
    folder, yml, _, _ = csv_study
    root = tmp_path / "ro"
    root.mkdir()
    root.chmod(0o555)
    try:
        fails_cleanly(capsys, tmp_path, "run", "--study", yml, "--root", root, "--no-notebooks",
                      expect=["permission denied", str(root)])
    finally:
        root.chmod(0o755)


# ---------------------------------------------------------------------------------------
# 10. a study of one's own with a shipped study's id
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["run", "cluster", "report", "verify"])
def test_own_study_with_a_shipped_id_is_refused(csv_study, capsys, command):
    folder, yml, _, _ = csv_study
    yml.write_text(yml.read_text(encoding="utf-8").replace("id: demo_individualization", "id: golovacheva2022"),
                   encoding="utf-8")
    # The project folder of the package's own checkout (its shipped study file is there):
    # where the committed reference outputs live.
    root = folder / "root"
    (root / "reports" / "golovacheva2022").mkdir(parents=True)
    (root / "reports" / "golovacheva2022" / "index.html").write_text("the committed reference", encoding="utf-8")
    (root / "src" / "replication" / "studies").mkdir(parents=True)
    (root / "src" / "replication" / "studies" / "golovacheva2022.yaml").symlink_to(spec_module.study_path("golovacheva2022"))
    extra = ["--no-notebooks"] if command == "run" else []
    fails_cleanly(capsys, folder, command, "--study", yml, "--root", root, *extra,
                  expect=[str(yml), "'golovacheva2022' is the id of a shipped study", "another id"])


def test_the_shipped_file_itself_is_not_refused(capsys):
    from replication.cli import _refuse_shipped_id
    _refuse_shipped_id(spec_module.load_study("golovacheva2022"))
    _refuse_shipped_id(spec_module.load_study(spec_module.study_path("forrester2016")))


# ---------------------------------------------------------------------------------------
# 11. a Cyrillic title, emoji names: the .sav limits are in bytes
# ---------------------------------------------------------------------------------------


def test_wrap_bytes_keeps_every_line_within_80_bytes():
    from replication.study.spss import wrap_bytes
    text = "Сегментация онлайн-покупателей 🛒🛍️ по потребностям " * 6 + "Ж" * 100
    lines = wrap_bytes(text)
    assert all(len(line.encode("utf-8")) <= 80 for line in lines)
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")


def test_cyrillic_title_and_emoji_names_write_the_sav(csv_study, tmp_path):
    folder, yml, _, _ = csv_study
    title = "Сегментация онлайн-покупателей по потребностям в индивидуализации (демонстрационные данные)"
    text = yml.read_text(encoding="utf-8")
    text = re.sub(r'  title: .*\n', f'  title: "{title}"\n', text, count=1)
    text = text.replace("{value: Avoiders,", "{value: \"Избегающие 🙈🙉🙊 покупатели\",")
    yml.write_text(text, encoding="utf-8")
    root = tmp_path / "root"
    assert run_main("run", "--study", yml, "--root", root, "--no-notebooks") == 0
    sav = root / "data" / "processed" / "demo_individualization" / "assignments.sav"
    _, meta = pyreadstat.read_sav(str(sav), metadataonly=True)
    assert meta.file_label.startswith("Segments: Сегментация") and len(meta.file_label.encode("utf-8")) <= 64
    assert "Избегающие 🙈🙉🙊 покупатели" in meta.variable_value_labels["segment_code"].values()
    assert any("Сегментация" in line for line in meta.notes)


# ---------------------------------------------------------------------------------------
# 12. .sav outputs are byte-reproducible
# ---------------------------------------------------------------------------------------


def test_two_sav_writes_give_identical_bytes(tmp_path, monkeypatch):
    import time
    from replication.study.spss import write_user_table
    frame = pd.DataFrame({"respondent_id": ["0001", "0002"], "segment_code": [1, 2], "distance": [0.5, 1.25]})
    kw = dict(variable_labels={"distance": "Distance"}, value_labels={"segment_code": {1: "A", 2: "B"}},
              file_label="Segments: test", note="a note")
    write_user_table(frame, None, tmp_path / "a.sav", **kw)
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 3 * 86400 + 3661)   # another day, another second
    time.sleep(1.1)
    write_user_table(frame, None, tmp_path / "b.sav", **kw)
    a, b = (tmp_path / "a.sav").read_bytes(), (tmp_path / "b.sav").read_bytes()
    assert a == b
    assert a[92:109] == b"01 Jan 7000:00:00"
    back, meta = pyreadstat.read_sav(str(tmp_path / "b.sav"))
    assert back["respondent_id"].tolist() == ["0001", "0002"] and meta.file_label == "Segments: test"


def test_sav_timestamp_follows_source_date_epoch(tmp_path, monkeypatch):
    from replication.study.spss import write_user_table
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")          # 2023-11-14 22:13:20 UTC
    write_user_table(pd.DataFrame({"x": [1, 2]}), None, tmp_path / "a.sav")
    assert (tmp_path / "a.sav").read_bytes()[92:109] == b"14 Nov 2322:13:20"


# ---------------------------------------------------------------------------------------
# 13. make STUDY="a path with spaces"
# ---------------------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")
@pytest.mark.parametrize("target,command", [("report", "run"), ("run", "run"), ("verify", "verify"),
                                            ("data", "generate"), ("check", "check")])
def test_make_quotes_a_study_path_with_spaces(tmp_path, target, command):
    """The recipe hands the path to the command as one argument (the command is replaced by
    a script that prints its arguments; the environment stamp by a fresh file)."""
    import json
    import sys
    show = tmp_path / "show_args.py"
    show.write_text("import json, sys\nprint('ARGS ' + json.dumps(sys.argv[1:]))\n", encoding="utf-8")
    stamp = tmp_path / "stamp"
    stamp.touch()
    study = tmp_path / "path with spaces" / "x.yaml"
    proc = subprocess.run(["make", "--no-print-directory", "-C", str(REPO), target, f"STUDY={study}",
                           f"RUN={sys.executable} {show}", f"STAMP={stamp}"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    args = json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("ARGS "))[5:])
    assert args[0] == command and args[args.index("--study") + 1] == str(study)


def test_classify_marks_out_of_range_respondents_when_the_card_drops_them(card_and_new, tmp_path, capsys):
    import json
    card, new = card_and_new
    data = json.loads(card.read_text(encoding="utf-8"))
    data["input"] = {**(data.get("input") or {}), "out_of_range": "drop"}
    card = tmp_path / "card.json"
    card.write_text(json.dumps(data), encoding="utf-8")
    df, _ = pyreadstat.read_sav(str(new))
    df.loc[2, "cp1"] = 12
    f = tmp_path / "new.sav"
    pyreadstat.write_sav(df, str(f))
    out = tmp_path / "out.csv"
    assert run_main("classify", card, f, "--output", out) == 0
    table = pd.read_csv(out, keep_default_na=False)
    assert len(table) == len(df)                                   # nobody silently left out
    assert table.iloc[2]["segment"] == "unclassified" and "out-of-range" in table.iloc[2]["reason"]


def test_duplicate_key_in_a_scenario_file_is_an_error(tmp_path):
    from replication.evaluation.controls import load_scenario, shipped_scenarios
    text = shipped_scenarios("golovacheva2022")[0].read_text(encoding="utf-8")
    key = next(line.split(":")[0] for line in text.splitlines() if re.match(r"[a-z_]+:", line))
    f = tmp_path / "scenario.yaml"
    f.write_text(text + f"\n{key}: again\n", encoding="utf-8")
    with pytest.raises(ReplicationError, match=rf"scenario.yaml, line \d+: malformed YAML: duplicate key '{key}' "
                                               r"\(first given on line \d+\)"):
        load_scenario(f)
    assert load_scenario(shipped_scenarios("golovacheva2022")[0])          # the shipped ones load
