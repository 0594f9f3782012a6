"""The scorecard: every claim in the study specification checked against the results.

Claims are data (``claims:`` in the specification); this module only knows how to
evaluate each *kind* of claim from the result tables, and what each kind presupposes.

A verdict is one of four words (:data:`~replication.evaluation.shares.VERDICTS` says what
each means): PASS, FAIL, NOT DIAGNOSTIC (consistent, but this sample could not have shown
a difference that matters) and NOT ASSESSABLE (a claim it presupposes did not pass). A
claim whose table is missing fails with "not computed": a check never passes by default.
"""

from __future__ import annotations

import pandas as pd

from ..study.spec import Claim, StudySpec
from .shares import FAIL, NOT_ASSESSABLE, NOT_DIAGNOSTIC, PASS, share_rule_text

#: What each claim kind presupposes: the kinds of the claims that must pass before a claim
#: of this kind can be judged. A premise with a segment counts only for the claim about the
#: same segment (a share presupposes that segment's profile, not the others').
PREMISES: dict[str, tuple[str, ...]] = {
    "n_segments": (),
    "stability": (),
    "reliability": (),
    "segment_profile": ("n_segments", "stability"),
    "segment_share": ("n_segments", "stability", "segment_profile"),
    "model_lr_test": ("n_segments", "stability"),
    "predictor_lr_test": ("n_segments", "stability"),
    "segment_stands_out": ("n_segments", "stability", "segment_profile"),
}

#: Claim kinds that judge a segment's share (the specification reads the older names
#: ``segment_share_rounds`` and ``segment_share_interval`` as ``segment_share``).
SHARE_KINDS = ("segment_share",)

#: What a PASS of a share claim rests on in a sample built with the reported composition.
BUILT_IN = "recovered from a sample with the reported composition"


def premises(claim: Claim, spec: StudySpec) -> list[Claim]:
    """The claims of the specification that ``claim`` presupposes."""
    kinds = PREMISES[claim.kind]
    return [c for c in spec.claims if c.id != claim.id and c.kind in kinds and (c.segment is None or claim.segment is None or c.segment == claim.segment)]


def _row(claim, reported, replicated, tolerance, verdict, basis=None):
    verdict = verdict if isinstance(verdict, str) else (PASS if verdict else FAIL)
    if claim.tolerance_source and tolerance:     # where the rule's threshold comes from
        tolerance = f"{tolerance} ({claim.tolerance_source})"
    return {"claim": claim.id, "statement": claim.statement,
            "source": f"reported: {claim.reported}" if claim.reported else f"assumed: {claim.assumed}",
            "reported_value": reported, "replicated_value": replicated, "tolerance": tolerance,
            "verdict": verdict, "basis": basis or None}


def _share(claim: Claim, spec: StudySpec, t):
    r = t["share_verdicts"].set_index("segment").loc[claim.segment]
    if r["basis"] == "recovery":
        replicated = (f"{r['replicated_pct']:.1f}% (n = {int(r['n'])}) against {r['built_in_pct']:.1f}% built in; "
                      f"tolerance ± {r['tolerance_pp']:.2f} points")
        basis = BUILT_IN
    else:
        replicated = (f"{r['replicated_pct']:.1f}% (n = {int(r['n'])}; simultaneous interval "
                      f"{r['ci_low']:.1f}-{r['ci_high']:.1f}); detects {r['detectable_pp']:.1f} points")
        basis = "sampled composition"
        if r["verdict"] == NOT_DIAGNOSTIC:
            replicated += f"; diagnostic from N = {int(r['n_diagnostic']):,}"
    return _row(claim, f"{r['reported_pct']:g}%", replicated, f"margin ± {r['margin_pp']:.2f} points",
                r["verdict"], basis)


def _stability(claim: Claim, spec: StudySpec, t):
    stab = t["stability"]
    worst = stab.loc[stab["mean_jaccard"].fillna(-1).idxmin()]
    ok = bool((stab["mean_jaccard"] >= claim.min_jaccard).all())
    return _row(claim, f"every segment's mean bootstrap Jaccard >= {claim.min_jaccard:g}",
                f"lowest {worst['mean_jaccard']:.2f} ({worst['segment']}, {worst['verdict']}; "
                f"{int(worst['resamples'])} resamples)",
                f">= {claim.min_jaccard:g} (Hennig's 'stable')", ok)


def _profile(claim: Claim, spec: StudySpec, t):
    from ..segmentation.profiles import EFFECT_SIZE_MIN
    seg = spec.segment(claim.segment)
    reported = seg.pattern(spec.dimension_ids)
    rule = (f"each reported level on its side of the sample mean, and d >= {EFFECT_SIZE_MIN:g} against "
            "the segments reported on the other side")
    m = t["segment_match"]
    hit = m[m["segment"] == claim.segment]
    if hit.empty:
        return _row(claim, reported, "no cluster matches this profile", rule, False)
    check = t["profile_check"]
    mine = check[(check["segment"] == claim.segment) & (check["reported"] != "M")]
    failed = mine[~mine["holds"]]
    detail = "; ".join(f"{r.dimension} z = {r.z:+.2f}, d = {r.effect_size:.1f}" for r in failed.itertuples())
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


