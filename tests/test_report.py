"""The report, the manifest, ``verify``, the scorecard and the promises behind them:
fresh README table, no unmapped output, byte-identical reruns, atomic writes.

The pipeline runs once per module into a temporary root (``run``); tests that change
files work on a copy of it (``copy_root``). The raw-data guard (``generate`` without
``force`` refuses to overwrite) is tested in ``test_simulate.py`` and not repeated here.
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
import textwrap
from importlib import metadata
from pathlib import Path

import pandas as pd
import pytest

from replication import checks, files, pipeline, report
from replication.outputs import OUTPUTS, markdown_table
from replication.spec import provenance_table

REPO = Path(__file__).resolve().parents[1]
SPEC_FILE = REPO / "src" / "replication" / "studies" / "golovacheva2022.yaml"
STEPS = (pipeline.generate, pipeline.score, pipeline.cluster, pipeline.logit, pipeline.recovery, pipeline.check)

#: A second, independent run of the same steps in a fresh interpreter (other hash seed).
RERUN = textwrap.dedent("""
    import sys
    from pathlib import Path
    from replication import pipeline
    from replication.spec import load_study
    spec, layout = load_study(), pipeline.Layout(Path(sys.argv[1]))
    for step in (pipeline.generate, pipeline.score, pipeline.cluster, pipeline.logit,
                 pipeline.recovery, pipeline.check):
        step(spec, layout)
""")


def sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def visible_files(folder: Path) -> list[Path]:
    """Files below ``folder``, skipping dotfiles and anything in a dot-folder."""
    return sorted(p for p in folder.rglob("*")
                  if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts))


@pytest.fixture(scope="module")
def run(spec, tmp_path_factory):
    """The default pipeline, run once: generate .. check, then ``write_report``."""
    layout = pipeline.Layout(tmp_path_factory.mktemp("run"))
    for step in STEPS:
        step(spec, layout)
    report.write_report(spec, layout)
    return layout


@pytest.fixture(scope="module")
def rerun(tmp_path_factory):
    """The same pipeline run again, into another root, in a separate Python process."""
    root = tmp_path_factory.mktemp("rerun")
    env = {**os.environ, "PYTHONHASHSEED": "1"}
    done = subprocess.run([sys.executable, "-c", RERUN, str(root)], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    return pipeline.Layout(root)


@pytest.fixture
def copy_root(run, tmp_path):
    """A private copy of the module's run, safe to tamper with."""
    def make(name="copy") -> pipeline.Layout:
        return pipeline.Layout(Path(shutil.copytree(run.root, tmp_path / name)))
    return make


@pytest.fixture(scope="module")
def html(run) -> str:
    return (run.reports / "index.html").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def manifest(run) -> dict:
    return json.loads((run.reports / "manifest.json").read_text(encoding="utf-8"))


def section(text: str, start: str, end: str) -> str:
    assert start in text and end in text, f"report lacks {start!r} or {end!r}"
    return text.split(start, 1)[1].split(end, 1)[0]


# --- 1. the README's list of outputs ----------------------------------------------------

def test_readme_outputs_table_is_fresh():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    found = re.search(r"<!-- outputs:start -->(.*?)<!-- outputs:end -->", readme, re.S)
    assert found, "README.md lacks the <!-- outputs:start --> ... <!-- outputs:end --> markers"
    assert found.group(1).strip() == markdown_table().strip(), \
        "README.md's table of outputs is stale: paste the output of `replication outputs`"


# --- 2. the map of outputs matches what the pipeline writes ------------------------------

def test_every_mapped_output_is_produced(run):
    missing = [o.path for o in OUTPUTS if not (run.root / o.path).is_file()]
    assert not missing, f"listed in outputs.OUTPUTS but not produced: {missing}"
    assert len({o.path for o in OUTPUTS}) == len(OUTPUTS), "outputs.OUTPUTS lists a path twice"


def test_no_unmapped_output(run):
    mapped = {o.path for o in OUTPUTS}
    produced = [str(p.relative_to(run.root)) for d in (run.tables, run.figures, run.processed, run.raw)
                for p in visible_files(d)]
    assert produced, "the pipeline wrote nothing"
    unmapped = sorted(set(produced) - mapped)
    assert not unmapped, f"produced but not listed in outputs.OUTPUTS: {unmapped}"


# --- 3 and 11. byte-identical reruns; PNGs without software metadata ----------------------

def test_rerun_is_byte_identical(run, rerun):
    groups = report.compared_files(run)
    paths = [p.relative_to(run.root) for ps in groups.values() for p in ps]
    assert len(paths) == len(OUTPUTS)
    absent = [str(p) for p in paths if not (run.root / p).is_file() or not (rerun.root / p).is_file()]
    assert not absent, f"missing from one of the runs: {absent}"
    differ = [str(p) for p in paths if (run.root / p).read_bytes() != (rerun.root / p).read_bytes()]
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


