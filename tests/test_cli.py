"""The command line, run as a user runs it: ``python -m replication ...`` in a subprocess.

Each subprocess costs ~1.5 s of imports, so only what needs a real process (help text,
exit codes and stderr as a user sees them) runs in one, the independent ones started
together; the rest calls ``cli.main`` in process.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from replication import cli
from replication.layout import Layout
from replication.outputs import OUTPUTS, STEPS

STUDY = "golovacheva2022"   # the default study of every command


def study_layout(root) -> Layout:
    return Layout(root, STUDY)


def output_path(name, layout):
    return next(o for o in OUTPUTS if o.name == name).path(layout)


class Background:
    """``python -m replication ARGS`` started now; :meth:`result` waits for it."""

    def __init__(self, *args):
        self.proc = subprocess.Popen([sys.executable, "-m", "replication", *map(str, args)],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self._result = None

    def result(self, timeout=120) -> subprocess.CompletedProcess:
        if self._result is None:
            out, err = self.proc.communicate(timeout=timeout)
            self._result = subprocess.CompletedProcess(self.proc.args, self.proc.returncode, out, err)
        return self._result


def run_cli(*args):
    return Background(*args).result()


@pytest.fixture(scope="module")
def started(tmp_path_factory):
    """The independent subprocess runs, started together so their imports overlap."""
    root = tmp_path_factory.mktemp("cli")
    bad = root / "bad.yaml"
    bad.write_text("study:\n  id: x\nn: {value: 586, reported: here\nseed: 1\n", encoding="utf-8")
    runs = {
        "help": Background("--help"),
        "generate_help": Background("generate", "--help"),
        "generate": Background("generate", "--root", root / "gen", "--seed", "5", "--n", "100"),
        "bad_yaml": Background("generate", "--root", root / "out", "--study", bad),
    }
    yield root, runs
    for run in runs.values():  # nothing is left running if a test failed early
        if run.proc.poll() is None:
            run.proc.kill()
        run.proc.communicate()


def assert_user_error(result):
    """Exit code 2, one 'error:' line on stderr, no traceback."""
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ")
    assert result.stderr.count("error:") == 1


def test_help(started):
    result = started[1]["help"].result()
    assert result.returncode == 0, result.stderr
    for command in [s.name for s in STEPS] + ["run", "verify", "outputs", "validate"]:
        assert command in result.stdout, command
    assert result.stderr == ""


def test_generate_help(started):
    result = started[1]["generate_help"].result()
    assert result.returncode == 0, result.stderr
    for option in ("--force", "--seed", "--n", "--root", "--study", "--separation"):
        assert option in result.stdout, option


def test_generate_then_refuse_to_overwrite(started):
    root, runs = started
    result = runs["generate"].result()
    assert result.returncode == 0, result.stderr
    layout = study_layout(root / "gen")
    assert layout.survey == root / "gen" / "data" / "raw" / STUDY / "survey.csv"
    survey = pd.read_csv(layout.survey)
    assert len(survey) == 100
    assert survey["respondent_id"].tolist() == list(range(1, 101))
    truth = json.loads(layout.truth.read_text())
    assert truth["seed"] == 5 and truth["n"] == 100
    assert f"wrote {layout.survey}" in result.stdout

    before = {p: p.read_bytes() for p in (layout.survey, layout.codebook, layout.truth)}
    again = run_cli("generate", "--root", layout.root, "--seed", "6", "--n", "50")
    assert_user_error(again)
    assert "--force" in again.stderr
    assert str(layout.survey) in again.stderr
    assert {p: p.read_bytes() for p in before} == before


def test_bad_study_yaml(started):
    root, runs = started
    result = runs["bad_yaml"].result()
    assert_user_error(result)
    assert f"error: {root / 'bad.yaml'}, line " in result.stderr
    assert "malformed YAML" in result.stderr
    assert not (root / "out").exists()


# -- in process ------------------------------------------------------------------------------


def run_main(*args):
    """Run ``cli.main`` in this process; return its exit code."""
    with pytest.raises(SystemExit) as info:
        cli.main([str(a) for a in args])
    return info.value.code


def test_generate_force_overwrites(tmp_path, capsys):
    assert run_main("generate", "--root", tmp_path, "--seed", "5", "--n", "80") == 0
    layout = study_layout(tmp_path)
    before = layout.survey.read_bytes()
    capsys.readouterr()
    assert run_main("generate", "--root", tmp_path, "--seed", "6", "--n", "50", "--force") == 0
    assert "overwriting" in capsys.readouterr().err
    assert layout.survey.read_bytes() != before
    assert len(pd.read_csv(layout.survey)) == 50
    assert json.loads(layout.truth.read_text())["seed"] == 6


def test_invalid_study_spec(tmp_path, capsys):
    bad = tmp_path / "invalid.yaml"
    bad.write_text("study: {id: x}\n", encoding="utf-8")
    assert run_main("generate", "--root", tmp_path / "out", "--study", bad) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {bad}")
    assert "missing key" in err
    assert not (tmp_path / "out").exists()


def test_too_small_n_is_a_user_error(tmp_path, capsys):
    assert run_main("generate", "--root", tmp_path, "--n", "3") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "smaller than the number of segments" in err
    assert not study_layout(tmp_path).survey.exists()


def test_negative_seed_is_a_user_error(tmp_path, capsys):
    # numpy refuses negative seeds with a ValueError; the CLI must turn that into a
    # one-line user error (exit 2), not a traceback.
    assert run_main("generate", "--root", tmp_path, "--seed", "-5", "--n", "50") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "seed" in err
    assert not study_layout(tmp_path).survey.exists()


def test_generate_validate_score(tmp_path, capsys):
    assert run_main("generate", "--root", tmp_path, "--n", "60", "--seed", "1") == 0
    assert run_main("validate", "--root", tmp_path) == 0
    assert "60 respondents valid" in capsys.readouterr().out
    assert run_main("score", "--root", tmp_path) == 0
    layout = study_layout(tmp_path)
    scores = pd.read_csv(output_path("scores", layout))
    assert len(scores) == 60
    assert scores["respondent_id"].tolist() == list(range(1, 61))
    # A step writes its own outputs and nothing else.
    assert sorted(p.name for p in layout.processed.iterdir()) == ["scores.csv"]
    assert sorted(p.name for p in layout.reports.rglob("*") if p.is_file()) == ["reliability.csv"]
    assert output_path("reliability", layout).is_file()


def test_unknown_command_is_a_usage_error(capsys):
    assert run_main("frobnicate") == 2
    assert "invalid choice" in capsys.readouterr().err


def test_outputs_prints_the_readme_table(capsys):
    from replication.outputs import markdown_table
    assert run_main("outputs") == 0
    assert capsys.readouterr().out.strip() == markdown_table().strip()


def test_unknown_study_id_is_a_user_error(tmp_path, capsys):
    assert run_main("generate", "--root", tmp_path, "--study", "nosuchstudy") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "study specification not found" in err
    assert "golovacheva2022" in err and "forrester2016" in err   # the shipped studies are named
    assert not (tmp_path / "data").exists()


def test_study_given_as_a_yaml_path_writes_below_its_id(spec, tmp_path, capsys):
    import yaml
    data = yaml.safe_load(spec.path.read_text(encoding="utf-8"))
    data["study"]["id"] = "my_copy"
    path = tmp_path / "my_copy.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    assert run_main("generate", "--root", tmp_path, "--study", path, "--n", "50") == 0
    layout = Layout(tmp_path, "my_copy")
    assert len(pd.read_csv(layout.survey)) == 50
    assert json.loads(layout.generation.read_text())["study"] == "my_copy"
    assert not study_layout(tmp_path).raw.exists()
    capsys.readouterr()
    assert run_main("validate", "--root", tmp_path, "--study", path) == 0
    assert "my_copy: specification valid" in capsys.readouterr().out


def test_run_refuses_two_specifications_with_one_id(spec, tmp_path, capsys):
    assert run_main("run", "--no-notebooks", "--root", tmp_path, "--study", STUDY, "--study", spec.path) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and f"two specifications share the study id '{STUDY}'" in err
    assert not (tmp_path / "data").exists() and not (tmp_path / "reports").exists()


def test_step_without_raw_data_is_a_user_error(tmp_path, capsys):
    assert run_main("cluster", "--root", tmp_path) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {study_layout(tmp_path).raw}/") and "file not found" in err
    assert not (tmp_path / "reports").exists()
