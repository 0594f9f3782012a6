"""Time `make clean && make report` (every shipped study, notebooks included) against the
time Python takes to import the scientific stack once, in one run on the same machine.

Budget (engine issue): the rebuild takes at most 5x the import. With --fresh it also clones
the committed HEAD into a temporary folder and times `make report` there from nothing
(environment creation included), then again with nothing changed.

Usage: python3 benchmarks/make_report.py [--repeat 3] [--fresh] [--keep]
"""

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

IMPORT = "import pandas, scipy.stats, sklearn, statsmodels.api, matplotlib.pyplot"


def timed(cmd, cwd, shell=False):
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, shell=shell)
    took = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{cmd} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return took


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--fresh", action="store_true", help="also time a fresh clone's first `make report`")
    ap.add_argument("--keep", action="store_true", help="keep the temporary clone")
    args = ap.parse_args()
    root = Path(__file__).resolve().parents[1]
    python = root / ".venv" / "bin" / "python"
    if not python.exists():
        sys.exit("run `make env` first")
    subprocess.run(["make", "report"], cwd=root, check=True, capture_output=True)   # warm the disk cache
    imports, rebuilds = [], []
    for i in range(args.repeat):
        imports.append(timed([str(python), "-c", IMPORT], root))
        rebuilds.append(timed("make clean && make report", root, shell=True))
        print(f"run {i + 1}: import {imports[-1]:.2f} s; make clean && make report {rebuilds[-1]:.2f} s",
              flush=True)
    imp, reb = statistics.median(imports), statistics.median(rebuilds)
    print(f"median: import {imp:.2f} s; make clean && make report {reb:.2f} s; ratio {reb / imp:.1f}x "
          f"(budget 5x)")
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
