"""The manifest of a study's run, and ``verify``.

``reports/<study>/manifest.json`` records the SHA-256 of every input and output, the
settings that generated the data, the specification's checksum and the package versions.
It holds nothing that changes from run to run, so rerunning with nothing changed leaves
it byte-identical; the run's timings and commit go to ``reports/<study>/.run.json``
(ignored by git). ``verify`` regenerates everything into a temporary folder through the
same :func:`~replication.pipeline.run_study` and compares checksums.
"""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

from .. import files
from ..layout import Layout
from ..outputs import outputs_for
from ..study.spec import StudySpec

#: Packages whose versions the manifest records.
PACKAGES = ["numpy", "pandas", "scipy", "statsmodels", "scikit-learn", "matplotlib", "seaborn",
            "pyyaml", "pydantic", "nbconvert", "nbclient", "ipykernel"]


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _versions() -> dict:
    out = {}
    for pkg in PACKAGES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def compared_files(spec: StudySpec, layout: Layout) -> dict[str, list[Path]]:
    """Inputs (raw data) and outputs whose checksums the manifest records and ``verify`` compares."""
    raw = [o.path(layout) for o in outputs_for(spec, kinds=("raw",))]
    if not spec.is_synthetic:
        raw = [layout.survey, layout.codebook]
    return {"inputs": raw, "outputs": [o.path(layout) for o in outputs_for(spec) if o.kind != "raw"]}


def _spec_file(spec: StudySpec, root: Path) -> str:
    path = spec.path
    if path is None:
        return "(parsed from text)"
    shipped = Path(__file__).resolve().parents[1] / "studies"
    if path.parent == shipped:
        return f"src/replication/studies/{path.name}"
    return str(path.relative_to(root.resolve())) if path.is_relative_to(root.resolve()) else str(path)


def build_manifest(run) -> dict:
    """Checksums of every input and output, generation settings, specification, versions."""
    spec, layout, result = run.spec, run.layout, run.result
    groups = compared_files(spec, layout)
    rel = lambda p: Path(p).relative_to(layout.root).as_posix()  # noqa: E731
    card = result.scorecard
    return {
        "study": spec.id,
        "title": spec.study.title,
        "synthetic": spec.is_synthetic,
        "generation": run.generation,
        "n_analysed": result.n,
        "claims": {"total": int(len(card)), "passed": int(card["passed"].sum())},
        "study_specification": {"file": _spec_file(spec, layout.root),
                                "sha256": sha256(spec.path) if spec.path else ""},
        "python": platform.python_version(),
        "packages": _versions(),
        "inputs": {rel(p): sha256(p) for p in groups["inputs"] if p.exists()},
        "outputs": {rel(p): sha256(p) for p in groups["outputs"] if p.exists()},
        "missing": [rel(p) for ps in groups.values() for p in ps if not p.exists()],
    }


def _git_commit(root: Path) -> str:
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                             check=True, timeout=10)
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def write_manifest(run, timings: dict | None = None) -> Path:
    """Write the manifest, and the volatile run log beside it; rewrite the landing page."""
    from .page import write_landing_page

    layout = run.layout
    path = files.write_json(layout.manifest, build_manifest(run))
    files.write_json(layout.run_log, {"git_commit": _git_commit(layout.root), "timings_seconds": timings or {}})
    write_landing_page(layout.root)
    return path


def read_manifest(path: Path) -> dict | None:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def verify(spec: StudySpec, layout: Layout) -> list[str]:
    """Regenerate everything into a temporary folder; list files whose checksums differ.

    A synthetic study is regenerated from its seed; a study on real data is re-analysed
    from a copy of its raw survey. Compares the ``inputs`` and ``outputs`` the committed
    manifest records.

    Returns
    -------
    list of str
        One line per differing, missing or unexpected file; empty when all match.
    """
    from ..pipeline import generate, layout_for, run_study

    recorded = read_manifest(layout.manifest)
    if recorded is None:
        return [f"{layout.manifest}: no manifest to verify against (run `make report`)"]
    with tempfile.TemporaryDirectory(prefix="replication-verify-") as tmp:
        fresh = layout_for(spec, tmp)
        if spec.is_synthetic:
            gen = recorded.get("generation", {})
            generate(spec, fresh, n=gen.get("n"), separation=gen.get("separation"), seed=gen.get("seed"))
        else:
            for src in (layout.survey, layout.codebook):
                files.atomic_write_bytes(fresh.raw / src.name, src.read_bytes())
        print(f"verify {spec.id}: regenerating into a temporary folder ...", file=sys.stderr, flush=True)
        run = run_study(spec, tmp, notebooks=False, log=lambda *a: None)
        now = build_manifest(run)
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
