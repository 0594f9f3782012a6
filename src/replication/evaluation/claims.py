"""The scorecard: every claim in the study specification checked against the results.

Claims are data (``claims:`` in the specification); this module only knows how to
evaluate each *kind* of claim from the result tables. A claim whose table is missing
fails with "not computed": a check never passes by default.
"""

from __future__ import annotations

import pandas as pd

from ..study.spec import Claim, StudySpec


def _row(claim, reported, replicated, tolerance, passed):
    return {"claim": claim.id, "statement": claim.statement,
            "source": f"reported: {claim.reported}" if claim.reported else f"assumed: {claim.assumed}",
            "reported_value": reported, "replicated_value": replicated, "tolerance": tolerance,
            "passed": bool(passed)}


def _share(claim: Claim, spec: StudySpec, t):
    sizes = t["cluster_sizes"].set_index("segment")
    seg = spec.segment(claim.segment)
    r = sizes.loc[claim.segment]
    return _row(claim, f"{seg.share.value:g}%", f"{r['replicated_pct']:.1f}% (n = {int(r['n'])})",
                f"± {spec.share_tolerance_pp.value:g} points", r["within_tolerance"])


def _share_rounds(claim: Claim, spec: StudySpec, t):
    r = t["cluster_sizes"].set_index("segment").loc[claim.segment]
    seg = spec.segment(claim.segment)
    found = _segment_found(claim.segment, t)
    return _row(claim, f"{seg.share.value:g}%", f"{r['replicated_pct']:.2f}% (n = {int(r['n'])})"
                + ("" if found else "; the segment's profile does not hold"),
                "the segment found (its profile holds) and its share rounds to the reported whole percent",
                bool(r["rounds_to_reported"]) and found)


def _segment_found(segment: str, t) -> bool:
    """A share is only the share of a segment that was found: some cluster is named after
    it, and its profile holds by the absolute rule (else a cluster of the right size cut
    from noise would pass)."""
    check = t["profile_check"]
    mine = check[(check["segment"] == segment) & (check["reported"] != "M")]
    named = (t["segment_match"]["segment"] == segment).any()
    return bool(named and mine["holds"].all())


#: Claim kinds that judge a segment's share.
SHARE_KINDS = ("segment_share", "segment_share_rounds", "segment_share_interval")


def share_rule(spec: StudySpec) -> tuple[str | None, str]:
    """The kind of the study's share claims and their size criterion in words (the first
    share claim's kind; ``None`` when the study makes no share claim)."""
    kind = next((c.kind for c in spec.claims if c.kind in SHARE_KINDS), None)
    u = spec.uncertainty
    text = {None: "(the study makes no share claim)",
            "segment_share": (f"lies within ± {spec.share_tolerance_pp.value:g} percentage points of the reported "
                              "share" if spec.share_tolerance_pp is not None else ""),
            "segment_share_rounds": "rounds (half up) to the reported whole percent",
            "segment_share_interval": (f"has the reported share inside its {u.level:.0%} sampling interval "
                                       f"({u.share_resamples:,} multinomial resamples of the segment counts)")}[kind]
    return kind, text


def share_check(spec: StudySpec, segments) -> pd.DataFrame:
    """Each segment's share judged by the size criterion of the study's share claims.

    The claims also ask that the segment be found (its profile holds by the absolute
    rule); this is the size part alone, for a segmentation without the other tables (a
    repeated sample, a negative control).

    Returns
    -------
    DataFrame
        ``segment, name, reported_pct, replicated_pct, difference_pp, passes`` (and
        ``ci_low, ci_high`` for the interval criterion).
    """
    from ..segmentation.profiles import cluster_size_table
    from .uncertainty import share_intervals

    kind, _ = share_rule(spec)
    seg = pd.Series(segments).reset_index(drop=True)
    sizes = cluster_size_table(spec, seg)
    sizes = sizes[sizes["segment"].isin(spec.segment_ids)]
    out = sizes[["segment", "name", "reported_pct", "replicated_pct", "difference_pp"]].copy()
    if kind == "segment_share_interval":
        u = spec.uncertainty
        iv = share_intervals(spec, seg.to_numpy(), u.share_resamples, spec.seed.value, u.level).set_index("segment")
        out["ci_low"] = out["segment"].map(iv["ci_low"])
        out["ci_high"] = out["segment"].map(iv["ci_high"])
        out["passes"] = out["segment"].map(iv["reported_inside"]).astype(bool)
    elif kind == "segment_share_rounds":
        out["passes"] = sizes["rounds_to_reported"].to_numpy()
    elif kind == "segment_share":
        out["passes"] = sizes["within_tolerance"].to_numpy()
    else:
        out["passes"] = True
    return out.reset_index(drop=True)


def _share_interval(claim: Claim, spec: StudySpec, t):
    r = t["share_intervals"].set_index("segment").loc[claim.segment]
    level = f"{spec.uncertainty.level:.0%}"
    found = _segment_found(claim.segment, t)
    return _row(claim, f"{r['reported_pct']:g}%",
                f"{r['replicated_pct']:.1f}% ({level} interval {r['ci_low']:.1f}-{r['ci_high']:.1f}; "
                f"difference {r['difference_pp']:+.1f} points)" + ("" if found else
                                                                   "; the segment's profile does not hold"),
                f"the segment found (its profile holds) and the reported share inside the replication's "
                f"{level} interval", bool(r["reported_inside"]) and found)


