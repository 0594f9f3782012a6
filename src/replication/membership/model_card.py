"""A typing tool: the fitted segmentation as a versioned JSON model card, and a classifier.

>>> card = build_model_card(result)                         # doctest: +SKIP
>>> save_model_card(card, "model_card.json")                # doctest: +SKIP
>>> card = load_model_card("model_card.json", study_id="golovacheva2022")   # doctest: +SKIP
>>> classify(card, new_customers)                           # doctest: +SKIP

A model card holds everything needed to assign a new respondent to a segment, and
nothing else (no respondent's answers): the constructs' items and scales, the missing-data
policy, the standardization (mean and SD of every segmentation dimension), the final
centroids, which cluster is which segment (id, name, and the segment's strategy when the
specification gives one) and, where the study has one, the membership model's logit
coefficients. It is plain JSON with a ``schema_version`` (never a pickle, so loading a
card never runs code), written atomically.

:func:`classify` scores new respondents exactly as the analysis scored the training
sample (the mean of each construct's answered items), standardizes them with the card's
mean and SD, and assigns the nearest centroid (Euclidean, standardized units): the rule
by which the two-stage method's final k-means step assigned the training respondents, so
classifying the training sample reproduces its segments exactly (and
:func:`build_model_card` checks that it does). Where the card has a membership model, it
also gives the logit probability of each segment *given the predictor constructs* (not
given the segmentation dimensions: it answers "which segment would this customer's
characteristics predict").

:func:`write_assignments` writes each respondent's segment back as CSV and SPSS ``.sav``
with value labels; :func:`safe_label` makes a segment name safe for matplotlib.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from .. import __version__
from ..errors import ReplicationError, location
from ..study.cleaning import read_survey_table
from ..study.datablock import ConstructInfo, data_source
from ..study.readers import read_table
from ..study.spss import write_user_table

#: The card format this version writes and the newest it reads.
SCHEMA_VERSION = 1
CARD_KIND = "replication-model-card"
#: Code of a respondent in no named segment (a cluster no reported profile fits).
UNMATCHED_CODE = 0
UNMATCHED = "unmatched"
UNCLASSIFIED = "unclassified"


def safe_label(text) -> str:
    """``text`` for a matplotlib label, shown literally: every ``$`` escaped.

    Matplotlib reads text with an even number of unescaped ``$`` as mathtext, so a
    segment name such as ``"Deal $_$"`` raises a ParseException while the figure is
    drawn, and ``"Save $5 or $10"`` comes out in math italics. ``\\$`` is shown as ``$``.
    (HTML escaping is the page's job; this is only for matplotlib.)

    >>> safe_label("A $5 deal")
    'A \\\\$5 deal'
    """
    return "" if text is None else str(text).replace("$", r"\$")


# ---------------------------------------------------------------------------------------
# Building
# ---------------------------------------------------------------------------------------


def _strategy_text(segment, strategies) -> str | None:
    if strategies and segment.id in strategies:
        v = strategies[segment.id]
    else:
        v = getattr(segment, "strategy", None)
    v = getattr(v, "value", v)
    if isinstance(v, dict):
        v = v.get("value")
    return None if v is None else str(v)


def _floats(a) -> list:
    return [float(x) for x in np.asarray(a, dtype=float).ravel()]


def build_model_card(result, *, strategies: dict | None = None, data_block=None, verify: bool = True) -> dict:
    """The model card of a fitted analysis.

    Parameters
    ----------
    result : AnalysisResult
        From :func:`replication.analyse`.
    strategies : dict, optional
        Segment id -> strategy text, overriding the specification's ``strategy:`` fields.
    data_block : DataSource or dict, optional
        The study's ``data:`` block: how new files are read (item columns, reverse-coded
        items, missing codes, scale_min, missing-data policy); the file itself is not kept.
    verify : bool, default True
        Check that the card reproduces the training sample's segments exactly.

    Returns
    -------
    dict
        JSON-ready; see :func:`validate_model_card` for the schema.
    """
    spec = result.spec
    model = result.segmentation.model
    for attr in ("mean_", "scale_", "cluster_centers_", "labels_"):
        if not hasattr(model, attr):
            raise ReplicationError(f"study '{spec.id}': the segmentation model {type(model).__name__} has no "
                                   f"'{attr}'; a model card needs a centroid model")
    dims = spec.dimension_ids
    mapping = result.segmentation.match.mapping
    k = len(model.cluster_centers_)
    sizes = np.bincount(np.asarray(model.labels_), minlength=k)
    block = None
    missing = "listwise"
    if data_block is not None:
        full = data_source(data_block).to_dict()
        missing = full.pop("missing")
        block = {key: full[key] for key in ("id", "items", "reverse", "missing_codes", "scale_min") if key in full}
    elif result.survey[[it for c in spec.constructs for it in c.items.value]].isna().any().any():
        # Missing answers were allowed in training: classify with the least any respondent had.
        answered = min(int(result.survey[c.items.value].notna().sum(axis=1).min()) for c in spec.constructs)
        missing = {"min_items": max(answered, 1)}
    card = {
        "kind": CARD_KIND,
        "schema_version": SCHEMA_VERSION,
        "study": {"id": spec.id, "title": spec.study.title},
        "created_by": f"replication {__version__}",
        "purpose": (f"Assigns new respondents to the segments of '{spec.study.title}': scale scores are the "
                    "mean of each construct's answered items, standardized with 'mean' and 'scale'; the "
                    "segment is the nearest centroid (Euclidean distance in standardized units)."),
        "constructs": [{"id": c.id, "label": c.label.value, "role": c.role, "items": list(c.items.value),
                        "scale_points": int(c.scale_points.value)} for c in spec.constructs],
        "missing": missing,
        "input": block,
        "segmentation": {
            "method": spec.segmentation.method.value,
            "assignment": "nearest_centroid",
            "dimensions": dims,
            "standardize": bool(getattr(model, "standardize", True)),
            "mean": _floats(model.mean_),
            "scale": _floats(model.scale_),
            "centers": [_floats(row) for row in model.cluster_centers_],
            "clusters": [{"cluster": j + 1, "segment": mapping.get(j), "training_n": int(sizes[j])}
                         for j in range(k)],
        },
        "segments": [{"id": s.id, "name": s.name.value, "strategy": _strategy_text(s, strategies),
                      "description": s.description.value if s.description else None}
                     for s in spec.segments],
        "membership": _membership_card(result.membership),
        "training": {"n": int(result.n)},
    }
    card = validate_model_card(card, f"model card of study '{spec.id}'")
    if verify:
        got = classify(card, result.survey, probabilities=False)["segment"].to_numpy()
        want = result.assignments["segment"].to_numpy()
        if not np.array_equal(got.astype(str), want.astype(str)):
            n_diff = int((got.astype(str) != want.astype(str)).sum())
            raise ReplicationError(f"study '{spec.id}': the model card assigns {n_diff} training respondent(s) "
                                   "to another segment than the analysis did; the segmentation method does not "
                                   "assign by the nearest centroid, so a centroid card cannot represent it")
    return card


def _membership_card(m) -> dict | None:
    if m is None:
        return None
    coef = m.coefficients
    table = {}
    for seg in m.segments[1:]:
        rows = coef[coef["segment"] == seg]
        table[seg] = {str(t): float(c) for t, c in zip(rows["term"], rows["coef"])}
    mean = m.mean
    return {"model": "multinomial_logit", "reference": m.reference, "segments": list(m.segments),
            "predictors": list(m.predictors), "standardized": bool(m.standardized),
            "mean": {p: float(mean[p]) for p in m.predictors},
            "scale": {p: float(m.scale[p]) for p in m.predictors},
            "coefficients": table}


# ---------------------------------------------------------------------------------------
# Validation, saving, loading
# ---------------------------------------------------------------------------------------


class _CardError(Exception):
    pass


def _need(cond, where, msg):
    if not cond:
        raise _CardError(f"{where}: {msg}")


def _is_num(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _num_list(v, where, n=None, positive=False):
    _need(isinstance(v, list), where, "must be a list of numbers")
    if n is not None:
        _need(len(v) == n, where, f"must have {n} numbers (one per segmentation dimension), has {len(v)}")
    for i, x in enumerate(v):
        _need(_is_num(x), f"{where}[{i}]", f"{x!r} is not a finite number")
        if positive:
            _need(x > 0, f"{where}[{i}]", f"{x!r} must be positive (a standard deviation)")


def _text(v, where):
    _need(isinstance(v, str) and v != "", where, f"must be a non-empty text, got {v!r}")


def _check_card(card) -> None:
    _need(isinstance(card, dict), "(top level)", "a model card is a JSON object")
    _need(card.get("kind") == CARD_KIND, "kind", f"not a model card of this package (kind {card.get('kind')!r}, "
                                                 f"expected '{CARD_KIND}')")
    v = card.get("schema_version")
    _need(isinstance(v, int) and not isinstance(v, bool) and v >= 1, "schema_version",
          f"must be a whole number >= 1, got {v!r}")
    study = card.get("study")
    _need(isinstance(study, dict), "study", "missing or not an object")
    _text(study.get("id"), "study.id")
    _text(study.get("title"), "study.title")
    constructs = card.get("constructs")
    _need(isinstance(constructs, list) and constructs, "constructs", "must be a non-empty list")
    ids, items = set(), set()
    for i, c in enumerate(constructs):
        w = f"constructs[{i}]"
        _need(isinstance(c, dict), w, "must be an object")
        _text(c.get("id"), f"{w}.id")
        _need(c["id"] not in ids, f"{w}.id", f"duplicate construct '{c['id']}'")
        ids.add(c["id"])
        _need(c.get("role") in ("clustering", "predictor"), f"{w}.role", f"must be clustering or predictor, got {c.get('role')!r}")
        _need(isinstance(c.get("items"), list) and c["items"], f"{w}.items", "must be a non-empty list of item names")
        for j, it in enumerate(c["items"]):
            _text(it, f"{w}.items[{j}]")
            _need(it not in items, f"{w}.items[{j}]", f"item '{it}' appears in two constructs")
            items.add(it)
        sp = c.get("scale_points")
        _need(isinstance(sp, int) and not isinstance(sp, bool) and 2 <= sp <= 11, f"{w}.scale_points",
              f"must be a whole number from 2 to 11, got {sp!r}")
    m = card.get("missing")
    _need(m == "listwise" or (isinstance(m, dict) and set(m) == {"min_items"} and isinstance(m["min_items"], int)
                              and not isinstance(m["min_items"], bool) and m["min_items"] >= 1),
          "missing", f"must be 'listwise' or {{\"min_items\": m}}, got {m!r}")
    _need(card.get("input") is None or isinstance(card["input"], dict), "input", "must be an object or null")
    seg = card.get("segmentation")
    _need(isinstance(seg, dict), "segmentation", "missing or not an object")
    _need(seg.get("assignment") == "nearest_centroid", "segmentation.assignment",
          f"unknown assignment rule {seg.get('assignment')!r} (this version knows 'nearest_centroid')")
    dims = seg.get("dimensions")
    _need(isinstance(dims, list) and dims, "segmentation.dimensions", "must be a non-empty list of construct ids")
    roles = {c["id"]: c["role"] for c in constructs}
    for j, d in enumerate(dims):
        _need(roles.get(d) == "clustering", f"segmentation.dimensions[{j}]",
              f"'{d}' is not a clustering construct of the card")
    d = len(dims)
    _num_list(seg.get("mean"), "segmentation.mean", d)
    _num_list(seg.get("scale"), "segmentation.scale", d, positive=True)
    centers = seg.get("centers")
    _need(isinstance(centers, list) and len(centers) >= 2, "segmentation.centers", "must list at least two centroids")
    for j, row in enumerate(centers):
        _num_list(row, f"segmentation.centers[{j}]", d)
    segments = card.get("segments")
    _need(isinstance(segments, list) and segments, "segments", "must be a non-empty list")
    seg_ids = []
    for i, s in enumerate(segments):
        _need(isinstance(s, dict), f"segments[{i}]", "must be an object")
        _text(s.get("id"), f"segments[{i}].id")
        _need(s["id"] not in seg_ids, f"segments[{i}].id", f"duplicate segment '{s['id']}'")
        _need(s["id"] not in (UNMATCHED, UNCLASSIFIED), f"segments[{i}].id", f"'{s['id']}' is a reserved word")
        seg_ids.append(s["id"])
        _text(s.get("name"), f"segments[{i}].name")
        _need(s.get("strategy") is None or isinstance(s["strategy"], str), f"segments[{i}].strategy",
              "must be a text or null")
    clusters = seg.get("clusters")
    _need(isinstance(clusters, list) and len(clusters) == len(centers), "segmentation.clusters",
          f"must list one entry per centroid ({len(centers)})")
    for j, c in enumerate(clusters):
        _need(isinstance(c, dict) and c.get("cluster") == j + 1, f"segmentation.clusters[{j}]",
              f"must be {{\"cluster\": {j + 1}, \"segment\": ...}}")
        _need(c.get("segment") is None or c["segment"] in seg_ids, f"segmentation.clusters[{j}].segment",
              f"unknown segment {c.get('segment')!r}")
    mem = card.get("membership")
    if mem is not None:
        _need(isinstance(mem, dict), "membership", "must be an object or null")
        preds = mem.get("predictors")
        _need(isinstance(preds, list) and preds, "membership.predictors", "must be a non-empty list")
        for j, p in enumerate(preds):
            _need(roles.get(p) == "predictor", f"membership.predictors[{j}]", f"'{p}' is not a predictor construct")
        segs = mem.get("segments")
        _need(isinstance(segs, list) and len(segs) >= 2 and all(s in seg_ids for s in segs),
              "membership.segments", "must list at least two of the card's segments")
        _need(mem.get("reference") == segs[0], "membership.reference", "must be the first of membership.segments")
        for key, positive in (("mean", False), ("scale", True)):
            vals = mem.get(key)
            _need(isinstance(vals, dict) and set(vals) == set(preds), f"membership.{key}",
                  "must give a number for every predictor")
            for p, x in vals.items():
                _need(_is_num(x) and (x > 0 or not positive), f"membership.{key}.{p}",
                      f"{x!r} is not a {'positive ' if positive else ''}finite number")
        coefs = mem.get("coefficients")
        _need(isinstance(coefs, dict) and set(coefs) == set(segs[1:]), "membership.coefficients",
              "must give coefficients for every segment but the reference")
        for s, row in coefs.items():
            _need(isinstance(row, dict) and set(row) == {"const", *preds}, f"membership.coefficients.{s}",
                  "must give 'const' and every predictor")
            for t, x in row.items():
                _need(_is_num(x), f"membership.coefficients.{s}.{t}", f"{x!r} is not a finite number")


def validate_model_card(card, where="model card", study_id: str | None = None) -> dict:
    """Check a card's structure; raise :class:`ReplicationError` naming ``where`` and the key."""
    version = card.get("schema_version") if isinstance(card, dict) else None
    if isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA_VERSION:
        raise ReplicationError(f"{where}: the model card has schema_version {version}, written by a newer version "
                               f"of the package; this version ({__version__}) reads up to schema_version "
                               f"{SCHEMA_VERSION}. Upgrade the package (pip install -U replication) or rebuild the "
                               "card with this version")
    try:
        _check_card(card)
    except _CardError as exc:
        raise ReplicationError(f"{where}: invalid model card: {exc}") from None
    if study_id is not None and card["study"]["id"] != study_id:
        raise ReplicationError(f"{where}: this model card is for study '{card['study']['id']}' "
                               f"({card['study']['title']}), not '{study_id}'; use the card written by "
                               f"that study's run")
    return card


