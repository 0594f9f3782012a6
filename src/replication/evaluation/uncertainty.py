"""Uncertainty and stability of the segments: intervals on every replicated share and
centroid, and how stable the segments are when the sample changes.

The share claims are judged by :mod:`replication.evaluation.shares` (simultaneous
intervals, power and margins); this module gives the resampling behind the rest:

* :func:`bootstrap_stability`: ``B`` bootstrap samples of respondents, each segmented again
  from scratch (both stages, naming included). It gives intervals that include the
  segmentation's own variability, for each share and each centroid, and the stability
  measures: per segment, the mean Jaccard similarity between the segment and its best
  match in each bootstrap segmentation (Hennig 2007, R's ``fpc::clusterboot``: >= 0.75
  stable, <= 0.5 dissolved), and globally, the mean adjusted Rand index between the
  original and the bootstrap partitions of the resampled respondents (after Dolnicar &
  Leisch 2010). :func:`row_order_agreement` refits on random row orders *without* the
  canonical sort, to show the order dependence the sort hides.

*At panel scale* (more respondents than the segmentation's exact limit) both run on
smaller samples, as the k criteria do: each bootstrap sample draws ``m`` respondents
(``uncertainty.panel_resample_size``, 2,000 by default) with replacement from all of them,
the m-out-of-n bootstrap (Bickel, Götze & van Zwet 1997), and the percentile intervals of
shares and centroids are rescaled to the full sample, ``estimate + sqrt(m / n) *
(quantile - estimate)``; the Jaccard and ARI stability measures are those of samples of
``m`` (a stricter test than at ``n``: smaller samples are less stable). Random row orders
are fitted to one seeded sample of ``m`` respondents and compared with that sample's own
canonical-order fit. Every table says what it was computed on.

Resamples run in parallel with joblib (``n_jobs``); their seeds come from
``numpy.random.SeedSequence(seed).spawn(B)``, so results do not depend on the number of
workers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score

from ..seeding import spawn_seeds  # re-exported: evaluation.controls imports it from here
from ..segmentation.naming import match_segments
from ..segmentation.registry import make_segmentation
from ..segmentation.ward_kmeans import TwoStageClustering
from ..weights import weighted_mean, weighted_sd

#: Jaccard thresholds of Hennig (2007).
STABLE, DISSOLVED = 0.75, 0.5




def _refit(spec, X, idx, seed, weights=None):
    """One bootstrap segmentation of the rows ``idx`` (each with its survey weight, when
    ``weights`` are given): labels, named segments, centroids."""
    Xb = X[idx]
    model = make_segmentation(spec.segmentation.method.value, spec.n_segments.value, spec, random_state=seed)
    if weights is None:
        model.fit(Xb)
        z = (model.cluster_centers_raw_ - Xb.mean(axis=0)) / Xb.std(axis=0, ddof=1)
    else:
        wb = weights[idx]
        model.fit(Xb, sample_weight=wb)
        z = (model.cluster_centers_raw_ - weighted_mean(Xb, wb)) / weighted_sd(Xb, wb)
    match = match_segments(z, spec)
    named = match.segment_of(model.labels_)
    centers = {match.mapping[c]: model.cluster_centers_raw_[c] for c in range(model.n_clusters)
               if match.mapping[c] is not None}
    return model.labels_, named, centers


def bootstrap_stability(spec, scores: pd.DataFrame, labels, segments, n_resamples: int = 100, seed: int = 0,
                        n_jobs: int = 2, level: float = 0.95, progress: bool = False,
                        resample_size: int | None = None, weights=None) -> dict:
    """Re-segment ``n_resamples`` bootstrap samples; intervals and stability.

    Parameters
    ----------
    spec : StudySpec
    scores : DataFrame
        Scale scores (the segmentation dimensions are taken from it).
    labels : array-like
        The analysis's cluster of each respondent (0..k-1).
    segments : array-like
        The analysis's segment id of each respondent.
    n_resamples, seed, n_jobs, level, progress
        Bootstrap samples, seed (spawned per sample), parallel workers, interval level, tqdm bar.
    resample_size : int, optional
        Respondents per bootstrap sample (the m-out-of-n bootstrap, intervals rescaled;
        see the module docstring). Default: all of them.
    weights : array-like, optional
        Survey weights: respondents are resampled with their weights and every resample is
        segmented weighted, so shares and centroids (and their intervals) are weighted.

    Returns
    -------
    dict of DataFrame
        ``bootstrap_shares`` (segment, replicated_pct, ci_low, ci_high, named_in: share of
        resamples in which some cluster was named after the segment), ``bootstrap_centroids``
        (segment, dimension, mean, ci_low, ci_high), ``stability`` (segment, mean_jaccard,
        verdict), ``stability_global`` (statistic, value).
    """
    from joblib import Parallel, delayed
    from tqdm import tqdm

    X = scores[spec.dimension_ids].to_numpy(dtype=float)
    labels, segments = np.asarray(labels), np.asarray(segments)
    n = X.shape[0]
    m = n if resample_size is None or resample_size >= n else int(resample_size)
    shrink = np.sqrt(m / n)           # 1 for the ordinary bootstrap
    on = f"{n_resamples} samples of {m:,} of {n:,} respondents" + (" (m-out-of-n, intervals rescaled)" if m < n else "")
    seeds = spawn_seeds(seed, n_resamples)
    samples = [np.random.default_rng(s).integers(0, n, m) for s in seeds]
    w = None if weights is None else np.asarray(weights, dtype=float)
    jobs = (delayed(_refit)(spec, X, idx, s, w) for idx, s in zip(samples, seeds))
    runs = Parallel(n_jobs=n_jobs, return_as="generator")(jobs)
    runs = list(tqdm(runs, total=n_resamples, desc="bootstrap", disable=not progress or None, leave=False))
    q = [50 * (1 - level), 100 - 50 * (1 - level)]
    share_rows, centroid_rows, jaccard = [], [], {s: [] for s in spec.segment_ids}
    aris = []
    for idx, (b_labels, b_named, _) in zip(samples, runs):
        uniq, first = np.unique(idx, return_index=True)   # Jaccard on the distinct respondents drawn
        orig, boot = labels[idx][first], b_labels[first]
        aris.append(adjusted_rand_score(orig, boot))
        for s in spec.segment_ids:
            members = segments[idx][first] == s
            if not members.any():
                continue
            best = max(((members & (boot == c)).sum() / (members | (boot == c)).sum()) for c in np.unique(boot))
            jaccard[s].append(best)
    for s in spec.segments:
        if w is None:
            pct = np.array([100.0 * (named == s.id).mean() for _, named, _ in runs])
            est = 100.0 * (segments == s.id).mean()
        else:
            pct = np.array([100.0 * np.average(named == s.id, weights=w[idx]) for idx, (_, named, _) in zip(samples, runs)])
            est = 100.0 * np.average(segments == s.id, weights=w)
        present = np.array([(named == s.id).any() for _, named, _ in runs])
        lo, hi = est + shrink * (np.percentile(pct, q) - est)
        share_rows.append({"segment": s.id, "name": s.name.value, "replicated_pct": est,
                           "ci_low": lo, "ci_high": hi, "named_in": present.mean(), "resamples": n_resamples,
                           "computed_on": on})
        for j, d in enumerate(spec.dimension_ids):
            vals = np.array([c[s.id][j] for _, _, c in runs if s.id in c])
            mine = X[segments == s.id, j]
            if w is None:
                est = mine.mean() if mine.size else np.nan
            else:
                est = np.average(mine, weights=w[segments == s.id]) if mine.size else np.nan
            lo, hi = est + shrink * (np.percentile(vals, q) - est) if vals.size else (np.nan, np.nan)
            centroid_rows.append({"segment": s.id, "dimension": d, "mean": est,
                                  "ci_low": lo, "ci_high": hi, "resamples": int(vals.size)})
    stab = []
    for s in spec.segments:
        vals = np.array(jaccard[s.id])
        mj = float(vals.mean()) if vals.size else np.nan
        verdict = ("stable" if mj >= STABLE else "dissolved" if mj <= DISSOLVED else "doubtful") if vals.size else "absent"
        stab.append({"segment": s.id, "name": s.name.value, "mean_jaccard": mj, "verdict": verdict,
                     "resamples": int(vals.size), "computed_on": on})
    glob = pd.DataFrame([{"statistic": "mean_bootstrap_ari", "value": float(np.mean(aris))},
                         {"statistic": "min_bootstrap_ari", "value": float(np.min(aris))},
                         {"statistic": "resamples", "value": float(n_resamples)},
                         {"statistic": "respondents_per_resample", "value": float(m)}])
    return {"bootstrap_shares": pd.DataFrame(share_rows), "bootstrap_centroids": pd.DataFrame(centroid_rows),
            "stability": pd.DataFrame(stab), "stability_global": glob}


def row_order_agreement(spec, scores: pd.DataFrame, labels, n_orders: int = 20, seed: int = 0,
                        sample_size: int | None = None) -> pd.DataFrame:
    """ARI against the analysis's partition when the rows are fitted in random orders
    without the canonical sort (Ward breaks ties by order; k-means follows its start).

    With ``sample_size`` below the number of respondents, the orders are of one seeded
    sample of that many, compared with the sample's own canonical-order fit."""
    X = scores[spec.dimension_ids].to_numpy(dtype=float)
    labels = np.asarray(labels)
    method = spec.segmentation
    n = X.shape[0]

    def fit(rows, canonical):
        return TwoStageClustering(spec.n_segments.value, standardize=method.standardize.value,
                                  exact_limit=method.exact_limit, random_state=seed,
                                  canonical_order=canonical).fit(rows).labels_

    on = f"all {n:,} respondents"
    if sample_size is not None and sample_size < n:
        pick = np.sort(np.random.default_rng(seed).choice(n, size=sample_size, replace=False))
        X, labels = X[pick], fit(X[pick], True)
        on = f"a seeded sample of {sample_size:,} of {n:,} respondents, against its own canonical-order fit"
    rows = []
    for i, s in enumerate(spawn_seeds(seed, n_orders)):
        perm = np.random.default_rng(s).permutation(X.shape[0])
        rows.append({"order": i + 1, "ari": adjusted_rand_score(labels[perm], fit(X[perm], False)),
                     "computed_on": on})
    return pd.DataFrame(rows)
