"""The report: executed notebooks, ``reports/index.html``, ``reports/manifest.json``, and
``verify`` (regenerate into a temporary folder and compare checksums with the manifest).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

import pandas as pd

from . import files, pipeline
from .outputs import OUTPUTS
from .pipeline import Layout, read_generation
from .spec import StudySpec, provenance_table, study_path

#: Packages whose versions the manifest records.
PACKAGES = ["numpy", "pandas", "scipy", "statsmodels", "scikit-learn", "matplotlib", "seaborn",
            "pyyaml", "pydantic", "nbconvert", "nbclient", "ipykernel"]
#: Manifest fields that change from run to run and are never compared by ``verify``.
VOLATILE = ["git_commit", "timings_seconds", "rendered"]
NOTEBOOKS = ["01_synthetic_sample", "02_two_stage_clustering", "03_segment_profiles", "04_multinomial_logit"]


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# --- timings ----------------------------------------------------------------------------

def timings_path(layout: Layout) -> Path:
    return layout.reports / ".timings.json"


def record_timing(layout: Layout, step: str, seconds: float) -> None:
    """Remember how long a step took (read into the manifest by the report step)."""
    path = timings_path(layout)
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        data = {}
    data[step] = round(seconds, 2)
    files.write_json(path, data)


# --- notebooks --------------------------------------------------------------------------

def execute_notebooks(layout: Layout, names=None, notebooks_dir: Path = Path("notebooks")) -> list[Path]:
    """Execute each notebook against ``layout`` and render it to ``reports/notebooks/*.html``."""
    import nbformat
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter

    written = []
    os.environ["REPLICATION_ROOT"] = str(Path(layout.root).resolve())
    for name in names or NOTEBOOKS:
        src = notebooks_dir / f"{name}.ipynb"
        start = time.perf_counter()
        print(f"executing {src} ...", file=sys.stderr, flush=True)
        nb = nbformat.read(src, as_version=4)
        NotebookClient(nb, timeout=600, kernel_name="python3", extra_arguments=["--log-level=ERROR"],
                       resources={"metadata": {"path": str(notebooks_dir.resolve())}}).execute()
        body, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
        out = layout.reports / "notebooks" / f"{name}.html"
        files.atomic_write_text(out, body)
        took = time.perf_counter() - start
        record_timing(layout, f"notebook {name}", took)
        print(f"  done in {took:.1f} s -> {out}", file=sys.stderr, flush=True)
        written.append(out)
    return written


# --- manifest ---------------------------------------------------------------------------

def _git_commit(root: Path) -> str:
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                             check=True, timeout=10)
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def compared_files(layout: Layout) -> dict[str, list[Path]]:
    """Inputs and outputs whose checksums the manifest records and ``verify`` compares."""
    inputs = [layout.root / o.path for o in OUTPUTS if o.path.startswith("data/raw/")]
    outputs = [layout.root / o.path for o in OUTPUTS if not o.path.startswith("data/raw/")]
    return {"inputs": inputs, "outputs": outputs}


def build_manifest(spec: StudySpec, layout: Layout) -> dict:
    """Checksums of every input and output, versions, seed, spec hash, commit, timings."""
    groups = compared_files(layout)
    spec_file = study_path(spec.study.id)
    rel = lambda p: str(Path(p).relative_to(layout.root)) if Path(p).is_relative_to(layout.root) else str(p)  # noqa: E731
    versions = {}
    for pkg in PACKAGES:
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = "not installed"
    try:
        timings = json.loads(timings_path(layout).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        timings = {}
    rendered = sorted([layout.reports / "index.html", *(layout.reports / "notebooks").glob("*.html")])
    gen = read_generation(layout)
    return {
        "study": spec.study.id,
        "seed": gen.get("seed", spec.seed.value),
        "n": gen.get("n", spec.n.value),
        "separation": gen.get("separation", spec.simulation.separation.value),
        "study_specification": {"file": f"src/replication/studies/{spec_file.name}", "sha256": sha256(spec_file)},
        "python": platform.python_version(),
        "packages": versions,
        "inputs": {rel(p): sha256(p) for p in groups["inputs"] if p.exists()},
        "outputs": {rel(p): sha256(p) for p in groups["outputs"] if p.exists()},
        "missing": [rel(p) for ps in groups.values() for p in ps if not p.exists()],
        "git_commit": _git_commit(layout.root),
        "timings_seconds": timings,
        "rendered": {rel(p): sha256(p) for p in rendered if p.exists()},
        "volatile_fields": VOLATILE,
    }


# --- index.html -------------------------------------------------------------------------

def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii") if path.exists() else ""
    if not data:
        return f'<p class="fail">missing figure: {html.escape(str(path))}</p>'
    return f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"></figure>'


def _number(x: float, digits: int = 3) -> str:
    if float(x).is_integer():
        return f"{x:.0f}"
    return f"{x:.2g}" if abs(x) < 1e-3 else f"{x:.{digits}f}"


def _table(df: pd.DataFrame, caption: str = "") -> str:
    """A table in a scrolling wrapper (wide tables never widen the page)."""
    body = df.to_html(index=False, border=0, classes="t", na_rep="", float_format=_number)
    cap = f"<p class='cap'>{html.escape(caption)}</p>" if caption else ""
    return f"{cap}<div class='wrap'>{body}</div>"


def _value(v) -> str:
    """A specification value as a reader would write it."""
    if isinstance(v, dict) and all(x in ("H", "L") for x in v.values()):
        return " / ".join(f"{k.replace('_', ' ')}: {x}" for k, x in v.items())
    if isinstance(v, dict) and all(isinstance(x, dict) for x in v.values()):
        return "see the table of true coefficients"
    if isinstance(v, dict):
        return "; ".join(f"{k}: {x}" for k, x in v.items())
    if isinstance(v, list):
        return ", ".join(map(str, v))
    return str(v)


def _scorecard(card: pd.DataFrame) -> str:
    shown = card.drop(columns=["source"]).assign(passed=["PASS" if p else "FAIL" for p in card["passed"]])
    return _table(shown).replace("<td>PASS</td>", '<td class="pass">PASS</td>') \
                        .replace("<td>FAIL</td>", '<td class="fail">FAIL</td>')


def _read(layout: Layout, name: str) -> pd.DataFrame:
    path = layout.tables / f"{name}.csv"
    return pd.read_csv(path) if path.exists() else pd.DataFrame({"missing": [str(path)]})


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#212529;line-height:1.45}
h1{font-size:1.6em}h2{border-bottom:2px solid #dee2e6;padding-bottom:.2em;margin-top:2em}
table.t{border-collapse:collapse;font-size:.85em;margin:.5em 0}table.t th,table.t td{padding:.25em .6em;border-bottom:1px solid #dee2e6;text-align:left}
figure{margin:1em 0}img{max-width:100%}.wrap{overflow-x:auto;max-width:100%}.cap{font-weight:600;margin:1em 0 .2em}.pass{color:#2b8a3e;font-weight:600}.fail{color:#c92a2a;font-weight:600}
.banner{background:#fff3bf;border:1px solid #fab005;padding:.6em 1em;border-radius:4px}
.assumed{background:#f8f9fa;border-left:4px solid #868e96;padding:.2em 1em}
.reported{border-left:4px solid #2b8a3e;padding:.2em 1em}small{color:#666}
"""


def render_index(spec: StudySpec, layout: Layout) -> str:
    """The self-contained report page (figures embedded, no network needed)."""
    fig = layout.figures
    card = _read(layout, "scorecard")
    if "passed" not in card:
        card = pd.DataFrame(columns=["claim", "statement", "source", "reported_value", "replicated_value",
                                     "tolerance", "passed"])
    is_reported = card["source"].astype(str).str.startswith("reported")
    reported_card, standards_card = card[is_reported], card[~is_reported]

    def verdict(c):
        ok = int(c["passed"].sum())
        return f"<span class='{'pass' if ok == len(c) else 'fail'}'>{ok} of {len(c)} pass</span>"

    k_pref = _read(layout, "k_preferred")
    k = spec.n_segments.value
    agree = int((k_pref["preferred_k"] == k).sum()) if "preferred_k" in k_pref else 0
    gen = read_generation(layout)
    seed, n, sep = gen.get("seed", "?"), gen.get("n", "?"), gen.get("separation", "?")
    default = (seed, n, sep) == (spec.seed.value, spec.n.value, spec.simulation.separation.value)
    run_note = "" if default else (" <span class='fail'>(not the specification's default run: seed "
                                   f"{spec.seed.value}, N = {spec.n.value}, separation "
                                   f"{spec.simulation.separation.value})</span>")
    prov = pd.DataFrame(provenance_table(spec))
    prov["value"] = prov["value"].map(_value)
    reported = prov[prov["status"] == "reported"].drop(columns="status")
    assumed = prov[prov["status"] == "assumed"].drop(columns="status")
    coefs = pd.DataFrame(spec.simulation.coefficients.value).T.rename_axis("segment vs reference").reset_index()
    centroids = _read(layout, "centroids")
    centroids = centroids[[c for c in centroids.columns if not c.endswith("_z")]]
    profiling = _read(layout, "profiling_by_segment")
    if {"variable", "name", "mean"} <= set(profiling.columns):
        profiling = profiling.pivot(index="name", columns="variable", values="mean").reset_index()
    nb_links = " · ".join(f'<a href="notebooks/{n}.html">{n}</a>' for n in NOTEBOOKS)
    s = spec.study
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Replication report: {html.escape(s.title)}</title><style>{CSS}</style></head><body>",
        f"<h1>Replication report: <em>{html.escape(s.title)}</em></h1>",
        f"<p>{html.escape(s.citation)}</p>",
        "<p class='banner'><b>Synthetic data.</b> The original survey is not available. This report runs "
        "the paper's analysis on a synthetic sample built from what the paper reports plus labelled "
        "assumptions (listed at the end). A pass means the published <em>structure</em> is recoverable "
        "by the published method; it is not evidence about Russian online shoppers.</p>",
        f"<p><small>Study <code>{s.id}</code>; data generated with seed {seed}, N = {n}, separation {sep}"
        f"{run_note}. Executed notebooks: {nb_links}. Checksums, versions and timings: "
        "<a href='manifest.json'>manifest.json</a>.</small></p>",
        f"<h2>Scorecard: reported claims, {verdict(reported_card)}</h2>",
        "<p>One row per finding the paper reports (the claims are data in the study specification). "
        "The tolerances are ours: ± the specification's share tolerance for shares, every need on the "
        "reported side for profiles, a majority of criteria for k, p &lt; .05 for tests. The generator "
        "draws each segment's reported count, so the share rows test whether the method "
        "<em>recovers</em> those sizes, not whether the paper's sizes are right.</p>",
        _scorecard(reported_card),
        f"<h3>Our standards (not reported by the paper), {verdict(standards_card)}</h3>",
        _scorecard(standards_card) if len(standards_card) else "<p>none</p>",
        "<h2>Segment sizes</h2>",
        _img(fig / "cluster_size_check.png", "reported vs replicated segment shares"),
        _table(_read(layout, "cluster_sizes"), "Reported vs replicated shares (percent of the sample)"),
        "<h2>Choosing k</h2>",
        f"<p>The replication uses the reported k = {k}. Of the {len(k_pref)} criteria computed on "
        f"Ward's partitions, <b>{agree}</b> prefer k = {k}.</p>",
        _img(fig / "k_selection.png", "k-selection criteria"), _table(k_pref, "k preferred by each criterion"),
        _img(fig / "dendrogram.png", "dendrogram"),
        "<h2>Segment profiles</h2>",
        _img(fig / "segment_profiles.png", "segment profiles"),
        _table(centroids, "Centroids on the 7-point scale, the High/Low pattern and the matched profile"),
        _table(profiling, "Profiling variables by segment (share using, or mean number of options)"),
        _table(_read(layout, "profiling_tests"), "Tests of the profiling variables across segments"),
        _table(_read(layout, "reliability"), "Reliability of the scales"),
        "<h2>Membership model (multinomial logit)</h2>",
        _table(_read(layout, "logit_fit"), "Fit statistics"),
        _table(_read(layout, "logit_lr_tests"), "Likelihood-ratio test per predictor (model without it vs full)"),
        _img(fig / "logit_odds_ratios.png", "odds ratios"),
        _img(fig / "logit_probabilities.png", "predicted probabilities"),
        _table(_read(layout, "logit_classification"),
               "Classification: recovered segment (rows) by the logit's predicted segment (columns)"),
        "<h2>Recovery against the generating truth (simulation only)</h2>",
        "<p>Only this section reads the generating truth; the analysis above never does.</p>",
        _table(_read(layout, "recovery_clustering"), "Clusters vs true segments"),
        _table(_read(layout, "recovery_confusion"), "True segment (rows) by recovered segment (columns)"),
        _table(_read(layout, "recovery_logit_summary"), "Logit slopes vs their true values"),
        "<h2>What the paper reports</h2><div class='reported'>", _table(reported), "</div>",
        "<h2>Our assumptions</h2><div class='assumed'>"
        "<p>The sources do not report these; each was chosen by us, with the reason given.</p>",
        _table(assumed),
        _table(coefs, "True logit slopes of the generator, per scale point (assumed)"), "</div>",
        "<h2>Where every output comes from</h2>",
        _table(pd.DataFrame([o.__dict__ for o in OUTPUTS])),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def write_report(spec: StudySpec, layout: Layout) -> list[Path]:
    """Write ``index.html`` then ``manifest.json`` (which records the page's checksum)."""
    index = files.atomic_write_text(layout.reports / "index.html", render_index(spec, layout))
    manifest = files.write_json(layout.reports / "manifest.json", build_manifest(spec, layout))
    return [index, manifest]


# --- verify -----------------------------------------------------------------------------

def verify(spec: StudySpec, layout: Layout) -> list[str]:
    """Regenerate everything into a temporary folder; list files whose checksums differ.

    Compares the ``inputs`` and ``outputs`` the committed manifest records (volatile
    fields such as timings and the commit are not compared).

    Returns
    -------
    list of str
        One line per differing, missing or unexpected file; empty when all match.
    """
    manifest_path = layout.reports / "manifest.json"
    try:
        recorded = json.loads(manifest_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return [f"{manifest_path}: no manifest to verify against (run `make report`)"]
    with tempfile.TemporaryDirectory(prefix="replication-verify-") as tmp:
        fresh = Layout(Path(tmp))
        steps = [("generate", lambda: pipeline.generate(spec, fresh)), ("score", lambda: pipeline.score(spec, fresh)),
                 ("cluster", lambda: pipeline.cluster(spec, fresh)), ("logit", lambda: pipeline.logit(spec, fresh)),
                 ("recovery", lambda: pipeline.recovery(spec, fresh)), ("check", lambda: pipeline.check(spec, fresh))]
        for name, step in steps:
            print(f"verify: {name} ...", file=sys.stderr, flush=True)
            step()
        now = build_manifest(spec, fresh)
    problems = []
    if recorded.get("study_specification", {}).get("sha256") != now["study_specification"]["sha256"]:
        problems.append(f"{now['study_specification']['file']}: the study specification changed since the "
                        "manifest was written")
    for group in ("inputs", "outputs"):
        old, new = recorded.get(group, {}), now[group]
        for path in sorted(set(old) | set(new)):
            if path not in new:
                problems.append(f"{path}: recorded in the manifest but not regenerated")
            elif path not in old:
                problems.append(f"{path}: regenerated but not recorded in the manifest")
            elif old[path] != new[path]:
                problems.append(f"{path}: regenerated file differs from the recorded checksum")
    return problems
