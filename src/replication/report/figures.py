"""Figures, written so the same inputs give byte-identical PNG files, and their text
descriptions (the alt text of the study page).

Each function returns a matplotlib figure (shown inline in a notebook);
:func:`save_figure` writes it and closes it. The backend is left to matplotlib, which
picks the non-interactive Agg backend on a machine without a display.

What a reader needs from them:

* every figure is drawn at the size the study page shows it on a desktop (at most
  :data:`MAX_WIDTH_PX` pixels wide, the page's column, at :data:`DPI`), with no text
  smaller than :data:`MIN_TEXT_PX` pixels there, nor on a phone, which shows it at
  :data:`PHONE_SCALE` of that size (:func:`smallest_text_px` measures it);
* a segment has one colour in every figure of a study: :func:`segment_palette`, keyed by
  the specification's order of the segments, which every function drawing segments uses
  (by default from the order of its ``labels``);
* :func:`describe_figures` states what each figure shows with the numbers a sighted reader
  takes from it, from the same tables; every word about a study comes from its
  specification.
"""

from __future__ import annotations

import math
import textwrap
from io import BytesIO
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from scipy.cluster.hierarchy import dendrogram as scipy_dendrogram

from ..files import atomic_write_bytes
from ..study.kind import study_kind
from .wording import K_WORD

#: Pixels per inch of the saved PNGs; figures are drawn at the size the page shows them.
DPI = 100
#: The widest figure, in pixels: the study page's column (1000 CSS px) less a margin.
MAX_WIDTH_PX = 960
#: The smallest text allowed in a figure, in pixels at the size it is shown.
MIN_TEXT_PX = 9.0
#: On a phone the study page shows a figure at this fraction of its drawn width (in a
#: frame that scrolls sideways), so that its smallest text stays at MIN_TEXT_PX or more.
PHONE_SCALE = 0.75
#: Figure width (inches) of a full-column figure and of a single-panel one.
WIDE, NARROW = MAX_WIDTH_PX / DPI, 7.5

sns.set_theme(style="whitegrid", context="notebook")
plt.rcParams.update({
    "svg.hashsalt": "replication", "figure.dpi": DPI, "savefig.dpi": DPI,
    # 9 pt at 100 dpi is 12.5 px: the smallest text (tick labels, legends) stays legible.
    "font.size": 10, "axes.titlesize": 10.5, "axes.labelsize": 10, "xtick.labelsize": 9,
    "ytick.labelsize": 9, "legend.fontsize": 9, "legend.title_fontsize": 9, "figure.titlesize": 11.5,
})
PASS, FAIL = "#2b7a3b", "#c92a2a"
#: Segment colours, in the specification's order of the segments. Chosen (from the Okabe-Ito,
#: Paul Tol and IBM colour-blind palettes) so that any two of the first five differ by at
#: least 30 CIELAB units for normal vision and under simulated deuteranopia and protanopia
#: (Machado et al. 2009, full severity), and each has a contrast of at least 3:1 against the
#: white background (WCAG's rule for graphics): tests/test_figures_palette.py checks both.
#: Markers (SEGMENT_MARKERS) and direct labels encode the segment a second time.
SEGMENT_COLOURS = ("#332288", "#648fff", "#882255", "#997700", "#ee6677", "#cc78bc", "#117733",
                   "#44aa99", "#88ccee", "#ddcc77")
#: A marker per segment (in the same order), a second encoding besides the colour.
SEGMENT_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "p", "h", "*")
#: Respondents in no reported segment.
UNMATCHED_COLOUR = "#6c757d"


def segment_palette(segments) -> dict[str, str]:
    """One colour per segment, keyed by segment id in the specification's order.

    ``segments`` is the ordered segment ids (``spec.segment_ids``) or a mapping from them
    (``spec.segment_names``); ``"unmatched"`` is always grey.
    """
    ids = [s for s in segments if s != "unmatched"]
    extra = [matplotlib.colors.to_hex(c) for c in plt.get_cmap("tab20").colors]
    colours = list(SEGMENT_COLOURS) + [c for c in extra if c not in SEGMENT_COLOURS]
    palette = {s: colours[i % len(colours)] for i, s in enumerate(ids)}
    palette["unmatched"] = UNMATCHED_COLOUR
    return palette


def _palette(palette, labels) -> dict[str, str]:
    return dict(palette) if palette is not None else segment_palette(list(labels))