def test_figures_carry_no_software_metadata(run):
    pngs = visible_files(run.figures)
    assert len(pngs) == sum(o.path.endswith(".png") for o in OUTPUTS)
    for png in pngs:
        data = png.read_bytes()
        assert b"Software" not in data, f"{png.name} records the software that wrote it"
        assert "Software" not in png_text_keywords(data), png.name


# --- 4. the scorecard -------------------------------------------------------------------

def test_default_run_passes_every_claim(spec, run):
    card = checks.evaluate_claims(spec, checks.read_tables(run.tables))
    assert card["claim"].tolist() == [c.id for c in spec.claims]
    failed = card.loc[~card["passed"], ["claim", "replicated_value"]].values.tolist()
    assert not failed, f"claims failing on the default run: {failed}"
    written = pd.read_csv(run.tables / "scorecard.csv")
    assert written["claim"].tolist() == card["claim"].tolist()
    assert written["passed"].tolist() == [True] * len(spec.claims)


def test_missing_lr_tests_fail_the_predictor_claims(spec, run):
    tables = checks.read_tables(run.tables)
    del tables["logit_lr_tests"]
    card = checks.evaluate_claims(spec, tables).set_index("claim")
    predictor_ids = [c.id for c in spec.claims if c.kind == "predictor_lr_test"]
    assert len(predictor_ids) == 5
    for cid in predictor_ids:
        assert not card.loc[cid, "passed"], cid
        assert "not computed" in card.loc[cid, "replicated_value"], card.loc[cid, "replicated_value"]
    others = card.drop(index=predictor_ids)
    assert others["passed"].all(), others.loc[~others["passed"]].index.tolist()


def test_no_tables_means_no_claim_passes(spec):
    card = checks.evaluate_claims(spec, {})
    assert len(card) == len(spec.claims)
    assert not card["passed"].any()
    assert card["replicated_value"].str.contains("not computed").all()


def test_share_outside_tolerance_fails_that_claim(spec, run):
    tables = checks.read_tables(run.tables)
    sizes = tables["cluster_sizes"].copy()
    seg = spec.segments[0].id
    row = sizes.index[sizes["segment"] == seg][0]
    sizes.loc[row, "replicated_pct"] += 5
    sizes.loc[row, "difference_pp"] += 5
    sizes.loc[row, "within_tolerance"] = False
    tables["cluster_sizes"] = sizes
    card = checks.evaluate_claims(spec, tables).set_index("claim")
    assert not card.loc[f"share.{seg}", "passed"]
    assert f"{sizes.loc[row, 'replicated_pct']:.1f}%" in card.loc[f"share.{seg}", "replicated_value"]
    assert card.drop(index=f"share.{seg}")["passed"].all()


# --- 5. `replication check` exit codes ---------------------------------------------------

def break_one_share(layout: pipeline.Layout) -> str:
    """Move the first segment's share 5 points out of tolerance; return the segment id."""
    path = layout.tables / "cluster_sizes.csv"
    sizes = pd.read_csv(path)
    sizes.loc[0, "replicated_pct"] += 5
    sizes.loc[0, "difference_pp"] += 5
    sizes.loc[0, "within_tolerance"] = False
    files.write_csv(path, sizes)
    return sizes.loc[0, "segment"]


