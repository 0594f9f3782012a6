"""The study pages and the landing page: ``reports/<study>/index.html`` (one
self-contained page per study, figures embedded, no network needed) and
``reports/index.html`` (every study with its scorecard summary).

Every word about a study comes from its specification; nothing here names a study. The
pages are Jinja2 templates (``templates/``, shipped with the package): ``study.html.j2``
lays out the page, ``summary.html.j2`` its first screen, and each section has a template
of its own, ``templates/sections/<anchor>.html.j2``, in the order of :data:`PARTS`. This
module computes what they show (:func:`_study_context`) and renders the tables.

What a reader needs, on a desktop, a phone's 360 px and paper: the answer first (what was
checked, what a PASS means on this data, the verdict counts split as on the landing page,
the size figure); the paper's findings in its order, how far to trust them, what goes
beyond it, provenance and a glossary; readable headers (:data:`HEADERS`, names from the
specification), a ``<caption>`` per table, APA p-values (:func:`apa_p`), segments in the
specification's order; long tables folded in ``<details>`` (opened for print), rows as
cards under 600 px; figures scaled to the screen, each with a how-to-read caption and alt
text that states its numbers (:func:`replication.report.figures.describe_figures`).
"""

from __future__ import annotations

import base64
import functools
import html
import math
import re
from pathlib import Path

import jinja2
import numpy as np
import pandas as pd
import yaml

from markupsafe import Markup

from .. import files
from ..outputs import notebooks_for, outputs_for
from ..study.kind import study_kind
from ..study.spec import provenance_table
from ..evaluation.claims import verdict_counts
from ..evaluation.shares import FAIL, NOT_ASSESSABLE, NOT_DIAGNOSTIC, PASS, VERDICTS, share_rule_text
from ..version import DISTRIBUTION, describe as describe_version
from ..segmentation.carried import carried_table
from .figures import apa_p, describe_figures
from .manifest import read_manifest
from .wording import EXPLORE_HEADERS, HEADINGS, parts_for

#: Readable headers for the columns of the package's tables (a column named after a
#: segment, dimension or predictor gets its name from the specification instead).
HEADERS = {
    "name": "segment", "segment": "segment", "reported_pct": "reported share (%)",
    "replicated_pct": "replicated share (%)", "normalised_pct": "normalised to 100 % (%)", "n": "n",
    "difference_pp": "difference (points)",
    "tolerance_pp": "tolerance (± points)", "within_tolerance": "within tolerance",
    "rounds_to_reported": "rounds to the reported %", "criterion": "criterion", "rule": "rule",
    "preferred_k": "preferred k", "agrees_with_reported_k": "agrees with the reported k", "item": "step",
    "how": "how", "cluster": "cluster", "pattern": "High/Low pattern", "reported_profile": "reported profile",
    "assigned_profile": "assigned profile", "agreement": "agreement", "matched": "matched",
    "construct": "scale", "F": "F", "df_between": "df between", "df_within": "df within", "p_value": "p",
    "eta_squared": "η²", "kruskal_H": "Kruskal–Wallis H", "kruskal_p": "Kruskal–Wallis p",
    "variable": "variable", "test": "test", "statistic": "statistic", "df": "df", "effect_size": "effect size",
    "effect": "effect measure", "min_expected": "smallest expected count", "label": "label", "role": "role",
    "n_items": "items", "alpha": "Cronbach's α", "mean": "mean", "sd": "SD", "predictor": "predictor",
    "lr_chi2": "LR χ²", "value": "value", "recovered": "recovered segment", "true_segment": "true segment",
    "claim": "claim", "statement": "statement", "reported_value": "reported", "replicated_value": "replicated",
    "tolerance": "rule", "passed": "verdict", "path": "path", "source": "source", "status": "status",
    "term": "term", "coef": "coefficient", "se": "SE", "z": "z", "odds_ratio": "odds ratio",
    "or_ci_low": "OR 95% CI low", "or_ci_high": "OR 95% CI high", "true": "true", "estimate": "estimate",
    "ci_low": "95% CI low", "ci_high": "95% CI high", "sign_recovered": "sign recovered", "covered": "covered",
}
#: Readable names of the rows of the ``statistic, value`` tables.
STATISTICS = {
    "n": "respondents (n)", "log_likelihood": "log-likelihood", "log_likelihood_null": "log-likelihood, intercept only",
    "lr_chi2": "LR χ² (all predictors)", "lr_df": "LR df", "lr_p_value": "LR p", "mcfadden_r2": "McFadden R²",
    "aic": "AIC", "bic": "BIC", "hit_rate": "hit rate", "proportional_chance_criterion": "proportional chance criterion",
    "hit_rate_benchmark_1_25_pcc": "1.25 × proportional chance", "maximum_chance_criterion": "maximum chance criterion",
    "adjusted_rand_index": "adjusted Rand index", "correctly_named_share": "share correctly named",
    "true_nonzero_slopes": "true non-zero slopes", "signs_recovered": "signs recovered", "slopes": "slopes",
    "covered_by_95ci": "slopes whose 95% CI covers the truth", "max_abs_error": "largest |estimate − truth|",
}
#: A table with more columns than WIDE_COLUMNS and fewer rows than columns/2 (or at most
#: FEW_ROWS) is shown transposed: one row per column.
WIDE_COLUMNS, FEW_ROWS = 12, 6
#: A table of more rows than COLLAPSE_ROWS is folded behind a one-line summary; printed,
#: the folded tables open, but those of more than PRINT_ROWS rows (reference tables).
COLLAPSE_ROWS, PRINT_ROWS = 8, 12
#: Columns whose values are ids of segments, dimensions, predictors or profiling variables.
ID_COLUMNS = {"segment", "true_segment", "recovered", "construct", "predictor", "variable", "term",
              "segment vs reference"}