def _ordered(segments, labels) -> list[str]:
    """``segments`` in the order of ``labels`` (the specification's), the rest after."""
    order = {s: i for i, s in enumerate(labels)}
    return sorted(segments, key=lambda s: (order.get(s, len(order)), str(s)))


def _wrap(text: str, width: int = 22) -> str:
    return "\n".join(textwrap.wrap(str(text).replace("_", " "), width, break_long_words=False)) or str(text)


def render_png(fig, dpi: int = DPI) -> bytes:
    """The figure as PNG bytes at its own size (no trimming, so its width is the width
    drawn), without the metadata (software version) that would differ across machines;
    the figure is closed."""
    buf = BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def save_figure(fig, path: str | Path, dpi: int = DPI) -> Path:
    """Save the figure as :func:`render_png` renders it (atomically)."""
    return atomic_write_bytes(path, render_png(fig, dpi))


def smallest_text_px(fig, dpi: int = DPI) -> float:
    """The smallest visible text of ``fig`` in pixels at the size a page shows it (the
    saved width, scaled down to :data:`MAX_WIDTH_PX` where wider)."""
    fig.draw_without_rendering()     # lays out ticks and labels without rasterizing
    width_px = fig.get_figwidth() * dpi
    shown = min(1.0, MAX_WIDTH_PX / width_px)
    sizes = [t.get_fontsize() for t in fig.findobj(matplotlib.text.Text)
             if t.get_visible() and t.get_text().strip()]
    return min(sizes) * dpi / 72 * shown if sizes else math.inf


def _fig(width: float, height: float, *args, **kwargs):
    return plt.subplots(*args, figsize=(width, height), layout="constrained", **kwargs)


# --- the figures ----------------------------------------------------------------------

def cluster_size_check(sizes: pd.DataFrame, palette=None, verdicts: pd.DataFrame | None = None):
    """Reported against replicated share per segment, judged as the share claims judge it.

    With ``verdicts`` (:func:`~replication.evaluation.shares.share_verdicts`), the grey
    band is the reported share ± the claim's margin, the bar through the dot is the
    replicated share's simultaneous interval (sampled composition) or its
    classification-error tolerance (a sample built with the reported composition), and the
    verdict word is written beside each dot. Each segment's dot has the segment's colour.
    """
    df = sizes[sizes["segment"] != "unmatched"].reset_index(drop=True)
    colours = _palette(palette, df["segment"])
    fig, ax = _fig(NARROW, max(3.4, 0.55 * len(df) + 1.9))
    y = np.arange(len(df))
    dot_colours = [colours.get(s, UNMATCHED_COLOUR) for s in df["segment"]]
    high = df["replicated_pct"].max()
    if verdicts is not None:
        v = verdicts.set_index("segment").reindex(df["segment"])
        margin = v["margin_pp"].to_numpy()
        ax.barh(y, 2 * margin, left=df["reported_pct"].to_numpy() - margin, height=0.6, color="#dee2e6",
                label="reported share ± its margin")
        recovery = (v["basis"] == "recovery").to_numpy()
        rep, tol = df["replicated_pct"].to_numpy(), v["tolerance_pp"].to_numpy()
        lo = np.where(recovery, rep - tol, v["ci_low"].to_numpy())
        hi = np.where(recovery, rep + tol, v["ci_high"].to_numpy())
        ax.hlines(y, lo, hi, colors=dot_colours, lw=5, alpha=0.55)
        ax.plot([], [], color="#868e96", lw=5, alpha=0.6,
                label="classification tolerance" if recovery.all() else "simultaneous 95 % interval")
        words = v["verdict"].fillna("").to_numpy()
        high = np.nanmax([high, np.nanmax(hi)])
    else:
        words = np.array([""] * len(df))
    ax.scatter(df["reported_pct"], y, marker="|", s=400, color="black", label="reported share", zorder=3)
    ax.scatter(df["replicated_pct"], y, s=70, color=dot_colours, edgecolor="black", linewidth=0.6, zorder=4)
    for yi, (rep, word) in enumerate(zip(df["replicated_pct"], words)):
        ax.annotate(f"{rep:.1f}% {word}".strip(), (rep, yi), xytext=(0, 11), ha="center",
                    textcoords="offset points", fontsize=9, color=FAIL if word in ("FAIL", "NOT ASSESSABLE") else
                    PASS if word == "PASS" else "#5c3c00")
    ax.set_yticks(y, df["name"])
    ax.set_ylim(len(df) - 0.4, -0.8)
    ax.set_xlabel("share of the sample (%)")
    ax.set_xlim(0, max(df["reported_pct"].max(), high) + 8)
    unmatched = sizes.loc[sizes["segment"] == "unmatched", "replicated_pct"]
    title = "Segment sizes: reported vs replicated"
    if len(unmatched):
        title += f"\n({unmatched.iloc[0]:.1f}% of respondents in clusters fitting no reported profile)"
    ax.set_title(title)
    handles, names = ax.get_legend_handles_labels()
    handles.append(Line2D([], [], marker="o", ls="", color="#adb5bd", markeredgecolor="black", markersize=8))
    names.append("replicated share (segment colour)")
    fig.legend(handles, names, loc="outside lower center", ncol=2, frameon=False)
    return fig


