"""Share verdicts with power: is each replicated segment share consistent with the
reported one, and could this sample have told them apart?

Every rule here is fixed in advance and stated on the page; none is chosen by looking at
the control scenarios.

**The margin** of a share claim (how far a share may lie from the reported one and still
count as the same finding) is the larger of two precisions of the *original* study:

* its reporting precision: a share reported as a whole percent ``r`` only says that the
  share lies in ``[r - 0.5, r + 0.5)``, so half a percentage point;
* its statistical precision: the difference the original sample (the study's N) had 33 %
  power to detect at a two-sided 5 % level, ``(z_.975 + z_.33) * sqrt(p (1 - p) / N)``
  (Simonsohn's 2015 "small telescopes": a replication cannot hold the original to more
  than the original could see).

**How a share is judged** depends on how the analysed sample came about:

* *Sampled composition* (a real survey, or a synthetic one drawn respondent by respondent):
  the shares vary from sample to sample, so each is judged by its simultaneous 95 %
  interval (Goodman 1965: family-wise over the segments, from statsmodels'
  ``multinomial_proportions_confint``), and the smallest difference from the reported
  share that this sample detects with 80 % power at the same family-wise level is given
  beside it. Goodman's intervals suit a handful of categories each with dozens of
  respondents; Sison-Glaz's are for many small categories.
* *Exact composition* (the default synthetic sample, built with exactly the reported
  composition): there is no sampling error to judge, only recovery. The replicated share
  is compared with the built-in one with a tolerance for classification error, estimated
  from the data: a normal model of the found segments (their centroids, shares and
  within-segment covariance, as they stand) gives each respondent's probability of
  belonging to each segment; the count a segment truly has then differs from its hard
  count by a
  Poisson-binomial amount with mean ``S - H`` (``S`` the summed probabilities, ``H`` the
  hard count) and variance ``V = sum p (1 - p)``. The tolerance is ``|S - H| + z sqrt(V) +
  0.5`` respondents (``z`` family-wise 95 % over the segments, ``0.5`` for counting in whole
  respondents), the larger of two standard models (a covariance pooled over the segments,
  as in discriminant analysis; independent dimensions with each segment's own variances, as
  in latent profile analysis), since which describes the segments is not known. The
  smallest difference detected is then the tolerance itself.

*Survey weights* (a sampled survey with a ``weight:`` column): the shares are the
weighted ones and their intervals are Goodman's on Kish's effective sample size
``n_eff = (sum w)**2 / sum w**2`` (the weighted share times ``n_eff`` as the count;
:mod:`replication.weights`), which widens them by the design effect of unequal weighting
``N / n_eff``; the detectable difference uses ``n_eff``, and the N from which a share
would be diagnostic is in respondents at the same design effect.

**The verdict**: FAIL when the share is inconsistent with the reported one (the interval
misses the reported margin, or the recovered count lies outside the tolerance of the
built-in count); otherwise PASS when the detectable difference is within the margin, and
NOT DIAGNOSTIC when it is not (with the N from which a sampled share would be diagnostic).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.stats import norm

#: Power at which the detectable difference of a share is computed.
POWER = 0.80
#: Power of the original study that defines its statistical precision (small telescopes).
ORIGINAL_POWER = 0.33
#: Half a unit of the reported precision: shares are reported as whole percents.
ROUNDING_PP = 0.5

#: Verdict words, with the one line each the page shows.
PASS, FAIL, NOT_DIAGNOSTIC, NOT_ASSESSABLE = "PASS", "FAIL", "NOT DIAGNOSTIC", "NOT ASSESSABLE"
VERDICTS = {
    PASS: "the replication agrees with the claim, and this sample could have shown otherwise",
    FAIL: "the replication contradicts the claim",
    NOT_DIAGNOSTIC: "the replication is consistent with the claim, but at this N it could not have shown "
                    "a difference that matters: not evidence either way",
    NOT_ASSESSABLE: "a claim this one presupposes (the segment structure) did not pass, so it is not judged",
}


def family_z(level: float, k: int) -> float:
    """Two-sided normal quantile at a family-wise ``level`` over ``k`` shares (Bonferroni,
    as Goodman's intervals use)."""
    return float(norm.ppf(1 - (1 - level) / (2 * max(k, 1))))


def share_margin(p: float, n_original: int) -> float:
    """The margin of a share claim in percentage points (see the module docstring).

    Parameters
    ----------
    p : float
        The reported share as a proportion.
    n_original : int
        The original study's sample size.
    """
    telescope = (norm.ppf(0.975) + norm.ppf(ORIGINAL_POWER)) * math.sqrt(p * (1 - p) / n_original)
    return max(ROUNDING_PP, 100 * telescope)


def margin_rule(spec) -> str:
    """The margin rule in words, with the study's N."""
    return (f"margin: the larger of the reporting precision (± {ROUNDING_PP:g} points of a whole percent) and the "
            f"difference the original N = {spec.n.value:,} had {ORIGINAL_POWER:.0%} power to detect")


def composition_of(spec) -> str:
    """How the analysed sample's composition came about: ``"exact"`` for a synthetic
    sample built with the reported composition, ``"sampled"`` otherwise (a real survey, a
    multinomial synthetic sample)."""
    if spec.data is not None or spec.simulation is None:
        return "sampled"
    return "exact" if spec.simulation.composition.value == "exact" else "sampled"


def classification_models(X, labels) -> dict:
    """Each respondent's probability of belonging to each cluster under two normal models of
    the found clusters, fitted to them as they stand (no re-clustering): the linear
    discriminant model (a covariance pooled over the clusters; scikit-learn's
    ``LinearDiscriminantAnalysis``) and the latent-profile model (within a cluster the
    dimensions are independent, each cluster with its own variances; scikit-learn's
    ``GaussianNB``, every variance floored by ``h**2 / 12``, the variance of rounding to the
    grid of scale scores, as in :mod:`replication.segmentation.mixture`).

    Returns
    -------
    dict
        Model name -> ``(S, V)``: by cluster label, the summed probabilities and their
        Poisson-binomial variance.
    """
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.naive_bayes import GaussianNB

    X, labels = np.asarray(X, dtype=float), np.asarray(labels)
    steps = [np.diff(np.unique(col)) for col in X.T]
    h = min((st.min() for st in steps if st.size), default=0.0)
    lpa = GaussianNB(var_smoothing=0).fit(X, labels)
    lpa.var_ = lpa.var_ + max(h * h / 12, 1e-9)
    out = {}
    for name, model in (("pooled", LinearDiscriminantAnalysis(solver="lsqr").fit(X, labels)), ("per-segment", lpa)):
        P = model.predict_proba(X)
        # Keyed by the cluster label itself (classes_ lists the labels present).
        out[name] = (dict(zip(model.classes_, P.sum(axis=0))), dict(zip(model.classes_, (P * (1 - P)).sum(axis=0))))
    return out


def share_verdicts(spec, segments, clusters=None, X=None, composition: str | None = None,
                   weights=None) -> pd.DataFrame:
    """Every segment's share judged as the share claims judge it.

    Parameters
    ----------
    spec : StudySpec
    segments : array-like
        Segment id of each respondent (``"unmatched"`` allowed).
    clusters : array-like, optional
        Cluster label ``0..k-1`` of each respondent; with ``X``, needed for exact composition.
    X : array, optional
        The segmentation dimensions (rows as ``segments``).
    composition : {"exact", "sampled"}, optional
        Default :func:`composition_of` the specification.
    weights : array-like, optional
        Survey weights (sampled composition only): weighted shares, intervals on Kish's
        effective N (see the module docstring), and a column ``effective_n``.

    Returns
    -------
    DataFrame
        One row per segment: ``segment, name, reported_pct, n, replicated_pct,
        difference_pp`` (replicated minus reported), ``basis`` (``recovery`` or
        ``sampling``), ``built_in_pct, ci_low, ci_high, tolerance_pp, detectable_pp,
        margin_pp, n_diagnostic, consistent, diagnostic, verdict``.
    """
    seg = np.asarray(segments, dtype=object)
    n = seg.size
    composition = composition or composition_of(spec)
    ids = spec.segment_ids
    counts = np.array([(seg == s).sum() for s in ids])
    other = n - counts.sum()
    if weights is not None:
        if composition == "exact":
            raise ValueError("survey weights apply to a sampled survey, not to one built with an exact composition")
        from ..weights import kish_effective_n
        w = np.asarray(weights, dtype=float)
        n_eff = kish_effective_n(w)
        # Shares as proportions of the summed weight, counted on the effective N.
        eff = np.array([w[seg == s].sum() for s in ids]) / w.sum() * n_eff
        eff_other = n_eff - eff.sum()
    level = spec.uncertainty.level
    z = family_z(level, len(ids))
    z_power = norm.ppf(POWER)
    rows = []
    if composition == "exact":
        if clusters is None or X is None:
            raise ValueError("exact composition is judged by recovery: pass the clusters and the dimensions")
        built = spec.segment_counts(n)
        models = classification_models(X, clusters)
        clusters = np.asarray(clusters)
        cluster_of = {s: int(clusters[seg == s][0]) for s in ids if (seg == s).any()}
    else:
        from statsmodels.stats.proportion import multinomial_proportions_confint
        if weights is None:
            cats = np.append(counts, other) if other else counts
        else:
            cats = np.append(eff, eff_other) if other else eff
        ci = 100 * multinomial_proportions_confint(cats, alpha=1 - level, method="goodman")
    for j, s in enumerate(spec.segments):
        p_rep = s.share.value / 100
        pct = 100 * counts[j] / n if weights is None else 100 * eff[j] / n_eff
        margin = share_margin(p_rep, spec.n.value)
        row = {"segment": s.id, "name": s.name.value, "reported_pct": s.share.value, "n": int(counts[j]),
               "replicated_pct": pct, "difference_pp": pct - s.share.value, "margin_pp": margin}
        if composition == "exact":
            c = cluster_of.get(s.id)
            H = counts[j]
            # The larger tolerance of the two models: which normal model describes the
            # segments is not known, and a response style can bend either.
            tol = max(abs(S[c] - H) + z * math.sqrt(V[c]) + 0.5 if c is not None else 0.5
                      for S, V in models.values())
            consistent = abs(H - built[j]) <= tol
            detectable = 100 * tol / n
            row.update(basis="recovery", built_in_pct=100 * built[j] / n, ci_low=np.nan, ci_high=np.nan,
                       tolerance_pp=detectable, detectable_pp=detectable, n_diagnostic=np.nan)
        else:
            lo, hi = ci[j]
            consistent = hi >= s.share.value - margin and lo <= s.share.value + margin
            n_info = n if weights is None else n_eff
            detectable = 100 * (z + z_power) * math.sqrt(p_rep * (1 - p_rep) / n_info)
            needed = math.ceil((z + z_power) ** 2 * p_rep * (1 - p_rep) / (margin / 100) ** 2)
            if weights is not None:          # respondents, at this sample's design effect
                needed = math.ceil(needed * n / n_eff)
            row.update(basis="sampling", built_in_pct=np.nan, ci_low=lo, ci_high=hi, tolerance_pp=np.nan,
                       detectable_pp=detectable, n_diagnostic=needed)
            if weights is not None:
                row["effective_n"] = n_eff
        diagnostic = detectable <= margin
        row.update(consistent=bool(consistent), diagnostic=bool(diagnostic),
                   verdict=FAIL if not consistent else PASS if diagnostic else NOT_DIAGNOSTIC)
        rows.append(row)
    return pd.DataFrame(rows)


def share_rule_text(spec, composition: str | None = None, weighted: bool = False) -> str:
    """How the study's shares are judged, in one sentence (the page, the notebooks)."""
    composition = composition or composition_of(spec)
    level = f"{spec.uncertainty.level:.0%}"
    if composition == "exact":
        how = ("recovered from a sample built with the reported composition: the replicated count must lie "
               "within the classification-error tolerance of the built-in count (each respondent's probability "
               f"of each segment under normal models of the segments as found, family-wise {level})")
    else:
        how = (f"the reported share (± its margin) inside the replicated share's simultaneous {level} interval "
               f"(Goodman), and a difference of the margin detectable with {POWER:.0%} power")
        if weighted:
            how += ("; the shares are weighted and their intervals and power use Kish's effective sample size "
                    "(sum w)² / sum w² (the design effect of unequal weighting)")
    return f"{how}; {margin_rule(spec)}"
