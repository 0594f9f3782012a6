"""Classifying new respondents with a model card.

:func:`classify` scores new respondents exactly as the analysis scored the training
sample (the mean of each construct's answered items), standardizes them with the card's
mean and SD, and assigns the nearest centroid (Euclidean, standardized units): the rule
by which the two-stage method's final k-means step assigned the training respondents.
Where the card has a membership model, :func:`logit_probabilities` gives the logit
probability of each segment *given the predictor constructs*. :func:`read_new_respondents`
reads a file of new respondents the way the card's training data was read.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import ReplicationError, location
from ..memory import row_chunks
from ..study.cleaning import read_survey_table
from ..study.datablock import ConstructInfo, data_source
from ..study.measurement import as_float64, item_means
from ..study.readers import read_table
from .card_schema import UNCLASSIFIED, UNMATCHED
from .design import design_frame


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
        values = as_float64(block.apply(pd.to_numeric, errors="coerce"))
        answered = values.notna().sum(axis=1).to_numpy()
        score = item_means(values)
        enough = answered >= _min_items(card, c)
        score[~enough] = np.nan
        scores[cid] = score
        ok &= enough
    return scores, ok


def standardized(scores: pd.DataFrame, dims, mean, scale):
    """``(rows, Z)`` per chunk of rows: the scores of ``dims`` standardized by ``mean`` and
    ``scale`` (in chunks: at panel scale the n x d temporaries would be most of a gigabyte)."""
    for rows in row_chunks(len(scores)):
        yield rows, (scores[dims].iloc[rows].to_numpy(dtype=float) - mean) / scale


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
    mean, scale = np.asarray(seg["mean"], float), np.asarray(seg["scale"], float)
    centers = np.asarray(seg["centers"], float)
    n = len(scores)
    label, distance = np.full(n, -1), np.full(n, np.nan)
    for rows, Z in standardized(scores, dims, mean, scale):     # one centroid at a time: no n x k x d
        d2 = np.column_stack([((Z - c) ** 2).sum(axis=1) for c in centers])
        fine = ok[rows]
        label[rows] = np.where(fine, np.nanargmin(np.where(fine[:, None], d2, 0.0), axis=1), -1)
        distance[rows][fine] = np.sqrt(d2[fine, label[rows][fine]])
    names = {s["id"]: s["name"] for s in card["segments"]}
    strategies = {s["id"]: s.get("strategy") for s in card["segments"]}
    seg_of = [c["segment"] for c in seg["clusters"]]
    # looked up once per cluster (the last entry for label -1), not once per respondent
    segment = np.array([seg_of[j] or UNMATCHED for j in range(len(seg_of))] + [UNCLASSIFIED], dtype=object)[label]
    ids = survey_df["respondent_id"].to_numpy() if "respondent_id" in survey_df.columns \
        else np.arange(1, len(survey_df) + 1)
    which, kinds = pd.factorize(segment)
    out = pd.DataFrame({
        "respondent_id": ids,
        "segment": segment,
        "segment_name": np.array([names.get(s, "(too few answers to classify)" if s == UNCLASSIFIED
                                            else "(no reported profile fits)") for s in kinds], dtype=object)[which],
        "cluster": label + 1,
        "distance": distance,
        "strategy": np.array([strategies.get(s) for s in kinds], dtype=object)[which],
    })
    mem = card.get("membership")
    if probabilities is None:
        probabilities = mem is not None and all(
            it in survey_df.columns for c in card["constructs"] if c["id"] in mem["predictors"] for it in c["items"]) \
            and all(d["column"] in survey_df.columns for d in mem.get("design") or [])
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
    design = mem.get("design") or []
    terms = {t for d in design for t in d["terms"]}
    scores, ok = card_scores(card, survey_df, [p for p in preds if p not in terms], source)
    if design:
        # Single-column predictors (numeric, ordinal, dummies), coded as in training.
        frame = design_frame(design, survey_df, source, f"the model card of study '{card['study']['id']}'")
        for t in terms:
            scores[t] = frame[t].to_numpy(float)
        ok = ok & scores[list(terms)].notna().all(axis=1).to_numpy()
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
    raw = read_table(Path(path), parsed.format, parsed.encoding, parsed.delimiter, id_column=parsed.id)
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
    # The single-column predictors' columns, when the file has them (else no probabilities).
    extra = [d["column"] for d in (mem or {}).get("design") or [] if d["column"] in raw.header]
    return read_survey_table(raw, parsed, with_preds, where_spec=where, extra_carry=extra,
                             min_respondents=1, for_analysis=False, drop_unanswerable=False)


def mark_excluded(table: pd.DataFrame, excluded) -> pd.DataFrame:
    """:func:`classify`'s table with a ``reason`` column: the respondents the analysis would
    not use (``excluded``, one reason per row, "" for none; e.g. too few answers to a
    predictor construct) get no segment (``unclassified``), no cluster, distance or
    probability, and the reason; every other row an empty reason."""
    out = table.copy()
    why = np.asarray(list(excluded) if len(excluded) else [""] * len(out), dtype=object)
    if len(why) != len(out):
        raise ValueError("mark_excluded: one reason per row of the table")
    unscored = (out["segment"] == UNCLASSIFIED).to_numpy()
    why = np.where(unscored & (why == ""), "too few answers to classify", why)
    mask = why != ""
    out.loc[mask, "segment"] = UNCLASSIFIED
    out.loc[mask, "segment_name"] = "(not classified: see reason)"
    out.loc[mask, "cluster"] = 0
    out.loc[mask, "distance"] = np.nan
    out.loc[mask, "strategy"] = None
    for c in out.columns:
        if c.startswith("p_"):
            out.loc[mask, c] = np.nan
    out["reason"] = why
    return out
