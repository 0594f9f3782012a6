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
from replication.pipeline import Layout


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
    assert "generate" in result.stdout
    assert "score" in result.stdout
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
    layout = Layout(root / "gen")
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
    layout = Layout(tmp_path)
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
    assert not Layout(tmp_path).survey.exists()


def test_negative_seed_is_a_user_error(tmp_path, capsys):
    # numpy refuses negative seeds with a ValueError; the CLI must turn that into a
    # one-line user error (exit 2), not a traceback.
    assert run_main("generate", "--root", tmp_path, "--seed", "-5", "--n", "50") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "seed" in err
    assert not Layout(tmp_path).survey.exists()


def test_generate_validate_score(tmp_path, capsys):
    assert run_main("generate", "--root", tmp_path, "--n", "60", "--seed", "1") == 0
    assert run_main("validate", "--root", tmp_path) == 0
    assert "60 respondents valid" in capsys.readouterr().out
    assert run_main("score", "--root", tmp_path) == 0
    scores = pd.read_csv(Layout(tmp_path).scores)
    assert len(scores) == 60
    assert scores["respondent_id"].tolist() == list(range(1, 61))


def test_unknown_command_is_a_usage_error(capsys):
    assert run_main("frobnicate") == 2
    assert "invalid choice" in capsys.readouterr().err
