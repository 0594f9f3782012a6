"""The pipeline in one process, the study pages and the landing page, the manifest,
``verify``, the scorecard and the promises behind them: one in-memory analysis equal to
its steps done by hand, fresh README table, no unmapped output, byte-identical reruns,
atomic writes, failed runs that write nothing.

Both shipped studies run once per module through :func:`pipeline.run_study` into a
temporary root (``runs``); an independent second run of both, through ``replication run``
in a separate interpreter with another hash seed, starts at the same time (``rerun``);
tests that change files work on a copy of the first root (``copy_root``). The raw-data
guard (``generate`` without ``force`` refuses to overwrite) is tested in
``test_simulate.py`` and not repeated here.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from pandas.testing import assert_frame_equal

from replication import analysis, cli, files, pipeline
from replication.analysis import analyse
from replication.errors import ReplicationError
from replication.evaluation.claims import evaluate_claims
from replication.evaluation.recovery import clustering_recovery, logit_recovery, recovery_tables
from replication.layout import Layout
from replication.membership.logit import multinomial_logit
from replication.outputs import OUTPUTS, markdown_table, outputs_for
from replication.report.manifest import compared_files
from replication.verify import verify
from replication.segmentation.profiles import segment_analysis
from replication.study.measurement import reliability, scale_scores
from replication.study.spec import load_study, provenance_table

from conftest import PANEL_TEST_N

REPO = Path(__file__).resolve().parents[1]
SPEC_FILE = REPO / "src" / "replication" / "studies" / "golovacheva2022.yaml"
STUDIES = ("golovacheva2022", "forrester2016")
MEMBERSHIP_CLAIMS = ("model_lr_test", "predictor_lr_test")


def sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def visible_files(folder: Path) -> list[Path]:
    """Files below ``folder``, skipping dotfiles and anything in a dot-folder."""
    return sorted(p for p in Path(folder).rglob("*")
                  if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def rel(path: Path, layout: Layout) -> str:
    """A path as the manifest writes it: relative to the project root, with '/'."""
    return Path(path).relative_to(layout.root).as_posix()


def quiet(*_):
    pass


@pytest.fixture(scope="module")
def rerun_started(tmp_path_factory, small_forrester):
    """A second run of both studies, started first so it overlaps the in-process run."""
    root = small_forrester(tmp_path_factory.mktemp("rerun"))
    env = {**os.environ, "PYTHONHASHSEED": "1"}
    args = [a for s in STUDIES for a in ("--study", s)]
    proc = subprocess.Popen([sys.executable, "-m", "replication", "run", "--no-notebooks", "--root", str(root), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    yield root, proc
    if proc.poll() is None:  # nothing is left running if a test failed early
        proc.kill()
    proc.communicate()


@pytest.fixture(scope="module")
def runs(spec, forrester, tmp_path_factory, rerun_started, small_forrester):
    """Both shipped studies through ``run_study`` (notebooks off), once, into one root
    (Forrester on its test-sized sample)."""
    root = small_forrester(tmp_path_factory.mktemp("run"))
    return {s.id: pipeline.run_study(s, root, notebooks=False, log=quiet) for s in (spec, forrester)}


@pytest.fixture(scope="module")
def run(runs):
    """The default study's run (golovacheva2022)."""
    return runs["golovacheva2022"]


@pytest.fixture(scope="module")
def rerun(rerun_started) -> Path:
    root, proc = rerun_started
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    for sid in STUDIES:
        assert f"{sid}: N = " in out, out
    return root


@pytest.fixture
def copy_root(run, tmp_path):
    """A private copy of the module's run (both studies), safe to tamper with."""
    def make(name="copy") -> Path:
        return Path(shutil.copytree(run.layout.root, tmp_path / name))
    return make


@pytest.fixture(scope="module")
def html(run) -> str:
    return run.layout.page.read_text(encoding="utf-8")


def section(text: str, start: str, end: str) -> str:
    assert start in text and end in text, f"page lacks {start!r} or {end!r}"
    return text.split(start, 1)[1].split(end, 1)[0]


def run_main(*args) -> int:
    with pytest.raises(SystemExit) as info:
        cli.main([str(a) for a in args])
    return info.value.code


# --- 1. the README's list of outputs ----------------------------------------------------

def test_readme_outputs_table_is_fresh():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    found = re.search(r"<!-- outputs:start -->(.*?)<!-- outputs:end -->", readme, re.S)
    assert found, "README.md lacks the <!-- outputs:start --> ... <!-- outputs:end --> markers"
    assert found.group(1).strip() == markdown_table().strip(), \
        "README.md's table of outputs is stale: paste the output of `replication outputs`"


