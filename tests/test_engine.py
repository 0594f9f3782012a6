"""The engine: one in-memory analysis, per-study outputs, studies as data, and data safety.

The fixture studies in tests/fixtures/ are made up (4 segments on 6 dimensions with 3
predictors and numeric profile levels; 6 segments on 4 dimensions with no predictors and
no claims): they prove that a new study needs no Python.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from replication import analyse, cli, load_study, pipeline, shipped_studies, simulate_survey
from replication.membership.logit import multinomial_logit
from replication.outputs import OUTPUTS, outputs_for
from replication.segmentation.profiles import segment_analysis
from replication.study.measurement import scale_scores

from conftest import PANEL_TEST_N

FIXTURES = Path(__file__).parent / "fixtures"
FOUR = FIXTURES / "four_segments.yaml"
SIX = FIXTURES / "six_segments_no_predictors.yaml"
REPO = Path(__file__).resolve().parents[1]


def tree_digest(folder: Path, ignore=(".run.json",)) -> dict[str, tuple[str, int]]:
    """SHA-256 and mtime (ns) of every file below ``folder``."""
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.name not in ignore:
            out[p.relative_to(folder).as_posix()] = (hashlib.sha256(p.read_bytes()).hexdigest(),
                                                     p.stat().st_mtime_ns)
    return out


def run_cli(*argv) -> int:
    with pytest.raises(SystemExit) as exc:
        cli.main(list(argv))
    return exc.value.code


@pytest.fixture(scope="module")
def four_root(tmp_path_factory):
    """A project folder with one completed run of the 4-segment fixture study."""
    root = tmp_path_factory.mktemp("four")
    pipeline.run_study(load_study(FOUR), root, notebooks=False, log=lambda *a: None)
    return root


# --- in-memory analysis -------------------------------------------------------------------

def test_analyse_equals_the_steps_done_by_hand(spec, sample, analysed):
    """The one call gives exactly what scoring, segmenting and the logit give by hand."""
    result = analysed
    scores = scale_scores(sample.survey, spec)
    seg = segment_analysis(spec, scores, sample.survey)
    data = scores.merge(seg.assignments, on="respondent_id")
    m = spec.membership
    logit = multinomial_logit(data, "segment", [c.id for c in spec.predictor_constructs], m.reference.value,
                              standardize=m.standardize_predictors.value, order=spec.segment_ids)
    pd.testing.assert_frame_equal(result.tables["cluster_sizes"], seg.tables["cluster_sizes"])
    pd.testing.assert_frame_equal(result.tables["k_preferred"], seg.tables["k_preferred"])
    pd.testing.assert_frame_equal(result.tables["logit_coefficients"], logit.coefficients)
    pd.testing.assert_frame_equal(result.tables["logit_lr_tests"], logit.lr_tests)
    assert np.array_equal(result.segmentation.model.labels_, seg.model.labels_)


def test_analyse_never_sees_the_truth(spec, sample):
    """The analysis takes only the survey; shuffling the truth cannot change it."""
    import copy
    sample = copy.deepcopy(sample)          # the session's sample stays as it is
    a = analyse(spec, sample.survey, with_k_selection=False)
    sample.truth["respondents"] = sample.truth["respondents"][::-1]
    b = analyse(spec, sample.survey, with_k_selection=False)
    pd.testing.assert_frame_equal(a.scorecard, b.scorecard)


def test_summary_reads_like_a_result(spec, sample, analysed):
    result = analysed
    text = result.summary()
    assert f"Respondents analysed: {len(sample.survey)}" in text
    assert f"Scorecard: {len(result.scorecard)} claims: {int(result.scorecard['passed'].sum())} PASS" in text
    for s in spec.segments:
        assert s.name.value in text


def test_a_study_without_predictors_has_no_membership_model():
    spec = load_study(SIX)
    result = analyse(spec, simulate_survey(spec).survey)
    assert result.membership is None and not any(k.startswith("logit") for k in result.tables)
    assert result.scorecard.empty and result.passed
    assert len(result.tables["cluster_sizes"]) >= 6


def test_failed_membership_model_makes_its_claims_fail_not_pass():
    """A logit that cannot be estimated leaves its claims 'not computed', never passing."""
    spec = load_study(FOUR)
    survey = simulate_survey(spec).survey.copy()
    survey[["wl1", "wl2"]] = 5                      # a constant predictor: no logit
    result = analyse(spec, survey)
    card = result.scorecard.set_index("claim")
    assert result.membership is None and result.problems
    assert not card.loc["model", "passed"] and not card.loc["workload", "passed"]
    assert "not computed" in card.loc["model", "replicated_value"]
    assert card.loc["share.ritualists", "passed"]   # the segmentation claims are unaffected


# --- studies as data ----------------------------------------------------------------------

def test_shipped_studies_include_both_seed_studies():
    assert {"golovacheva2022", "forrester2016"} <= set(shipped_studies())


def test_forrester_shares_are_normalised_and_judged_by_their_margin():
    spec = load_study("forrester2016")
    assert sum(s.share.value for s in spec.segments) == 101
    assert spec.shares.sum() == pytest.approx(1.0)
    assert {c.kind for c in spec.claims if c.id.startswith("share.")} == {"segment_share"}
    assert spec.membership is None and not spec.predictor_constructs
    rogers = [s.comparable_to for s in spec.segments]
    assert all(r is not None and r.is_reported and "uncertain" in r.source for r in rogers)
    assert all(not s.profile.is_reported for s in spec.segments)   # profiles are our reading


def test_numeric_profile_levels_drive_the_generator():
    """A level of 0 sits between High (+1) and Low (-1) in the generated data."""
    spec = load_study(FOUR)
    sample = simulate_survey(spec, n=2000)
    scores = scale_scores(sample.survey, spec)
    seg = sample.true_segments.reindex(scores["respondent_id"]).to_numpy()
    decaf = scores["decaf"].to_numpy()
    low, mid, high = (decaf[seg == s].mean() for s in ("ritualists", "socialisers", "abstainers"))
    assert low < mid < high


# --- per-study outputs --------------------------------------------------------------------

def test_two_studies_never_write_into_each_others_folders(four_root, tmp_path):
    root = Path(shutil.copytree(four_root, tmp_path / "both"))
    before = tree_digest(root / "reports" / "coffee_drinkers")
    raw_before = tree_digest(root / "data" / "raw" / "coffee_drinkers")
    pipeline.run_study(load_study(SIX), root, notebooks=False, log=lambda *a: None)
    assert tree_digest(root / "reports" / "coffee_drinkers") == before
    assert tree_digest(root / "data" / "raw" / "coffee_drinkers") == raw_before
    for study in ("coffee_drinkers", "gardeners"):
        assert (root / "reports" / study / "index.html").exists()
    landing = (root / "reports" / "index.html").read_text()
    assert "coffee_drinkers/index.html" in landing and "gardeners/index.html" in landing
    assert "6 claims: 6 PASS" in landing and "no claims" in landing


def test_every_listed_output_is_written_and_nothing_else(four_root):
    spec = load_study(FOUR)
    layout = pipeline.layout_for(spec, four_root)
    expected = {o.path(layout) for o in outputs_for(spec)}
    written = {p for folder in (layout.raw, layout.processed, layout.tables, layout.figures)
               for p in folder.iterdir()}
    assert written == expected


def test_outputs_that_do_not_apply_are_not_listed():
    spec = load_study(SIX)
    names = {o.name for o in outputs_for(spec)}
    assert not any(n.startswith("logit") or n == "recovery_logit" for n in names)
    assert "cluster_sizes" in names and len(names) < len({o.name for o in OUTPUTS})


def test_study_page_shows_only_its_own_words(four_root):
    page = (four_root / "reports" / "coffee_drinkers" / "index.html").read_text()
    assert "Coffee drinking occasions" in page and "office coffee drinkers" in page
    foreign = []
    for sid in shipped_studies():
        other = load_study(sid)
        foreign += [other.study.title, other.study.population, *other.segment_names.values(),
                    *[c.label.value for c in other.constructs]]
    assert [w for w in foreign if w in page] == []


def test_study_yaml_outside_the_repository_runs_from_the_command_line(tmp_path, capsys):
    outside = tmp_path / "elsewhere" / "my_study.yaml"
    outside.parent.mkdir()
    outside.write_text(SIX.read_text())
    code = run_cli("run", "--study", str(outside), "--root", str(tmp_path / "proj"), "--no-notebooks")
    assert code == 0
    assert "gardeners: N = 300; no claims" in capsys.readouterr().out
    page = (tmp_path / "proj" / "reports" / "gardeners" / "index.html").read_text()
    assert "states no claims" in page and "Synthetic data" in page


# --- data safety --------------------------------------------------------------------------

def test_a_failed_run_changes_no_file(four_root, tmp_path, capsys):
    """Bad input stops the run before anything is written: every file keeps bytes and mtime."""
    root = Path(shutil.copytree(four_root, tmp_path / "copy"))
    survey = root / "data" / "raw" / "coffee_drinkers" / "survey.csv"
    lines = survey.read_text().splitlines()
    header = lines[0].split(",")
    row = lines[5].split(",")
    row[header.index("m2")] = "99"                    # out of range on a 6-point scale
    lines[5] = ",".join(row)
    survey.write_text("\n".join(lines) + "\n")
    before = tree_digest(root)
    code = run_cli("run", "--study", str(FOUR), "--root", str(root), "--no-notebooks")
    err = capsys.readouterr().err
    assert code == 2 and "row 5, column 'm2'" in err and "Traceback" not in err
    assert tree_digest(root) == before


def test_check_never_scores_stale_tables(four_root, tmp_path, capsys):
    """After the membership model fails, `check` fails its claims instead of passing the old tables."""
    root = Path(shutil.copytree(four_root, tmp_path / "copy"))
    stale = root / "reports" / "coffee_drinkers" / "tables" / "logit_lr_tests.csv"
    assert stale.exists()
    survey_path = root / "data" / "raw" / "coffee_drinkers" / "survey.csv"
    survey = pd.read_csv(survey_path)
    survey[["wl1", "wl2"]] = 5
    survey.to_csv(survey_path, index=False)
    code = run_cli("check", "--study", str(FOUR), "--root", str(root))
    out = capsys.readouterr().out
    assert code == 1
    assert "FAIL model" in out and "FAIL workload" in out and "not computed" in out


def test_stale_outputs_of_an_earlier_run_are_removed(four_root, tmp_path):
    root = Path(shutil.copytree(four_root, tmp_path / "copy"))
    survey_path = root / "data" / "raw" / "coffee_drinkers" / "survey.csv"
    survey = pd.read_csv(survey_path)
    survey[["wl1", "wl2"]] = 5
    survey.to_csv(survey_path, index=False)
    pipeline.run_study(load_study(FOUR), root, notebooks=False, log=lambda *a: None)
    tables = root / "reports" / "coffee_drinkers" / "tables"
    assert not (tables / "logit_lr_tests.csv").exists()
    page = (root / "reports" / "coffee_drinkers" / "index.html").read_text()
    assert "Not estimated" in page


def test_page_states_the_n_actually_analysed(four_root, tmp_path):
    root = Path(shutil.copytree(four_root, tmp_path / "copy"))
    survey_path = root / "data" / "raw" / "coffee_drinkers" / "survey.csv"
    lines = survey_path.read_text().splitlines()
    survey_path.write_text("\n".join(lines[:301]) + "\n")   # header + 300 respondents
    pipeline.run_study(load_study(FOUR), root, notebooks=False, log=lambda *a: None)
    page = (root / "reports" / "coffee_drinkers" / "index.html").read_text()
    assert "N = 300 respondents analysed" in page
    assert "N = 400 respondents analysed" not in page


def test_second_run_with_nothing_changed_changes_no_byte(four_root, tmp_path):
    root = Path(shutil.copytree(four_root, tmp_path / "copy"))
    before = {k: v[0] for k, v in tree_digest(root).items()}
    pipeline.run_study(load_study(FOUR), root, notebooks=False, log=lambda *a: None)
    after = {k: v[0] for k, v in tree_digest(root).items()}
    assert after == before


def test_raw_data_is_never_regenerated_over_existing_files(four_root, tmp_path, capsys):
    root = Path(shutil.copytree(four_root, tmp_path / "copy"))
    raw = root / "data" / "raw" / "coffee_drinkers"
    before = tree_digest(raw)
    assert run_cli("generate", "--study", str(FOUR), "--root", str(root), "--seed", "3") == 2
    assert "never overwritten silently" in capsys.readouterr().err
    (raw / "survey.csv").unlink()                  # part of the raw data missing
    assert run_cli("run", "--study", str(FOUR), "--root", str(root), "--no-notebooks") == 2
    assert "part of the raw data is missing" in capsys.readouterr().err
    assert {k: v for k, v in tree_digest(raw).items()} == {k: v for k, v in before.items() if k != "survey.csv"}


# --- `replication run` with notebooks: analysis here, notebooks in kernels started first --

@pytest.fixture(scope="module")
def kernel_root(tmp_path_factory):
    """Both fixture studies run as `replication run` runs them: analysed in this process,
    their notebooks executed in two Jupyter kernels."""
    root = tmp_path_factory.mktemp("kernels")
    specs = [load_study(FOUR), load_study(SIX)]
    return root, specs, pipeline.run_studies(specs, root, notebooks=True, log=lambda *a: None)


def test_a_run_with_notebooks_writes_what_a_run_without_writes(kernel_root):
    """Equivalence: every table, figure and data file of the run with notebooks has the
    bytes that the pipeline without notebooks (verify) regenerates; the notebooks show the
    run's own figures."""
    from replication.layout import Layout
    from replication.outputs import notebooks_for
    from replication.report.manifest import read_manifest
    from replication.verify import verify
    root, specs, runs = kernel_root
    landing = (root / "reports" / "index.html").read_text(encoding="utf-8")
    for spec, run in zip(specs, runs):
        layout, outcome = Layout(root, spec.id), run.outcome()
        assert verify(spec, layout) == []
        claims = read_manifest(layout.manifest)["claims"]
        assert (outcome.study, outcome.n) == (spec.id, spec.n.value)
        counts = {w: claims["reported"][w] + claims["ours"][w] for w in claims["reported"]}
        assert outcome.claims == sum(counts.values()) and outcome.passed == counts["PASS"]
        page = layout.page.read_text(encoding="utf-8")
        # The notebooks show the saved figures themselves (drawn once, in this process).
        chapter2 = (layout.notebooks / "02_two_stage_clustering.html").read_text(encoding="utf-8")
        for name in ("dendrogram", "cluster_size_check"):
            assert base64.b64encode((layout.figures / f"{name}.png").read_bytes()).decode() in chapter2
            alt = re.search(rf'id="fig-{name}"><img alt="([^"]*)"', page).group(1)   # the page's description
            assert html.unescape(alt) in {html.unescape(a) for a in re.findall(r'<img alt="([^"]*)"', chapter2)}
        for nb in notebooks_for(spec):
            body = (layout.notebooks / f"{nb.name}.html").read_text(encoding="utf-8")
            assert spec.study.title in body and "Traceback" not in body
            assert f'href="notebooks/{nb.name}.html"' in page
        assert f"{spec.id}/index.html" in landing
        assert "notebooks" in json.loads(layout.run_log.read_text())["timings_seconds"]


