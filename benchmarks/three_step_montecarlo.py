"""Monte Carlo of the membership model under classification error: naive vs BCH vs ML.

The Monte Carlo itself is the library's (``replication threestep`` writes it into the study's
report; :mod:`replication.evaluation.three_step_mc`); this script runs it with other
settings, keeps every estimate, and scans the relative entropy by separation.

On synthetic samples of a study (default golovacheva2022) at a weak separation, where a
latent profile analysis classifies respondents with a relative entropy of about 0.7, fit
step 1 (latent profile analysis, k = the reported k) once per sample and the multinomial
logit of segment on the predictors three ways: naive (modal class as the outcome), BCH
and ML (:func:`replication.membership.three_step.three_step_logit`). Slopes are per scale
point of the predictors' scale scores, like the generator's true slopes
(``truth["logit"]["slopes"]``), so estimates are compared with the truth directly.

Reported per method: the mean relative bias of the non-zero slopes
(mean over slopes of ``(mean estimate - truth) / truth``, negative when estimates are
pulled towards zero whatever the sign of the slope), its mean absolute value, the
mean estimate / truth ratio (attenuation), the mean bias of the zero slopes, and the
coverage of the 95% intervals over all slopes. Replicates whose step 1 finds a class
that fits no reported profile (so its contrasts cannot be named) are counted and left
out. Targets: corrected estimates within 10% of the truth on average, coverage >= 90%.

Usage::

    .venv/bin/python benchmarks/three_step_montecarlo.py --replicates 100 --out reports/three_step_montecarlo
    .venv/bin/python benchmarks/three_step_montecarlo.py --scan      # relative entropy by separation

Replicates run in parallel (joblib, 2 workers), seeds from
``numpy.random.SeedSequence(seed).spawn(R)``; each worker is limited to one BLAS thread.
Writes ``three_step_montecarlo.csv`` (every estimate), ``three_step_montecarlo_summary.csv``
and ``three_step_montecarlo.png`` to ``--out``.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from replication import load_study, simulate_survey
from replication.evaluation.three_step_mc import N, SEPARATION, summarise, three_step_montecarlo
from replication.report.figures import save_figure
from replication.report.montecarlo import three_step_bias
from replication.segmentation.mixture import LatentProfileClustering
from replication.study.measurement import scale_scores


def scan(spec_path, separations, seeds, n):
    spec = load_study(spec_path)
    print(f"{'separation':>10} {'mean rel. entropy':>18} {'all classes named':>18}")
    for sep in separations:
        ent, named = [], []
        for seed in range(seeds):
            sample = simulate_survey(spec, n=n, separation=sep, random_state=seed)
            dims = scale_scores(sample.survey, spec)[spec.dimension_ids]
            lpa = LatentProfileClustering(spec.n_segments.value, random_state=seed).fit(dims)
            ent.append(lpa.relative_entropy_)
            from replication.membership.three_step import class_names
            named.append(class_names(lpa, dims, spec)[1].all_matched)
        print(f"{sep:>10.2f} {np.mean(ent):>18.3f} {np.mean(named):>18.0%}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--study", default="golovacheva2022")
    ap.add_argument("--replicates", "-R", type=int, default=100)
    ap.add_argument("--separation", type=float, default=SEPARATION)
    ap.add_argument("--n", type=int, default=N, help="sample size (default %(default)s)")
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--se", choices=["analytic", "bootstrap"], default="analytic")
    ap.add_argument("--out", type=Path, default=Path("reports/three_step_montecarlo"))
    ap.add_argument("--scan", action="store_true", help="print relative entropy by separation and stop")
    ap.add_argument("--from-csv", action="store_true",
                    help="re-summarise the estimates already in --out (no new replicates)")
    args = ap.parse_args()
    if args.scan:
        scan(args.study, [2.7, 2.9, 3.1, 3.5], 12, args.n)
        return
    start = time.perf_counter()
    if args.from_csv:
        est = pd.read_csv(args.out / "three_step_montecarlo.csv")
        est["failed"] = est["failed"].astype(object).fillna("").astype(str)
        summary, per_slope = summarise(est, args.n, args.separation)
    else:
        tables = three_step_montecarlo(load_study(args.study), n_seeds=args.replicates, seed=args.seed, n=args.n,
                                       separation=args.separation, n_jobs=args.jobs, se=args.se)
        est, summary, per_slope = tables["estimates"], tables["three_step_montecarlo"], tables["three_step_slopes"]
    elapsed = time.perf_counter() - start
    args.out.mkdir(parents=True, exist_ok=True)
    est.to_csv(args.out / "three_step_montecarlo.csv", index=False, float_format="%.6g")
    summary.to_csv(args.out / "three_step_montecarlo_summary.csv", index=False, float_format="%.6g")
    per_slope.to_csv(args.out / "three_step_montecarlo_slopes.csv", index=False, float_format="%.6g")
    save_figure(three_step_bias(per_slope, summary), args.out / "three_step_montecarlo.png")
    title = (f"{args.study}: N = {args.n}, separation {args.separation}, R = {est['seed'].nunique()} "
             f"({int(summary['left_out'].iloc[0])} left out), mean relative entropy "
             f"{summary['mean_relative_entropy'].iloc[0]:.2f}")
    print(title)
    print(f"time: {elapsed:.0f} s on {args.jobs} workers ({os.cpu_count()} cores)")
    print(summary.to_string(index=False, float_format=lambda x: f"{x:.2f}"))
    print(f"written to {args.out}/")


if __name__ == "__main__":
    main()
