"""``replication verify``: regenerate a study into a temporary folder and compare the
checksums of its files with those its committed manifest records.

It sits above the pipeline (it runs it) and the manifest (it reads and rebuilds it).
"""

from __future__ import annotations

import sys
import tempfile

from . import files
from .layout import Layout
from .pipeline import generate, layout_for, run_study
from .report.manifest import build_manifest, read_manifest
from .study.spec import StudySpec


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
    recorded = read_manifest(layout.manifest)
    if recorded is None:
        return [f"{layout.manifest}: no manifest to verify against (run `make report`)"]
    with tempfile.TemporaryDirectory(prefix="replication-verify-") as tmp:
        fresh = layout_for(spec, tmp)
        if spec.is_synthetic:
            gen = recorded.get("generation", {})
            generate(spec, fresh, n=gen.get("n"), separation=gen.get("separation"), seed=gen.get("seed"))
        elif spec.data is None:
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