def test_notebooks_get_the_runs_analysis_through_its_key(four_root, tmp_path, monkeypatch):
    """The run stores its analysis under a hash of the specification and the survey; a
    notebook's ``setup()`` finds it there (``analyse`` would raise), unpickled, so nothing a
    notebook does can change what the run writes. Another survey, or no cache folder (a
    notebook opened on its own), and the notebook analyses the survey itself."""
    from replication import cache, notebook
    root = Path(shutil.copytree(four_root, tmp_path / "copy"))
    mine = pipeline.prepare_study(load_study(FOUR), root, log=lambda *a: None).result
    folder = tmp_path / "cache"
    folder.mkdir()
    stored = cache.store(mine, folder)
    assert stored.name == f"{mine.spec.id}-{cache.key(mine.spec, mine.survey)}.pickle"
    monkeypatch.setenv(cache.CACHE_ENV, str(folder))
    monkeypatch.setattr(notebook, "analyse", lambda *a, **k: pytest.fail("the notebook analysed again"))
    ctx = notebook.setup(str(FOUR), root)
    assert ctx.result is not mine and ctx.result.spec is ctx.spec
    pd.testing.assert_frame_equal(ctx.result.tables["cluster_sizes"], mine.tables["cluster_sizes"])
    assert ctx.result.figure_pngs() == mine.figure_pngs()
    ctx.result.tables["cluster_sizes"].loc[:, "n"] = -1
    assert (mine.tables["cluster_sizes"]["n"] > 0).all()
    monkeypatch.setattr(notebook, "analyse", lambda *a, **k: "analysed")
    monkeypatch.setattr(notebook, "load_survey", lambda layout: mine.survey.iloc[:-1])
    assert notebook.setup(str(FOUR), root).result == "analysed"
    monkeypatch.setattr(notebook, "load_survey", lambda layout: mine.survey)
    monkeypatch.delenv(cache.CACHE_ENV)
    assert notebook.setup(str(FOUR), root).result == "analysed"


