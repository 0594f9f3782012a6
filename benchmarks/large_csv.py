"""A large survey file, end to end (a benchmark, not a test).

Writes a CSV survey of ``--rows`` respondents (default 2,800,000: about 200 MB) with the
demonstration survey's 40 columns (``replication demo``: items, reverse-coded and renamed
items, 99 "No answer" codes and blank cells, carried and ignored columns), drawn with
replacement from a generated demonstration sample of 20,000 and given unique text ids
(``R-0000001``, ...), and the demonstration's study YAML pointed at it. Then it runs, in a
fresh subprocess, what a user runs::

    replication run --study big_study.yaml --root <scratch folder> --no-notebooks

(the analysis, every output and the page; no notebooks) and reports the wall time, the peak resident memory of that process tree
(``ru_maxrss`` of the waited-for children: the largest process, which is the main one) and
whether the run showed progress while it read the file. The budgets (issue: a real survey
must work): at most 90 s and 1.5 GB (1536 MiB) peak.

Usage::

    .venv/bin/python benchmarks/large_csv.py                    # 2.8 M rows
    .venv/bin/python benchmarks/large_csv.py --rows 200000      # quicker
    .venv/bin/python benchmarks/large_csv.py --unweighted       # without the weight column
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TIME_BUDGET_S = 90.0
MEMORY_BUDGET_MB = 1536.0


def write_survey(folder: Path, rows: int, seed: int = 11, weighted: bool = True) -> Path:
    """The large CSV and its study YAML in ``folder``; returns the YAML's path. With
    ``weighted=False`` the YAML does not name the weight column (the same file, analysed
    unweighted, as before the demonstration had a weight)."""
    from replication.study.demo import demo_frame, demo_yaml

    base, _ = demo_frame(n=20_000, seed=seed)
    # Whole numbers written as such (pandas would write 5.0), blank cells empty; the weight
    # keeps its decimals.
    for col in base.columns:
        x = base[col]
        if x.dtype.kind == "f" and np.all(np.isnan(x) | (x == np.round(x))):
            base[col] = x.astype("Int64")
    rng = np.random.default_rng(seed)
    pick = rng.integers(len(base), size=rows)
    csv = folder / "big_survey.csv"
    chunk = 500_000
    with open(csv, "w", encoding="utf-8", newline="") as fh:
        for start in range(0, rows, chunk):
            part = base.iloc[pick[start:start + chunk]].copy()
            part["case_id"] = [f"R-{i:07d}" for i in range(start + 1, start + len(part) + 1)]
            part.to_csv(fh, index=False, header=start == 0)
    text = demo_yaml(sav_name=csv.name, n=rows, seed=seed)
    # A CSV file declares no user-missing values: the 99 "No answer" codes are named here.
    text = re.sub(r"(?m)^(  missing: .*)$", r"\1\n  missing_codes: [99]", text, count=1)
    if not weighted:
        text = re.sub(r"(?m)^  weight: .*\n", "", text, count=1)
    yaml_path = folder / "big_study.yaml"
    yaml_path.write_text(text, encoding="utf-8")
    return yaml_path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=2_800_000)
    ap.add_argument("--folder", type=Path, default=None, help="scratch folder (default: a temporary one)")
    ap.add_argument("--unweighted", action="store_true", help="analyse the file without its weight column")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="large-csv-") as tmp:
        folder = args.folder or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        yaml_path = write_survey(folder, args.rows, weighted=not args.unweighted)
        size_mb = (folder / "big_survey.csv").stat().st_size / 2**20
        os.sync()       # the file on disk before the run, as a user's survey is (no write-back during it)
        print(f"wrote {args.rows:,} rows ({size_mb:.0f} MB) in {time.perf_counter() - t0:.0f} s; analysed "
              f"{'unweighted' if args.unweighted else 'weighted'}", flush=True)
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "replication", "run", "--study", str(yaml_path),
                               "--root", str(folder / "project"), "--no-notebooks"], capture_output=True, text=True)
        wall = time.perf_counter() - start
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        if proc.returncode != 0:
            print(proc.stdout[-3000:], proc.stderr[-3000:], sep="\n")
            print(f"the run failed (exit {proc.returncode})")
            return 1
        progress = "reading" in proc.stderr and "%" in proc.stderr
        print(f"replication run: {wall:.1f} s wall, peak RSS {peak_mb:.0f} MiB, progress shown while reading: "
              f"{'yes' if progress else 'no'}")
        print(f"budgets: time <= {TIME_BUDGET_S:.0f} s: {'met' if wall <= TIME_BUDGET_S else 'NOT MET'}; "
              f"memory <= {MEMORY_BUDGET_MB:.0f} MiB: {'met' if peak_mb <= MEMORY_BUDGET_MB else 'NOT MET'}")
        timings = [line for line in proc.stdout.splitlines() + proc.stderr.splitlines() if " s" in line][-12:]
        print("\n".join(timings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
