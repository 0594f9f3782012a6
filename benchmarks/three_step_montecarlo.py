"""Monte Carlo of the membership model under classification error: naive vs BCH vs ML.

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
from replication.errors import ReplicationError
from replication.membership.three_step import three_step_logit
from replication.segmentation.mixture import LatentProfileClustering
from replication.study.measurement import scale_scores

#: Separation at which the latent profile analysis of golovacheva2022 (N = 2000, k = 5)
#: has a mean relative entropy of about 0.7 (``--scan``; see the module docstring).
SEPARATION = 2.9
#: Sample size: at the study's N = 586 and this separation, the 5-class solution fits
#: every reported profile in only about half of the samples (``--scan --n 586``), so the
#: contrasts could not be named; at N = 2,000 it does in all of them.
N = 2000
METHODS = {"naive": None, "BCH": "BCH", "ML": "ML"}


def one_replicate(spec_path, seed: int, n: int | None, separation: float, se: str = "analytic"):
    """Estimates of every slope by every method on one synthetic sample (a list of dicts)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        spec = load_study(spec_path)
        sample = simulate_survey(spec, n=n, separation=separation, random_state=seed)
        scores = scale_scores(sample.survey, spec)
        dims = scores[spec.dimension_ids]
        preds = scores[[c.id for c in spec.predictor_constructs]]
        truth = sample.truth["logit"]
        k = spec.n_segments.value
        lpa = LatentProfileClustering(k, random_state=seed % (2 ** 31)).fit(dims)
        rows = []
        for name, corr in METHODS.items():
            try:
                res = three_step_logit(dims, preds, k, reference=truth["reference"], correction=corr,
                                       spec=spec, measurement=lpa, se=se)
            except ReplicationError as exc:
                return [{"seed": seed, "method": name, "failed": str(exc), "relative_entropy": lpa.relative_entropy_}]
            if res.match is not None and not res.match.all_matched:
                return [{"seed": seed, "method": name, "failed": "a class fits no reported profile",
                         "relative_entropy": lpa.relative_entropy_}]
            coefs = res.coefficients.set_index(["segment", "term"])
            for seg, slopes in truth["slopes"].items():
                for pred, beta in slopes.items():
                    c = coefs.loc[(seg, pred)]
                    lo, hi = np.log(c["or_ci_low"]), np.log(c["or_ci_high"])
                    rows.append({"seed": seed, "method": name, "failed": "", "segment": seg, "predictor": pred,
                                 "true": beta, "estimate": c["coef"], "se": c["se"], "ci_low": lo, "ci_high": hi,
                                 "covered": bool(lo <= beta <= hi), "converged": res.converged,
                                 "relative_entropy": res.relative_entropy})
        return rows


def summarise(est: pd.DataFrame) -> pd.DataFrame:
    """One row per method: bias, attenuation, coverage (see the module docstring)."""
    ok = est[est["failed"] == ""]
    per_slope = (ok.groupby(["method", "segment", "predictor"])
                 .agg(true=("true", "first"), mean_estimate=("estimate", "mean"),
                      sd_estimate=("estimate", "std"), mean_se=("se", "mean"), coverage=("covered", "mean"))
                 .reset_index())
    rows = []
    for method in METHODS:
        s = per_slope[per_slope["method"] == method]
        nz, z = s[s["true"] != 0], s[s["true"] == 0]
        rel = (nz["mean_estimate"] - nz["true"]) / nz["true"]      # < 0: attenuated towards zero
        rows.append({"method": method,
                     "replicates": int(ok.loc[ok["method"] == method, "seed"].nunique()),
                     "mean_relative_bias_pct": 100 * rel.mean(),
                     "mean_abs_relative_bias_pct": 100 * rel.abs().mean(),
                     "mean_estimate_over_truth": float((nz["mean_estimate"] / nz["true"]).mean()),
                     "mean_bias_zero_slopes": float(z["mean_estimate"].mean()) if len(z) else np.nan,
                     "coverage_95_pct": 100 * s["coverage"].mean(),
                     "coverage_95_min_pct": 100 * s["coverage"].min(),
                     "mean_se_over_sd": float((s["mean_se"] / s["sd_estimate"]).mean())})
    return pd.DataFrame(rows), per_slope