def _stability(claim: Claim, spec: StudySpec, t):
    stab = t["stability"]
    worst = stab.loc[stab["mean_jaccard"].fillna(-1).idxmin()]
    ok = bool((stab["mean_jaccard"] >= claim.min_jaccard).all())
    return _row(claim, f"every segment's mean bootstrap Jaccard >= {claim.min_jaccard:g}",
                f"lowest {worst['mean_jaccard']:.2f} ({worst['segment']}, {worst['verdict']}; "
                f"{int(worst['resamples'])} resamples)",
                f">= {claim.min_jaccard:g} (Hennig's 'stable')", ok)


def _profile(claim: Claim, spec: StudySpec, t):
    from ..segmentation.profiles import EFFECT_SIZE_MIN, MIDPOINT_MARGIN
    seg = spec.segment(claim.segment)
    reported = seg.pattern(spec.dimension_ids)
    rule = (f"each reported level at least {MIDPOINT_MARGIN:.3g} of the scale range beyond its midpoint, "
            f"and d >= {EFFECT_SIZE_MIN:g} against the segments reported on the other side")
    m = t["segment_match"]
    hit = m[m["segment"] == claim.segment]
    if hit.empty:
        return _row(claim, reported, "no cluster matches this profile", rule, False)
    check = t["profile_check"]
    mine = check[(check["segment"] == claim.segment) & (check["reported"] != "M")]
    failed = mine[~mine["holds"]]
    detail = "; ".join(f"{r.dimension} mean {r.mean:.2f} (midpoint {r.midpoint:g}, d = {r.effect_size:.1f})"
                       for r in failed.itertuples())
    replicated = f"{hit['pattern'].iloc[0]} (cluster {int(hit['cluster'].iloc[0])})" + \
        (f"; fails on {detail}" if detail else "")
    return _row(claim, reported, replicated, rule, bool(hit["matched"].iloc[0]) and failed.empty)


def _n_segments(claim: Claim, spec: StudySpec, t):
    pref = t["k_preferred"]
    k = spec.n_segments.value
    agree = int((pref["preferred_k"] == k).sum())
    ks = ", ".join(f"{c}: {v}" for c, v in zip(pref["criterion"], pref["preferred_k"]))
    need = min(claim.min_agree, len(pref))   # a method with one criterion of its own needs that one
    return _row(claim, str(k), f"k = {k} used; {agree} of {len(pref)} criteria prefer it ({ks})",
                f">= {need} of {len(pref)} criteria agree", agree >= need)


def _model_lr(claim: Claim, spec: StudySpec, t):
    fit = t["logit_fit"].set_index("statistic")["value"]
    p = float(fit["lr_p_value"])
    return _row(claim, "significant", f"LR chi2({int(fit['lr_df'])}) = {fit['lr_chi2']:.1f}, p = {p:.2g}",
                f"p < {claim.alpha:g}", p < claim.alpha)


def _predictor_lr(claim: Claim, spec: StudySpec, t):
    lr = t["logit_lr_tests"].set_index("predictor").loc[claim.predictor]
    return _row(claim, "predicts membership", f"LR chi2({int(lr['df'])}) = {lr['lr_chi2']:.1f}, p = {lr['p_value']:.2g}",
                f"p < {claim.alpha:g}", lr["p_value"] < claim.alpha)


def _reliability(claim: Claim, spec: StudySpec, t):
    rel = t["reliability"]
    worst = rel.loc[rel["alpha"].idxmin()]
    return _row(claim, f"alpha >= {claim.min_alpha:.2f}", f"lowest alpha {worst['alpha']:.2f} ({worst['construct']})",
                f">= {claim.min_alpha:.2f}", rel["alpha"].min() >= claim.min_alpha)


EVALUATORS = {"segment_share": _share, "segment_share_rounds": _share_rounds,
              "segment_share_interval": _share_interval, "stability": _stability, "segment_profile": _profile, "n_segments": _n_segments,
              "model_lr_test": _model_lr, "predictor_lr_test": _predictor_lr, "reliability": _reliability}


def evaluate_claims(spec: StudySpec, tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One scorecard row per claim: ``claim, statement, source, reported_value,
    replicated_value, tolerance, passed``.

    Parameters
    ----------
    spec : StudySpec
    tables : dict
        Result tables by name (as in ``AnalysisResult.tables``); missing ones make their claims fail.
    """
    rows = []
    for claim in spec.claims:
        try:
            rows.append(EVALUATORS[claim.kind](claim, spec, tables))
        except KeyError as exc:
            rows.append(_row(claim, "", f"not computed (missing {exc.args[0]})", "", False))
    return pd.DataFrame(rows, columns=["claim", "statement", "source", "reported_value",
                                       "replicated_value", "tolerance", "passed"])