# --- 2. the one in-memory analysis equals its steps done by hand -------------------------

@pytest.fixture(scope="module")
def by_hand(spec, sample):
    """The analysis of the default sample, step by step: scores, reliability, segmentation,
    membership model, scorecard."""
    from threadpoolctl import threadpool_limits
    with threadpool_limits(1):   # as analyse() runs at this N (threads change float summation order)
        return _by_hand(spec, sample)


def _by_hand(spec, sample):
    survey = sample.survey
    scores = scale_scores(survey, spec)
    tables = {"reliability": reliability(survey, spec)}
    seg = segment_analysis(spec, scores, survey)
    tables.update(seg.tables)
    data = scores.merge(seg.assignments, on="respondent_id", validate="one_to_one")
    m = multinomial_logit(data, "segment", [c.id for c in spec.predictor_constructs],
                          spec.membership.reference.value,
                          standardize=spec.membership.standardize_predictors.value, order=spec.segment_ids)
    tables.update({"logit_coefficients": m.coefficients, "logit_fit": m.fit, "logit_lr_tests": m.lr_tests,
                   "logit_classification": m.classification, "logit_crosscheck": m.crosscheck})
    from threadpoolctl import threadpool_limits
    from replication.analysis import corrected_membership
    from replication.evaluation.shares import share_verdicts
    from replication.evaluation.uncertainty import bootstrap_stability, row_order_agreement
    u, segments = spec.uncertainty, seg.assignments["segment"].to_numpy()
    tables["share_verdicts"] = share_verdicts(spec, segments, seg.model.labels_,
                                              scores[spec.dimension_ids].to_numpy(dtype=float))
    with threadpool_limits(1):
        tables.update(bootstrap_stability(spec, scores, seg.model.labels_, segments, u.stability_resamples,
                                          spec.seed.value, n_jobs=1, level=u.level))
        tables["row_order_agreement"] = row_order_agreement(spec, scores, seg.model.labels_, u.row_orders,
                                                            spec.seed.value)
        tables.update(corrected_membership(spec, scores))
    tables["scorecard"] = evaluate_claims(spec, tables)
    return {"scores": scores, "segmentation": seg, "data": data, "logit": m, "tables": tables}


def test_analyse_equals_the_steps_done_by_hand(spec, sample, analysed, by_hand):
    result = analysed
    assert set(result.tables) == set(by_hand["tables"])
    for name, table in by_hand["tables"].items():
        assert_frame_equal(result.tables[name], table, check_exact=True, obj=name)
    assert_frame_equal(result.scores, by_hand["scores"], check_exact=True)
    assert_frame_equal(result.assignments, by_hand["segmentation"].assignments, check_exact=True)
    assert_frame_equal(result.membership_data, by_hand["data"], check_exact=True)
    assert_frame_equal(result.scorecard, by_hand["tables"]["scorecard"], check_exact=True)
    assert result.membership.summary() == by_hand["logit"].summary()
    assert result.problems == []
    assert result.n == spec.n.value and result.passed
    assert result.survey is sample.survey


def test_analysis_of_the_written_survey_equals_the_in_memory_one(run, analysed):
    # The run read its survey from data/raw/ (through the codebook's validator); the
    # in-memory sample is the same answers, so every table is identical.
    assert set(run.result.tables) == set(analysed.tables)
    for name, table in analysed.tables.items():
        assert_frame_equal(run.result.tables[name], table, check_exact=True, obj=name)


def test_recovery_tables_equal_the_checks_by_hand(spec, run):
    truth = pipeline.read_truth(run.layout)
    summary, confusion = clustering_recovery(spec, truth, run.result.assignments)
    predictors = [c.id for c in spec.predictor_constructs]
    table, logit_summary = logit_recovery(truth, run.result.membership.coefficients,
                                          run.result.membership_data[predictors].std(ddof=1), standardized=True)
    expected = {"recovery_clustering": summary, "recovery_confusion": confusion,
                "recovery_logit": table, "recovery_logit_summary": logit_summary}
    assert set(run.recovery) == set(expected) | {"method_comparison"}
    for name, frame in expected.items():
        assert_frame_equal(run.recovery[name], frame, check_exact=True, obj=name)
    assert_frame_equal(recovery_tables(run.result, truth)["recovery_clustering"], summary)


