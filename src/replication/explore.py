"""``replication init``: a study for your own survey that runs as written.

Two ways, both from the file alone:

* **explore** (:func:`explore_yaml`): no paper. The items are grouped into constructs by
  an exploratory factor analysis (:mod:`replication.study.item_clusters`), every
  construct becomes a segmentation dimension, k is chosen by the k criteria on Ward's
  partitions (:data:`K_RULE`, within a stated range), and the segments are named by their
  profile. The study has no claims: the page reports what was found.
* **test a paper on your data** (:func:`like_yaml`): a shipped study (or a study YAML)
  whose segments, membership model and claims are carried over, its constructs mapped to
  the constructs proposed for the file (in order; the researcher edits the mapping), so
  the scorecard judges the paper's claims on the file's respondents.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from .errors import ReplicationError
from .study.init_template import (ITEM_NAME, _column_values, _common_label, _ident, _scale_of, _study_id, comment,
                                  guess_id_column, quote, read_header)
from .study.item_clusters import ConstructProposal, propose_constructs
from .study.predictors import suggest_predictors
from .study.spec_checks import UNMAPPED

#: The rule for k of an exploratory study (the one :func:`.evaluation.comparison.choose_k` applies).
K_RULE = "the k most of the k criteria on Ward's partitions prefer (ties: the smaller k)"
#: The candidate range of an exploratory study, unless the researcher gives another.
K_RANGE = (2, 8)
#: The largest k considered leaves at least this many respondents per segment on average.
MIN_PER_SEGMENT = 10
#: Column names of the outputs a construct id must not take (segment ids are segment_<j>).
RESERVED = {"respondent_id", "cluster", "distance", "name", "n", "pattern", "strategy"}
#: Where an exploratory study's segments come from.
FOUND = "found in this file when the study was written (init)"


# -- the file: its items, and the constructs they form -------------------------------------

def _items_of(raw, id_col):
    """Item-like columns (three or more answer points) as a frame of answers, NaN where no
    answer (declared user-missing codes and codes apart from the scale), plus their scales."""
    cols, scales = {}, {}
    for col in raw.header:
        if col == id_col:
            continue
        x = _column_values(raw, col)
        scale = None if x is None else _scale_of(raw, col, x)
        if scale is None or scale[1] - scale[0] < 2:      # two answer points: a category, not an item
            continue
        lo, hi, source, extra = scale
        x = np.where((x >= lo) & (x <= hi), x, np.nan)
        m = ITEM_NAME.fullmatch(col)
        named_reversed = bool(m and m.group("tail"))
        cols[col] = (lo + hi) - x if named_reversed else x
        scales[col] = {"lo": lo, "hi": hi, "source": source, "extra": extra, "named_reversed": named_reversed}
    return pd.DataFrame(cols), scales


#: Column names that say "survey weight".
WEIGHT_NAME = re.compile(r"(?i)(w|wt|wgt|weight|weights|weighting|p?weight|design_?weight|\w+_(wt|wgt|weight))")


def _weight_column(raw, id_col):
    """The survey's weight column: named as one (``weight``, ``wt``, ``design_weight``, ...)
    and holding a positive number for every respondent; else None."""
    for col in raw.header:
        if col == id_col or not WEIGHT_NAME.fullmatch(col):
            continue
        x = _column_values(raw, col)
        if x is not None and len(x) and np.all(np.isfinite(x)) and np.all(x > 0):
            return col
    return None


def _label_of(raw, items) -> str:
    """The items' common variable label, without a trailing word their labels number
    (``Need for advice: statement 1, 2, 3`` -> ``Need for advice``)."""
    labels = [raw.variable_labels.get(c, "") for c in items]
    label = _common_label(labels)
    m = re.fullmatch(r"(.{4,}?)[\s:,;.\-\u2013]+[^\s:,;.\-\u2013]+", label)
    if m and all(lab.startswith(label) and lab[len(label):].strip()[:1].isdigit() for lab in labels if lab):
        return m.group(1)
    return label


def _construct_ids(raw, groups):
    """An id and a label per group: the items' common name stem or label when it tells the
    groups apart, else ``factor_<j>``."""
    out, used = [], set()
    for j, items in enumerate(groups):
        stems = {ITEM_NAME.fullmatch(c).group("stem").lower() if ITEM_NAME.fullmatch(c) else c for c in items}
        label = _label_of(raw, items)
        other = [c for g in groups if g is not items for c in g]
        other_stems = {ITEM_NAME.fullmatch(c).group("stem").lower() if ITEM_NAME.fullmatch(c) else c for c in other}
        if len(stems) == 1 and not stems & other_stems:
            cid = _ident(next(iter(stems)), f"factor_{j + 1}")
        elif label and not any(raw.variable_labels.get(c, "").startswith(label) for c in other):
            cid = _ident(label, f"factor_{j + 1}")
        else:
            cid = f"factor_{j + 1}"
        while cid in used or cid.startswith("segment") or cid in RESERVED:
            cid += "_2"
        used.add(cid)
        out.append((cid, label or f"factor {j + 1} of the factor analysis"))
    return out


class _Survey:
    """What ``init`` learns from the file: header, id, items, proposal, constructs."""

    def __init__(self, data_path, yaml_dir, encoding, delimiter):
        self.path = path = Path(data_path)
        self.raw, _, self.delimiter, self.encoding = read_header(path, encoding=encoding, delimiter=delimiter)
        raw = self.raw
        if raw.n_rows == 0:
            raise ReplicationError(f"{path}: the file has a header but no respondents; a study needs data")
        self.id_col = guess_id_column(raw)
        self.weight_col = _weight_column(raw, self.id_col)
        items, self.scales = _items_of(raw, self.id_col)
        items = items.drop(columns=[self.weight_col], errors="ignore")
        if items.shape[1] < 2:
            raise ReplicationError(f"{path}: fewer than two columns look like answer-scale items (whole numbers on "
                                   "a scale of 3 to 11 points); a segmentation needs items")
        self.proposal: ConstructProposal = propose_constructs(items)
        if not self.proposal.groups:
            raise ReplicationError(f"{path}: the factor analysis of its {items.shape[1]} items proposes no construct "
                                   "of two or more items; write the constructs yourself (`replication init --template` "
                                   "writes a template to fill in)")
        names = _construct_ids(raw, self.proposal.groups)
        self.constructs = []
        for (cid, label), cols in zip(names, self.proposal.groups):
            lo, hi = Counter((self.scales[c]["lo"], self.scales[c]["hi"]) for c in cols).most_common(1)[0][0]
            self.constructs.append({"id": cid, "label": label, "items": cols, "lo": lo, "hi": hi,
                                    "source": self.scales[cols[0]]["source"]})
        used = [c for k in self.constructs for c in k["items"]]
        self.missing_codes = sorted({e for c in used for e in self.scales[c]["extra"]})
        self.reverse = [c for c in used if self.scales[c]["named_reversed"] != (c in self.proposal.reversed)]
        self.scale_min = Counter(k["lo"] for k in self.constructs).most_common(1)[0][0]
        base = Path(yaml_dir) if yaml_dir is not None else path.parent
        import os
        try:
            self.file_text = Path(os.path.relpath(path.resolve(), base.resolve())).as_posix()
        except ValueError:   # another drive
            self.file_text = str(path.resolve())
        self.base = base

    def data_block(self) -> dict:
        block = {"file": self.file_text}
        if self.id_col:
            block["id"] = self.id_col
        if self.weight_col:
            block["weight"] = self.weight_col
        block["missing"] = "listwise"
        if self.missing_codes:
            block["missing_codes"] = self.missing_codes
        if self.scale_min != 1:
            block["scale_min"] = self.scale_min
        if self.reverse:
            block["reverse"] = self.reverse
        if self.delimiter is not None:
            block["delimiter"] = self.delimiter
        if self.encoding is not None:
            block["encoding"] = self.encoding
        return block

    def loadings_comment(self) -> list[str]:
        p = self.proposal
        lines = [f"# Constructs PROPOSED from the items' correlations, not their names: {comment(p.rule, 400)}.",
                 f"# {p.n_factors} factors from {p.n_respondents} respondents who answered every item. Loadings:"]
        head = "#   " + "item".ljust(16) + "".join(f[:9].rjust(10) for f in p.loadings.columns)
        lines.append(head)
        for item, row in p.loadings.iterrows():
            k = p.factor_of(item)
            where = f"  -> {self.constructs[k]['id']}" if k is not None else "  (in no construct)"
            lines.append("#   " + comment(item, 16).ljust(16) + "".join(f"{v:10.2f}" for v in row) + where)
        for item, why in p.unassigned.items():
            lines.append(f"#   {comment(item, 30)}: not in a construct: {comment(why, 90)}")
        if p.reversed:
            lines.append(f"#   loading against their factor (listed under data: reverse): {', '.join(p.reversed)}")
        return lines


def _construct_yaml(k, name, role, mapped_from=None) -> list[str]:
    where = f"{k['source']} of {k['items'][0]} run {k['lo']}-{k['hi']}"
    label = f"    label: {{value: {quote(k['label'])}, assumed: {quote('the items’ variable labels in ' + name)}}}"
    if mapped_from is not None:
        label = (f"    label: {{value: {quote(mapped_from.label.value)}, "
                 f"{'reported' if mapped_from.label.is_reported else 'assumed'}: {quote(mapped_from.label.source)}}}")
    return [f"  - id: {k['id'] if mapped_from is None else mapped_from.id}",
            f"    role: {role}",
            label,
            f"    items: {{value: [{', '.join(quote(c) for c in k['items'])}], "
            f"assumed: {quote('proposed by the factor analysis of ' + name)}}}",
            f"    scale_points: {{value: {k['hi'] - k['lo'] + 1}, assumed: {quote(where)}}}"]


def _own_id(path: Path) -> str:
    """The study id for a file: its name, never a shipped study's id (its outputs are committed)."""
    from .study.spec import shipped_studies

    sid = _study_id(path)
    return f"{sid}_own"[:64] if sid in shipped_studies() else sid