def test_the_runs_recovery_takes_the_kernels_method_comparison(four_root, tmp_path, monkeypatch):
    """A kernel compares the methods before its first notebook and stores the table under
    the run's key; the run's recovery checks take it (computing it again would fail here),
    and it is the table the run computes itself without one."""
    from replication import cache, notebook
    from replication.evaluation import comparison
    root = Path(shutil.copytree(four_root, tmp_path / "copy"))
    spec = load_study(FOUR)
    computed = pipeline.prepare_study(spec, root, log=lambda *a: None).recovery["method_comparison"]
    folder = tmp_path / "cache"
    folder.mkdir()
    monkeypatch.setenv(cache.CACHE_ENV, str(folder))
    stored = notebook.precompute_comparison(str(FOUR), root)
    run = pipeline.prepare_study(spec, root, log=lambda *a: None, recovery=False)
    assert run.recovery is None
    assert stored == cache.comparison_path(folder, run.spec, run.result.survey)
    monkeypatch.setattr(comparison, "compare_methods", lambda *a, **k: pytest.fail("compared again"))
    taken = pipeline.add_recovery(run, folder).recovery["method_comparison"]
    pd.testing.assert_frame_equal(taken, computed)
    monkeypatch.delenv(cache.CACHE_ENV)
    assert notebook.precompute_comparison(str(FOUR), root) is None   # outside a run: nothing