def test_recovery_without_a_membership_model(forrester, runs):
    assert set(runs["forrester2016"].recovery) == {"recovery_clustering", "recovery_confusion", "method_comparison"}
    ari = runs["forrester2016"].recovery["recovery_clustering"].set_index("statistic")["value"]
    assert ari["n"] == PANEL_TEST_N


def test_summary(spec, forrester, runs):
    result = runs["golovacheva2022"].result
    text = result.summary()
    assert str(result) == text
    assert spec.study.title in text and spec.id in text
    assert f"Respondents analysed: {spec.n.value}" in text
    for s in spec.segments:
        assert s.name.value in text
    assert "McFadden R2" in text
    assert f"Scorecard: {len(spec.claims)} claims: {len(spec.claims)} PASS" in text
    assert "FAIL" not in text and "Problem" not in text
    other = runs["forrester2016"].result.summary()
    assert "membership model: none" in other and "McFadden" not in other
    assert f"Scorecard: {len(forrester.claims)} claims: {len(forrester.claims)} PASS" in other


def test_membership_model_that_cannot_be_estimated(spec, sample, copy_root, monkeypatch):
    def fails(*args, **kwargs):
        raise ReplicationError("multinomial logit: perfect separation (forced by the test)")
    monkeypatch.setattr(analysis, "multinomial_logit", fails)
    result = analyse(spec, sample.survey, with_k_selection=False)
    assert result.membership is None
    assert result.problems == ["membership model not estimated: multinomial logit: perfect separation "
                               "(forced by the test)"]
    assert not any(name.startswith("logit_") for name in result.tables)
    card = result.scorecard.set_index("claim")
    membership = [c.id for c in spec.claims if c.kind in MEMBERSHIP_CLAIMS]
    assert len(membership) == 6
    for cid in membership:
        assert not card.loc[cid, "passed"]
        assert "not computed" in card.loc[cid, "replicated_value"]
    assert not result.passed
    assert "Problem: membership model not estimated" in result.summary()
    assert "logit_odds_ratios" not in result.figures()
    # Saving removes the stale outputs an earlier run left for the membership model.
    layout = Layout(copy_root(), spec.id)
    stale = [o.path(layout) for o in outputs_for(spec, step="logit")]
    assert stale and all(p.exists() for p in stale)
    written = result.save(layout, steps=["logit"])
    assert written == []
    assert not any(p.exists() for p in stale)


# --- 3. the map of outputs matches what the pipeline writes ------------------------------

def test_every_mapped_output_is_produced(runs):
    templates = [o.template() for o in OUTPUTS]
    assert len(set(templates)) == len(OUTPUTS), "outputs.OUTPUTS lists a path twice"
    for sid, r in runs.items():
        mine = outputs_for(r.spec)
        missing = [o.template() for o in mine if not o.path(r.layout).is_file()]
        assert not missing, f"{sid}: listed in outputs.OUTPUTS but not produced: {missing}"
        # An output that does not apply to the study is not written.
        others = [o.template() for o in OUTPUTS if o not in mine and o.path(r.layout).exists()]
        assert not others, f"{sid}: produced but not applicable: {others}"
    forrester_steps = {o.step for o in outputs_for(runs["forrester2016"].spec)}
    assert "logit" not in forrester_steps
    assert not any(o.name.startswith(("logit_", "profiling_")) for o in outputs_for(runs["forrester2016"].spec))
    on_demand_or_data = [o for o in OUTPUTS if o.on_demand or "data" in o.requires]
    assert len(outputs_for(runs["golovacheva2022"].spec)) == len(OUTPUTS) - len(on_demand_or_data)


def test_no_unmapped_output(runs):
    for sid, r in runs.items():
        layout = r.layout
        mapped = {o.path(layout) for o in outputs_for(r.spec)}
        produced = [p for d in (layout.tables, layout.figures, layout.processed, layout.raw) for p in visible_files(d)]
        assert produced, "the pipeline wrote nothing"
        unmapped = sorted(str(p) for p in set(produced) - mapped)
        assert not unmapped, f"{sid}: produced but not listed in outputs.OUTPUTS: {unmapped}"
        # Beside the tables and figures, the study's report folder holds its page and manifest.
        rest = set(visible_files(layout.reports)) - set(visible_files(layout.tables)) - set(visible_files(layout.figures))
        assert rest == {layout.page, layout.manifest}, rest


