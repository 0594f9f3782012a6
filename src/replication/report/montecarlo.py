"""Figures of the Monte Carlo studies (replicability curve, three-step membership model)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd


def replicability_curve(curve: pd.DataFrame, default_separation: float):
    """Probability that each claim, and all claims, pass against the separation."""
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    claims = [c for c in curve.columns if c not in ("separation", "replicates", "all_claims", "median_ari")]
    for c in claims:
        ax.plot(curve["separation"], curve[c], color="#adb5bd", lw=0.8)
    ax.plot(curve["separation"], curve["all_claims"], color="black", lw=2.2, marker="o", label="all claims pass")
    ax.plot(curve["separation"], curve["median_ari"], color="#1c7ed6", lw=1.5, ls="--", marker="s",
            label="median ARI vs the truth")
    ax.axhline(0.8, color="#c92a2a", lw=0.8, ls=":", label="probability 0.8")
    ax.axvline(default_separation, color="black", lw=0.8, ls="--")
    ax.text(default_separation, 1.02, f" default {default_separation:g}", fontsize=9, va="bottom")
    ax.set_xlabel("separation (High - Low distance, within-segment SDs)")
    ax.set_ylabel("probability / ARI")
    ax.set_ylim(-0.05, 1.1)
    ax.plot([], [], color="#adb5bd", lw=0.8, label="each claim")
    ax.legend(fontsize=9, loc="lower right")
    n = int(curve["replicates"].iloc[0])
    ax.set_title(f"Replicability: {n} replicates per separation, sampled composition", fontsize=11)
    return fig


#: One colour and marker per estimator of the three-step Monte Carlo.
ESTIMATOR_STYLE = {"naive": ("#868e96", "o"), "BCH": ("#1c7ed6", "s"), "ML": ("#c92a2a", "^")}


def three_step_bias(per_slope: pd.DataFrame, summary: pd.DataFrame):
    """Mean estimate against the true slope per estimator, and coverage and attenuation."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.4), layout="constrained")
    ax = axes[0]
    lim = float(abs(per_slope[["true", "mean_estimate"]].to_numpy()).max()) * 1.1
    ax.plot([-lim, lim], [-lim, lim], color="black", lw=0.8, label="estimate = truth")
    for m, (colour, marker) in ESTIMATOR_STYLE.items():
        s = per_slope[per_slope["method"] == m]
        ax.scatter(s["true"], s["mean_estimate"], label=m, color=colour, marker=marker, s=30, alpha=0.85)
    ax.set_xlabel("true slope (per scale point)")
    ax.set_ylabel("mean estimate over the samples")
    ax.set_title("Mean estimate against the truth", fontsize=11)
    ax.legend(frameon=False, fontsize=9)
    ax = axes[1]
    methods = [m for m in ESTIMATOR_STYLE if m in set(summary["method"])]
    s = summary.set_index("method").loc[methods]
    x = range(len(methods))
    colours = [ESTIMATOR_STYLE[m][0] for m in methods]
    ax.bar([i - 0.2 for i in x], s["coverage_95_pct"], width=0.4, color=colours, label="95 % coverage (%)")
    ax.bar([i + 0.2 for i in x], 100 * s["mean_estimate_over_truth"], width=0.4, color=colours, alpha=0.45,
           hatch="//", label="mean estimate / truth (%)")
    for i, m in enumerate(methods):
        ax.text(i - 0.2, s.loc[m, "coverage_95_pct"] + 2, f"{s.loc[m, 'coverage_95_pct']:.0f}", ha="center", fontsize=9)
        ax.text(i + 0.2, 100 * s.loc[m, "mean_estimate_over_truth"] + 2,
                f"{100 * s.loc[m, 'mean_estimate_over_truth']:.0f}", ha="center", fontsize=9)
    ax.axhline(95, color="black", lw=0.8, ls="--")
    ax.axhline(90, color="black", lw=0.6, ls=":")
    ax.set_xticks(list(x), methods)
    ax.set_ylim(0, 130)
    ax.set_title("Coverage (solid) and attenuation (hatched)", fontsize=11)
    ax.legend(frameon=False, loc="upper center", ncol=2, fontsize=9)
    first = summary.iloc[0]
    fig.suptitle(f"{int(first['replicates'])} samples, N = {int(first['n']):,}, separation {first['separation']:g}, "
                 f"mean relative entropy {first['mean_relative_entropy']:.2f}", fontsize=11)
    return fig