def _stands_out(claim: Claim, spec: StudySpec, t):
    c = t["profiling_contrasts"]
    level = c["level"].isna() if claim.level is None else c["level"] == claim.level
    rows = c[(c["variable"] == claim.variable) & (c["segment"] == claim.segment) & level]
    if rows.empty:
        raise KeyError(f"profiling_contrasts of {claim.variable}")
    r = rows.iloc[0]
    var = next(p for p in spec.profiling if p.id == claim.variable)
    what = {"binary": "share", "count": "mean", "categorical": f"share '{(var.categories or {}).get(claim.level)}'"}[var.kind]
    fmt = (lambda v: f"{v:.2f}") if var.kind == "count" else (lambda v: f"{100 * v:.0f}%")
    replicated = (f"{what} {fmt(r['mean'])} (n = {int(r['n'])}) against {fmt(r['others_mean'])} in the other segments; "
                  f"{r['test']} p = {r['p_value']:.2g}")
    # On a synthetic sample the finding is built into the generator (segment_rates): say so.
    built = spec.is_synthetic and var.segment_rates is not None and claim.segment in var.segment_rates.value
    return _row(claim, f"{claim.segment} higher on {claim.variable}", replicated,
                f"higher than the other segments together, one-sided p < {claim.alpha:g}",
                bool(r["difference"] > 0 and r["p_value"] < claim.alpha),
                "built into the generator (the study's segment_rates)" if built else "")


def _reliability(claim: Claim, spec: StudySpec, t):
    rel = t["reliability"]
    worst = rel.loc[rel["alpha"].idxmin()]
    return _row(claim, f"alpha >= {claim.min_alpha:.2f}", f"lowest alpha {worst['alpha']:.2f} ({worst['construct']})",
                f">= {claim.min_alpha:.2f}", rel["alpha"].min() >= claim.min_alpha)


EVALUATORS = {"segment_share": _share, "stability": _stability, "segment_profile": _profile,
              "n_segments": _n_segments, "model_lr_test": _model_lr, "predictor_lr_test": _predictor_lr,
              "reliability": _reliability, "segment_stands_out": _stands_out}

COLUMNS = ["verdict", "claim", "statement", "source", "reported_value", "replicated_value", "tolerance",
           "passed", "premises", "basis"]


def evaluate_claims(spec: StudySpec, tables: dict[str, pd.DataFrame], skip_kinds: tuple[str, ...] = ()) -> pd.DataFrame:
    """One scorecard row per claim: ``verdict, claim, statement, source, reported_value,
    replicated_value, tolerance, passed, premises, basis`` (``premises`` and ``basis``
    empty where a claim has none).

    Each claim is judged on its own first; then a claim any of whose premises (see
    :data:`PREMISES`) did not pass is NOT ASSESSABLE, whatever its own comparison said
    (premises of premises count too). ``passed`` is ``verdict == "PASS"``.

    Parameters
    ----------
    spec : StudySpec
    tables : dict
        Result tables by name (as in ``AnalysisResult.tables``); missing ones make their claims fail.
    skip_kinds : tuple of str
        Claim kinds not evaluated in this run (the stability claim in a Monte Carlo
        replicate, which skips the re-segmentation bootstrap): left off the scorecard,
        and not counted as premises.
    """
    claims = [c for c in spec.claims if c.kind not in skip_kinds]
    rows = {}
    for claim in claims:
        try:
            rows[claim.id] = EVALUATORS[claim.kind](claim, spec, tables)
        except KeyError as exc:
            rows[claim.id] = _row(claim, "", f"not computed (missing {exc.args[0]})", "", False)
    for claim in claims:
        rows[claim.id]["premises"] = ", ".join(p.id for p in premises(claim, spec) if p.id in rows) or None
    changed = True
    while changed:          # premise chains (share -> profile -> k) settle in a few passes
        changed = False
        for claim in claims:
            row = rows[claim.id]
            blocked = [p.id for p in premises(claim, spec) if p.id in rows and rows[p.id]["verdict"] in (FAIL, NOT_ASSESSABLE)]
            if blocked and row["verdict"] != NOT_ASSESSABLE:
                row["verdict"] = NOT_ASSESSABLE
                row["replicated_value"] = f"not judged: {', '.join(blocked)} did not pass ({row['replicated_value']})"
                changed = True
    out = pd.DataFrame([rows[c.id] for c in claims], columns=COLUMNS)
    out["passed"] = out["verdict"] == PASS
    return out


def verdict_counts(card: pd.DataFrame) -> dict[str, int]:
    """How many claims have each verdict (every word, zeros included)."""
    return {v: int((card["verdict"] == v).sum()) for v in (PASS, FAIL, NOT_DIAGNOSTIC, NOT_ASSESSABLE)}


def card_fails(card: pd.DataFrame) -> bool:
    """Whether a scorecard counts as failed: some claim FAILs or is NOT ASSESSABLE (its
    premise failed). NOT DIAGNOSTIC is not a failure: it says the sample cannot tell."""
    return bool(card["verdict"].isin([FAIL, NOT_ASSESSABLE]).any())


__all__ = ["BUILT_IN", "EVALUATORS", "PREMISES", "SHARE_KINDS", "evaluate_claims", "premises",
           "share_rule_text", "verdict_counts", "card_fails"]