def test_studies_write_only_into_their_own_folders(runs):
    root = runs["golovacheva2022"].layout.root
    assert all(r.layout.root == root for r in runs.values())
    for sid, r in runs.items():
        assert r.layout == Layout(root, sid)
        assert r.layout.raw == root / "data" / "raw" / sid
        assert r.layout.processed == root / "data" / "processed" / sid
        assert r.layout.reports == root / "reports" / sid
    owned = [r.layout.raw for r in runs.values()] + [r.layout.processed for r in runs.values()] + \
            [r.layout.reports for r in runs.values()]
    stray = [p for p in root.rglob("*") if p.is_file()
             and not any(p.is_relative_to(folder) for folder in owned) and p != root / "reports" / "index.html"]
    assert not stray, stray


# --- 4 and 12. byte-identical reruns; PNGs without software metadata ----------------------

def test_rerun_is_byte_identical(runs, rerun):
    for sid, r in runs.items():
        groups = compared_files(r.spec, r.layout)
        paths = [p.relative_to(r.layout.root) for ps in groups.values() for p in ps]
        assert len(paths) == len(outputs_for(r.spec))
        # The manifest holds nothing that changes from run to run.
        paths.append(r.layout.manifest.relative_to(r.layout.root))
        absent = [str(p) for p in paths if not (r.layout.root / p).is_file() or not (rerun / p).is_file()]
        assert not absent, f"missing from one of the runs: {absent}"
        differ = [str(p) for p in paths if (r.layout.root / p).read_bytes() != (rerun / p).read_bytes()]
        assert not differ, f"files differ between two runs with the same seed: {differ}"