_P_TEXT = re.compile(r"\bp\s*([=<>≤])\s*(\d*\.?\d+(?:[eE][-+]?\d+)?)")


def _named(df: pd.DataFrame) -> pd.DataFrame:
    """A table with a segment id and its name shows the name only, under "segment"."""
    if "segment" in df.columns and "name" in df.columns:
        df = df.copy()
        df["segment"] = df["name"].where(df["name"].notna() & (df["name"] != ""), df["segment"])
        df = df.drop(columns="name")
    return df


def _is_p_column(col) -> bool:
    col = str(col)
    return col == "p" or col.endswith(("p_value", "_p")) or col.startswith("p_")


def _apa_text(text: str) -> str:
    """``p = 3.2e-45`` -> ``p < .001``; ``p < 0.05`` -> ``p < .05`` inside a sentence."""
    def repl(m):
        op, value = m.group(1), float(m.group(2))
        if op == "=":
            shown = apa_p(value)
            return f"p {shown}" if shown.startswith("<") else f"p = {shown}"
        shown = f"{value:g}"
        return f"p {op} {shown[1:] if shown.startswith('0.') else shown}"
    return _P_TEXT.sub(repl, text)


def _breakable(text: str) -> str:
    """Escaped text in which a long unbroken token (a path, a function, an id) may wrap
    after its ``/ . _`` separators, so that it never widens a table."""
    def soft(m):
        return re.sub(r"([/._])", r"\1<wbr>", m.group(0))
    return re.sub(r"[^\s<>&]{25,}", soft, html.escape(text, quote=False))


def _decimals(values: pd.Series, most: int = 3) -> int:
    """One number of decimals for a column: the fewest (up to ``most``) that show every
    value as it reads at ``most`` decimals (19.90, 16.75 rather than 19.900, 16.750)."""
    x = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    x = x[np.isfinite(x) & (np.abs(x) >= 1e-3)]
    if not len(x):
        return most
    return max(len(f"{v:.{most}f}".rstrip("0").split(".")[1]) for v in x) or 0


def _number(x: float, digits: int | None = None) -> str:
    """A number with ``digits`` decimals (a table column's own; None: whole numbers as
    such, others with 3); tiny values with 2 significant digits."""
    x = float(x)
    if not math.isfinite(x):
        return ""
    if digits == 0 or (digits is None and x.is_integer()):
        return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.0f}"
    if x != 0 and abs(x) < 1e-3:
        return f"{x:.2g}"
    return f"{x:.{3 if digits is None else digits}f}"


