"""Monte Carlo of the membership model under classification error: naive vs BCH vs ML.

Regressing hard segment labels on the predictors attenuates the effects when the labels
are uncertain (Bolck, Croon & Hagenaars 2004); the three-step BCH and ML corrections
(Vermunt 2010; :func:`replication.membership.three_step.three_step_logit`) remove the bias.
:func:`three_step_montecarlo` shows how much that matters for a study: on synthetic samples
at a weak separation, where a latent profile analysis classifies respondents with a
relative entropy of about 0.7, it fits step 1 (latent profile analysis at the reported k)
once per sample and the multinomial logit of segment on the predictors three ways: naive
(modal class as the outcome), BCH and ML. Slopes are per scale point of the predictors'
scale scores, like the generator's true slopes (``truth["logit"]["slopes"]``), so the
estimates are compared with the truth directly.

Reported per method (:func:`summarise`): the mean relative bias of the non-zero slopes
(mean over slopes of ``(mean estimate - truth) / truth``, negative when estimates are
pulled towards zero whatever the slope's sign), its mean absolute value, the mean
estimate / truth ratio (attenuation), the mean bias of the zero slopes, and the coverage of
the 95 % intervals over all slopes. Replicates whose step 1 finds a class that fits no
reported profile (so its contrasts cannot be named) are counted and left out. Targets: the
corrected estimates within 10 % of the truth on average, coverage >= 90 %.

Replicates run in parallel (joblib, on a backend of :mod:`.parallel`), seeds from
``numpy.random.SeedSequence(seed).spawn(R)``, so the results do not depend on the backend or
the number of workers; each replicate uses one BLAS thread.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import ReplicationError
from ..seeding import spawn_seeds
from .parallel import parallel_backend

#: Separation at which the latent profile analysis of golovacheva2022 (N = 2,000, k = 5)
#: has a mean relative entropy of about 0.7 (``benchmarks/three_step_montecarlo.py --scan``).
SEPARATION = 2.9
#: Sample size: at the study's N = 586 and this separation the 5-class solution fits every
#: reported profile in only about half of the samples, so the contrasts could not be
#: named; at N = 2,000 it does in all of them.
N = 2000
#: Estimators compared: name -> ``correction`` of :func:`three_step_logit`.
METHODS = {"naive": None, "BCH": "BCH", "ML": "ML"}


def one_replicate(spec, seed: int, n: int, separation: float, se: str = "analytic") -> list[dict]:
    """Every slope's estimate by every method on one synthetic sample (one dict per estimate)."""
    from threadpoolctl import threadpool_limits

    from ..membership.three_step import three_step_logit
    from ..segmentation.mixture import LatentProfileClustering
    from ..study.measurement import scale_scores
    from ..study.simulate import simulate_survey

    with threadpool_limits(1):
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


def summarise(est: pd.DataFrame, n: int, separation: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One row per method (bias, attenuation, coverage) and one per method and slope."""
    ok = est[est["failed"] == ""]
    per_slope = (ok.groupby(["method", "segment", "predictor"], sort=False)
                 .agg(true=("true", "first"), mean_estimate=("estimate", "mean"),
                      sd_estimate=("estimate", "std"), mean_se=("se", "mean"), coverage=("covered", "mean"))
                 .reset_index())
    left_out = int(est.loc[est["failed"] != "", "seed"].nunique())
    entropy = float(est.groupby("seed")["relative_entropy"].first().mean())
    rows = []
    for method in METHODS:
        s = per_slope[per_slope["method"] == method]
        nz, z = s[s["true"] != 0], s[s["true"] == 0]
        rel = (nz["mean_estimate"] - nz["true"]) / nz["true"]      # < 0: attenuated towards zero
        rows.append({"method": method,
                     "replicates": int(ok.loc[ok["method"] == method, "seed"].nunique()),
                     "left_out": left_out, "n": n, "separation": separation,
                     "mean_relative_entropy": entropy,
                     "mean_relative_bias_pct": 100 * rel.mean(),
                     "mean_abs_relative_bias_pct": 100 * rel.abs().mean(),
                     "mean_estimate_over_truth": float((nz["mean_estimate"] / nz["true"]).mean()),
                     "mean_bias_zero_slopes": float(z["mean_estimate"].mean()) if len(z) else np.nan,
                     "coverage_95_pct": 100 * s["coverage"].mean(),
                     "coverage_95_min_pct": 100 * s["coverage"].min(),
                     "mean_se_over_sd": float((s["mean_se"] / s["sd_estimate"]).mean())})
    return pd.DataFrame(rows), per_slope


def three_step_montecarlo(spec, n_seeds: int = 100, seed: int = 0, n: int = N, separation: float = SEPARATION,
                          n_jobs: int = 2, backend: str = "loky", se: str = "analytic",
                          progress: bool = True, scheduler: str | None = None) -> dict[str, pd.DataFrame]:
    """Run the Monte Carlo; its tables by output name.

    ``backend``, ``n_jobs`` and ``scheduler``: where the replicates run
    (:func:`.parallel.parallel_backend`); the results do not depend on them.

    Returns
    -------
    dict
        ``three_step_montecarlo`` (one row per method, see :func:`summarise`),
        ``three_step_slopes`` (one row per method and slope) and ``estimates`` (every
        estimate of every replicate).
    """
    from joblib import Parallel, delayed
    from tqdm import tqdm

    if not spec.is_synthetic or not spec.has_membership_model:
        raise ReplicationError(f"study '{spec.id}': the three-step Monte Carlo needs a generator and a "
                               "membership model")
    seeds = spawn_seeds(seed, n_seeds)
    jobs = (delayed(one_replicate)(spec, s, n, separation, se) for s in seeds)
    rows = []
    # Parallel(return_as="generator") yields in submission order: rows in seed order.
    with parallel_backend(backend, n_jobs, scheduler):
        for part in tqdm(Parallel(return_as="generator")(jobs), total=n_seeds, desc="three-step replicates",
                         disable=None if progress else True, leave=False):
            rows.extend(part)
    est = pd.DataFrame(rows)
    if (est["failed"] == "").sum() == 0:
        raise ReplicationError(f"three-step Monte Carlo: every replicate failed ({est['failed'].iloc[0]})")
    summary, per_slope = summarise(est, n, separation)
    return {"three_step_montecarlo": summary, "three_step_slopes": per_slope, "estimates": est}


def statement(summary: pd.DataFrame) -> str:
    """The Monte Carlo's result in two sentences (the page and the command's log)."""
    s = summary.set_index("method")
    first = s.iloc[0]
    parts = [f"{m}: mean estimate / truth {r.mean_estimate_over_truth:.2f}, 95 % coverage {r.coverage_95_pct:.0f} %"
             for m, r in s.iterrows()]
    return (f"{int(first['replicates'])} samples of N = {int(first['n']):,} at separation {first['separation']:g} "
            f"(mean relative entropy {first['mean_relative_entropy']:.2f}; {int(first['left_out'])} left out): "
            + "; ".join(parts) + ".")