def png_text_keywords(data: bytes) -> list[str]:
    """Keywords of the tEXt, zTXt and iTXt chunks of a PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, keys = 8, []
    while pos < len(data):
        length = int.from_bytes(data[pos:pos + 4], "big")
        kind = data[pos + 4:pos + 8]
        if kind in (b"tEXt", b"zTXt", b"iTXt"):
            body = data[pos + 8:pos + 8 + length]
            keys.append(body.split(b"\0", 1)[0].decode("latin-1"))
        pos += 12 + length
        if kind == b"IEND":
            break
    return keys


def test_figures_carry_no_software_metadata(runs):
    for r in runs.values():
        pngs = visible_files(r.layout.figures)
        assert len(pngs) == len(outputs_for(r.spec, kinds=("figure",)))
        for png in pngs:
            data = png.read_bytes()
            assert b"Software" not in data, f"{png.name} records the software that wrote it"
            assert "Software" not in png_text_keywords(data), png.name


def test_saved_tables_are_the_in_memory_tables(runs):
    # Written with 6 significant digits: rtol 1e-5 allows exactly that rounding.
    for sid, r in runs.items():
        tables = {**r.result.tables, **r.recovery}
        for o in outputs_for(r.spec, kinds=("table",)):
            written = pd.read_csv(o.path(r.layout))
            expected = tables[o.name].reset_index(drop=True)
            expected = expected.where(expected.notna(), np.nan)   # None (no sign to recover) is written empty
            assert_frame_equal(written, expected, check_dtype=False,
                               check_names=False, rtol=1e-5, obj=f"{sid}: {o.name}")


# --- 5. the scorecard -------------------------------------------------------------------

def test_default_run_passes_every_claim(runs):
    for sid, r in runs.items():
        spec = r.spec
        card = evaluate_claims(spec, r.result.tables)
        assert card["claim"].tolist() == [c.id for c in spec.claims]
        failed = card.loc[~card["passed"], ["claim", "replicated_value"]].values.tolist()
        assert not failed, f"{sid}: claims failing on the default run: {failed}"
        assert_frame_equal(r.result.scorecard, card, check_exact=True)
        written = pd.read_csv(r.layout.tables / "scorecard.csv")
        assert written["claim"].tolist() == card["claim"].tolist()
        assert written["passed"].tolist() == [True] * len(spec.claims)


def test_missing_lr_tests_fail_the_predictor_claims(spec, run):
    tables = dict(run.result.tables)
    del tables["logit_lr_tests"]
    card = evaluate_claims(spec, tables).set_index("claim")
    predictor_ids = [c.id for c in spec.claims if c.kind == "predictor_lr_test"]
    assert len(predictor_ids) == 5
    for cid in predictor_ids:
        assert not card.loc[cid, "passed"], cid
        assert "not computed" in card.loc[cid, "replicated_value"], card.loc[cid, "replicated_value"]
    others = card.drop(index=predictor_ids)
    assert others["passed"].all(), others.loc[~others["passed"]].index.tolist()


@pytest.mark.parametrize("study", ["spec", "forrester"])
def test_no_tables_means_no_claim_passes(request, study):
    spec = request.getfixturevalue(study)
    card = evaluate_claims(spec, {})
    assert len(card) == len(spec.claims)
    assert not card["passed"].any()
    assert card["replicated_value"].str.contains("not computed").all()


def test_share_verdict_of_the_table_is_the_claims_verdict(spec, run):
    """The scorecard reads each share claim's verdict from ``share_verdicts``: a FAIL there
    is a FAIL on the scorecard, and the other claims are unaffected."""
    tables = dict(run.result.tables)
    v = tables["share_verdicts"].copy()
    seg = spec.segments[0].id
    v.loc[v["segment"] == seg, ["consistent", "verdict"]] = [False, "FAIL"]
    tables["share_verdicts"] = v
    card = evaluate_claims(spec, tables).set_index("claim")
    assert card.loc[f"share.{seg}", "verdict"] == "FAIL"
    assert card.loc[f"share.{seg}", "basis"] == "recovered from a sample with the reported composition"
    assert card.drop(index=f"share.{seg}")["passed"].all()


def test_share_of_a_segment_whose_profile_fails_is_not_assessable(spec, run):
    """A cluster of the right size that is not the reported segment does not carry its share:
    the share presupposes its profile, so it is NOT ASSESSABLE (never PASS)."""
    tables = dict(run.result.tables)
    check = tables["profile_check"].copy()
    seg = spec.segments[0].id
    check.loc[check["segment"] == seg, "holds"] = False
    tables["profile_check"] = check
    card = evaluate_claims(spec, tables).set_index("claim")
    assert card.loc[f"profile.{seg}", "verdict"] == "FAIL"
    assert card.loc[f"share.{seg}", "verdict"] == "NOT ASSESSABLE"
    assert f"profile.{seg} did not pass" in card.loc[f"share.{seg}", "replicated_value"]
    assert card.drop(index=[f"share.{seg}", f"profile.{seg}"])["passed"].all()


# --- 6. `replication check` exit codes ---------------------------------------------------

def strict_spec(tmp_path) -> Path:
    """The shipped specification with one claim made impossible (stability Jaccard >= 1.01)."""
    text = SPEC_FILE.read_text(encoding="utf-8")
    assert text.count("min_jaccard: 0.75") == 1
    path = tmp_path / "strict.yaml"
    path.write_text(text.replace("min_jaccard: 0.75", "min_jaccard: 1.01"), encoding="utf-8")
    return path


def test_cli_check_exit_codes(copy_root, tmp_path, capsys):
    good, bad, bad_zero = copy_root("good"), copy_root("bad"), copy_root("bad_zero")
    strict = strict_spec(tmp_path)
    # The failing case as a user sees it: a real process, its exit code and stderr.
    proc = subprocess.Popen([sys.executable, "-m", "replication", "check", "--root", str(bad), "--study", str(strict)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert run_main("check", "--root", good) == 0
        out = capsys.readouterr().out
        assert "FAIL" not in out
        assert "21 claims: 21 PASS" in out

        assert run_main("check", "--root", bad_zero, "--study", strict, "--exit-zero") == 0
        out = capsys.readouterr().out
        assert "FAIL stability:" in out
        card = pd.read_csv(Layout(bad_zero, "golovacheva2022").tables / "scorecard.csv").set_index("claim")
        assert not card.loc["stability", "passed"]
        # Stability is a premise of the shares, profiles and membership claims: they are
        # NOT ASSESSABLE, the k claim (no premise) still passes.
        assert card["verdict"].value_counts().to_dict() == {"NOT ASSESSABLE": 19, "PASS": 1, "FAIL": 1}
    finally:
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, (out, err)
    assert "FAIL stability:" in out
    assert "21 claims: 1 PASS, 1 FAIL, 19 NOT ASSESSABLE" in out
    assert "Traceback" not in err


# --- 7. verify --------------------------------------------------------------------------

def tamper_manifest(layout: Layout, change) -> None:
    m = json.loads(layout.manifest.read_text(encoding="utf-8"))
    change(m)
    layout.manifest.write_text(json.dumps(m), encoding="utf-8")


def test_verify_passes_on_the_committed_outputs(capsys):
    """The committed reference outputs are what the code makes: both shipped studies,
    Forrester at its full 60,000, regenerated into a temporary folder and compared with
    their manifests (this is `make verify`, once per `make test`)."""
    assert run_main("verify", *[a for sid in STUDIES for a in ("--study", sid)], "--root", REPO) == 0
    out = capsys.readouterr().out
    for sid in STUDIES:
        assert f"verify {sid}: all regenerated files match the manifest" in out
    assert "DIFFERS" not in out


def test_verify_names_a_changed_checksum_and_an_unrecorded_file(spec, copy_root, capsys):
    layout = Layout(copy_root(), spec.id)
    changed = "reports/golovacheva2022/tables/cluster_sizes.csv"
    unrecorded = "reports/golovacheva2022/figures/dendrogram.png"

    def change(m):
        assert changed in m["outputs"] and unrecorded in m["outputs"]
        m["outputs"][changed] = "0" * 64
        m["outputs"].pop(unrecorded)
    tamper_manifest(layout, change)
    assert run_main("verify", "--study", spec.id, "--root", layout.root) == 1
    out = capsys.readouterr().out
    problems = [line.removeprefix("DIFFERS ") for line in out.splitlines() if line.startswith("DIFFERS ")]
    assert len(problems) == 2, out
    about = {line.split(":", 1)[0]: line for line in problems}
    assert set(about) == {changed, unrecorded}, problems
    assert "differs" in about[changed], problems
    assert "not recorded" in about[unrecorded], problems
    assert f"verify {spec.id}: 2 file(s) differ from the manifest" in out


def test_verify_without_a_manifest(spec, tmp_path):
    problems = verify(spec, Layout(tmp_path, spec.id))
    assert len(problems) == 1 and "no manifest to verify against" in problems[0], problems


# --- 8. manifest.json and the run log ---------------------------------------------------

@pytest.mark.parametrize("sid", STUDIES)
def test_manifest_contents(runs, sid):
    r = runs[sid]
    spec, layout = r.spec, r.layout
    manifest = json.loads(layout.manifest.read_text(encoding="utf-8"))
    raw = f"data/raw/{sid}/survey.csv"
    assert manifest["inputs"][raw] == sha(layout.root / raw)
    assert set(manifest["inputs"]) == {rel(o.path(layout), layout) for o in outputs_for(spec, kinds=("raw",))}
    assert set(manifest["outputs"]) == {rel(o.path(layout), layout) for o in outputs_for(spec) if o.kind != "raw"}
    checksums = {**manifest["inputs"], **manifest["outputs"]}
    wrong = [p for p, h in checksums.items() if h != sha(layout.root / p)]
    assert not wrong, f"manifest checksums that do not match the files: {wrong}"
    assert manifest["missing"] == []
    assert manifest["python"] == platform.python_version()
    for pkg in ("numpy", "statsmodels", "pandas", "scikit-learn"):
        assert manifest["packages"][pkg] == metadata.version(pkg), pkg
    assert manifest["study"] == spec.id and manifest["title"] == spec.study.title
    assert manifest["synthetic"] is True
    gen = manifest["generation"]
    assert gen == pipeline.read_generation(layout)
    n = runs[sid].result.n        # Forrester's test-sized sample; Golovacheva's 586
    assert n == (PANEL_TEST_N if sid == "forrester2016" else spec.n.value)
    assert (gen["study"], gen["seed"], gen["n"], gen["separation"]) == \
        (spec.id, spec.seed.value, n, spec.simulation.separation.value)
    assert manifest["n_analysed"] == n
    ours = sum(1 for c in spec.claims if not c.reported)
    assert manifest["claims"] == {"reported": {"PASS": len(spec.claims) - ours, "FAIL": 0, "NOT DIAGNOSTIC": 0,
                                               "NOT ASSESSABLE": 0},
                                  "ours": {"PASS": ours, "FAIL": 0, "NOT DIAGNOSTIC": 0, "NOT ASSESSABLE": 0}}
    assert manifest["study_specification"]["file"] == f"src/replication/studies/{sid}.yaml"
    assert manifest["study_specification"]["sha256"] == sha(REPO / "src" / "replication" / "studies" / f"{sid}.yaml")
    # What changes from run to run lives in the run log, not in the manifest.
    for volatile in ("git_commit", "timings_seconds", "rendered", "volatile_fields"):
        assert volatile not in manifest, volatile
    log = json.loads(layout.run_log.read_text(encoding="utf-8"))
    # package_commit only where the package runs from a git checkout (not from a wheel).
    assert set(log) - {"package_commit"} == {"git_commit", "package_version", "timings_seconds"}
    assert log["package_version"] == manifest["package"]["version"]
    assert isinstance(log["git_commit"], str) and log["git_commit"]


def test_shipped_spec_file_is_the_one_loaded(spec):
    assert spec.path == SPEC_FILE.resolve()


# --- 9. the study pages and the landing page --------------------------------------------

@pytest.mark.parametrize("sid", STUDIES)
def test_study_page_is_self_contained(runs, sid):
    r = runs[sid]
    page = r.layout.page.read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]*\bsrc\s*=", page, re.I), "the page loads a script"
    assert not re.search(r"<link\b[^>]*href\s*=\s*['\"]?(https?:)?//", page, re.I), "the page loads a stylesheet"
    assert "@import" not in page
    srcs = re.findall(r"<img\b[^>]*\bsrc\s*=\s*['\"]([^'\"]*)['\"]", page, re.I)
    assert len(srcs) == page.count("<img"), "an <img> whose src the test could not read"
    pngs = {p.read_bytes() for p in visible_files(r.layout.figures)}
    assert len(srcs) == len(pngs)
    prefix = "data:image/png;base64,"
    for src in srcs:
        assert src.startswith(prefix), src[:60]
        assert base64.b64decode(src[len(prefix):]) in pngs, "an embedded image is not one of the figures"
    assert "missing figure" not in page


def test_study_page_shows_the_scorecard(spec, run, html):
    card = pd.read_csv(run.layout.tables / "scorecard.csv")
    # (Long identifiers may carry <wbr>, a place to wrap, which the reader does not see.)
    scorecard = section(html, "<h2 id='scorecard'>", "<p class='kicker'").replace("<wbr>", "")
    for cid in card["claim"]:
        assert f"<td>{cid}</td>" in scorecard, cid
    assert scorecard.count('<td class="pass">PASS</td>') == len(spec.claims)
    # The legend names every verdict word once; no claim's cell holds another verdict.
    legend, rows = scorecard.split("</ul>", 1)
    for word in ("PASS", "FAIL", "NOT DIAGNOSTIC", "NOT ASSESSABLE"):
        assert f">{word}</span>:" in legend, word
    assert ">FAIL</td>" not in rows and ">NOT ASSESSABLE</td>" not in rows
    assert not re.search(r"<td class=['\"]fail['\"]", rows), "the default run's scorecard shows a failure"
    # Findings the paper reports first; the standards we hold the replication to apart.
    reported, standards = scorecard.split("<h3>Our standards", 1)
    for c in spec.claims:
        assert f"<td>{c.id}</td>" in (reported if c.reported else standards), c.id
        assert f"<td>{c.id}</td>" not in (standards if c.reported else reported), c.id
    assert "<td>stability</td>" in standards


def test_study_page_separates_reported_from_assumed(spec, html):
    reported = section(html, "<h2 id='reported'>", "<h2 id='assumed'>").replace("<wbr>", "")
    assumed = section(html, "<h2 id='assumed'>", "<h2 id='provenance'>").replace("<wbr>", "")
    assert "<td>simulation.separation</td>" in assumed
    assert "simulation.separation" not in reported
    for row in provenance_table(spec):
        cell = f"<td>{row['path']}</td>"
        mine, other = (reported, assumed) if row["status"] == "reported" else (assumed, reported)
        assert cell in mine and cell not in other, (row["path"], row["status"])


def test_study_pages_follow_their_specification(runs):
    for sid, r in runs.items():
        page = r.layout.page.read_text(encoding="utf-8")
        assert r.spec.study.title in page
        assert "<p class='banner verdict' id='verdict'><b>Synthetic data.</b>" in page
        assert f"N = {r.result.n} respondents analysed" in page
        assert "href='../index.html'" in page
        assert ("<h2 id='membership'>" in page) == r.spec.has_membership_model, sid
        assert "<h2 id='recovery'>" in page
        for s in r.spec.segments:
            assert s.name.value in page
    forrester = runs["forrester2016"].layout.page.read_text(encoding="utf-8")
    assert "Golovacheva" not in forrester and "individualization" not in forrester.lower()


def test_landing_page_lists_every_study(runs):
    root = runs["golovacheva2022"].layout.root
    landing = (root / "reports" / "index.html").read_text(encoding="utf-8")
    assert runs["golovacheva2022"].layout.landing == root / "reports" / "index.html"
    rows = re.findall(r"<tr><td><a href='([^']+)/index.html'>", landing)
    assert rows == sorted(STUDIES)
    for sid, r in runs.items():
        total = len(r.spec.claims)
        row = section(landing, f"<a href='{sid}/index.html'>", "</tr>")
        assert r.spec.study.title in row
        assert f">{r.result.n:,}</td>" in row
        ours = sum(1 for c in r.spec.claims if not c.reported)
        # The same split and words as the study page's scorecard headings.
        assert f"reported claims: <span class='pass'>{total - ours} claims: {total - ours} PASS</span>" in row
        assert f"our standards: <span class='pass'>{ours} claims: {ours} PASS</span>" in row
        assert "synthetic" in row


# --- 10. a study on real data --------------------------------------------------------------

def test_study_on_real_data(run, tmp_path, capsys):
    data = yaml.safe_load(SPEC_FILE.read_text(encoding="utf-8"))
    data["study"]["id"] = "survey_study"
    del data["simulation"]
    path = tmp_path / "survey_study.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    real = load_study(path)
    assert not real.is_synthetic
    root = tmp_path / "project"
    layout = pipeline.layout_for(real, root)
    for name in ("survey", "codebook"):   # a researcher's survey and codebook; no truth
        files.atomic_write_bytes(getattr(layout, name), getattr(run.layout, name).read_bytes())

    done = pipeline.run_study(real, root, notebooks=False, log=quiet)
    assert done.recovery is None and done.generation == {}
    assert not layout.truth.exists() and not layout.generation.exists()   # nothing made up
    mine = outputs_for(real)
    # The comparison of methods is the one output of the recovery step that real data
    # have too (without its agreement with a truth).
    assert not any(o.kind == "raw" or (o.step == "recovery" and o.name != "method_comparison") for o in mine)
    assert [o.name for o in mine if not o.path(layout).is_file()] == []
    assert not any((layout.tables / f"{o.name}.csv").exists() for o in OUTPUTS
                   if o.step == "recovery" and o.name != "method_comparison")
    # Same survey, same analysis as the synthetic run of the same study, except how the shares
    # are judged: a real survey's composition is sampled, not built in, so at N = 586 the
    # share claims read NOT DIAGNOSTIC instead of being judged by recovery.
    for name, table in run.result.tables.items():
        if name not in ("share_verdicts", "scorecard"):
            assert_frame_equal(done.result.tables[name], table, check_exact=True, obj=name)
    assert (done.result.tables["share_verdicts"]["basis"] == "sampling").all()
    card = done.result.scorecard.set_index("claim")
    shares = card.index.str.startswith("share.")
    assert (card.loc[shares, "verdict"] == "NOT DIAGNOSTIC").all() and (card.loc[~shares, "verdict"] == "PASS").all()
    # ...plus the comparison of methods, which on real data is part of the analysis.
    assert "method_comparison" in done.result.tables

    manifest = json.loads(layout.manifest.read_text(encoding="utf-8"))
    assert manifest["synthetic"] is False
    assert set(manifest["inputs"]) == {"data/raw/survey_study/survey.csv", "data/raw/survey_study/codebook.csv"}
    assert manifest["missing"] == []
    page = layout.page.read_text(encoding="utf-8")
    assert "Synthetic data." not in page and "<h2 id='recovery'>" not in page
    assert verify(real, layout) == []

    assert run_main("recovery", "--study", path, "--root", root) == 2
    assert "has no generating truth" in capsys.readouterr().err


# --- 11. failed runs and atomic writes ----------------------------------------------------

def test_failed_run_leaves_every_file_as_it_was(spec, copy_root):
    root = copy_root()
    layout = Layout(root, spec.id)
    lines = layout.survey.read_text(encoding="utf-8").splitlines()
    fields = lines[5].split(",")
    fields[3] = "abc"
    lines[5] = ",".join(fields)
    layout.survey.write_text("\n".join(lines) + "\n", encoding="utf-8")
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    with pytest.raises(ReplicationError, match=r"row 5, column"):
        pipeline.run_study(spec, root, notebooks=False, log=quiet)
    after = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    assert after == before


def test_interrupted_write_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "table.csv"
    files.write_csv(path, pd.DataFrame({"x": [1.0, 2.0]}))
    before = path.read_bytes()

    def interrupted(src, dst):
        raise KeyboardInterrupt
    monkeypatch.setattr(files.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        files.write_csv(path, pd.DataFrame({"x": [3.0, 4.0, 5.0]}))
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert list(tmp_path.glob(".*.tmp")) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table.csv"]
