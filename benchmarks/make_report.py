"""Time `make report` from a fresh clone (environment set-up included) and warm.

Clones the committed HEAD into a temporary folder, runs `make report` there (creating the
virtual environment, running the pipeline and the notebooks), then runs it again with
nothing changed. Prints both wall-clock times.

Usage: python3 benchmarks/make_report.py [--keep]
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed(cmd, cwd):
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    took = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return took


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep", action="store_true", help="keep the temporary clone")
    args = ap.parse_args()
    root = Path(__file__).resolve().parents[1]
    tmp = Path(tempfile.mkdtemp(prefix="bench-report-"))
    clone = tmp / "project"
    subprocess.run(["git", "clone", "-q", str(root), str(clone)], check=True)
    print(f"cores: {os.cpu_count()}; clone of {subprocess.run(['git', '-C', str(root), 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True).stdout.strip()} in {clone}")
    print("fresh `make report` (creates .venv, runs pipeline and notebooks) ...", flush=True)
    fresh = timed(["make", "report"], clone)
    print(f"  fresh: {fresh:.1f} s", flush=True)
    warm = timed(["make", "report"], clone)
    print(f"  warm (nothing changed): {warm:.1f} s", flush=True)
    touched = clone / "reports" / "tables" / "logit_fit.csv"
    os.utime(touched)
    partial = timed(["make", "report"], clone)
    print(f"  after touching {touched.relative_to(clone)}: {partial:.1f} s (only the steps downstream rerun)")
    if not args.keep:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
