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

The card's schema (a pydantic model), saving and loading are in :mod:`.card_schema`, the
classifier in :mod:`.classify`; both are importable from here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .. import __version__
from ..errors import ReplicationError
from ..study.datablock import data_source
from ..study.spss import write_user_table
# The card's schema, saving and loading, and the classifier live beside this module; they
# are imported here so the typing tool is one import (replication.membership.model_card).
from .card_schema import (CARD_KIND, SCHEMA_VERSION, UNCLASSIFIED, UNMATCHED, UNMATCHED_CODE, ModelCard,  # noqa: F401
                          card_json, load_model_card, save_model_card, validate_model_card)
from .classify import card_scores, classify, logit_probabilities, read_new_respondents, standardized  # noqa: F401


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
        JSON-ready; :class:`~.card_schema.ModelCard` is its schema.
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
        got = classify(card, result.survey, probabilities=False)["segment"].to_numpy(dtype=object)
        want = result.assignments["segment"].to_numpy(dtype=object)
        differ = got != want            # segment ids (text), compared as objects: no fixed-width copies
        if differ.any():
            n_diff = int(differ.sum())
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
            "coefficients": table, **({"design": m.codings} if m.codings else {})}


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
    labels = np.asarray(a["cluster"].to_numpy(), dtype=int) - 1
    centers = np.asarray(model.cluster_centers_, dtype=float)
    mean, scale = np.asarray(model.mean_), np.asarray(model.scale_)
    distance = np.empty(len(a))
    for rows, Z in standardized(result.scores, dims, mean, scale):
        distance[rows] = np.sqrt(((Z - centers[labels[rows]]) ** 2).sum(axis=1))
    code = {s: i + 1 for i, s in enumerate(spec.segment_ids)}
    names = spec.segment_names
    which, segments = pd.factorize(a["segment"], use_na_sentinel=False)   # looked up per segment, not respondent
    out = pd.DataFrame({
        "respondent_id": a["respondent_id"].to_numpy(),
        "cluster": labels + 1,
        "segment_code": np.array([code.get(s, UNMATCHED_CODE) for s in segments], dtype=int)[which],
        "segment": a["segment"].to_numpy(),
        "segment_name": np.array([names.get(s, "(no reported profile fits)") for s in segments], dtype=object)[which],
        "distance": distance,
    })
    if hasattr(model, "predict_proba"):
        p = np.asarray(model.predict_proba(result.scores[dims].to_numpy(dtype=float)))
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
    (see :func:`assignment_table`); the ``.sav`` has them but ``segment`` and
    ``segment_name``: its ``segment_code`` carries the segment names as value labels. The two-stage method gives no membership probability, so the
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
                            file_label=f"Segments: {spec.study.title}", note=note, float_columns=["distance", "probability"],
                            # SPSS's way: the labelled segment_code is the segment (its text
                            # columns would repeat the labels, and cost most of a panel's write)
                            csv_only=["segment", "segment_name"])


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
                  "strategy": "Strategy for the segment",
                  "reason": "Why the respondent is not classified (empty: classified)"}
    for c in out.columns:
        if c.startswith("p_"):
            var_labels[c] = f"Membership-model probability of segment {c[2:]} given the predictors"
    note = (f"New respondents classified with the model card of study '{card['study']['id']}' "
            f"({card['study']['title']}), by replication {__version__}.")
    floats = ["distance"] + [c for c in out.columns if c.startswith("p_")]
    return write_user_table(out, path_csv, path_sav, variable_labels=var_labels, value_labels=value_labels,
                            file_label=f"Classified: {card['study']['title']}", note=note, float_columns=floats)
