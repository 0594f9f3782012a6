"""Time one complete in-memory analysis per shipped study (budget: 0.5 s at N = 586).

"Complete" means what `replication run` computes before writing: k-selection criteria,
the two-stage segmentation and naming, the multinomial logit with one likelihood-ratio
refit per predictor and the scikit-learn cross-check, recovery tables, and the scorecard.
Imports and data generation are excluded; the survey is the study's default sample.

Usage: .venv/bin/python benchmarks/analysis_speed.py [--repeat 7]
"""

import argparse
import statistics
import time

from replication import analyse, load_study, shipped_studies, simulate_survey
from replication.evaluation.recovery import recovery_tables

BUDGET_SECONDS = {"golovacheva2022": 0.5}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    print(f"{'study':<18} {'N':>6} {'median s':>9} {'min s':>7} {'budget':>7}")
    for sid in shipped_studies():
        spec = load_study(sid)
        sample = simulate_survey(spec)
        analyse(spec, sample.survey)  # warm caches (first calls compile numpy/scipy paths)
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            result = analyse(spec, sample.survey)
            recovery_tables(result, sample.truth)
            times.append(time.perf_counter() - start)
        budget = BUDGET_SECONDS.get(sid)
        print(f"{sid:<18} {len(sample.survey):>6} {statistics.median(times):>9.3f} {min(times):>7.3f} "
              f"{budget if budget else '-':>7}")


if __name__ == "__main__":
    main()
