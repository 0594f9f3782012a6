"""Figures, written so the same inputs give byte-identical PNG files.

Each function returns a matplotlib figure (shown inline in a notebook);
:func:`save_figure` writes it and closes it. The backend is left to matplotlib, which
picks the non-interactive Agg backend on a machine without a display.
"""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
import pandas as pd
import seaborn as sns
from scipy.cluster.hierarchy import dendrogram as scipy_dendrogram

from ..files import atomic_write_bytes

sns.set_theme(style="whitegrid", context="notebook")
plt.rcParams.update({"svg.hashsalt": "replication", "figure.dpi": 100})
PASS, FAIL = "#2b8a3e", "#c92a2a"


def save_figure(fig, path: str | Path, dpi: int = 120) -> Path:
    """Save a PNG without the metadata (software version) that would differ across machines."""
    buf = BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return atomic_write_bytes(path, buf.getvalue())


def cluster_size_check(sizes: pd.DataFrame):
    """Reported against replicated share per segment, with the band a share must fall in.

    The band is the reported share ± the specification's tolerance; without a tolerance it
    is the rounding interval of the reported whole percent (the share must round to it).
    """
    df = sizes[sizes["segment"] != "unmatched"].reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(7.5, max(4.0, 0.55 * len(df) + 1.2)))
    y = np.arange(len(df))
    tol = df["tolerance_pp"].iloc[0]
    if pd.notna(tol):
        half, ok_col, band = tol, "within_tolerance", f"reported ± {tol:g} points (tolerance)"
    else:
        half, ok_col, band = 0.5, "rounds_to_reported", "rounds to the reported whole percent"
    ax.barh(y, 2 * half, left=df["reported_pct"] - half, height=0.6, color="#dee2e6", label=band)
    ax.scatter(df["reported_pct"], y, marker="|", s=400, color="black", label="reported share", zorder=3)
    colors = [PASS if ok else FAIL for ok in df[ok_col]]
    ax.scatter(df["replicated_pct"], y, s=60, color=colors, zorder=4, label="replicated share")
    for yi, (rep, ok) in enumerate(zip(df["replicated_pct"], df[ok_col])):
        ax.annotate(f"{rep:.1f}%" + ("" if ok else "  outside"), (rep, yi), xytext=(0, 12), ha="center",
                    textcoords="offset points", fontsize=9, color=PASS if ok else FAIL)
    ax.set_yticks(y, df["name"])
    ax.invert_yaxis()
    ax.set_xlabel("share of the sample (%)")
    ax.set_xlim(0, max(df["reported_pct"].max(), df["replicated_pct"].max()) + 8)
    unmatched = sizes.loc[sizes["segment"] == "unmatched", "replicated_pct"]
    title = "Segment sizes: reported vs replicated"
    if len(unmatched):
        title += f"\n({unmatched.iloc[0]:.1f}% of respondents in clusters fitting no reported profile)"
    ax.set_title(title)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3, fontsize=8, frameon=False)
    return fig


def segment_profiles(centroids: pd.DataFrame, needs: list[str], labels: dict[str, str],
                     dimensions: str = "segmentation dimensions"):
    """Centroid of each segment on each dimension (z-scores), one line per segment."""
    fig, ax = plt.subplots(figsize=(7.5, 4))
    x = np.arange(len(needs))
    for _, row in centroids.iterrows():
        z = [row[f"{v}_z"] for v in needs]
        ax.plot(x, z, marker="o", label=f"{labels.get(row['segment'], row['segment'])} "
                                        f"({row['pattern']}, n={row['n']})")
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(x, [v.replace("_", "\n") for v in needs])
    ax.set_ylabel("centroid (z-score; above 0 = High)")
    ax.set_title(f"Segment profiles on the {len(needs)} {dimensions}")
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return fig


def dendrogram(Z: np.ndarray, k: int, p: int = 30):
    """Ward's tree truncated to its last ``p`` merges, with the cut at ``k`` clusters."""
    fig, ax = plt.subplots(figsize=(7.5, 4))
    scipy_dendrogram(Z, truncate_mode="lastp", p=p, ax=ax, color_threshold=Z[-(k - 1), 2],
                     above_threshold_color="grey", show_leaf_counts=True, leaf_font_size=7)
    cut = (Z[-k, 2] + Z[-(k - 1), 2]) / 2
    ax.axhline(cut, ls="--", color="black", lw=0.8)
    ax.text(ax.get_xlim()[1], cut, f" k = {k}", va="bottom", ha="right", fontsize=9)
    ax.set_ylabel("Ward merge height")
    ax.set_xlabel("cluster (respondents in brackets)")
    ax.grid(False, axis="x")
    ax.set_title(f"Ward's hierarchy, last {p} merges")
    return fig