class Readable:
    """Turns the package's tables into tables a reader reads: headers, values, order."""

    def __init__(self, spec=None):
        self.spec = spec
        self.names: dict[str, str] = {}
        self.order: list[str] = []
        if spec is not None:
            self.order = list(spec.segment_ids)
            self.names.update({c.id: c.label.value for c in spec.constructs})
            self.names.update({p.id: p.label.value for p in getattr(spec, "profiling", [])})
            self.names.update(spec.segment_names)
            if study_kind(spec) == "explore":   # no source: no "reported" in a header
                self.names.update(EXPLORE_HEADERS)

    # -- headers and values ----------------------------------------------------------
    def header(self, col) -> str:
        col = str(col)
        if col in self.names:
            return self.names[col]
        for suffix, word in (("_mean", "mean"), ("_z", "z")):
            if col.endswith(suffix) and col[: -len(suffix)] in self.names:
                return f"{self.names[col[:-len(suffix)]]} ({word})"
        if col.startswith("pct_") and col[4:] in self.names:
            return f"{self.names[col[4:]]} (%)"
        return HEADERS.get(col, col.replace("_", " "))

    def value(self, v, col, digits: int | None = None) -> str:
        if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA or v is pd.NaT:
            return ""
        if isinstance(v, (bool, np.bool_)):
            return "Yes" if v else "No"
        if _is_p_column(col) and isinstance(v, (int, float, np.integer, np.floating)):
            return apa_p(v)
        if isinstance(v, (int, np.integer)):
            return f"{int(v):,}" if abs(int(v)) >= 1000 else str(int(v))
        if isinstance(v, (float, np.floating)):
            return _number(v, digits)
        text = str(v)
        if str(col) in ID_COLUMNS and text in self.names:
            return self.names[text]
        return _apa_text(text)

    # -- order ------------------------------------------------------------------------
    def segment_rank(self, value) -> int:
        """Position of a segment (id or name) in the specification; others after."""
        by_name = {n: i for i, n in enumerate(self.names.get(s, s) for s in self.order)}
        rank = {s: i for i, s in enumerate(self.order)}
        return rank.get(value, by_name.get(value, len(self.order)))

    def in_segment_order(self, df: pd.DataFrame, col: str | None = None, columns: bool = False) -> pd.DataFrame:
        """Rows (by ``col``, default the first column) and, for a matrix, the columns that
        are segments, in the specification's order."""
        if not self.order or df.empty:
            return df
        col = col or df.columns[0]
        if col in df.columns and df[col].map(lambda v: self.segment_rank(v) < len(self.order)).any():
            df = df.iloc[sorted(range(len(df)), key=lambda i: (self.segment_rank(df[col].iloc[i]), i))]
        if columns:
            segs = [c for c in df.columns if self.segment_rank(c) < len(self.order)]
            rest = [c for c in df.columns if c not in segs]
            lead, tail = [c for c in rest if c == col], [c for c in rest if c != col]
            df = df[lead + sorted(segs, key=self.segment_rank) + tail]
        return df.reset_index(drop=True)

    # -- the table --------------------------------------------------------------------
    def table(self, df: pd.DataFrame, caption: str = "", *, unlabelled: int = 1, classes=None,
              transpose: bool | None = None, collapse: bool | None = None, printed: bool | None = None) -> str:
        """An HTML table: the first ``unlabelled`` columns are each row's key (kept in
        view; the title of the row's card on a phone); ``classes`` maps a column to a
        function of its value giving the cell's CSS class. A wide table of a few rows (more
        than :data:`WIDE_COLUMNS` columns, at most :data:`FEW_ROWS` rows) is shown
        transposed, one row per column, unless ``transpose`` says otherwise; a table of
        many columns is set denser. A table of more than :data:`COLLAPSE_ROWS` rows (or
        any, with ``collapse``) is folded into ``<details>`` behind its caption, opened for
        print unless it has more than :data:`PRINT_ROWS` rows or ``printed`` is false."""
        classes = classes or {}
        df = _named(df)
        cols = list(df.columns)
        stats = cols == ["statistic", "value"]
        numeric = {c: pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c]) for c in cols}
        # Percentages and percentage points with at most 2 decimals, other numbers 3.
        decimals = {c: _decimals(df[c], 2 if str(c).endswith(("_pct", "_pp")) else 3) if numeric[c] else None
                    for c in cols}
        heads = [(self.header(c), numeric[c]) for c in cols]
        body = []     # rows of (text, CSS classes)
        for _, r in df.iterrows():
            cells = []
            for c in cols:
                v = r[c]
                if stats and c == "value":
                    key = str(r["statistic"])
                    text = apa_p(v) if _is_p_column(key) else self.value(v, key)
                elif stats and c == "statistic":
                    text = STATISTICS.get(str(v), str(v).replace("_", " "))
                else:
                    text = self.value(v, c, decimals[c])
                cls = [classes[c](v)] if c in classes else []
                if numeric[c] or (stats and c == "value"):
                    cls.append("num")
                cells.append((text, [x for x in cls if x]))
            body.append(cells)
        if transpose is None:
            transpose = (len(cols) > WIDE_COLUMNS and 0 < len(df) <= max(FEW_ROWS, len(cols) // 2)
                         and unlabelled == 1)
        if transpose:     # each column a row, headed by its header; each row a column
            column_heads = heads
            heads = [column_heads[0]] + [(row[0][0], any("num" in cls for _, cls in row[1:])) for row in body]
            body = [[(column_heads[j][0], [])] + [row[j] for row in body] for j in range(1, len(cols))]
        num = " class='num'"
        head = "".join(f"<th scope='col'{num if n else ''}>{html.escape(h)}</th>" for h, n in heads)
        rows = []
        for cells in body:
            out = []
            for i, (text, cls) in enumerate(cells):
                attrs = [f'class="{" ".join(cls)}"'] if cls else []
                if i >= unlabelled:
                    attrs.append(f'data-label="{html.escape(heads[i][0])}"')
                out.append(f"<td{' ' + ' '.join(attrs) if attrs else ''}>{_breakable(text)}</td>")
            rows.append("<tr>" + "".join(out) + "</tr>")
        cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
        dense = " dense denser" if len(heads) > 11 else " dense" if len(heads) > 9 else ""
        label = f" role='region' aria-label='{html.escape(caption or 'table', quote=True)}'"
        out = (f"<div class='wrap' tabindex='0'{label}><table class='t{dense}'>{cap}<thead><tr>{head}</tr></thead>"
               f"<tbody>{''.join(rows)}</tbody></table></div>")
        if collapse is None:
            collapse = len(body) > COLLAPSE_ROWS
        if collapse:     # a long table behind a one-line summary (opened for print)
            what = f"{len(body)} rows" if not transpose else f"{len(body)} rows, {len(heads) - 1} columns"
            printed = len(body) <= PRINT_ROWS if printed is None else printed
            keep = "" if printed else " data-print='closed'"     # a long reference table stays folded on paper
            out = (f"<details class='more'{keep}><summary>Table: {html.escape(caption or 'details')} "
                   f"<small>({what})</small></summary>{out}</details>")
        return out


def _png_size(data: bytes) -> tuple[int, int] | None:
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    return None


#: How to read each figure (its caption on the page): ``templates/how_to_read.yaml``.
HOW_TO_READ: dict[str, str] = yaml.safe_load((Path(__file__).parent / "templates" / "how_to_read.yaml")
                                             .read_text(encoding="utf-8"))
#: Figures outside the paper's own findings are folded behind a one-line summary.
FOLDED_FIGURES = {"dendrogram", "replicability", "three_step_montecarlo", "logit_probabilities"}
#: ... and these stay folded on paper too (the k-selection figure says what the tree does).
UNPRINTED_FIGURES = {"dendrogram"}


def _img(path: Path, alt: str, caption: str | None = None, collapse: bool | None = None) -> str:
    """A figure scaled to the column (never wider than the screen) with its how-to-read caption."""
    data = path.read_bytes() if path.exists() else b""
    if not data:
        return f'<p class="fail">missing figure: {html.escape(str(path))}</p>'
    size = _png_size(data)
    dims = f' width="{size[0]}" height="{size[1]}"' if size else ""
    b64 = base64.b64encode(data).decode("ascii")
    caption = HOW_TO_READ.get(path.stem, "") if caption is None else caption
    out = (f'<figure id="fig-{html.escape(path.stem)}"><img alt="{html.escape(alt)}"{dims} '
           f'src="data:image/png;base64,{b64}"><figcaption>{html.escape(caption)}</figcaption></figure>')
    if collapse if collapse is not None else path.stem in FOLDED_FIGURES:
        title = alt.split(":", 1)[0]
        keep = " data-print='closed'" if path.stem in UNPRINTED_FIGURES else ""
        out = f"<details class='more'{keep}><summary>Figure: {html.escape(title)}</summary>{out}</details>"
    return out


def _value(v) -> str:
    """A specification value as a reader would write it."""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, dict) and all(isinstance(x, (str, float, int)) and not isinstance(x, bool)
                                   for x in v.values()) and all(x in ("H", "L", "M") or
                                                                 isinstance(x, (int, float)) for x in v.values()):
        return " / ".join(f"{k.replace('_', ' ')}: {x}" for k, x in v.items())
    if isinstance(v, dict) and all(isinstance(x, dict) for x in v.values()):
        return "see the table of true coefficients"
    if isinstance(v, dict):
        return "; ".join(f"{k}: {x}" for k, x in v.items())
    if isinstance(v, list):
        return ", ".join(map(str, v))
    return str(v)


