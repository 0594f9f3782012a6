"""The study pages and the landing page: ``reports/<study>/index.html`` (one
self-contained page per study, figures embedded, no network needed) and
``reports/index.html`` (every study with its scorecard summary).

Every word about a study comes from its specification; nothing here names a study.

What a reader needs, at any width from a phone's 360 px to a desktop:

* tables with readable headers (:data:`HEADERS`; segment, dimension and predictor names
  from the specification), Yes/No for booleans, p-values in APA style (:func:`apa_p`),
  rows and columns in the specification's order of the segments;
* each table's key column first (the verdict, in the scorecard), kept in view while a
  wide table scrolls (a sticky first column, with shadows that show there is more);
  under 600 px every row becomes a card of "header: value" lines, so nothing needs
  scrolling sideways;
* figures embedded at the size they were drawn, with alt text that states their numbers
  (:func:`replication.report.figures.describe_figures`).
"""

from __future__ import annotations

import base64
import html
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from .. import files
from ..outputs import notebooks_for, outputs_for
from ..study.spec import provenance_table
from ..evaluation.claims import verdict_counts
from ..evaluation.shares import FAIL, NOT_ASSESSABLE, NOT_DIAGNOSTIC, PASS, VERDICTS, share_rule_text
from ..version import DISTRIBUTION, describe as describe_version
from .figures import PHONE_SCALE, apa_p, describe_figures
from .manifest import read_manifest

#: Readable headers for the columns of the package's tables (a column named after a
#: segment, dimension or predictor gets its name from the specification instead).
HEADERS = {
    "name": "segment", "segment": "segment", "reported_pct": "reported share (%)",
    "replicated_pct": "replicated share (%)", "n": "n", "difference_pp": "difference (points)",
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
#: Columns whose values are ids of segments, dimensions, predictors or profiling variables.
ID_COLUMNS = {"segment", "true_segment", "recovered", "construct", "predictor", "variable", "term",
              "segment vs reference"}
_P_TEXT = re.compile(r"\bp\s*([=<>≤])\s*(\d*\.?\d+(?:[eE][-+]?\d+)?)")


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
              transpose: bool | None = None) -> str:
        """An HTML table: the first ``unlabelled`` columns are each row's key (kept in
        view; the title of the row's card on a phone); ``classes`` maps a column to a
        function of its value giving the cell's CSS class. A wide table of a few rows (more
        than :data:`WIDE_COLUMNS` columns, at most :data:`FEW_ROWS` rows) is shown
        transposed, one row per column, unless ``transpose`` says otherwise; a table of
        many columns is set denser."""
        classes = classes or {}
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
        cap = f"<p class='cap'>{html.escape(caption)}</p>" if caption else ""
        dense = " dense denser" if len(heads) > 11 else " dense" if len(heads) > 9 else ""
        return (f"{cap}<div class='wrap'><table class='t{dense}'><thead><tr>{head}</tr></thead>"
                f"<tbody>{''.join(rows)}</tbody></table></div>")


def _png_size(data: bytes) -> tuple[int, int] | None:
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    return None


def _img(path: Path, alt: str) -> str:
    data = path.read_bytes() if path.exists() else b""
    if not data:
        return f'<p class="fail">missing figure: {html.escape(str(path))}</p>'
    size = _png_size(data)
    dims = f' width="{size[0]}" height="{size[1]}" style="--w:{size[0]}px"' if size else ""
    b64 = base64.b64encode(data).decode("ascii")
    return (f'<figure class="wrap" id="fig-{html.escape(path.stem)}"><img alt="{html.escape(alt)}"{dims} '
            f'src="data:image/png;base64,{b64}"><figcaption class="swipe" aria-hidden="true">'
            f'wider than the screen: scroll sideways for the whole figure →</figcaption></figure>')


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