def k_selection(criteria: pd.DataFrame, preferred: pd.DataFrame, k_used: int):
    """One panel per criterion against k, the preferred k marked."""
    panels = [("height_jump", "agglomeration jump"), ("calinski_harabasz", "Calinski-Harabasz"),
              ("silhouette", "silhouette"), ("davies_bouldin", "Davies-Bouldin"), ("gap", "gap statistic")]
    fig, axes = plt.subplots(1, 5, figsize=(13, 2.8), sharex=True)
    best = dict(zip(preferred["criterion"], preferred["preferred_k"]))
    for ax, (col, name) in zip(axes, panels):
        ax.plot(criteria["k"], criteria[col], marker="o", ms=4)
        if col == "gap":
            ax.errorbar(criteria["k"], criteria["gap"], yerr=criteria["gap_se"], fmt="none", ecolor="grey")
        kb = best[name]
        ax.plot([kb], criteria.loc[criteria["k"] == kb, col], marker="o", ms=10, mfc="none",
                mec=PASS if kb == k_used else FAIL, mew=2)
        ax.axvline(k_used, ls=":", color="black", lw=0.8)
        ax.set_title(f"{name}\nprefers k = {kb}", fontsize=9)
        ax.set_xlabel("k")
    fig.suptitle(f"Choosing k (dotted: reported k = {k_used})", y=1.08)
    return fig


def odds_ratio_forest(coefficients: pd.DataFrame, reference: str, labels: dict[str, str],
                      units: str = "per SD"):
    """Odds ratios with 95% intervals, one panel per contrast against the reference."""
    coefs = coefficients[coefficients["term"] != "const"]
    contrasts = list(dict.fromkeys(coefs["segment"]))
    fig, axes = plt.subplots(1, len(contrasts), figsize=(3.2 * len(contrasts), 3.2), sharey=True)
    axes = np.atleast_1d(axes)
    terms = list(dict.fromkeys(coefs["term"]))
    y = np.arange(len(terms))
    for ax, seg in zip(axes, contrasts):
        c = coefs[coefs["segment"] == seg].set_index("term").loc[terms]
        sig = c["p_value"] < 0.05
        ax.hlines(y, c["or_ci_low"], c["or_ci_high"], color="grey")
        ax.scatter(c["odds_ratio"], y, color=np.where(sig, PASS, "grey"), zorder=3)
        ax.axvline(1, color="black", lw=0.8)
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ticks = [v for v in (0.125, 0.25, 0.5, 1, 2, 4, 8)
                 if c["or_ci_low"].min() / 1.5 <= v <= c["or_ci_high"].max() * 1.5]
        ax.set_xticks(ticks, [f"{v:g}" for v in ticks])
        ax.set_title(f"{labels.get(seg, seg)}\nvs {labels.get(reference, reference)}", fontsize=9)
        ax.set_xlabel("odds ratio (log scale)")
    axes[0].set_yticks(y, [t.replace("_", " ") for t in terms])
    axes[0].invert_yaxis()
    fig.suptitle(f"Multinomial logit: odds ratios {units} with 95% CI (green: p < .05)", y=1.08)
    return fig


def predicted_probabilities(curves: pd.DataFrame, labels: dict[str, str]):
    """Predicted segment probabilities along each predictor, the others at their means."""
    preds = list(dict.fromkeys(curves["predictor"]))
    segs = [c for c in curves.columns if c not in ("predictor", "value")]
    fig, axes = plt.subplots(1, len(preds), figsize=(3.0 * len(preds), 3.0), sharey=True)
    for ax, p in zip(np.atleast_1d(axes), preds):
        c = curves[curves["predictor"] == p]
        for s in segs:
            ax.plot(c["value"], c[s], label=labels.get(s, s))
        ax.set_title(p.replace("_", " "), fontsize=9)
        ax.set_xlabel("scale score")
    np.atleast_1d(axes)[0].set_ylabel("predicted probability")
    np.atleast_1d(axes)[-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    fig.suptitle("Predicted segment probabilities along each predictor (others at their means)", y=1.04)
    return fig


def study_figures(result) -> dict:
    """Every figure of an analysis, by output name (see :mod:`replication.outputs`).

    Parameters
    ----------
    result : AnalysisResult

    Returns
    -------
    dict
        Output name -> matplotlib figure.
    """
    spec, t = result.spec, result.tables
    k = spec.n_segments.value
    names = spec.segment_names
    figs = {
        "cluster_size_check": cluster_size_check(t["cluster_sizes"]),
        "segment_profiles": segment_profiles(t["centroids"], spec.dimension_ids, names, spec.study.dimensions),
        "dendrogram": dendrogram(result.segmentation.model.linkage_, k),
    }
    if "k_selection" in t:
        figs["k_selection"] = k_selection(t["k_selection"], t["k_preferred"], k)
    if result.membership is not None:
        m = result.membership
        units = "per SD" if m.standardized else "per scale point"
        figs["logit_odds_ratios"] = odds_ratio_forest(m.coefficients, m.reference, names, units)
        figs["logit_probabilities"] = predicted_probabilities(m.probability_curves(result.membership_data), names)
    return figs