def test_the_parameters_cell_names_the_study_and_the_environment_overrides_it(monkeypatch):
    """Every notebook's first code cell is tagged ``parameters`` and names the default
    study; the run replaces its values; REPLICATION_STUDY overrides them."""
    import nbformat
    from replication import notebook
    from replication.report.notebooks import notebook_dir, set_parameters
    for path in sorted(notebook_dir(REPO).glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        first = next(c for c in nb.cells if c.cell_type == "code")
        assert first.metadata.get("tags") == ["parameters"], path
        assert 'study = "golovacheva2022"' in first.source and all(not c.get("outputs") for c in nb.cells
                                                                  if c.cell_type == "code"), path
        set_parameters(nb, path, study=str(FOUR), root="/x")
        assert next(c for c in nb.cells if c.cell_type == "code").source == f"study = {str(FOUR)!r}\nroot = '/x'"
    class Loaded(Exception):
        pass

    def load_study_(ref):
        raise Loaded(ref)
    monkeypatch.setattr(notebook, "load_study", load_study_)
    monkeypatch.setenv("REPLICATION_STUDY", "forrester2016")
    with pytest.raises(Loaded, match="forrester2016"):
        notebook.setup("golovacheva2022", "..")


def test_bad_input_in_one_study_changes_no_file_of_any_study(kernel_root, tmp_path, capsys):
    """Nothing is written until every study is analysed: the other study writes nothing
    either, and the user sees one line naming the file, row and column."""
    root = Path(shutil.copytree(kernel_root[0], tmp_path / "copy"))
    survey = root / "data" / "raw" / "coffee_drinkers" / "survey.csv"
    lines = survey.read_text().splitlines()
    header, row = lines[0].split(","), lines[5].split(",")
    row[header.index("m2")] = "99"
    lines[5] = ",".join(row)
    survey.write_text("\n".join(lines) + "\n")
    before = tree_digest(root)
    code = run_cli("run", "--study", str(SIX), "--study", str(FOUR), "--root", str(root))
    err = capsys.readouterr().err
    assert code == 2 and "row 5, column 'm2'" in err and "Traceback" not in err
    assert tree_digest(root) == before


def test_a_failing_cell_is_one_clear_error_and_writes_nothing(kernel_root, tmp_path, capsys):
    """A notebook cell that raises stops the run with one line naming the notebook, the
    study and the error; no file of any study is written."""
    root = Path(shutil.copytree(kernel_root[0], tmp_path / "copy"))
    shutil.copytree(REPO / "notebooks", root / "notebooks")
    path = root / "notebooks" / "01_synthetic_sample.ipynb"
    path.write_text(path.read_text().replace("nb = setup(study, root)", "nb = setup(study, root); 1 / 0", 1))
    before = tree_digest(root)
    code = run_cli("run", "--study", str(SIX), "--root", str(root))
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err, err
    assert "01_synthetic_sample.ipynb: a cell failed while executing it for study 'gardeners'" in err
    assert "ZeroDivisionError" in err
    assert tree_digest(root) == before


def test_a_kernel_that_dies_is_one_clear_error_not_a_hang(tmp_path):
    """A kernel killed under a notebook (as the out-of-memory killer would) ends the
    execution with one ReplicationError within seconds."""
    import signal
    from replication.errors import ReplicationError
    from replication.layout import Layout
    from replication.report.notebooks import NotebookKernel, notebook_dir, offline_exporter, render_notebook
    spec = load_study(FOUR)
    with NotebookKernel(notebook_dir(REPO).resolve()) as kernel:
        os.kill(kernel.km.provisioner.process.pid, signal.SIGKILL)
        with pytest.raises(ReplicationError, match="kernel stopped"):
            render_notebook(spec, Layout(tmp_path, spec.id), "02_two_stage_clustering", kernel, offline_exporter())


def test_notebook_pages_are_pages(kernel_root):
    """Each rendered chapter is a page of its own: a real title, links to the study page and
    to the chapters before and after it (files that exist), alternative text on every
    figure, and no absolute path of this machine in code or output."""
    from replication.layout import Layout
    from replication.outputs import notebooks_for
    root, specs, _ = kernel_root
    local = {str(root), str(root.resolve()), str(Path.home()), str(REPO)}
    for spec in specs:
        layout = Layout(root, spec.id)
        chapters = notebooks_for(spec)
        for i, nb in enumerate(chapters):
            body = (layout.notebooks / f"{nb.name}.html").read_text(encoding="utf-8")
            title = re.search(r"<title>([^<]*)</title>", body).group(1)
            assert html.unescape(title) == f"Chapter {i + 1}: {nb.title} · {spec.study.title}"
            links = set(re.findall(r'<a href="([^"#]+)"', body))
            assert "../index.html" in links
            for j in (i - 1, i + 1):
                if 0 <= j < len(chapters):
                    assert f"{chapters[j].name}.html" in links
            for link in links - {"../index.html"}:
                if not link.startswith(("http:", "https:", "mailto:")):
                    assert (layout.notebooks / link).is_file(), (nb.name, link)
            alts = re.findall(r"<img([^>]*)>", body)
            assert alts and all(re.search(r'alt="[^"]{20,}"', a) for a in alts), nb.name
            assert "No description has been provided" not in body
            for path in local:     # relative paths (../tests/...) are fine; absolute ones are not
                assert not re.search(rf"(?<![./]){re.escape(path)}", body), (nb.name, path)


def test_an_interrupted_run_stops_its_kernels_at_once_and_writes_nothing(kernel_root, tmp_path):
    """Ctrl-C while the notebooks execute (before anything is written): exit 130 within
    seconds, one line, no traceback, every file as it was."""
    import signal
    import time
    root = Path(shutil.copytree(kernel_root[0], tmp_path / "copy"))
    before = tree_digest(root)
    proc = subprocess.Popen([sys.executable, "-m", "replication", "run", "--study", str(FOUR), "--study", str(SIX),
                             "--root", str(root)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    seen = ""
    while "executing" not in seen:              # the notebooks have started: well before any write
        line = proc.stderr.readline()
        assert line, "the run ended before executing a notebook"
        seen += line
    proc.send_signal(signal.SIGINT)
    start = time.monotonic()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and time.monotonic() - start < 15, err
    assert "interrupted" in err and "Traceback" not in err, err
    assert tree_digest(root) == before


def test_the_kernels_start_before_the_scientific_stack_is_imported():
    """`replication run` starts its notebook kernels before it imports the stack (so that
    their imports overlap its analysis): importing the CLI, the pipeline and the notebook
    runner imports no pandas, scipy, scikit-learn, statsmodels or matplotlib."""
    code = ("import sys, replication.cli, replication.pipeline, replication.report.notebooks\n"
            "print([m for m in ('pandas', 'scipy', 'sklearn', 'statsmodels', 'matplotlib') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# --- the Makefile, as a user runs it ------------------------------------------------------

def _make_available() -> bool:
    return shutil.which("make") is not None and (Path(sys.prefix) / ".installed").exists()


@pytest.fixture(scope="module")
def repo_copy(tmp_path_factory, forrester):
    """A copy of the project (no .git, no environment) whose Makefile uses this environment,
    with Forrester's raw survey replaced by a test-sized one (see ``PANEL_TEST_N``)."""
    if not _make_available():
        pytest.skip("needs GNU make and the environment that `make` creates (.venv/.installed)")
    dst = tmp_path_factory.mktemp("repo") / "project"
    shutil.copytree(REPO, dst, ignore=shutil.ignore_patterns(".venv", ".git", "__pycache__", "*.egg-info",
                                                             "notebooks", ".pytest_cache", "screenshots"))
    pipeline.generate(forrester, pipeline.layout_for(forrester, dst), n=PANEL_TEST_N, force=True)
    return dst


def make(cwd: Path, *args) -> subprocess.CompletedProcess:
    # -o: never remake the environment from the copy (that would re-point the editable install).
    return subprocess.run(["make", "-o", f"{sys.prefix}/.installed", f"VENV={sys.prefix}", "NOTEBOOKS=0", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600)


def test_make_clean_keeps_the_environments_compiled_bytecode(repo_copy):
    """`make clean` removes the project's own caches, not the environment's compiled
    bytecode (which would make every later import compile the whole stack again)."""
    kept = repo_copy / ".venv" / "lib" / "site-packages" / "pkg" / "__pycache__" / "mod.cpython-311.pyc"
    gone = repo_copy / "src" / "replication" / "__pycache__" / "mod.cpython-311.pyc"
    for f in (kept, gone):
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(b"bytecode")
    try:
        proc = subprocess.run(["make", "clean"], cwd=repo_copy, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert kept.exists() and not gone.exists()
    finally:
        shutil.rmtree(repo_copy / ".venv")


def test_make_report_for_a_study_outside_the_repository(repo_copy, tmp_path):
    outside = tmp_path / "my_study.yaml"
    outside.write_text(FOUR.read_text())
    proc = make(repo_copy, "report", f"STUDY={outside}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (repo_copy / "reports" / "coffee_drinkers" / "index.html").exists()
    assert "coffee_drinkers/index.html" in (repo_copy / "reports" / "index.html").read_text()


def test_failed_make_report_deletes_no_file(repo_copy):
    """Today's grouped targets with .DELETE_ON_ERROR deleted whole output groups on failure.

    The copy's reports are made up to date without a run (its study pages, which git does
    not track and `make clean` removes, stand in as empty files; every report file is made
    newer than the sources and raw data), so the first `make report` has nothing to do; the
    corrupted survey then makes the second one run, and fail."""
    import os
    import time
    for sid in shipped_studies():
        page = repo_copy / "reports" / sid / "index.html"
        if not page.exists():
            page.write_text("<!-- stands in for the study page -->\n", encoding="utf-8")
    now = time.time()
    for path in (repo_copy / "reports").rglob("*"):
        os.utime(path, (now, now))
    first = make(repo_copy, "report")
    assert first.returncode == 0, first.stderr[-2000:]
    assert " run " not in first.stdout, first.stdout     # up to date: make ran nothing
    survey = repo_copy / "data" / "raw" / "golovacheva2022" / "survey.csv"
    original = survey.read_bytes()
    survey.write_bytes(original.replace(b"\n1,", b"\n1,x", 1))   # a malformed first respondent id
    try:
        before = tree_digest(repo_copy / "reports")
        second = make(repo_copy, "report")
        assert second.returncode != 0
        assert "Traceback" not in second.stderr and "survey.csv" in second.stderr
        assert tree_digest(repo_copy / "reports") == before
        assert survey.exists()
    finally:
        survey.write_bytes(original)


def test_gap_statistic_within_ss_from_the_schedule_equals_cutting_the_tree():
    """Ward's within-cluster SS after n - k merges equals the SS of the k-cluster cut (to 1e-12)."""
    from replication.segmentation import kselect, ward
    rng = np.random.default_rng(1)
    for n in (30, 300):
        X = rng.normal(size=(n, 4))
        Z = ward.ward_linkage(X)
        np.testing.assert_allclose(kselect._log_within_ss(X, Z, range(2, 12)),
                                   kselect._log_within_ss_by_cutting(X, Z, range(2, 12)), atol=1e-12)


def test_reference_trees_have_scipys_heights():
    """The gap statistic's reference trees (fastcluster) merge at scipy's Ward heights, to
    rounding (1e-9 relative: both sum the same squared distances in another order)."""
    from replication.segmentation import kselect, ward
    rng = np.random.default_rng(3)
    for n, d in ((586, 3), (200, 6)):
        R = rng.uniform(1, 7, size=(n, d))
        ours, theirs = kselect.reference_linkage(R), ward.ward_linkage(R)
        np.testing.assert_allclose(np.sort(ours[:, 2]), np.sort(theirs[:, 2]), rtol=1e-9)
        np.testing.assert_allclose(kselect._log_within_ss(R, ours, range(2, 11)),
                                   kselect._log_within_ss(R, theirs, range(2, 11)), rtol=1e-12)


def test_naming_works_when_the_clustering_is_not_standardized():
    """Centroids are named as z-scores against the sample even when clustering used raw scores."""
    spec = load_study(SIX)
    assert spec.segmentation.standardize.value is False
    result = analyse(spec, simulate_survey(spec).survey)
    assert result.segmentation.match.all_matched