def _scorecard(card: pd.DataFrame, readable: Readable, controls: pd.DataFrame | None = None) -> str:
    """The scorecard, the verdict first and the claim beside it (both always in view); with
    the controls matrix, what shows that each claim can fail, and a label on a claim the
    controls could not show to fail."""
    shown = card.drop(columns=[c for c in ("source", "passed", "premises", "basis") if c in card.columns]).copy()
    m = controls.set_index("claim") if controls is not None else None

    def can_fail(cid):
        if m is None:
            return ""
        if cid not in m.index:
            return "not in the controls"
        r = m.loc[cid]
        if r["fails_when_contradicted"] == "no":
            return f"NOT DIAGNOSTIC of segment structure: passes in {r['false_pass']}"
        by = r.get("shown_to_fail_by", "")
        return f"shown to fail in: {by}" if isinstance(by, str) and by else "no control contradicts it"

    # One column for what a verdict rests on, so the table fits a screen: its premises,
    # what is built into the data, and the controls in which it was shown to fail.
    shown["rests on"] = ["; ".join(x for x in (f"premises: {p}" if isinstance(p, str) else "",
                                               b if isinstance(b, str) else "", can_fail(c)) if x)
                         for p, b, c in zip(card["premises"], card["basis"], card["claim"])]
    return readable.table(shown, unlabelled=2, classes={"verdict": lambda v: VERDICT_CLASS.get(v, "fail")})


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


CSS = """
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%;text-size-adjust:100%}
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1032px;margin:0 auto;padding:1em;color:#212529;line-height:1.45;overflow-wrap:break-word}
h1{font-size:1.6em;line-height:1.25}h2{border-bottom:2px solid #dee2e6;padding-bottom:.2em;margin-top:2em}h3{margin-top:1.5em}
a,code{overflow-wrap:anywhere}
p,li{overflow-wrap:anywhere}
.cap{font-weight:600;margin:1.2em 0 .3em}.pass{color:#2b7a3b;font-weight:700}.fail{color:#c92a2a;font-weight:700}
.nd{color:#8a5a00;font-weight:700}.na{color:#495057;font-weight:700}
.banner{background:#fff3bf;border:1px solid #fab005;padding:.6em 1em;border-radius:4px}
.assumed{background:#f8f9fa;border-left:4px solid #868e96;padding:.2em 1em}
.reported{border-left:4px solid #2b8a3e;padding:.2em 1em}small{color:#555}
nav ul{columns:2;font-size:.95em;padding-left:1.2em}nav li{break-inside:avoid}
figure{margin:1em 0}img{max-width:100%;height:auto;display:block}
figure .swipe{display:none;position:sticky;left:0;font-size:.85em;color:#555}
.wrap{overflow-x:auto;max-width:100%;margin:.3em 0 1em;
 background:linear-gradient(to right,#fff 30%,rgba(255,255,255,0)),linear-gradient(to left,#fff 30%,rgba(255,255,255,0)) 100% 0,
 radial-gradient(farthest-side at 0 50%,rgba(0,0,0,.25),rgba(0,0,0,0)),radial-gradient(farthest-side at 100% 50%,rgba(0,0,0,.25),rgba(0,0,0,0)) 100% 0;
 background-repeat:no-repeat;background-size:40px 100%,40px 100%,14px 100%,14px 100%;background-attachment:local,local,scroll,scroll}
.wrap:focus-visible{outline:2px solid #1c7ed6}
table.t{border-collapse:separate;border-spacing:0;font-size:.88em}
table.t th,table.t td{padding:.3em .5em;border-bottom:1px solid #dee2e6;text-align:left;vertical-align:top;overflow-wrap:break-word}
table.t th{vertical-align:bottom;background:#f1f3f5;font-weight:600}
table.t .num{text-align:right;font-variant-numeric:tabular-nums}table.t td.num{white-space:nowrap}
table.t tbody tr>:first-child{position:sticky;left:0;background:#fff;z-index:1;font-weight:600}
table.t thead tr>:first-child{position:sticky;left:0;z-index:2}
table.t tbody tr:hover>*{background:#f8f9fa}
table.t.dense{font-size:.8em}table.t.dense th,table.t.dense td{padding:.3em .35em}
table.t.denser{font-size:.76em}table.t.denser th,table.t.denser td{padding:.25em .3em}
@media (max-width:600px){
 body{padding:.75em}h1{font-size:1.35em}nav ul{columns:1}table.t.dense,table.t.denser{font-size:.88em}
 .wrap{overflow-x:visible;background:none}
 table.t,table.t tbody,table.t tr,table.t td{display:block;width:auto}
 table.t thead{position:absolute;width:1px;height:1px;overflow:hidden;clip-path:inset(50%);white-space:nowrap}
 table.t tr{border:1px solid #dee2e6;border-radius:6px;padding:.4em .7em;margin:.6em 0}
 table.t td{border:0;padding:.1em 0;text-align:left;white-space:normal;overflow-wrap:anywhere}
 table.t .num,table.t td.num{text-align:left;white-space:normal}
 table.t tbody tr>:first-child{position:static}
 table.t td:not([data-label]){display:inline-block;margin-right:.6em;font-weight:700}
 table.t td[data-label]::before{content:attr(data-label) ": ";font-weight:600;color:#495057}
 table.t td[data-label]:empty{display:none}
 /* A figure is drawn for a 1000 px column: on a phone it is shown at 3/4 of that (its
    smallest text stays at 9 px or more; see figures.py) and scrolls sideways. */
 figure.wrap{overflow-x:auto}figure .swipe{display:block}
 figure.wrap img{max-width:none;width:calc(var(--w,720px)*PHONE_SCALE)}
}
""".replace("PHONE_SCALE", f"{PHONE_SCALE:g}")


