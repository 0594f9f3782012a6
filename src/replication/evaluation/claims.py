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
    return _row(claim, f"{seg.share.value:g}%", f"{r['replicated_pct']:.2f}% (n = {int(r['n'])})",
                "rounds to the reported whole percent", r["rounds_to_reported"])


def _profile(claim: Claim, spec: StudySpec, t):
    seg = spec.segment(claim.segment)
    needs = [c.id for c in spec.clustering_constructs]
    reported = seg.pattern(needs)
    m = t["segment_match"]
    hit = m[m["segment"] == claim.segment]
    if hit.empty:
        return _row(claim, reported, "no cluster matches this profile", "every dimension on the reported side", False)
    return _row(claim, reported, f"{hit['pattern'].iloc[0]} (cluster {int(hit['cluster'].iloc[0])})",
                "every dimension on the reported side", hit["matched"].iloc[0])


def _n_segments(claim: Claim, spec: StudySpec, t):
    pref = t["k_preferred"]
    k = spec.n_segments.value
    agree = int((pref["preferred_k"] == k).sum())
    ks = ", ".join(f"{c}: {v}" for c, v in zip(pref["criterion"], pref["preferred_k"]))
    return _row(claim, str(k), f"k = {k} used; {agree} of {len(pref)} criteria prefer it ({ks})",
                f">= {claim.min_agree} of {len(pref)} criteria agree", agree >= claim.min_agree)


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


EVALUATORS = {"segment_share": _share, "segment_share_rounds": _share_rounds, "segment_profile": _profile, "n_segments": _n_segments,
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
