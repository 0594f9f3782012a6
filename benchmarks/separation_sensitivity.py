"""How recovery depends on the generator's separation (a benchmark, not a test).

For each separation, simulate the survey for many seeds, run the two-stage cluster
analysis, and print: median adjusted Rand index, the share of seeds in which every
segment share is within 2 and within 3 points of the reported share, and the share of
seeds in which every cluster matches its reported profile.

Usage: .venv/bin/python benchmarks/separation_sensitivity.py [--seeds 50]
"""

import argparse
import sys
import time

import numpy as np
from sklearn.metrics import adjusted_rand_score

from replication import analyse, load_study, simulate_survey


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=50)
    ap.add_argument("--separations", type=float, nargs="*", default=[0.0, 3.0, 4.0, 4.5, 5.0, 5.5, 6.0])
    ap.add_argument("--study", default="golovacheva2022", help="a shipped study id or a path to a YAML")
    args = ap.parse_args()
    spec = load_study(args.study)
    print(f"{'separation':>10} {'median ARI':>11} {'all within 2pp':>15} {'all within 3pp':>15} "
          f"{'all profiles':>13} {'s/seed':>7}")
    for sep in args.separations:
        start = time.perf_counter()
        ari, within2, within3, matched = [], [], [], []
        for seed in range(args.seeds):
            sample = simulate_survey(spec, separation=sep, random_state=seed)
            result = analyse(spec, sample.survey, with_k_selection=False, crosscheck=False)
            diff = result.tables["cluster_sizes"]
            diff = diff[diff["segment"] != "unmatched"]["difference_pp"].abs()
            seg = result.segmentation
            ari.append(adjusted_rand_score(sample.true_segments.to_numpy(), seg.model.labels_))
            within2.append((diff <= 2).all() and seg.match.all_matched)
            within3.append((diff <= 3).all() and seg.match.all_matched)
            matched.append(seg.match.all_matched)
            print(f"\r  separation {sep}: seed {seed + 1}/{args.seeds}", end="", file=sys.stderr, flush=True)
        print("\r", end="", file=sys.stderr)
        per = (time.perf_counter() - start) / args.seeds
        print(f"{sep:>10.1f} {np.median(ari):>11.3f} {np.mean(within2):>15.0%} {np.mean(within3):>15.0%} "
              f"{np.mean(matched):>13.0%} {per:>7.3f}")


if __name__ == "__main__":
    main()