# -- explore --------------------------------------------------------------------------------

def _provisional_spec(sv: _Survey, k: int, k_min: int, k_max: int, study_id: str):
    """A study of the file with k placeholder segments (for choosing k and fitting)."""
    from .study.spec import parse_study

    doc = {"study": {"id": study_id, "title": "exploration"}, "data": sv.data_block(),
           "n": {"value": sv.raw.n_rows, "assumed": "the file"}, "seed": {"value": 1, "assumed": "fixed"},
           "n_segments": {"value": k, "assumed": "candidate"},
           "segments": [{"id": f"segment_{j + 1}", "name": {"value": f"s{j + 1}", "assumed": "placeholder"},
                         "share": {"value": 100 / k, "assumed": "placeholder"},
                         "profile": {"value": {c["id"]: "M" for c in sv.constructs}, "assumed": "placeholder"}}
                        for j in range(k)],
           "constructs": [{"id": c["id"], "role": "clustering", "label": {"value": c["label"], "assumed": "file"},
                           "items": {"value": c["items"], "assumed": "proposal"},
                           "scale_points": {"value": c["hi"] - c["lo"] + 1, "assumed": "file"}}
                          for c in sv.constructs],
           "segmentation": {"method": {"value": "ward_kmeans", "assumed": "x"},
                            "description": {"value": "x", "assumed": "x"},
                            "standardize": {"value": True, "assumed": "x"}, "k_min": k_min, "k_max": k_max}}
    return parse_study(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), sv.path)