def card_json(card) -> str:
    """The card as JSON text: floats written exactly (repr), keys in their order."""
    return json.dumps(card, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def save_model_card(card, path) -> Path:
    """Validate ``card`` and write it as JSON, atomically; return the path."""
    from .. import files

    path = Path(path)
    validate_model_card(card, path)
    if path.is_dir():
        raise ReplicationError(f"{path}: is a folder; give a file name for the model card (model_card.json)")
    try:
        return files.atomic_write_text(path, card_json(card))
    except PermissionError:
        raise ReplicationError(f"{path}: permission denied; cannot write the model card in {path.parent}") from None
    except (NotADirectoryError, FileExistsError):
        raise ReplicationError(f"{path}: the folder {path.parent} is not a folder") from None
    except OSError as exc:
        raise ReplicationError(f"{path}: cannot write the model card ({exc.strerror or exc})") from None


def load_model_card(path, study_id: str | None = None) -> dict:
    """Read and validate a model card.

    Raises
    ------
    ReplicationError
        Not found, a folder, too large, not UTF-8, corrupt JSON (with the line and column),
        a card of a newer schema version, of another study than ``study_id``, or a card
        whose structure is wrong (naming the key).
    """
    from ..study.loader import check_fits_in_memory

    path = Path(path)
    if not path.exists():
        raise ReplicationError(f"{path}: model card not found")
    if path.is_dir():
        raise ReplicationError(f"{path}: is a folder, not a model card file")
    check_fits_in_memory(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ReplicationError(f"{path}: not UTF-8 text ({exc.reason}); a model card is JSON written by "
                               "`replication run`") from None
    except PermissionError:
        raise ReplicationError(f"{path}: permission denied (cannot read the model card)") from None
    if not text.strip():
        raise ReplicationError(f"{path}: the file is empty")

    def no_constants(name):
        raise ValueError(f"{name} is not allowed in a model card")

    try:
        card = json.loads(text, parse_constant=no_constants)
    except json.JSONDecodeError as exc:
        raise ReplicationError(f"{path}, line {exc.lineno}, column {exc.colno}: corrupt JSON: {exc.msg} "
                               "(the model card is damaged or was edited by hand; rebuild it with "
                               "`replication run`)") from None
    except ValueError as exc:
        raise ReplicationError(f"{path}: corrupt JSON: {exc}") from None
    return validate_model_card(card, path, study_id)


# ---------------------------------------------------------------------------------------
# Classifying
# ---------------------------------------------------------------------------------------


def _min_items(card, construct) -> int:
    m = card["missing"]
    return len(construct["items"]) if m == "listwise" else min(m["min_items"], len(construct["items"]))


def card_scores(card, survey: pd.DataFrame, constructs=None, source="the new respondents"):
    """Scale scores of ``constructs`` (default: every construct of the card) for ``survey``.

    Returns
    -------
    (DataFrame, ndarray)
        One column per construct (NaN where a respondent answered fewer items than the
        card's missing-data policy asks), and the mask of respondents scored on all of them.
    """
    by_id = {c["id"]: c for c in card["constructs"]}
    constructs = list(by_id) if constructs is None else constructs
    scores = pd.DataFrame(index=survey.index)
    ok = np.ones(len(survey), bool)
    for cid in constructs:
        c = by_id[cid]
        items = c["items"]
        missing = [it for it in items if it not in survey.columns]
        if missing:
            raise ReplicationError(f"{location(source, column=missing[0])}: the model card's construct '{cid}' "
                                   f"needs item '{missing[0]}', but the data lack it")
        block = survey[items]
        for it in items:
            col = block[it]
            num = pd.to_numeric(col, errors="coerce")
            bad = col.notna().to_numpy() & num.isna().to_numpy()
            if bad.any():
                row = int(np.flatnonzero(bad)[0])
                raise ReplicationError(f"{location(source, row + 1, it)}: {col.iloc[row]!r} is not a number")
            x = num.to_numpy(dtype=float)
            out = ~np.isnan(x) & ((x != np.round(x)) | (x < 1) | (x > c["scale_points"]))
            if out.any():
                row = int(np.flatnonzero(out)[0])
                raise ReplicationError(f"{location(source, row + 1, it)}: answer {x[row]:g} is not a scale point "
                                       f"1-{c['scale_points']} of construct '{cid}'")
        values = block.apply(pd.to_numeric, errors="coerce")
        answered = values.notna().sum(axis=1).to_numpy()
        score = np.array(values.mean(axis=1), dtype=float)
        enough = answered >= _min_items(card, c)
        score[~enough] = np.nan
        scores[cid] = score
        ok &= enough
    return scores, ok


def classify(card, survey_df: pd.DataFrame, *, probabilities: bool | None = None,
             source="the new respondents") -> pd.DataFrame:
    """Assign respondents to the card's segments.

    Parameters
    ----------
    card : dict
        From :func:`build_model_card` or :func:`load_model_card`.
    survey_df : DataFrame
        ``respondent_id`` (else 1..N) and the card's items under their item names, on the
        scale ``1..scale_points``, reverse-coded items already recoded (as
        :func:`replication.study.sources.read_user_survey` and :func:`read_new_respondents`
        return them). Missing answers are NaN.
    probabilities : bool, optional
        Give the membership model's probability of each segment (``p_<segment>``). Default:
        when the card has a membership model and the data have its predictor items. True
        requires them.
    source : str
        How error messages name the data (usually its file).

    Returns
    -------
    DataFrame
        ``respondent_id, segment, segment_name, cluster, distance, strategy`` and, with
        probabilities, ``p_<segment>`` per segment of the membership model. ``distance``
        is the Euclidean distance to the segment's centroid in standardized units.
        A respondent with too few answers for the card's missing-data policy gets
        segment ``unclassified``, cluster 0 and no distance; one in a cluster no
        reported profile fits, ``unmatched``.
    """
    if not isinstance(survey_df, pd.DataFrame):
        raise ReplicationError(f"{source}: classify needs a table of respondents (a DataFrame)")
    seg = card["segmentation"]
    dims = seg["dimensions"]
    scores, ok = card_scores(card, survey_df, dims, source)
    X = scores[dims].to_numpy(dtype=float)
    mean, scale = np.asarray(seg["mean"], float), np.asarray(seg["scale"], float)
    centers = np.asarray(seg["centers"], float)
    Z = (X - mean) / scale
    d2 = ((Z[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)
    label = np.where(ok, np.nanargmin(np.where(ok[:, None], d2, 0.0), axis=1), -1)
    names = {s["id"]: s["name"] for s in card["segments"]}
    strategies = {s["id"]: s.get("strategy") for s in card["segments"]}
    seg_of = [c["segment"] for c in seg["clusters"]]
    segment = np.array([UNCLASSIFIED if j < 0 else (seg_of[j] or UNMATCHED) for j in label], dtype=object)
    ids = survey_df["respondent_id"].to_numpy() if "respondent_id" in survey_df.columns \
        else np.arange(1, len(survey_df) + 1)
    distance = np.full(len(X), np.nan)
    distance[ok] = np.sqrt(d2[ok, label[ok]])
    out = pd.DataFrame({
        "respondent_id": ids,
        "segment": segment,
        "segment_name": [names.get(s, "(too few answers to classify)" if s == UNCLASSIFIED
                                   else "(no reported profile fits)") for s in segment],
        "cluster": label + 1,
        "distance": distance,
        "strategy": [strategies.get(s) for s in segment],
    })
    mem = card.get("membership")
    if probabilities is None:
        probabilities = mem is not None and all(
            it in survey_df.columns for c in card["constructs"] if c["id"] in mem["predictors"] for it in c["items"])
    if probabilities:
        if mem is None:
            raise ReplicationError(f"{source}: the model card of study '{card['study']['id']}' has no membership "
                                   "model, so it gives no segment probabilities")
        prob = logit_probabilities(card, survey_df, source)
        for s in mem["segments"]:
            out[f"p_{s}"] = prob[s].to_numpy()
    return out


def logit_probabilities(card, survey_df: pd.DataFrame, source="the new respondents") -> pd.DataFrame:
    """The membership model's probability of each segment given the predictor constructs."""
    mem = card["membership"]
    preds = mem["predictors"]
    scores, ok = card_scores(card, survey_df, preds, source)
    Z = np.column_stack([(scores[p].to_numpy(float) - mem["mean"][p]) / mem["scale"][p] for p in preds])
    eta = np.zeros((len(Z), len(mem["segments"])))
    for j, s in enumerate(mem["segments"][1:], start=1):
        b = mem["coefficients"][s]
        eta[:, j] = b["const"] + Z @ np.array([b[p] for p in preds])
    eta -= eta.max(axis=1, keepdims=True)
    p = np.exp(eta)
    p /= p.sum(axis=1, keepdims=True)
    p[~ok] = np.nan
    return pd.DataFrame(p, columns=mem["segments"], index=survey_df.index)


def read_new_respondents(card, path, *, id_column: str | None = None, encoding: str | None = None,
                         delimiter: str | None = None, fmt: str | None = None):
    """Read a file of new respondents the way the card's training data was read.

    The card's ``input`` (item columns, reverse-coded items, missing codes, scale_min) and
    missing-data policy apply; ``id_column`` overrides the id column. Respondents with too
    few answers are kept (classified ``unclassified``) and counted in ``dropped``.

    Returns
    -------
    UserSurvey
    """
    block = dict(card.get("input") or {})
    block["file"] = str(path)
    block["missing"] = card["missing"]
    if id_column is not None:
        block["id"] = id_column
    for key, value in (("encoding", encoding), ("delimiter", delimiter), ("format", fmt)):
        if value is not None:
            block[key] = value
    parsed = data_source(block, f"model card of study '{card['study']['id']}'")
    raw = read_table(Path(path), parsed.format, parsed.encoding, parsed.delimiter)
    constructs = [ConstructInfo(c["id"], tuple(c["items"]), c["scale_points"], c.get("label", ""))
                  for c in card["constructs"]]
    mem = card.get("membership")
    dims = set(card["segmentation"]["dimensions"])
    # Predictor items are optional for new respondents: read them only when the file has them.
    def column_of(item):
        return parsed.items.get(item, item)

    with_preds = [c for c in constructs if c.id in dims or (
        mem is not None and c.id in mem["predictors"] and all(column_of(it) in raw.header for it in c.items))]
    block_items = {it: col for it, col in parsed.items.items() if any(it in c.items for c in with_preds)}
    reverse = tuple(r for r in parsed.reverse if any(r in c.items or r in [column_of(i) for i in c.items]
                                                     for c in with_preds))
    parsed = parsed.model_copy(update={"items": block_items, "reverse": list(reverse)})
    where = (f"the input block of the model card of study '{card['study']['id']}' (another id column: "
             "id_column=..., or --id at the command line)")
    return read_survey_table(raw, parsed, with_preds, where_spec=where,
                             min_respondents=1, for_analysis=False, drop_unanswerable=False)


# ---------------------------------------------------------------------------------------
# Assignments written back
# ---------------------------------------------------------------------------------------


def assignment_table(result) -> pd.DataFrame:
    """Each respondent's segment: ``respondent_id, cluster, segment_code, segment, segment_name, distance``.

    ``segment_code`` numbers the specification's segments 1..k in their order (0 for a
    cluster no reported profile fits). The two-stage method gives no membership
    probability; ``distance`` is the Euclidean distance from the respondent to the
    centroid of its cluster in standardized units (smaller: more typical of the segment).
    A segmentation model with ``predict_proba`` adds ``probability``, the probability of
    the assigned cluster.
    """
    spec = result.spec
    model = result.segmentation.model
    a = result.assignments
    dims = spec.dimension_ids
    X = result.scores[dims].to_numpy(dtype=float)
    Z = (X - np.asarray(model.mean_)) / np.asarray(model.scale_)
    labels = np.asarray(a["cluster"].to_numpy(), dtype=int) - 1
    centers = np.asarray(model.cluster_centers_, dtype=float)
    distance = np.sqrt(((Z - centers[labels]) ** 2).sum(axis=1))
    code = {s: i + 1 for i, s in enumerate(spec.segment_ids)}
    names = spec.segment_names
    out = pd.DataFrame({
        "respondent_id": a["respondent_id"].to_numpy(),
        "cluster": labels + 1,
        "segment_code": [code.get(s, UNMATCHED_CODE) for s in a["segment"]],
        "segment": a["segment"].to_numpy(),
        "segment_name": [names.get(s, "(no reported profile fits)") for s in a["segment"]],
        "distance": distance,
    })
    if hasattr(model, "predict_proba"):
        p = np.asarray(model.predict_proba(X))
        out["probability"] = p[np.arange(len(p)), labels]
    return out


def write_assignments(result, path_csv=None, path_sav=None, labels=None, carry=()) -> list[Path]:
    """Write each respondent's segment as CSV and/or SPSS ``.sav``, atomically.

    Parameters
    ----------
    result : AnalysisResult
    path_csv, path_sav : str or Path, optional
        Where to write (at least one). Each is written to a temporary file beside it and
        renamed into place only when both are complete, so an existing file is either
        replaced whole or left as it was.
    labels : dict or UserSurvey, optional
        The survey's labels (:attr:`UserSurvey.labels`): the id's and carried columns'
        variable and value labels are kept in the ``.sav``.
    carry : sequence of str
        Columns of ``result.survey`` to write beside the segment (weights, demographics).

    Returns
    -------
    list of Path
        The files written.

    Columns: ``respondent_id, cluster, segment_code, segment, segment_name, distance``
    (see :func:`assignment_table`); in the ``.sav``, ``segment_code`` carries the segment
    names as value labels. The two-stage method gives no membership probability, so the
    distance to the segment's centroid is written instead (the variable label says so).
    """
    if path_csv is None and path_sav is None:
        raise ReplicationError("write_assignments: give path_csv, path_sav or both")
    labels = getattr(labels, "labels", labels) or {}
    table = assignment_table(result)
    for c in carry:
        if c not in result.survey.columns:
            raise ReplicationError(f"write_assignments: column '{c}' is not in the survey analysed")
        table[c] = result.survey[c].to_numpy()
    spec = result.spec
    var_labels = {
        "respondent_id": labels.get("variables", {}).get("respondent_id") or "Respondent id",
        "cluster": "Cluster of the two-stage cluster analysis (1 = largest)",
        "segment_code": "Segment (the value labels name it)",
        "segment": "Segment id in the study specification",
        "segment_name": "Segment name",
        "distance": "Distance to the segment centroid (standardized units); no membership probability",
        "probability": "Probability of the assigned cluster",
    }
    for c in carry:
        if c in labels.get("variables", {}):
            var_labels[c] = labels["variables"][c]
    value_labels = {"segment_code": {**{i + 1: s.name.value for i, s in enumerate(spec.segments)},
                                     UNMATCHED_CODE: "unmatched (no reported profile fits)"}}
    for c in ["respondent_id", *carry]:
        if c in labels.get("values", {}):
            value_labels[c] = labels["values"][c]
    note = (f"Segment assignments of study '{spec.id}' ({spec.study.title}), written by replication "
            f"{__version__}. The two-stage cluster analysis gives no membership probability; 'distance' is the "
            "Euclidean distance from the respondent to the centroid of the segment, in standardized units of "
            "the segmentation dimensions.")
    return write_user_table(table, path_csv, path_sav, variable_labels=var_labels, value_labels=value_labels,
                            file_label=f"Segments: {spec.study.title}", note=note, float_columns=["distance", "probability"])


def write_classification(table: pd.DataFrame, card, path_csv=None, path_sav=None) -> list[Path]:
    """Write :func:`classify`'s table as CSV and/or ``.sav`` (segment codes with value labels), atomically."""
    if path_csv is None and path_sav is None:
        raise ReplicationError("write_classification: give path_csv, path_sav or both")
    codes = {s["id"]: i + 1 for i, s in enumerate(card["segments"])}
    out = table.copy()
    out.insert(1, "segment_code", [codes.get(s, UNMATCHED_CODE if s == UNMATCHED else -1) for s in out["segment"]])
    value_labels = {"segment_code": {**{i + 1: s["name"] for i, s in enumerate(card["segments"])},
                                     UNMATCHED_CODE: "unmatched (no reported profile fits)",
                                     -1: "unclassified (too few answers)"}}
    var_labels = {"respondent_id": "Respondent id", "segment_code": "Segment (the value labels name it)",
                  "segment": "Segment id", "segment_name": "Segment name", "cluster": "Nearest centroid (0: none)",
                  "distance": "Distance to the segment centroid (standardized units)",
                  "strategy": "Strategy for the segment"}
    for c in out.columns:
        if c.startswith("p_"):
            var_labels[c] = f"Membership-model probability of segment {c[2:]} given the predictors"
    note = (f"New respondents classified with the model card of study '{card['study']['id']}' "
            f"({card['study']['title']}), by replication {__version__}.")
    floats = ["distance"] + [c for c in out.columns if c.startswith("p_")]
    return write_user_table(out, path_csv, path_sav, variable_labels=var_labels, value_labels=value_labels,
                            file_label=f"Classified: {card['study']['title']}", note=note, float_columns=floats)