#: CSS class of each verdict word.
VERDICT_CLASS = {PASS: "pass", FAIL: "fail", NOT_DIAGNOSTIC: "nd", NOT_ASSESSABLE: "na"}


def _scorecard(card: pd.DataFrame, readable: Readable, controls: pd.DataFrame | None = None,
               caption: str = "") -> str:
    """The scorecard, the verdict first and the claim beside it (both always in view), then
    how each claim is judged; with the controls matrix, what shows that each claim can fail,
    and a label on a claim the controls could not show to fail."""
    shown = card.drop(columns=[c for c in ("source", "passed") if c in card.columns]).copy()
    shown[["premises", "basis"]] = shown[["premises", "basis"]].fillna("-")
    if controls is not None:
        m = controls.set_index("claim")
        def can_fail(cid):
            if cid not in m.index:
                return "not in the controls"
            r = m.loc[cid]
            if r["fails_when_contradicted"] == "no":
                return f"NOT DIAGNOSTIC of segment structure: passes in {r['false_pass']}"
            by = r.get("shown_to_fail_by", "")
            return f"fails in: {by}" if isinstance(by, str) and by else "no control contradicts it"
        shown["shown to fail by"] = [can_fail(c) for c in shown["claim"]]
    # What a reviewer reads at once (verdict, claim, finding, numbers) in view; how each claim is
    # judged (rule, premises, basis, the controls) in a second table folded below it.
    head = [c for c in ("verdict", "claim", "statement", "replicated_value") if c in shown.columns]
    how = ["claim"] + [c for c in shown.columns if c not in head]
    classes = {"verdict": lambda v: VERDICT_CLASS.get(v, "fail")}
    return (readable.table(shown[head], caption, unlabelled=2, classes=classes, collapse=False)
            + readable.table(shown[how], f"How these {len(shown)} claims are judged: reported value, rule, premises, basis"
                             + (", the controls that show each can fail" if controls is not None else ""),
                             collapse=True))