def segment_name(center_z, labels) -> str:
    """A segment named by its profile: ``High A and B; low C`` (|z| >= 0.5 counts)."""
    high = [lab for z, lab in zip(center_z, labels) if z >= 0.5]
    low = [lab for z, lab in zip(center_z, labels) if z <= -0.5]

    def join(xs):
        return xs[0] if len(xs) == 1 else ", ".join(xs[:-1]) + " and " + xs[-1]
    parts = ([f"High {join(high)}"] if high else []) + ([("low " if high else "Low ") + join(low)] if low else [])
    return "; ".join(parts) if parts else "Average on every dimension"


def explore_segments(sv: _Survey, k_min: int, k_max: int, study_id: str):
    """(k, the criteria's preferences, segments as dicts ordered by size, respondents used,
    the largest k considered) found in the file."""
    from .evaluation.comparison import choose_k
    from .segmentation.registry import make_segmentation
    from .study.measurement import scale_scores
    from .study.sources import read_user_survey

    spec = _provisional_spec(sv, k_min, k_min, k_max, study_id)
    survey = read_user_survey(spec.data, spec, sv.base).survey
    needs = [c["id"] for c in sv.constructs]
    scores = scale_scores(survey, spec)
    X = scores[needs].to_numpy(dtype=float)
    # At least MIN_PER_SEGMENT respondents per segment of the largest k considered.
    k_max = min(k_max, len(X) // MIN_PER_SEGMENT)
    if k_max < k_min + 2:
        raise ReplicationError(f"{sv.path}: {len(X)} respondents answered every item of the proposed constructs; "
                               f"exploring k = {k_min}..{k_min + 2} needs at least {MIN_PER_SEGMENT * (k_min + 2)}")
    spec = _provisional_spec(sv, k_min, k_min, k_max, study_id)
    k, preferred = choose_k("ward_kmeans", X, spec)
    spec = _provisional_spec(sv, k, k_min, k_max, study_id)
    model = make_segmentation("ward_kmeans", k, spec).fit(scores[needs])
    centers_z = (model.cluster_centers_raw_ - X.mean(axis=0)) / X.std(axis=0, ddof=1)
    sizes = np.bincount(model.labels_, minlength=k)
    labels = [c["label"] if len(c["label"]) <= 40 else c["id"] for c in sv.constructs]
    segments, seen = [], Counter()
    for j in np.argsort(-sizes, kind="stable"):
        name = segment_name(centers_z[j], labels)
        seen[name] += 1
        segments.append({"name": name + (f" ({seen[name]})" if seen[name] > 1 else ""),
                         "share": round(100 * sizes[j] / sizes.sum(), 1),
                         "profile": {c: round(float(np.clip(z, -1, 1)), 2) for c, z in zip(needs, centers_z[j])}})
    return k, preferred, segments, len(X), k_max


def explore_yaml(data_path, *, yaml_dir=None, encoding=None, delimiter=None, k_range=K_RANGE) -> str:
    """The YAML of an exploratory study of ``data_path`` that runs as written (see the module)."""
    sv = _Survey(data_path, yaml_dir, encoding, delimiter)
    name = sv.path.name
    k_min, k_max = k_range
    study_id = _own_id(sv.path)
    k, preferred, segments, n_used, k_max = explore_segments(sv, k_min, k_max, study_id)
    agree = int((preferred["preferred_k"] == k).sum())
    rule = f"{K_RULE}, within k = {k_min}..{k_max}"
    k_source = f"chosen in this file when the study was written (init): {rule} ({agree} of {len(preferred)} " \
               f"criteria; {n_used} respondents)"
    title = sv.raw.file_label.strip() if sv.raw.file_label and sv.raw.file_label.strip() else f"Segments in {name}"
    out = [f"# An exploratory segmentation of {comment(name)}, written by `replication init`.",
           "#", "# It runs as written: replication run --study <this file>   (or make report STUDY=<this file>)",
           "# Every value is `assumed:` (found in the file by init), none `reported:`: there is no",
           "# source to check, so there are no claims. Edit anything, e.g. a construct's items or",
           "# role (predictor: a membership model of segment on it), then run again.", "#"]
    out += sv.loadings_comment()
    out += ["#", f"# k = {k}: {rule}. Each criterion's preferred k:"]
    out += [f"#   {r.criterion}: {r.preferred_k}   ({r.rule})" for r in preferred.itertuples()]
    out += ["", "study:", f"  id: {quote(study_id)}          # names the output folders",
            f"  title: {quote(title)}", "  population: respondents", "  dimensions: segmentation dimensions", "",
            "data:"]
    out += ["  " + ln for ln in yaml.safe_dump(sv.data_block(), allow_unicode=True, sort_keys=False,
                                                 default_flow_style=False, width=1000).splitlines()]
    out += ["", f"n: {{value: {sv.raw.n_rows}, assumed: {quote('respondents in ' + name)}}}",
            "seed: {value: 1, assumed: \"any fixed integer makes the run reproducible\"}",
            f"n_segments: {{value: {k}, assumed: {quote(k_source)}}}",
            "", "# Named by their profile (z-scores of the segment means, clipped to -1..1; |z| >= 0.5 is High/Low).",
            "segments:"]
    for j, s in enumerate(segments):
        prof = ", ".join(f"{c}: {v:g}" for c, v in s["profile"].items())
        out += [f"  - id: segment_{j + 1}",
                f"    name: {{value: {quote(s['name'])}, assumed: \"named by its profile\"}}",
                f"    share: {{value: {s['share']:g}, assumed: {quote(FOUND)}}}",
                f"    profile: {{value: {{{prof}}}, assumed: {quote(FOUND)}}}"]
    out += ["", "constructs:"]
    for c in sv.constructs:
        out += _construct_yaml(c, name, "clustering")
    out += ["", "segmentation:",
            "  method: {value: ward_kmeans, assumed: \"Ward's hierarchical clustering, then k-means from the Ward centroids\"}",
            "  description: {value: \"two-stage cluster analysis (Ward, then k-means)\", assumed: \"the package's method\"}",
            "  standardize: {value: true, assumed: \"z-scores give each dimension the same weight\"}",
            f"  k_min: {k_min}", f"  k_max: {k_max}",
            f"  k_rule: {quote(K_RULE)}", ""]
    skip = {c for k in sv.constructs for c in k["items"]} | {sv.id_col, sv.weight_col}
    hint = suggest_predictors(sv.raw, skip)      # commented: the researcher picks the predictors
    out += [*hint, ""] if hint else []
    return "\n".join(out)


# -- test a paper on your data -------------------------------------------------------------

def like_yaml(data_path, like, *, yaml_dir=None, encoding=None, delimiter=None) -> str:
    """The YAML of a study that tests the claims of ``like`` (a shipped study id or a study
    YAML) on ``data_path``: the paper's segments, membership model and claims, its
    constructs mapped in order to the constructs proposed for the file."""
    from .study.spec import load_study

    paper = load_study(like)
    sv = _Survey(data_path, yaml_dir, encoding, delimiter)
    name = sv.path.name
    ordered = paper.clustering_constructs + paper.predictor_constructs
    proposed = list(sv.constructs)
    mapping = dict(zip([c.id for c in ordered], proposed))
    unmapped = [c.id for c in ordered if c.id not in mapping]
    columns = set(sv.raw.header)
    doc = paper.model_dump(mode="json", exclude_none=True)
    for key in ("simulation", "data", "constructs"):
        doc.pop(key, None)
    kept_profiling = [p for p in doc.get("profiling", []) if p["id"] in columns]
    kept_demo = [d for d in doc.get("demographics", []) if d["id"] in columns]
    dropped_vars = {p["id"] for p in doc.get("profiling", []) + doc.get("demographics", [])} - \
        {x["id"] for x in kept_profiling + kept_demo}
    doc["profiling"], doc["demographics"] = kept_profiling, kept_demo
    doc["claims"] = [c for c in doc.get("claims", []) if c.get("variable") not in dropped_vars]
    info = doc["study"]
    cite = paper.study.citation or paper.study.title
    doc["study"] = {"id": f"{_own_id(sv.path)}_like_{paper.id}"[:64],
                    "title": f"{paper.study.title}: tested on {name}", "like": paper.id, "citation": cite,
                    **{k: info[k] for k in ("authors", "year", "journal", "doi", "url", "population", "dimensions")
                       if k in info}}
    doc["n"] = {"value": sv.raw.n_rows, "assumed": f"respondents in {name}"}
    out = [f"# The claims of {comment(cite, 200)}",
           f"# tested on {comment(name)}, written by `replication init --like {comment(like, 60)}`.",
           "#", "# The paper's segments, membership model and claims are carried over unchanged (`reported:`);",
           "# the scorecard judges them on your respondents. Its constructs are MAPPED to the constructs",
           "# proposed for your file, in order (the paper's segmentation dimensions first, then its",
           "# predictors). CHECK THE MAPPING below: move items between constructs as they fit.", "#"]
    out += sv.loadings_comment()
    if unmapped:
        out += ["#", f"# NOT MAPPED (your file proposes fewer constructs): {', '.join(unmapped)}. Replace",
                f"# {UNMAPPED} by the columns of their items, or delete them (and the claims about them)."]
    if dropped_vars:
        out += ["#", f"# Left out (no such column in your file), with their claims: {', '.join(sorted(dropped_vars))}."]
    extra = proposed[len(ordered):]
    if extra:
        out += ["#", "# Proposed constructs the paper has no place for (not used): " +
                "; ".join(f"{c['id']} = {', '.join(c['items'])}" for c in extra)]
    body = yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, width=120)
    out += ["", body.rstrip(), "", "data:"]
    out += ["  " + ln for ln in yaml.safe_dump(sv.data_block(), allow_unicode=True, sort_keys=False,
                                                 default_flow_style=False, width=1000).splitlines()]
    out += ["", "constructs:"]
    for c in ordered:
        k = mapping.get(c.id)
        if k is None:
            out += [f"  - id: {c.id}                # NOT MAPPED: no construct of {comment(name)} is given to it",
                    f"    role: {c.role}",
                    f"    label: {{value: {quote(c.label.value)}, {'reported' if c.label.is_reported else 'assumed'}: "
                    f"{quote(c.label.source)}}}",
                    f"    items: {{value: [{UNMAPPED}, {UNMAPPED}], assumed: \"the columns of its items in your file\"}}",
                    f"    scale_points: {{value: {c.scale_points.value}, assumed: \"check: the points of its scale\"}}"]
        else:
            lines = _construct_yaml(k, name, c.role, mapped_from=c)
            lines[0] += f"     # mapped to the proposed construct '{k['id']}': check"
            out += lines
    out.append("")
    return "\n".join(out)


def write_study_yaml(data_path, yaml_path=None, *, like=None, force=False, encoding=None, delimiter=None,
                     k_range=K_RANGE) -> Path:
    """Write :func:`explore_yaml` (or :func:`like_yaml` with ``like``) beside the data file
    (or to ``yaml_path``); never over an existing file unless ``force``."""
    from . import files
    from .study.init_template import study_yaml_target

    data_path = Path(data_path)
    yaml_path = study_yaml_target(data_path, yaml_path, force)
    kw = dict(yaml_dir=yaml_path.parent, encoding=encoding, delimiter=delimiter)
    text = like_yaml(data_path, like, **kw) if like else explore_yaml(data_path, k_range=k_range, **kw)
    try:
        return files.atomic_write_text(yaml_path, text)
    except PermissionError:
        raise ReplicationError(f"{yaml_path}: permission denied: cannot write in {yaml_path.parent}") from None
    except OSError as exc:
        raise ReplicationError(f"{yaml_path}: cannot write ({exc.strerror or exc})") from None