def _page(title: str, body: list[str]) -> str:
    return "\n".join([
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>",
        *body, "</body></html>"]) + "\n"


def _verdict(card: pd.DataFrame) -> str:
    return verdict_summary(verdict_counts(card))


def _segment_table(spec) -> pd.DataFrame:
    dims = spec.dimension_ids
    rows = []
    for s in spec.segments:
        row = {"segment": s.name.value, "reported share (%)": s.share.value,
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


def _methods_over_controls(layout, rd) -> list[str]:
    """The method comparison over the control scenarios (written by ``replication controls``)."""
    path = layout.tables / "method_comparison_controls.csv"
    if not path.exists():
        return []
    table = pd.read_csv(path)
    n = int(table["samples"].max()) if len(table) else 0
    return [f"<p>The same comparison over the control scenarios ({n} samples per scenario, "
            "<code>replication controls</code>): how often each method's own criterion chooses the reported k, "
            "the k it chooses most often, how often every cluster fits a reported profile, and its mean agreement "
            "with the truth and with the package's reading (these two at the reported k). Where the data hold no segments (no structure, "
            "dimensions driven by the predictors), agreement with the truth is near 0 for every method: none of "
            "them can find segments that are not there, and a method that still chooses the reported k there "
            "says little when it chooses it on real data.</p>",
            rd.table(table, "Segmentation methods over the control scenarios")]


def _first(df: pd.DataFrame, col: str) -> pd.DataFrame:
    return df[[col] + [c for c in df.columns if c != col]] if col in df.columns else df


def _drop_label_twin(df: pd.DataFrame, key: str, readable: Readable) -> pd.DataFrame:
    """Drop a ``label`` column that only repeats what ``key``'s ids read as."""
    if "label" in df.columns and key in df.columns and \
            (df[key].map(lambda v: readable.names.get(v, v)) == df["label"]).all():
        return df.drop(columns="label")
    return df


def render_study_page(run) -> str:
    """The self-contained page of one study's run."""
    spec, layout, result = run.spec, run.layout, run.result
    s, t, fig = spec.study, {**result.tables, **(run.recovery or {})}, layout.figures
    rd = Readable(spec)
    alt = describe_figures(result)
    card = result.scorecard
    is_reported = card["source"].astype(str).str.startswith("reported")
    reported_card, standards_card = card[is_reported], card[~is_reported]
    k = spec.n_segments.value
    dims = spec.study.dimensions
    nbs = " · ".join(f'<a href="notebooks/{nb.name}.html">{html.escape(nb.title)}</a>'
                     for nb in notebooks_for(spec) if (layout.notebooks / f"{nb.name}.html").exists())
    gen = run.generation
    sections: list[tuple[str, str, list[str]]] = []   # (anchor, heading, parts)

    controls_path = layout.tables / "controls_matrix.csv"
    matrix = pd.read_csv(controls_path, keep_default_na=False) if controls_path.exists() else None
    if len(card):
        share_rows = t.get("share_verdicts")
        built = share_rows is not None and (share_rows["basis"] == "recovery").any()
        sections.append(("scorecard", f"Scorecard: reported claims, {_verdict(reported_card)}", [
            "<p>One row per finding the source reports (the claims are data in the study specification); "
            "the rule column states how each claim is judged, and <b>rests on</b> its premises (the claims it "
            "presupposes: when one of them does not pass, it is NOT ASSESSABLE), what is built into the data, and "
            "the control scenarios in which it was shown to fail (<a href='#controls'>controls</a>).</p>",
            verdict_legend(),
            ("<p>Shares: " + html.escape(share_rule_text(spec)) + ("." if not built else
             ". This synthetic sample is built with the reported composition, so a share PASS means the "
             "segments were <i>recovered</i>, not that a sample reproduced the shares.") + "</p>"
             if share_rows is not None else ""),
            _scorecard(reported_card, rd, matrix) if len(reported_card) else "<p>none</p>",
            f"<h3>Our standards (not reported by the source), {_verdict(standards_card) if len(standards_card) else ''}</h3>",
            _scorecard(standards_card, rd, matrix) if len(standards_card) else "<p>none</p>"]))
    else:
        sections.append(("scorecard", "Scorecard", [
            "<p>This study specification states no claims, so there is no scorecard: the analysis "
            "is shown as it came out.</p>"]))
    sizes_note = []
    if (t["cluster_sizes"]["normalised_pct"] - t["cluster_sizes"]["reported_pct"]).abs().max() > 1e-9:
        sizes_note = [f"<p>The reported shares sum to {sum(x.share.value for x in spec.segments):g} % (each is "
                      "rounded), so the synthetic sample is built from them rescaled to 100 % (<b>normalised "
                      "pct</b>); <b>difference pp</b> is the replicated share minus the reported one as printed.</p>"]
    sections.append(("sizes", "Segment sizes", [
        _img(fig / "cluster_size_check.png", alt["cluster_size_check"]), *sizes_note,
        rd.table(rd.in_segment_order(_sizes(t["cluster_sizes"])),
                 "Reported vs replicated shares (percent of the sample)")]))
    if "k_preferred" in t:
        agree = int((t["k_preferred"]["preferred_k"] == k).sum())
        parts = [f"<p>The replication uses the reported k = {k}. Of the {len(t['k_preferred'])} criteria computed "
                 f"on Ward's partitions, <b>{agree}</b> prefer k = {k}.</p>",
                 _img(fig / "k_selection.png", alt.get("k_selection", "k-selection criteria")),
                 rd.table(t["k_preferred"], "k preferred by each criterion")]
        if "segmentation_path" in t:
            parts.append(rd.table(t["segmentation_path"], "How the segmentation and each criterion were computed"))
        parts.append(_img(fig / "dendrogram.png", alt["dendrogram"]))
        sections.append(("k", "Choosing k", parts))
    if "share_verdicts" in t:
        u = spec.uncertainty
        parts = ["<p>How each share claim was judged: " + html.escape(share_rule_text(spec)) + ". <b>detectable "
                 "pp</b> is the smallest difference from the reported share this sample detects (with 80 % power "
                 "for a sampled composition; the classification-error tolerance for a built-in one); a share whose "
                 "detectable difference exceeds its <b>margin pp</b> is NOT DIAGNOSTIC at this N, and "
                 "<b>n diagnostic</b> is the N from which it would be. Goodman's intervals hold for all the shares "
                 "at once (family-wise 95 %), so judging five shares does not multiply the chance of a spurious "
                 "FAIL; they suit a handful of segments of dozens of respondents each (Sison-Glaz's intervals suit "
                 "many small categories).</p>",
                 rd.table(rd.in_segment_order(t["share_verdicts"]), "How each share claim was judged")]
        if "bootstrap_shares" in t:
            parts += [f"<p>The same shares when each of {u.stability_resamples} bootstrap samples of respondents is "
                      "segmented again from scratch (both stages and the naming): wider, because they include the "
                      "segmentation's own variability.</p>",
                      rd.table(rd.in_segment_order(t["bootstrap_shares"]), "Shares with re-segmentation (bootstrap)"),
                      "<p>Bootstrap intervals of every centroid: <code>tables/bootstrap_centroids.csv</code>.</p>"]
        if "stability" in t:
            parts += ["<p>Stability (Hennig 2007): the mean Jaccard similarity between each segment and its best "
                      "match in the bootstrap segmentations (>= 0.75 stable, <= 0.5 dissolved); globally, the mean "
                      "adjusted Rand index between the original and the bootstrap partitions (after Dolnicar & "
                      "Leisch 2010). Stable is not the same as valid: the control scenarios below test validity.</p>",
                      rd.table(rd.in_segment_order(t["stability"]), "Per-segment stability"),
                      rd.table(t["stability_global"], "Global stability")]
        if "row_order_agreement" in t:
            ro = t["row_order_agreement"]["ari"]
            parts.append(f"<p>Row order: the analysis sorts the respondents before Ward's method, so its result does "
                         f"not depend on the order of the file. Fitted in {len(ro)} random orders without that sort, "
                         f"the partitions agree with it at ARI {ro.min():.3f} to {ro.max():.3f}.</p>")
        sections.append(("uncertainty", "Uncertainty and stability", parts))
    if matrix is not None:
        long = pd.read_csv(layout.tables / "controls.csv")
        reps = int(long["replicates"].max())
        scen = long.drop_duplicates("scenario")[["scenario"]]
        sections.append(("controls", "Control scenarios: can each claim fail?", [
            f"<p>Each scenario changes only what the generator does (no structure, shuffled dimensions, a segment "
            f"missing, an extra segment, equal shares, a response style, sampled composition, dimensions driven by "
            f"the predictors, segments unrelated to the predictors, weaker separations); the analysis always uses "
            f"this study's specification, told only how the sample's composition came about. {reps} seeded "
            "replicates per scenario (<code>replication controls</code>); cells are the share of replicates in "
            "which the claim reads PASS. <b>fails when contradicted</b>: in every scenario that contradicts the "
            "claim, the Wilson 95 % interval of its PASS rate reaches 5 % or below (Monte Carlo error taken into "
            "account); <b>false pass</b>: its highest PASS rate there, with the interval; <b>diagnostic of "
            "segments</b>: likewise where the data hold no segments at all. Significance levels and margins were "
            "fixed before these runs; a claim the controls cannot show to fail is labelled so on the scorecard, "
            "never re-tuned. Replicates skip the re-segmentation bootstrap, so the stability claim is not "
            "evaluated there (nor counted as a premise).</p>",
            rd.table(matrix, f"Pass rate of every claim in every scenario ({len(scen)} scenarios)")]))
    curve_path = layout.tables / "replicability.csv"
    if curve_path.exists():
        from ..evaluation.controls import replicability_statement
        curve = pd.read_csv(curve_path)
        default = spec.simulation.separation.value if spec.simulation else None
        points = "; ".join(f"{r.separation:g}: {r.all_claims:.2f}" for r in curve.itertuples())
        sections.append(("replicability", "Replicability against the separation", [
            f"<p>{int(curve['replicates'].iloc[0])} replicates per separation with sampled (multinomial) composition "
            "(<code>replication curve</code>): the probability that each claim, and all claims, pass, and the median "
            "ARI against the truth. " + html.escape(replicability_statement(curve, spec)) + "</p>",
            _img(fig / "replicability.png",
                 "Replicability curve: probability that all claims pass together at each separation ("
                 + points + ")" + (f"; the study's default separation, {default:g}, is marked" if default else "")
                 + "; one line per claim besides."),
            rd.table(curve, "Pass probability per separation")]))
    if "method_comparison" in t:
        from ..evaluation.comparison import divergence_notes
        mc = t["method_comparison"]
        sections.append(("methods", "Beyond the source's method: TwoStep and latent profiles", [
            "<p>The source names only its method family. Each candidate reading runs on the same scale scores: the "
            "k it chooses by its own criterion and its shares at that k, then its agreement (ARI) with the "
            "package's reading and, on synthetic data, with the truth, computed both at the reported k and at the "
            "k it chooses (the column names say which).</p>",
            rd.table(mc[[c for c in ("method", "k_reported", "k_chosen", "shares_at_chosen_k",
                                     "ari_vs_paper_at_reported_k", "ari_vs_paper_at_chosen_k",
                                     "ari_vs_truth_at_reported_k", "ari_vs_truth_at_chosen_k", "compared_on")
                        if c in mc.columns]], "Segmentation methods compared"),
            "<p>" + html.escape(divergence_notes(mc, spec)).replace("\n", "<br>") + "</p>"]
            + _methods_over_controls(layout, rd)))
    if "three_step_coefficients" in t:
        tw = t["three_step_wald"]
        sections.append(("corrected", "Membership model corrected for classification error", [
            "<p>Regressing hard segment labels on predictors attenuates the effects (Bolck, Croon & Hagenaars "
            "2004). The three-step BCH and ML estimators (Vermunt 2010) correct for the classification error of a "
            "latent profile model of the same dimensions at the reported k; the naive row is the same model's "
            "modal assignment. Standard errors: " + html.escape(str(t["three_step_coefficients"]["se_method"].iloc[0]))
            + ".</p>",
            rd.table(tw, "Wald test per predictor: naive, BCH and ML"),
            rd.table(t["three_step_coefficients"], "Coefficients: naive, BCH and ML")]))
    mc_path = layout.tables / "three_step_montecarlo.csv"
    if mc_path.exists():
        from ..evaluation.three_step_mc import statement
        mc_summary = pd.read_csv(mc_path)
        mc_alt = "; ".join(f"{m}: mean estimate/truth {r.mean_estimate_over_truth:.2f}, coverage {r.coverage_95_pct:.0f} %"
                        for m, r in mc_summary.set_index("method").iterrows())
        sections.append(("threestep", "How much the correction matters: a Monte Carlo", [
            "<p>Regressing hard segment labels on the predictors pulls the effects towards zero when the labels "
            "are uncertain (Bolck, Croon &amp; Hagenaars 2004); the three-step BCH and ML corrections (Vermunt 2010) "
            "remove that bias. A Monte Carlo at a weak separation (<code>replication threestep</code>), where a "
            "latent profile analysis classifies respondents with a relative entropy of about 0.7, estimates the "
            "membership model three ways on each sample and compares them with the generator's true slopes. "
            + html.escape(statement(mc_summary)) + " The corrected estimates of this study's own sample are in "
            "the section above.</p>",
            _img(fig / "three_step_montecarlo.png",
                 "Three-step Monte Carlo: mean estimate of every slope against its true value, and 95 % interval "
                 "coverage and attenuation per estimator (" + mc_alt + ")"),
            rd.table(mc_summary[[c for c in ("method", "replicates", "mean_estimate_over_truth", "mean_relative_bias_pct",
                                          "coverage_95_pct", "coverage_95_min_pct", "mean_bias_zero_slopes")
                              if c in mc_summary.columns]], "Bias and coverage per estimator")]))
    if "respondents_dropped" in t and run.user is not None:
        sections.insert(1, ("data", "The data", [
            "<p>" + html.escape(run.user.summary()).replace("\n", "<br>") + "</p>",
            rd.table(t["respondents_dropped"], "Respondents dropped, and why")]))
    centroids = t["centroids"][[c for c in t["centroids"].columns if not c.endswith("_z")]]
    centroids = rd.in_segment_order(_first(centroids, "segment"))
    profile_parts = [_img(fig / "segment_profiles.png", alt["segment_profiles"]),
                     "<p>A profile claim holds when every reported High (Low) level lies above (below) the sample "
                     "mean and at least one pooled within-segment SD above (below) the segments reported on the "
                     "other side (Cohen's d &ge; 1). The rule refers to the sample and to the other segments, not to "
                     "the answer scale's midpoint, so a response style that moves every answer does not change a "
                     "verdict; data without segments fail through the k and stability claims the profiles "
                     "presuppose.</p>",
                     rd.table(_segment_table(spec), "The segments as the source describes them"),
                     rd.table(centroids, f"Centroids on the {dims}, the High/Low pattern and the matched profile"),
                     rd.table(t["need_anova"], f"Differences in the {dims} across segments (descriptive)")]
    if "profiling_by_segment" in t:
        by = t["profiling_by_segment"]
        if "level" in by.columns:      # a categorical variable: one column per level
            by = by.assign(variable=[v if pd.isna(lv) else f"{v} = {int(lv)}" for v, lv in zip(by["variable"], by["level"])])
        prof = by.pivot(index="name", columns="variable", values="mean")
        prof = prof.reindex([n for n in spec.segment_names.values() if n in prof.index]).rename_axis("segment")
        prof = prof.reset_index()
        prof.columns.name = None
        profile_parts += [rd.table(prof, "Profiling variables by segment (share using, or mean count)"),
                          rd.table(t["profiling_tests"], "Tests of the profiling variables across segments")]
        if "profiling_contrasts" in t:
            claimed = {(c.variable, c.segment) for c in spec.claims if c.kind == "segment_stands_out"}
            ct = t["profiling_contrasts"]
            ct = ct[[(v, sg) in claimed for v, sg in zip(ct["variable"], ct["segment"])]] if claimed else ct
            profile_parts.append(rd.table(ct.dropna(axis=1, how="all"), "Each claimed segment against the other "
                                          "segments together (one-sided tests of the behavioural claims)"))
    profile_parts.append(rd.table(_drop_label_twin(t["reliability"], "construct", rd), "Reliability of the scales"))
    sections.append(("profiles", "Segment profiles", profile_parts))
    if spec.has_membership_model:
        if result.membership is not None:
            sections.append(("membership", f"Membership model ({html.escape(spec.membership.description.value)})", [
                rd.table(t["logit_fit"], "Fit statistics"),
                rd.table(t["logit_lr_tests"], "Likelihood-ratio test per predictor (model without it vs full)"),
                _img(fig / "logit_odds_ratios.png", alt["logit_odds_ratios"]),
                _img(fig / "logit_probabilities.png", alt["logit_probabilities"]),
                rd.table(rd.in_segment_order(t["logit_classification"], "recovered", columns=True),
                         "Classification: recovered segment (rows) by the model's predicted segment (columns)")]))
        else:
            sections.append(("membership", "Membership model", [
                "<p class='fail'>Not estimated: " + html.escape("; ".join(result.problems)) + "</p>"]))
    if run.recovery is not None:
        parts = ["<p>Only this section reads the generating truth; the analysis above never does.</p>",
                 rd.table(t["recovery_clustering"], "Clusters vs true segments"),
                 rd.table(rd.in_segment_order(t["recovery_confusion"], "true_segment", columns=True),
                          "True segment (rows) by recovered segment (columns)")]
        if "recovery_logit_summary" in t:
            parts.append(rd.table(t["recovery_logit_summary"], "Membership-model slopes vs their true values"))
        sections.append(("recovery", "Recovery against the generating truth (synthetic data only)", parts))
    prov = pd.DataFrame(provenance_table(spec))
    prov["value"] = prov["value"].map(_value)
    assumed_parts = ["<p>The sources do not report these; each was chosen by us, with the reason given.</p>",
                     rd.table(prov[prov["status"] == "assumed"].drop(columns="status"))]
    if spec.simulation is not None and spec.simulation.coefficients is not None:
        coefs = pd.DataFrame(spec.simulation.coefficients.value).T.rename_axis("segment vs reference").reset_index()
        assumed_parts.append(rd.table(rd.in_segment_order(coefs),
                                      "True membership-model slopes of the generator, per scale point (assumed)"))
    sections.append(("reported", "What the source reports",
                     ["<div class='reported'>", rd.table(prov[prov["status"] == "reported"].drop(columns="status")),
                      "</div>"]))
    sections.append(("assumed", "Our assumptions", ["<div class='assumed'>", *assumed_parts, "</div>"]))
    made = pd.DataFrame([{"output": o.path(layout).relative_to(layout.root).as_posix(), "what": o.what,
                          "command": f"replication {o.step}", "library function": o.function,
                          "notebook": o.notebook} for o in outputs_for(spec)])
    # The commit appears here and in the run log, never in the manifest (verify compares
    # what the manifest records; the page is not compared, so a commit may change it).
    made_by = (f"<p>Made by <code>{DISTRIBUTION}</code> version {html.escape(describe_version())} "
               f"(<code>replication --version</code>); checksums and versions of the packages used: "
               f"<a href='manifest.json'>manifest.json</a>.</p>")
    sections.append(("provenance", "Where every output comes from", [made_by, rd.table(made)]))

    header = [f"<h1>Replication report: <em>{html.escape(s.title)}</em></h1>",
              f"<p>{html.escape(s.citation)}</p>" if s.citation else "",
              "<p><a href='../index.html'>All studies</a></p>"]
    if spec.is_synthetic:
        header.append(
            "<p class='banner'><b>Synthetic data.</b> The original survey is not available. This report runs "
            "the source's analysis on a synthetic sample built from what the source reports plus labelled "
            "assumptions (listed at the end). A pass means the published <em>structure</em> is recoverable by "
            f"the published method; it is not evidence about {html.escape(s.population)}.</p>")
    gen_note = ""
    if gen:
        gen_note = (f"; data generated with seed {gen.get('seed')}, N = {gen.get('n')}, separation "
                    f"{gen.get('separation')}")
        sim = spec.simulation
        if sim is not None and (gen.get("seed"), gen.get("n"), gen.get("separation")) != \
                (spec.seed.value, spec.n.value, sim.separation.value):
            gen_note += (" <span class='fail'>(not the specification's default run: seed "
                         f"{spec.seed.value}, N = {spec.n.value}, separation {sim.separation.value})</span>")
    header.append(f"<p><small>Study <code>{html.escape(s.id)}</code>; <b>N = {result.n} respondents "
                  f"analysed</b>{gen_note}. " + (f"Executed notebooks: {nbs}. " if nbs else "") +
                  "Checksums and versions: <a href='manifest.json'>manifest.json</a>.</small></p>")
    if result.problems:
        header.append("<p class='fail'>" + "<br>".join(html.escape(p) for p in result.problems) + "</p>")
    toc = "<nav><b>Contents</b><ul>" + "".join(
        f"<li><a href='#{a}'>{html.unescape(_strip_tags(h))}</a></li>" for a, h, _ in sections) + "</ul></nav>"
    body = header + [toc]
    for anchor, heading, parts in sections:
        body += [f"<h2 id='{anchor}'>{heading}</h2>", *parts]
    return _page(f"Replication report: {s.title}", body)


def _strip_tags(text: str) -> str:
    return html.escape(re.sub(r"<[^>]+>", "", text))


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
        data = "synthetic" if m.get("synthetic") else "survey data"
        n = m.get("n_analysed", "?")
        n = f"{n:,}" if isinstance(n, int) else html.escape(str(n))
        rows.append(f"<tr><td><a href='{html.escape(m['study'])}/index.html'>{html.escape(m.get('title', m['study']))}"
                    f"</a></td><td data-label='scorecard'>{verdict}</td>"
                    f"<td data-label='id'><code>{html.escape(m['study'])}</code></td>"
                    f"<td class='num' data-label='N analysed'>{n}</td><td data-label='data'>{data}</td></tr>")
    body = ["<h1>Replication reports</h1>",
            "<p>One page per study: its scorecard, segments, membership model and provenance. "
            "Synthetic studies test whether the published structure is recoverable by the published "
            "method; they are not evidence about the original respondents.</p>",
            "<div class='wrap'><table class='t'><thead><tr><th scope='col'>study</th><th scope='col'>scorecard</th>"
            "<th scope='col'>id</th><th scope='col' class='num'>N analysed</th><th scope='col'>data</th></tr></thead>"
            "<tbody>", *rows, "</tbody></table></div>"]
    return _page("Replication reports", body)


def write_landing_page(root: Path) -> Path:
    return files.atomic_write_text(Path(root) / "reports" / "index.html", render_landing_page(root))