def verdict_legend() -> str:
    """One short line per verdict word (under the scorecard)."""
    return "<ul class='legend'>" + "".join(
        f"<li><span class='{VERDICT_CLASS[w]}'>{w}</span>: {html.escape(text)}</li>" for w, text in VERDICTS.items()) + "</ul>"


def verdict_summary(counts: dict) -> str:
    """``17 PASS`` or ``12 PASS, 5 NOT DIAGNOSTIC``: the same words on every page."""
    total = sum(counts.values())
    if not total:
        return "no claims"
    words = ", ".join(f"{n} {w}" for w, n in counts.items() if n)
    bad = counts.get(FAIL, 0) or counts.get(NOT_ASSESSABLE, 0)
    return f"<span class='{'fail' if bad else 'pass'}'>{total} claims: {words}</span>"


@functools.cache
def _env() -> jinja2.Environment:
    """The page templates (``templates/``, shipped with the package), escaping by default."""
    return jinja2.Environment(loader=jinja2.PackageLoader("replication.report", "templates"),
                              autoescape=jinja2.select_autoescape(["html", "j2"]), trim_blocks=True,
                              lstrip_blocks=True, undefined=jinja2.StrictUndefined)


def _segment_table(spec) -> pd.DataFrame:
    dims = spec.dimension_ids
    rows = []
    for s in spec.segments:
        row = {"segment": s.name.value,     # its share is in the sizes table, not repeated here
               "profile (" + " / ".join(spec.dimension_labels[d] for d in dims) + ")": s.pattern(dims),
               "profile source": ("reported: " if s.profile.is_reported else "assumed: ") + s.profile.source}
        if s.description is not None:
            row["description"] = s.description.value
        if s.comparable_to is not None:
            row["compared with"] = f"{s.comparable_to.value} ({'reported' if s.comparable_to.is_reported else 'assumed'}: {s.comparable_to.source})"
        rows.append(row)
    return pd.DataFrame(rows)


