"""The study pages and the landing page: ``reports/<study>/index.html`` (one
self-contained page per study, figures embedded, no network needed) and
``reports/index.html`` (every study with its scorecard summary).

Every word about a study comes from its specification; nothing here names a study.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

import pandas as pd

from .. import files
from ..outputs import notebooks_for, outputs_for
from ..study.spec import provenance_table
from .manifest import read_manifest

def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii") if path.exists() else ""
    if not data:
        return f'<p class="fail">missing figure: {html.escape(str(path))}</p>'
    return f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"></figure>'


def _number(x: float, digits: int = 3) -> str:
    if float(x).is_integer():
        return f"{x:.0f}"
    return f"{x:.2g}" if abs(x) < 1e-3 else f"{x:.{digits}f}"


def _table(df: pd.DataFrame, caption: str = "") -> str:
    """A table in a scrolling wrapper (wide tables never widen the page)."""
    body = df.to_html(index=False, border=0, classes="t", na_rep="", float_format=_number)
    cap = f"<p class='cap'>{html.escape(caption)}</p>" if caption else ""
    return f"{cap}<div class='wrap'>{body}</div>"


def _value(v) -> str:
    """A specification value as a reader would write it."""
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


def _scorecard(card: pd.DataFrame) -> str:
    shown = card.drop(columns=["source"]).assign(passed=["PASS" if p else "FAIL" for p in card["passed"]])
    return _table(shown).replace("<td>PASS</td>", '<td class="pass">PASS</td>') \
                        .replace("<td>FAIL</td>", '<td class="fail">FAIL</td>')




CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#212529;line-height:1.45}
h1{font-size:1.6em}h2{border-bottom:2px solid #dee2e6;padding-bottom:.2em;margin-top:2em}
table.t{border-collapse:collapse;font-size:.85em;margin:.5em 0}table.t th,table.t td{padding:.25em .6em;border-bottom:1px solid #dee2e6;text-align:left}
figure{margin:1em 0}img{max-width:100%}.wrap{overflow-x:auto;max-width:100%}.cap{font-weight:600;margin:1em 0 .2em}.pass{color:#2b8a3e;font-weight:600}.fail{color:#c92a2a;font-weight:600}
.banner{background:#fff3bf;border:1px solid #fab005;padding:.6em 1em;border-radius:4px}
.assumed{background:#f8f9fa;border-left:4px solid #868e96;padding:.2em 1em}
.reported{border-left:4px solid #2b8a3e;padding:.2em 1em}small{color:#666}
"""



CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#212529;line-height:1.45}
h1{font-size:1.6em}h2{border-bottom:2px solid #dee2e6;padding-bottom:.2em;margin-top:2em}
table.t{border-collapse:collapse;font-size:.85em;margin:.5em 0}table.t th,table.t td{padding:.25em .6em;border-bottom:1px solid #dee2e6;text-align:left}
figure{margin:1em 0}img{max-width:100%;height:auto}.wrap{overflow-x:auto;max-width:100%}.cap{font-weight:600;margin:1em 0 .2em}.pass{color:#2b8a3e;font-weight:600}.fail{color:#c92a2a;font-weight:600}
.banner{background:#fff3bf;border:1px solid #fab005;padding:.6em 1em;border-radius:4px}
.assumed{background:#f8f9fa;border-left:4px solid #868e96;padding:.2em 1em}
.reported{border-left:4px solid #2b8a3e;padding:.2em 1em}small{color:#666}nav ul{columns:2;font-size:.9em}
"""


def _page(title: str, body: list[str]) -> str:
    return "\n".join([
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>",
        *body, "</body></html>"]) + "\n"


def _verdict(card: pd.DataFrame) -> str:
    ok = int(card["passed"].sum())
    return f"<span class='{'pass' if ok == len(card) else 'fail'}'>{ok} of {len(card)} pass</span>"


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


def render_study_page(run) -> str:
    """The self-contained page of one study's run."""
    spec, layout, result = run.spec, run.layout, run.result
    s, t, fig = spec.study, {**result.tables, **(run.recovery or {})}, layout.figures
    card = result.scorecard
    is_reported = card["source"].astype(str).str.startswith("reported")
    reported_card, standards_card = card[is_reported], card[~is_reported]
    k = spec.n_segments.value
    dims = spec.study.dimensions
    nbs = " · ".join(f'<a href="notebooks/{nb.name}.html">{html.escape(nb.title)}</a>'
                     for nb in notebooks_for(spec) if (layout.notebooks / f"{nb.name}.html").exists())
    gen = run.generation
    sections: list[tuple[str, str, list[str]]] = []   # (anchor, heading, parts)

    if len(card):
        sections.append(("scorecard", f"Scorecard: reported claims, {_verdict(reported_card)}", [
            "<p>One row per finding the source reports (the claims are data in the study specification); "
            "the tolerance column states the rule each claim is judged by.</p>",
            _scorecard(reported_card) if len(reported_card) else "<p>none</p>",
            f"<h3>Our standards (not reported by the source), {_verdict(standards_card) if len(standards_card) else ''}</h3>",
            _scorecard(standards_card) if len(standards_card) else "<p>none</p>"]))
    else:
        sections.append(("scorecard", "Scorecard", [
            "<p>This study specification states no claims, so there is no scorecard: the analysis "
            "is shown as it came out.</p>"]))
    sections.append(("sizes", "Segment sizes", [
        _img(fig / "cluster_size_check.png", "reported vs replicated segment shares"),
        _table(t["cluster_sizes"], "Reported vs replicated shares (percent of the sample)")]))
    if "k_preferred" in t:
        agree = int((t["k_preferred"]["preferred_k"] == k).sum())
        sections.append(("k", "Choosing k", [
            f"<p>The replication uses the reported k = {k}. Of the {len(t['k_preferred'])} criteria computed "
            f"on Ward's partitions, <b>{agree}</b> prefer k = {k}.</p>",
            _img(fig / "k_selection.png", "k-selection criteria"),
            _table(t["k_preferred"], "k preferred by each criterion"),
            _table(t["segmentation_path"], "How the segmentation and each criterion were computed"),
            _img(fig / "dendrogram.png", "dendrogram")]))
    centroids = t["centroids"][[c for c in t["centroids"].columns if not c.endswith("_z")]]
    profile_parts = [_img(fig / "segment_profiles.png", "segment profiles"),
                     _table(_segment_table(spec), "The segments as the source describes them"),
                     _table(centroids, f"Centroids on the {dims}, the High/Low pattern and the matched profile"),
                     _table(t["need_anova"], f"Differences in the {dims} across segments (descriptive)")]
    if "profiling_by_segment" in t:
        prof = t["profiling_by_segment"].pivot(index="name", columns="variable", values="mean")
        prof = prof.reindex([n for n in spec.segment_names.values() if n in prof.index]).reset_index()
        profile_parts += [_table(prof, "Profiling variables by segment (share using, or mean count)"),
                          _table(t["profiling_tests"], "Tests of the profiling variables across segments")]
    profile_parts.append(_table(t["reliability"], "Reliability of the scales"))
    sections.append(("profiles", "Segment profiles", profile_parts))
    if spec.has_membership_model:
        if result.membership is not None:
            sections.append(("membership", f"Membership model ({html.escape(spec.membership.description.value)})", [
                _table(t["logit_fit"], "Fit statistics"),
                _table(t["logit_lr_tests"], "Likelihood-ratio test per predictor (model without it vs full)"),
                _img(fig / "logit_odds_ratios.png", "odds ratios"),
                _img(fig / "logit_probabilities.png", "predicted probabilities"),
                _table(t["logit_classification"],
                       "Classification: recovered segment (rows) by the model's predicted segment (columns)")]))
        else:
            sections.append(("membership", "Membership model", [
                "<p class='fail'>Not estimated: " + html.escape("; ".join(result.problems)) + "</p>"]))
    if run.recovery is not None:
        parts = ["<p>Only this section reads the generating truth; the analysis above never does.</p>",
                 _table(t["recovery_clustering"], "Clusters vs true segments"),
                 _table(t["recovery_confusion"], "True segment (rows) by recovered segment (columns)")]
        if "recovery_logit_summary" in t:
            parts.append(_table(t["recovery_logit_summary"], "Membership-model slopes vs their true values"))
        sections.append(("recovery", "Recovery against the generating truth (synthetic data only)", parts))
    prov = pd.DataFrame(provenance_table(spec))
    prov["value"] = prov["value"].map(_value)
    assumed_parts = ["<p>The sources do not report these; each was chosen by us, with the reason given.</p>",
                     _table(prov[prov["status"] == "assumed"].drop(columns="status"))]
    if spec.simulation is not None and spec.simulation.coefficients is not None:
        coefs = pd.DataFrame(spec.simulation.coefficients.value).T.rename_axis("segment vs reference").reset_index()
        assumed_parts.append(_table(coefs, "True membership-model slopes of the generator, per scale point (assumed)"))
    sections.append(("reported", "What the source reports",
                     ["<div class='reported'>", _table(prov[prov["status"] == "reported"].drop(columns="status")),
                      "</div>"]))
    sections.append(("assumed", "Our assumptions", ["<div class='assumed'>", *assumed_parts, "</div>"]))
    made = pd.DataFrame([{"output": o.path(layout).relative_to(layout.root).as_posix(), "what": o.what,
                          "command": f"replication {o.step}", "library function": o.function,
                          "notebook": o.notebook} for o in outputs_for(spec)])
    sections.append(("provenance", "Where every output comes from", [_table(made)]))

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
    import re
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
        total, passed = c.get("total", 0), c.get("passed", 0)
        verdict = ("no claims" if not total else
                   f"<span class='{'pass' if passed == total else 'fail'}'>{passed} of {total} claims pass</span>")
        data = "synthetic" if m.get("synthetic") else "survey data"
        rows.append(f"<tr><td><a href='{html.escape(m['study'])}/index.html'>{html.escape(m.get('title', m['study']))}"
                    f"</a></td><td><code>{html.escape(m['study'])}</code></td><td>{m.get('n_analysed', '?')}</td>"
                    f"<td>{data}</td><td>{verdict}</td></tr>")
    body = ["<h1>Replication reports</h1>",
            "<p>One page per study: its scorecard, segments, membership model and provenance. "
            "Synthetic studies test whether the published structure is recoverable by the published "
            "method; they are not evidence about the original respondents.</p>",
            "<div class='wrap'><table class='t'><thead><tr><th>study</th><th>id</th><th>N analysed</th>"
            "<th>data</th><th>scorecard</th></tr></thead><tbody>", *rows, "</tbody></table></div>"]
    return _page("Replication reports", body)


def write_landing_page(root: Path) -> Path:
    return files.atomic_write_text(Path(root) / "reports" / "index.html", render_landing_page(root))