def test_cli_check_exit_codes(copy_root):
    good, bad, bad_zero = copy_root("good"), copy_root("bad"), copy_root("bad_zero")
    seg = break_one_share(bad)
    break_one_share(bad_zero)
    cmd = [sys.executable, "-m", "replication", "check", "--root"]
    procs = {name: subprocess.Popen(cmd + [str(layout.root), *extra], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
             for name, layout, extra in [("good", good, []), ("bad", bad, []),
                                         ("bad_zero", bad_zero, ["--exit-zero"])]}
    res = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        res[name] = (proc.returncode, out, err)

    code, out, err = res["good"]
    assert code == 0, (out, err)
    assert "FAIL" not in out

    code, out, err = res["bad"]
    assert code == 1, (out, err)
    assert f"FAIL share.{seg}:" in out
    assert "Traceback" not in err

    code, out, err = res["bad_zero"]
    assert code == 0, (out, err)
    assert f"FAIL share.{seg}:" in out
    card = pd.read_csv(bad_zero.tables / "scorecard.csv").set_index("claim")
    assert not card.loc[f"share.{seg}", "passed"]
    assert card["passed"].tolist().count(False) == 1


# --- 6. verify --------------------------------------------------------------------------

def tamper_manifest(layout: pipeline.Layout, change) -> None:
    path = layout.reports / "manifest.json"
    m = json.loads(path.read_text(encoding="utf-8"))
    change(m)
    path.write_text(json.dumps(m), encoding="utf-8")


def test_verify_passes_on_the_run(spec, run):
    assert report.verify(spec, run) == []


def test_verify_names_a_changed_checksum(spec, copy_root):
    layout = copy_root()
    target = "reports/tables/cluster_sizes.csv"

    def change(m):
        assert target in m["outputs"]
        m["outputs"][target] = "0" * 64
    tamper_manifest(layout, change)
    problems = report.verify(spec, layout)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{target}:") and "differs" in problems[0], problems


def test_verify_reports_an_unrecorded_file(spec, copy_root):
    layout = copy_root()
    target = "reports/figures/dendrogram.png"
    tamper_manifest(layout, lambda m: m["outputs"].pop(target))
    problems = report.verify(spec, layout)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{target}:") and "not recorded" in problems[0], problems


# --- 7. manifest.json -------------------------------------------------------------------

def test_manifest_contents(spec, run, manifest):
    raw = "data/raw/survey.csv"
    assert manifest["inputs"][raw] == sha(run.root / raw)
    assert set(manifest["inputs"]) == {o.path for o in OUTPUTS if o.path.startswith("data/raw/")}
    assert set(manifest["outputs"]) == {o.path for o in OUTPUTS if not o.path.startswith("data/raw/")}
    wrong = [p for p, h in manifest["outputs"].items() if h != sha(run.root / p)]
    assert not wrong, f"manifest checksums that do not match the files: {wrong}"
    assert manifest["missing"] == []
    assert manifest["python"] == platform.python_version()
    for pkg in ("numpy", "statsmodels", "pandas", "scikit-learn"):
        assert manifest["packages"][pkg] == metadata.version(pkg), pkg
    assert manifest["seed"] == spec.seed.value
    assert manifest["n"] == spec.n.value
    assert manifest["study_specification"]["file"] == "src/replication/studies/golovacheva2022.yaml"
    assert manifest["study_specification"]["sha256"] == sha(SPEC_FILE)
    volatile = manifest["volatile_fields"]
    assert "git_commit" in volatile and "git_commit" in manifest
    timing_fields = [f for f in volatile if f.startswith("timings")]
    assert timing_fields and all(f in manifest for f in timing_fields), volatile
    assert manifest["rendered"]["reports/index.html"] == sha(run.reports / "index.html")


# --- 8. index.html ----------------------------------------------------------------------

def test_index_is_self_contained(run, html):
    assert not re.search(r"<script[^>]*\bsrc\s*=", html, re.I), "index.html loads a script"
    assert not re.search(r"<link\b[^>]*href\s*=\s*['\"]?(https?:)?//", html, re.I), "index.html loads a stylesheet"
    assert "@import" not in html
    srcs = re.findall(r"<img\b[^>]*\bsrc\s*=\s*['\"]([^'\"]*)['\"]", html, re.I)
    assert len(srcs) == html.count("<img"), "an <img> whose src the test could not read"
    pngs = {p.read_bytes() for p in visible_files(run.figures)}
    assert len(srcs) == len(pngs)
    prefix = "data:image/png;base64,"
    for src in srcs:
        assert src.startswith(prefix), src[:60]
        assert base64.b64decode(src[len(prefix):]) in pngs, "an embedded image is not one of the figures"
    assert "missing figure" not in html


def test_index_shows_the_scorecard(spec, run, html):
    card = pd.read_csv(run.tables / "scorecard.csv")
    scorecard = section(html, "<h2>Scorecard", "<h2>Segment sizes")
    for cid in card["claim"]:
        assert f"<td>{cid}</td>" in scorecard, cid
    assert scorecard.count('<td class="pass">PASS</td>') == len(spec.claims)
    assert "FAIL" not in scorecard
    assert not re.search(r"class=['\"]fail['\"]", scorecard), "the default run's scorecard shows a failure"


def test_index_separates_reported_from_assumed(spec, html):
    reported = section(html, "<h2>What the paper reports</h2>", "<h2>Our assumptions</h2>")
    assumed = section(html, "<h2>Our assumptions</h2>", "<h2>Where every output comes from</h2>")
    assert "<td>simulation.separation</td>" in assumed
    assert "simulation.separation" not in reported
    for row in provenance_table(spec):
        cell = f"<td>{row['path']}</td>"
        mine, other = (reported, assumed) if row["status"] == "reported" else (assumed, reported)
        assert cell in mine and cell not in other, (row["path"], row["status"])


# --- 9. atomic writes -------------------------------------------------------------------

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