def _sizes(sizes: pd.DataFrame) -> pd.DataFrame:
    """Segment sizes under the segment's name (the normalised share only where it differs)."""
    df = sizes.copy()
    if "name" in df.columns:
        df["segment"] = df["name"].where(df["name"].notna() & (df["name"] != ""), df["segment"])
        df = df.drop(columns="name")
    if (df["normalised_pct"] - df["reported_pct"]).abs().max() < 1e-9:
        df = df.drop(columns="normalised_pct")
    return df


def _first(df: pd.DataFrame, col: str) -> pd.DataFrame:
    return df[[col] + [c for c in df.columns if c != col]] if col in df.columns else df


def _drop_label_twin(df: pd.DataFrame, key: str, readable: Readable) -> pd.DataFrame:
    """Drop a ``label`` column that only repeats what ``key``'s ids read as."""
    if "label" in df.columns and key in df.columns and \
            (df[key].map(lambda v: readable.names.get(v, v)) == df["label"]).all():
        return df.drop(columns="label")
    return df


#: The page's parts, in order: (id, title, sections as (anchor, heading)). A section is
#: shown when :func:`_study_context` says it applies; its words are in
#: ``templates/sections/<anchor>.html.j2``.
PARTS = [
    ("findings", "The paper's findings, in the paper's order",
     [("data", "The data"), ("k", "Choosing k"), ("sizes", "Segment sizes"), ("profiles", "Segment profiles"),
      ("membership", "Membership model")]),
    ("trust", "How far to trust them",
     [("uncertainty", "Uncertainty and stability"), ("controls", "Control scenarios: can each claim fail?"),
      ("replicability", "Replicability against the separation")]),
    ("beyond", "Beyond the paper",
     [("methods", "Beyond the source's method: TwoStep and latent profiles"),
      ("corrected", "Membership model corrected for classification error"),
      ("threestep", "How much the correction matters: a Monte Carlo"),
      ("recovery", "Recovery against the generating truth (synthetic data only)")]),
    ("about", "Words and provenance",
     [("glossary", "Glossary"), ("reported", "What the source reports"), ("assumed", "Our assumptions"),
      ("provenance", "Where every output comes from")]),
]


def _csv(path: Path, **kw) -> pd.DataFrame | None:
    return pd.read_csv(path, **kw) if path.exists() else None


def _columns(df: pd.DataFrame, cols) -> pd.DataFrame:
    return df[[c for c in cols if c in df.columns]]