def segment_profiles(centroids: pd.DataFrame, dims: list[str], labels: dict[str, str],
                     dimensions: str = "segmentation dimensions", palette=None,
                     dimension_labels: dict[str, str] | None = None):
    """Centroid of each segment on each dimension (z-scores), one line per segment, in the
    specification's order of the segments (``labels``)."""
    colours = _palette(palette, labels)
    names = dimension_labels or {}
    fig, ax = _fig(WIDE, 4.6)
    x = np.arange(len(dims))
    rows = centroids.set_index("segment", drop=False)
    order = _ordered(rows.index, labels)
    # A marker per segment besides its colour (readable without colour vision), and each
    # segment's line shifted a little sideways, so that segments sharing a centroid are
    # drawn side by side instead of one hiding the other.
    step = min(0.08, 0.5 / max(1, len(order)))
    for i, seg in enumerate(order):
        row = rows.loc[seg]
        z = [row[f"{v}_z"] for v in dims]
        ax.plot(x + (i - (len(order) - 1) / 2) * step, z, marker=SEGMENT_MARKERS[i % len(SEGMENT_MARKERS)],
                ms=7, lw=2, color=colours.get(seg, UNMATCHED_COLOUR), markeredgecolor="white", markeredgewidth=0.8,
                ls="--" if seg == "unmatched" else "-",
                label=f"{labels.get(seg, seg)} ({row['pattern']}, n = {row['n']})")
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(x, [_wrap(names.get(v, v), max(12, min(28, 120 // max(1, len(dims))))) for v in dims])
    ax.set_xlim(-0.5, len(dims) - 0.5)
    ax.set_ylabel("centroid (z-score; above 0 = High)")
    ax.set_title(f"Segment profiles on the {len(dims)} {dimensions}")
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncol=min(2, len(rows)), frameon=False)
    return fig


def _subtree_roots(Z: np.ndarray, k: int) -> tuple[list[int], np.ndarray]:
    """The ``k`` subtrees below the cut (their node ids) and the subtree of every node
    (-1 above the cut)."""
    n = Z.shape[0] + 1
    first_top = 2 * n - k          # node ids of the last k - 1 merges: first_top .. 2n - 2
    roots = [int(c) for i in range(n - k, n - 1) for c in Z[i, :2] if int(c) < first_top]
    owner = np.full(2 * n - 1, -1)
    for r in roots:
        stack = [r]
        while stack:
            node = stack.pop()
            owner[node] = r
            if node >= n:
                stack.extend(int(c) for c in Z[node - n, :2])
    return roots, owner


def dendrogram_leaves(model, assignments: pd.DataFrame) -> pd.DataFrame:
    """Each respondent's leaf of the Ward tree (a respondent, or a micro-cluster on the
    scalable path) and segment: what :func:`dendrogram` colours the subtrees by."""
    segments = assignments["segment"].to_numpy()[model.order_]
    micro = getattr(model, "micro_labels_", None)
    leaf = np.arange(len(segments)) if micro is None else np.asarray(micro)
    return pd.DataFrame({"leaf": leaf, "segment": segments})


def dendrogram(Z: np.ndarray, k: int, p: int = 30, leaves: pd.DataFrame | None = None,
               labels: dict[str, str] | None = None, palette=None):
    """Ward's tree truncated to its last ``p`` merges, with the cut at ``k`` clusters.

    With ``leaves`` (:func:`dendrogram_leaves`) each of the ``k`` subtrees below the cut has
    the colour of the segment most of its respondents belong to.
    """
    fig, ax = _fig(WIDE, 4.6)
    colour_of = {}
    handles = []
    if leaves is not None and k > 1:
        labels = labels or {}
        colours = _palette(palette, labels or list(dict.fromkeys(leaves["segment"])))
        roots, owner = _subtree_roots(Z, k)
        by_root = pd.crosstab(owner[leaves["leaf"].to_numpy()], leaves["segment"].to_numpy())
        majority = by_root.idxmax(axis=1)
        colour_of = {r: colours.get(majority.get(r), UNMATCHED_COLOUR) for r in roots}
        shown = _ordered(set(majority), labels)
        handles = [Patch(color=colours.get(s, UNMATCHED_COLOUR), label=labels.get(s, s)) for s in shown]

        def link_colour(node):
            return colour_of.get(owner[node], "grey") if owner[node] >= 0 else "grey"
        drawn = scipy_dendrogram(Z, truncate_mode="lastp", p=p, ax=ax, link_color_func=link_colour,
                                 show_leaf_counts=True, leaf_font_size=9)
        # The segment's name on its subtree too (a second encoding besides the colour).
        n = Z.shape[0] + 1
        for r in roots:
            xs = [5 + 10 * i for i, leaf in enumerate(drawn["leaves"]) if owner[leaf] == r]
            if xs and majority.get(r) is not None:
                seg = majority[r]
                ax.annotate(_wrap(labels.get(seg, seg), 14), (float(np.mean(xs)), Z[r - n, 2] if r >= n else 0.0),
                            xytext=(0, 3), textcoords="offset points", ha="center", va="bottom", fontsize=9,
                            color="black")
    else:
        scipy_dendrogram(Z, truncate_mode="lastp", p=p, ax=ax, color_threshold=Z[-(k - 1), 2] if k > 1 else 0,
                         above_threshold_color="grey", show_leaf_counts=True, leaf_font_size=9)
    cut = (Z[-k, 2] + Z[-(k - 1), 2]) / 2 if k > 1 else Z[-1, 2] * 1.02
    ax.axhline(cut, ls="--", color="black", lw=0.8)
    ax.text(ax.get_xlim()[1], cut, f" cut: k = {k}", va="bottom", ha="right", fontsize=10)
    ax.set_ylabel("Ward merge height")
    ax.set_xlabel("cluster (respondents in brackets)")
    ax.grid(False, axis="x")
    ax.set_title(f"Ward's hierarchy, last {p} merges" + (", coloured by segment" if handles else ""))
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncol=min(5, len(handles)), frameon=False,
                   title="subtrees below the cut, by the segment most of their respondents belong to")
    return fig


def k_selection(criteria: pd.DataFrame, preferred: pd.DataFrame, k_used: int, word: str = "reported"):
    """One panel per criterion against k, the preferred k marked (``word``: how k came)."""
    panels = [("height_jump", "agglomeration jump"), ("calinski_harabasz", "Calinski-Harabasz"),
              ("silhouette", "silhouette"), ("davies_bouldin", "Davies-Bouldin"), ("gap", "gap statistic")]
    fig, axes = _fig(WIDE, 3.3, 1, 5, sharex=True)
    best = dict(zip(preferred["criterion"], preferred["preferred_k"]))
    for ax, (col, name) in zip(axes, panels):
        ax.plot(criteria["k"], criteria[col], marker="o", ms=4)
        if col == "gap":
            ax.errorbar(criteria["k"], criteria["gap"], yerr=criteria["gap_se"], fmt="none", ecolor="grey")
        kb = best[name]
        ax.plot([kb], criteria.loc[criteria["k"] == kb, col], marker="o", ms=10, mfc="none",
                mec=PASS if kb == k_used else FAIL, mew=2)
        ax.axvline(k_used, ls=":", color="black", lw=0.8)
        ax.set_title(f"{name}\nprefers k = {kb}", fontsize=10)
        ax.set_xlabel("k")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True, nbins=5))
        ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(nbins=5))
    fig.suptitle(f"Choosing k (dotted: {word} k = {k_used}; circled: each criterion's choice)")
    return fig


