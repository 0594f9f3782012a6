"""Time `make clean && make report` (every shipped study, notebooks included) against the
time Python takes to import the scientific stack once, in one run on the same machine.

Budget (engine issue): the rebuild takes at most 5x the import. With --fresh it also clones
the committed HEAD into a temporary folder and times `make report` there from nothing
(environment creation included), then again with nothing changed.

Both sides depend on whether Python finds compiled bytecode: `make env` installs with uv,
which compiles none, and where PYTHONDONTWRITEBYTECODE is set (as on the development
machine) Python never caches any, so every process compiles what it imports. The script
prints which case it measured. --bytecode measures the other case too: Python caches
bytecode in a temporary folder (PYTHONPYCACHEPREFIX; the environment is not touched),
warmed by one run first.

Usage: python3 benchmarks/make_report.py [--repeat 3] [--bytecode] [--fresh] [--keep]
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

IMPORT = "import pandas, scipy.stats, sklearn, statsmodels.api, matplotlib.pyplot"


def timed(cmd, cwd, shell=False, env=None):
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, shell=shell, env=env)
    took = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{cmd} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return took


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--bytecode", action="store_true", help="also measure with cached bytecode")
    ap.add_argument("--fresh", action="store_true", help="also time a fresh clone's first `make report`")
    ap.add_argument("--keep", action="store_true", help="keep the temporary clone")
    args = ap.parse_args()
    root = Path(__file__).resolve().parents[1]
    python = root / ".venv" / "bin" / "python"
    if not python.exists():
        sys.exit("run `make env` first")
    cases = [("as this machine is set up", None)]
    if args.bytecode:
        cache = tempfile.mkdtemp(prefix="bench-pycache-")
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = cache
        cases.append(("with cached bytecode (PYTHONPYCACHEPREFIX)", env))
    for label, env in cases:
        seen = os.environ if env is None else env
        print(f"case: {label}: PYTHONDONTWRITEBYTECODE={'set' if seen.get('PYTHONDONTWRITEBYTECODE') else 'unset'}; "
              f"compiled bytecode in .venv: {'yes' if any((root / '.venv').rglob('__pycache__')) else 'no'}",
              flush=True)
        # Warm the disk cache (and, in the bytecode case, the bytecode cache) with one import
        # and one complete rebuild first.
        timed([str(python), "-c", IMPORT], root, env=env)
        timed("make clean && make report" if env is not None else "make report", root, shell=True, env=env)
        imports, rebuilds = [], []
        for i in range(args.repeat):
            imports.append(timed([str(python), "-c", IMPORT], root, env=env))
            rebuilds.append(timed("make clean && make report", root, shell=True, env=env))
            print(f"run {i + 1}: import {imports[-1]:.2f} s; make clean && make report {rebuilds[-1]:.2f} s",
                  flush=True)
        imp, reb = statistics.median(imports), statistics.median(rebuilds)
        print(f"median: import {imp:.2f} s; make clean && make report {reb:.2f} s; ratio {reb / imp:.1f}x "
              f"(budget 5x)", flush=True)
    if args.bytecode:
        shutil.rmtree(cache, ignore_errors=True)
    if args.fresh:
        tmp = Path(tempfile.mkdtemp(prefix="bench-report-"))
        clone = tmp / "project"
        subprocess.run(["git", "clone", "-q", str(root), str(clone)], check=True)
        fresh = timed(["make", "report"], clone)
        warm = timed(["make", "report"], clone)
        print(f"fresh clone `make report` (creates .venv): {fresh:.1f} s; again, nothing changed: {warm:.1f} s")
        if not args.keep:
            shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