def _study_context(run) -> dict:
    """Everything the study templates show: tables and figures rendered, numbers computed."""
    spec, layout, result = run.spec, run.layout, run.result
    t, fig = {**result.tables, **(run.recovery or {})}, layout.figures
    rd, alt = Readable(spec), describe_figures(result)
    rd.names.update(getattr(result.membership, "labels", None) or {})      # single-column predictors, dummies
    card = result.scorecard
    is_reported = card["source"].astype(str).str.startswith("reported")
    c = dict(spec=spec, s=spec.study, k=spec.n_segments.value, dims=spec.study.dimensions, t=t, result=result,
             run=run, share_rule=share_rule_text(spec, weighted="weighting" in result.tables), distribution=DISTRIBUTION, verdicts=VERDICTS,
             version=describe_version(), gen=run.generation or {}, legend=Markup(verdict_legend()),
             table=lambda df, caption="", **kw: Markup(rd.table(df, caption, **kw)),
             figure=lambda name, **kw: Markup(_img(fig / f"{name}.png", alt.get(name, name), **kw)),
             order=rd.in_segment_order, reported_card=card[is_reported], standards_card=card[~is_reported])
    c["matrix"] = matrix = _csv(layout.tables / "controls_matrix.csv", keep_default_na=False)
    c["counts"] = {label: Markup(verdict_summary(verdict_counts(part))) for label, part in
                   (("reported claims", c["reported_card"]), ("our standards", c["standards_card"])) if len(part)}
    c["scorecards"] = [Markup(_scorecard(part, rd, matrix, cap)) if len(part) else Markup("<p>none</p>")
                       for part, cap in ((c["reported_card"], "Claims the source reports, each with its verdict"),
                                         (c["standards_card"], "Standards we hold the replication to"))]
    shares = t.get("share_verdicts")
    c["built_in"] = shares is not None and (shares["basis"] == "recovery").any()
    c["notebooks"] = [nb for nb in notebooks_for(spec) if (layout.notebooks / f"{nb.name}.html").exists()]
    sizes = t["cluster_sizes"]
    c["renormalised"] = (sizes["normalised_pct"] - sizes["reported_pct"]).abs().max() > 1e-9
    c["reported_total"] = sum(x.share.value for x in spec.segments)
    c["sizes"] = rd.in_segment_order(_sizes(sizes))
    if "k_preferred" in t:
        c["k_agree"] = int((t["k_preferred"]["preferred_k"] == c["k"]).sum())
    if shares is not None:     # the shares themselves are in the sizes table: not repeated here
        c["share_verdicts"] = rd.in_segment_order(shares.drop(columns=["reported_pct", "n", "replicated_pct",
                                                                       "difference_pp"], errors="ignore"))
    if "row_order_agreement" in t:
        c["row_order"] = t["row_order_agreement"]["ari"]
    if matrix is not None:
        long = pd.read_csv(layout.tables / "controls.csv")
        c["replicates"], c["scenarios"] = int(long["replicates"].max()), long["scenario"].nunique()
    c["curve"] = curve = _csv(layout.tables / "replicability.csv")
    if curve is not None:
        from ..evaluation.controls import replicability_statement
        c["curve_statement"] = replicability_statement(curve, spec)
    if "method_comparison" in t:
        from ..evaluation.comparison import divergence_notes
        c["methods"] = _columns(t["method_comparison"], (
            "method", "k_reported", "k_chosen", "shares_at_chosen_k", "ari_vs_paper_at_reported_k",
            "ari_vs_paper_at_chosen_k", "ari_vs_truth_at_reported_k", "ari_vs_truth_at_chosen_k", "compared_on"))
        c["divergence"] = divergence_notes(t["method_comparison"], spec)
        c["methods_controls"] = _csv(layout.tables / "method_comparison_controls.csv")
    if "three_step_coefficients" in t:
        coefs = t["three_step_coefficients"]
        c["se_method"] = str(coefs["se_method"].iloc[0])      # one sentence, said once above the table
        c["three_step_coefficients"] = coefs.drop(columns=["se_method", "estimated_on"], errors="ignore")
        # At panel scale the corrected model is estimated on a seeded sample: said once.
        c["three_step_on"] = str(coefs["estimated_on"].iloc[0]) if "estimated_on" in coefs else None
    c["mc"] = mc = _csv(layout.tables / "three_step_montecarlo.csv")
    if mc is not None:
        from ..evaluation.three_step_mc import statement
        c["mc_statement"] = statement(mc)
        c["mc_table"] = _columns(mc, ("method", "replicates", "mean_estimate_over_truth", "mean_relative_bias_pct",
                                      "coverage_95_pct", "coverage_95_min_pct", "mean_bias_zero_slopes"))
    centroids = t["centroids"][[x for x in t["centroids"].columns if not x.endswith("_z")]]
    c["centroids"] = rd.in_segment_order(_first(centroids, "segment"))
    c["segment_table"] = _segment_table(spec)
    if "profiling_by_segment" in t:
        by = t["profiling_by_segment"]
        if "level" in by.columns:      # a categorical variable: one column per level
            by = by.assign(variable=[v if pd.isna(lv) else f"{v} = {int(lv)}" for v, lv in zip(by["variable"], by["level"])])
        prof = by.pivot(index="name", columns="variable", values="mean")
        prof = prof.reindex([n for n in spec.segment_names.values() if n in prof.index]).rename_axis("segment")
        prof = prof.reset_index()
        prof.columns.name = None
        c["profiling"] = prof
    if "carried_by_segment" in t:
        c["carried"] = carried_table(t["carried_by_segment"], spec)
    if "profiling_contrasts" in t:     # the contrast behind each behavioural claim
        claimed = {(x.variable, x.segment) for x in spec.claims if x.kind == "segment_stands_out"}
        ct = t["profiling_contrasts"]
        ct = ct[[(v, sg) in claimed for v, sg in zip(ct["variable"], ct["segment"])]] if claimed else ct
        c["contrasts"] = ct.dropna(axis=1, how="all")
    c["reliability"] = _drop_label_twin(t["reliability"], "construct", rd)
    prov = pd.DataFrame(provenance_table(spec))
    prov["value"] = prov["value"].map(_value)
    c["prov_reported"] = prov[prov["status"] == "reported"].drop(columns="status")
    c["prov_assumed"] = prov[prov["status"] == "assumed"].drop(columns="status")
    if spec.simulation is not None and spec.simulation.coefficients is not None:
        coefs = pd.DataFrame(spec.simulation.coefficients.value).T.rename_axis("segment vs reference").reset_index()
        c["true_slopes"] = rd.in_segment_order(coefs)
    c["made"] = pd.DataFrame([{"output": o.path(layout).relative_to(layout.root).as_posix(), "what": o.what,
                               "command": f"replication {o.step}", "library function": o.function,
                               "notebook": o.notebook} for o in outputs_for(spec)])
    sim = spec.simulation
    gen = c["gen"]
    c["not_default"] = bool(gen) and sim is not None and (gen.get("seed"), gen.get("n"), gen.get("separation")) != \
        (spec.seed.value, spec.n.value, sim.separation.value)
    shown = {"data": "respondents_dropped" in t and run.user is not None, "k": "k_preferred" in t,
             "membership": spec.has_membership_model, "uncertainty": shares is not None,
             "controls": matrix is not None, "replicability": curve is not None, "methods": "methods" in c,
             "corrected": "three_step_coefficients" in t, "threestep": mc is not None,
             "recovery": run.recovery is not None}
    heading = {"membership": "Membership model" + (f" ({spec.membership.description.value})"
                                                    if spec.has_membership_model and result.membership is not None
                                                    else "")}
    c["kind"] = study_kind(spec)   # explore: no source, so no "reported" words (report.wording)
    c["parts"] = parts_for(c["kind"], [(pid, title, [(a, heading.get(a, h)) for a, h in secs if shown.get(a, True)])
                                       for pid, title, secs in PARTS])
    return c