def _log_ticks(low: float, high: float) -> list[float]:
    """Powers of two spanning ``[low, high]`` (at most 7), as odds-ratio ticks."""
    lo, hi = math.floor(math.log2(low)), math.ceil(math.log2(high))
    step = max(1, math.ceil((hi - lo) / 6))
    exponents = list(range(lo, hi + 1, step))
    if exponents[-1] < hi:
        exponents.append(exponents[-1] + step)
    return [2.0 ** e for e in exponents]


def odds_ratio_forest(coefficients: pd.DataFrame, reference: str, labels: dict[str, str],
                      units: str = "per SD", palette=None, term_labels: dict[str, str] | None = None):
    """Odds ratios with 95% intervals, one panel per contrast against the reference, in the
    specification's order of the segments and on one x range shared by every panel.
    Filled dots: p < .05; hollow: not significant."""
    colours = _palette(palette, labels)
    coefs = coefficients[coefficients["term"] != "const"]
    contrasts = _ordered(dict.fromkeys(coefs["segment"]), labels)
    ncols = min(4, len(contrasts))
    nrows = -(-len(contrasts) // ncols)
    fig, axes = _fig(WIDE, 1.2 + 0.42 * len(set(coefs["term"])) * nrows + 0.6 * (nrows - 1), nrows, ncols,
                     sharex=True, sharey=True, squeeze=False)
    terms = list(dict.fromkeys(coefs["term"]))
    names = term_labels or {}
    y = np.arange(len(terms))
    low, high = coefs["or_ci_low"].min(), coefs["or_ci_high"].max()
    ticks = _log_ticks(min(low, 1.0), max(high, 1.0))
    for ax, seg in zip(axes.flat, contrasts):
        c = coefs[coefs["segment"] == seg].set_index("term").loc[terms]
        sig = (c["p_value"] < 0.05).to_numpy()
        colour = colours.get(seg, UNMATCHED_COLOUR)
        ax.hlines(y, c["or_ci_low"], c["or_ci_high"], color=colour, lw=2)
        ax.scatter(c["odds_ratio"], y, s=45, color=np.where(sig, colour, "white"), edgecolor=colour,
                   linewidth=1.8, zorder=3)
        ax.axvline(1, color="black", lw=0.8)
        ax.set_xscale("log")
        ax.set_title(f"{labels.get(seg, seg)}\nvs {labels.get(reference, reference)}", fontsize=10, color="black")
    for ax in axes.flat[len(contrasts):]:
        ax.set_visible(False)
    ax0 = axes.flat[0]
    ax0.set_xlim(min(ticks[0], low) / 1.15, max(ticks[-1], high) * 1.15)
    ax0.xaxis.set_major_locator(matplotlib.ticker.FixedLocator(ticks))
    ax0.xaxis.set_major_formatter(matplotlib.ticker.FixedFormatter([f"{v:g}" for v in ticks]))
    ax0.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax0.set_yticks(y, [_wrap(names.get(t, t), 20) for t in terms])
    ax0.invert_yaxis()
    for i, ax in enumerate(axes.flat[:len(contrasts)]):
        if i + ncols >= len(contrasts):        # nothing drawn below it: it carries the x axis
            ax.xaxis.set_tick_params(labelbottom=True)
            ax.set_xlabel("odds ratio (log scale)")
    fig.legend([Line2D([], [], marker="o", ls="", color="#495057"),
                Line2D([], [], marker="o", ls="", mfc="white", mec="#495057", mew=1.8)],
               ["p < .05", "not significant"], loc="outside lower center", ncol=2, frameon=False)
    fig.suptitle(f"Multinomial logit: odds ratios {units} with 95% CI, every panel on the same scale")
    return fig


def predicted_probabilities(curves: pd.DataFrame, labels: dict[str, str], palette=None,
                            predictor_labels: dict[str, str] | None = None):
    """Predicted segment probabilities along each predictor, the others at their means; one
    line colour per segment, in the specification's order of the segments."""
    colours = _palette(palette, labels)
    preds = list(dict.fromkeys(curves["predictor"]))
    segs = _ordered([c for c in curves.columns if c not in ("predictor", "value")], labels)
    names = predictor_labels or {}
    ncols = min(3, len(preds))
    nrows = -(-len(preds) // ncols)
    fig, axes = _fig(WIDE, 0.9 + 2.6 * nrows, nrows, ncols, sharey=True, squeeze=False)
    for ax, p in zip(axes.flat, preds):
        c = curves[curves["predictor"] == p]
        for i, s in enumerate(segs):
            # A marker per segment besides its colour (readable without colour vision).
            ax.plot(c["value"], c[s], lw=2, color=colours.get(s, UNMATCHED_COLOUR), label=labels.get(s, s),
                    marker=SEGMENT_MARKERS[i % len(SEGMENT_MARKERS)], ms=6, markevery=max(1, len(c) // 5),
                    markeredgecolor="white", markeredgewidth=0.7)
        ax.set_title(_wrap(names.get(p, p), 40), fontsize=10)
        ax.set_xlabel("scale score")
    for ax in axes.flat[len(preds):]:
        ax.set_visible(False)
    for row in axes:
        row[0].set_ylabel("predicted probability")
    handles, names_ = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, names_, loc="outside lower center", ncol=min(len(segs), 5), frameon=False)
    fig.suptitle("Predicted segment probabilities along each predictor (others at their means)")
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
    palette = segment_palette(spec.segment_ids)
    labels = spec.dimension_labels
    model = result.segmentation.model
    figs = {
        "cluster_size_check": cluster_size_check(t["cluster_sizes"], palette, t.get("share_verdicts")),
        "segment_profiles": segment_profiles(t["centroids"], spec.dimension_ids, names, spec.study.dimensions,
                                             palette, labels),
        "dendrogram": dendrogram(model.linkage_, k, leaves=dendrogram_leaves(model, result.assignments),
                                 labels=names, palette=palette),
    }
    if "k_selection" in t:
        figs["k_selection"] = k_selection(t["k_selection"], t["k_preferred"], k, K_WORD[study_kind(spec)])
    if result.membership is not None:
        m = result.membership
        units = "per SD" if m.standardized else "per scale point"
        labels = {**labels, **m.labels}     # single-column predictors and their levels
        figs["logit_odds_ratios"] = odds_ratio_forest(m.coefficients, m.reference, names, units, palette, labels)
        figs["logit_probabilities"] = predicted_probabilities(m.probability_curves(result.membership_data), names,
                                                              palette, labels)
    return figs


# --- what each figure shows, in words (the page's alt text) ----------------------------

def apa_p(p) -> str:
    """A p-value as APA style writes it: ``< .001``, ``.023`` (no leading zero)."""
    try:
        p = float(p)
    except (TypeError, ValueError):
        return str(p)
    if not np.isfinite(p):
        return ""
    if p < 0.001:
        return "< .001"
    text = f"{p:.3f}"
    return text[1:] if text.startswith("0") else text


def _n(x, digits: int = 2) -> str:
    x = float(x)
    return f"{x:.0f}" if x.is_integer() else f"{x:.{digits}f}"


def _sizes_alt(sizes: pd.DataFrame, names: dict, verdicts: pd.DataFrame | None = None) -> str:
    df = sizes[sizes["segment"] != "unmatched"]
    v = verdicts.set_index("segment") if verdicts is not None else None
    parts = []
    for r in df.itertuples():
        part = f"{names.get(r.segment, r.name)} reported {r.reported_pct:g} %, replicated {r.replicated_pct:.1f} %"
        if v is not None and r.segment in v.index:
            row = v.loc[r.segment]
            how = (f"tolerance ± {row['tolerance_pp']:.2f} points" if row["basis"] == "recovery" else
                   f"interval {row['ci_low']:.1f} to {row['ci_high']:.1f}")
            part += f" ({how}, margin ± {row['margin_pp']:.2f}: {row['verdict']})"
        parts.append(part)
    text = "Segment sizes, reported vs replicated share of the sample: " + "; ".join(parts) + "."
    unmatched = sizes.loc[sizes["segment"] == "unmatched", "replicated_pct"]
    if len(unmatched):
        text += f" {unmatched.iloc[0]:.1f} % of respondents are in clusters that fit no reported profile."
    return text


def _profiles_alt(centroids: pd.DataFrame, dims: list[str], names: dict, dim_labels: dict, dimensions: str) -> str:
    parts = []
    # Row by row: several clusters may share the segment "unmatched".
    rows = [r for seg in _ordered(centroids["segment"].unique(), names)
            for _, r in centroids[centroids["segment"] == seg].iterrows()]
    for r in rows:
        seg = r["segment"]
        z = ", ".join(f"{float(r[f'{d}_z']):+.2f}" for d in dims)
        parts.append(f"{names.get(seg, seg)} ({r['pattern']}, n = {r['n']}): {z}")
    return (f"Segment profiles: each segment's centroid (z-score, above 0 = High) on the {len(dims)} {dimensions} "
            f"({' / '.join(dim_labels.get(d, d) for d in dims)}): " + "; ".join(parts) + ".")


def _dendrogram_alt(schedule: pd.DataFrame, k: int, n: int, path: str) -> str:
    s = schedule.sort_values("clusters_after", ascending=False)
    height = dict(zip(s["clusters_after"], s["height"]))
    text = (f"Dendrogram of Ward's hierarchy of {n} respondents"
            + (" (merges of micro-clusters)" if path != "exact" else "")
            + f", its last merges shown, each subtree below the cut coloured by its segment. "
            f"The dashed line cuts the tree into k = {k} clusters")
    if k in height and (k - 1) in height:
        text += f", between merge heights {height[k]:.1f} (leaving {k}) and {height[k - 1]:.1f} (leaving {k - 1})"
    last = s[s["clusters_after"] <= k + 2]
    if len(last):
        text += ". Heights of the last merges: " + ", ".join(
            f"{h:.1f} (to {int(c)} cluster{'s' if c != 1 else ''})" for c, h in zip(last["clusters_after"], last["height"]))
    return text + "."


def _k_alt(criteria: pd.DataFrame, preferred: pd.DataFrame, k: int, word: str = "reported") -> str:
    ks = criteria["k"]
    agree = int((preferred["preferred_k"] == k).sum())
    return (f"Criteria for choosing the number of segments, k = {int(ks.min())} to {int(ks.max())}: "
            + "; ".join(f"{r.criterion} prefers k = {int(r.preferred_k)}" for r in preferred.itertuples())
            + f". {agree} of {len(preferred)} criteria prefer the {word} k = {k}.")


def _odds_alt(coefs: pd.DataFrame, reference: str, names: dict, labels: dict, units: str) -> str:
    c = coefs[coefs["term"] != "const"]
    parts = []
    for seg in _ordered(dict.fromkeys(c["segment"]), names):
        rows = c[c["segment"] == seg]
        parts.append(f"{names.get(seg, seg)}: " + ", ".join(
            f"{labels.get(r.term, r.term)} {r.odds_ratio:.2f} ({r.or_ci_low:.2f} to {r.or_ci_high:.2f}, "
            f"p {apa_p(r.p_value) if apa_p(r.p_value).startswith('<') else '= ' + apa_p(r.p_value)})"
            for r in rows.itertuples()))
    return (f"Odds ratios {units} with 95 % confidence intervals, each segment against "
            f"{names.get(reference, reference)}, all panels on the same log scale. " + ". ".join(parts) + ".")


def _probabilities_alt(curves: pd.DataFrame, names: dict, labels: dict) -> str:
    segs = _ordered([c for c in curves.columns if c not in ("predictor", "value")], names)
    parts = []
    for p, c in curves.groupby("predictor", sort=False):
        first, last = c.iloc[0], c.iloc[-1]
        parts.append(f"{labels.get(p, p)} from {first['value']:.1f} to {last['value']:.1f}: " + ", ".join(
            f"{names.get(s, s)} {first[s]:.2f} to {last[s]:.2f}" for s in segs))
    return ("Predicted probability of each segment along each predictor, the other predictors at their means. "
            + "; ".join(parts) + ".")


def describe_figures(result) -> dict[str, str]:
    """What each figure of :func:`study_figures` shows, with its numbers, by output name.

    Built from the same tables as the figures; the words about the study (segment,
    dimension and predictor names) come from its specification.
    """
    spec, t = result.spec, result.tables
    k = spec.n_segments.value
    names, labels = spec.segment_names, spec.dimension_labels
    model = result.segmentation.model
    out = {
        "cluster_size_check": _sizes_alt(t["cluster_sizes"], names, t.get("share_verdicts")),
        "segment_profiles": _profiles_alt(t["centroids"], spec.dimension_ids, names, labels, spec.study.dimensions),
        "dendrogram": _dendrogram_alt(t["agglomeration_schedule_tail"], k, result.n, getattr(model, "path_", "exact")),
    }
    if "k_selection" in t:
        out["k_selection"] = _k_alt(t["k_selection"], t["k_preferred"], k, K_WORD[study_kind(spec)])
    if result.membership is not None:
        m = result.membership
        units = "per SD" if m.standardized else "per scale point"
        labels = {**labels, **m.labels}
        out["logit_odds_ratios"] = _odds_alt(m.coefficients, m.reference, names, labels, units)
        out["logit_probabilities"] = _probabilities_alt(m.probability_curves(result.membership_data), names, labels)
    return out