def figure(per_slope: pd.DataFrame, summary: pd.DataFrame, path: Path, title: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6))
    colors = {"naive": "#999999", "BCH": "#1f77b4", "ML": "#d62728"}
    markers = {"naive": "o", "BCH": "s", "ML": "^"}
    ax = axes[0]
    lim = float(np.abs(per_slope[["true", "mean_estimate"]].to_numpy()).max()) * 1.1
    ax.plot([-lim, lim], [-lim, lim], color="black", lw=0.8)
    for m in METHODS:
        s = per_slope[per_slope["method"] == m]
        ax.scatter(s["true"], s["mean_estimate"], label=m, color=colors[m], marker=markers[m], s=28, alpha=0.85)
    ax.set_xlabel("true slope (per scale point)")
    ax.set_ylabel("mean estimate over replicates")
    ax.set_title("Mean estimate against the truth")
    ax.legend(frameon=False)
    ax = axes[1]
    x = np.arange(len(METHODS))
    cov = summary.set_index("method").loc[list(METHODS)]
    ax.bar(x - 0.2, cov["coverage_95_pct"], width=0.4, color=[colors[m] for m in METHODS], label="coverage (%)")
    ax.bar(x + 0.2, 100 * cov["mean_estimate_over_truth"], width=0.4, color=[colors[m] for m in METHODS],
           alpha=0.45, hatch="//", label="mean estimate / truth (%)")
    ax.axhline(95, color="black", lw=0.8, ls="--")
    ax.axhline(90, color="black", lw=0.6, ls=":")
    ax.axhline(100, color="grey", lw=0.6)
    ax.set_xticks(x, list(METHODS))
    ax.set_ylim(0, 130)
    ax.set_title("95% interval coverage (solid) and attenuation (hatched)")
    ax.legend(frameon=False, loc="upper center", ncol=2, fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120, metadata={"Software": None})
    plt.close(fig)


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
    from joblib import Parallel, delayed
    from tqdm import tqdm

    start = time.perf_counter()
    if args.from_csv:
        est = pd.read_csv(args.out / "three_step_montecarlo.csv")
        est["failed"] = est["failed"].astype(object).fillna("").astype(str)
        args.replicates = est["seed"].nunique()
    else:
        seeds = [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(args.seed).spawn(args.replicates)]
        jobs = (delayed(one_replicate)(args.study, s, args.n, args.separation, args.se) for s in seeds)
        rows = []
        for part in tqdm(Parallel(n_jobs=args.jobs, return_as="generator")(jobs), total=len(seeds),
                         desc="replicates", unit="rep"):
            rows.extend(part)
        est = pd.DataFrame(rows)
    elapsed = time.perf_counter() - start
    summary, per_slope = summarise(est)
    failed = est.loc[est["failed"] != "", "seed"].nunique()
    ent = est.groupby("seed")["relative_entropy"].first()
    args.out.mkdir(parents=True, exist_ok=True)
    est.to_csv(args.out / "three_step_montecarlo.csv", index=False, float_format="%.6g")
    summary.to_csv(args.out / "three_step_montecarlo_summary.csv", index=False, float_format="%.6g")
    per_slope.to_csv(args.out / "three_step_montecarlo_slopes.csv", index=False, float_format="%.6g")
    title = (f"{args.study}: N = {args.n}, separation {args.separation}, "
             f"R = {args.replicates} ({failed} left out), mean relative entropy {ent.mean():.2f}")
    figure(per_slope, summary, args.out / "three_step_montecarlo.png", title)
    print(title)
    print(f"time: {elapsed:.0f} s on {args.jobs} workers ({os.cpu_count()} cores)")
    print(summary.to_string(index=False, float_format=lambda x: f"{x:.2f}"))
    print(f"written to {args.out}/")


if __name__ == "__main__":
    main()