def render_study_page(run) -> str:
    """The self-contained page of one study's run."""
    c = _study_context(run)
    return _env().get_template("study.html.j2").render(title=f"{HEADINGS[c['kind']]}: {c['s'].title}", **c)


def write_study_page(run) -> Path:
    return files.atomic_write_text(run.layout.page, render_study_page(run))


def render_landing_page(root: Path) -> str:
    """Every study below ``root/reports`` with its scorecard summary, from the manifests."""
    rows = []
    for manifest_path in sorted((Path(root) / "reports").glob("*/manifest.json")):
        m = read_manifest(manifest_path)
        if not m or "study" not in m:
            continue
        c = m.get("claims", {})
        verdict = "; ".join(f"{label}: {verdict_summary(c[key])}" for key, label in
                            (("reported", "reported claims"), ("ours", "our standards")) if sum(c.get(key, {}).values())) \
            or "no claims"
        n = m.get("n_analysed", "?")
        rows.append(dict(id=m["study"], title=m.get("title", m["study"]), verdict=Markup(verdict),
                         n=f"{n:,}" if isinstance(n, int) else str(n),
                         data="synthetic" if m.get("synthetic") else "survey data"))
    return _env().get_template("landing.html.j2").render(title="Replication reports", rows=rows)


def write_landing_page(root: Path) -> Path:
    return files.atomic_write_text(Path(root) / "reports" / "index.html", render_landing_page(root))
