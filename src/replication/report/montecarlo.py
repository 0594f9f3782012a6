"""Figures of the Monte Carlo studies (control scenarios, replicability curve)."""

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
