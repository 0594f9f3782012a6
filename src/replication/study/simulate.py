"""A seeded simulator of the survey, returning the answers and the generating truth.

How a respondent is made (every number comes from the study specification):

1. *Consumer characteristics.* A population of shoppers gets correlated latent
   characteristics; each answers four Likert items per characteristic; the mean of the
   items is the characteristic's scale score.
2. *Segment.* A multinomial logit of segment on the scale scores (the specification's
   ``simulation.coefficients``) gives each shopper a segment. The sample then takes
   exactly the largest-remainder count of shoppers from each segment. Sampling on the
   outcome leaves a logit's slopes unchanged and shifts only its intercepts
   (Manski & Lerman 1977; Prentice & Pyke 1979), so the true slopes of the analysis
   model are known exactly while the segment sizes match the reported shares exactly.
3. *Needs.* Each respondent's latent need on each clustering construct is the segment's
   High (+separation/2) or Low (-separation/2) level plus standard-normal individual
   noise; each item is that need on the scale plus item noise, rounded and clipped.
4. *Demographics and profiling variables* follow the specification's distributions.

:func:`simulate_survey` returns the survey (what a researcher would have), the codebook,
and the truth (what only recovery checks may read).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import ReplicationError
from .spec import StudySpec

#: Version of the generating process, recorded in the truth file.
GENERATOR_VERSION = 1


@dataclass
class SyntheticSample:
    """The output of :func:`simulate_survey`.

    Attributes
    ----------
    survey : DataFrame
        ``respondent_id`` and one column per survey item: the only thing the analysis reads.
    codebook : DataFrame
        One row per survey column: label, construct, role, scale, allowed values.
    truth : dict
        True segment of every respondent, true logit coefficients and the generator's
        parameters. Only recovery checks may read it.
    """

    survey: pd.DataFrame
    codebook: pd.DataFrame
    truth: dict

    @property
    def true_segments(self) -> pd.Series:
        t = pd.DataFrame(self.truth["respondents"])
        return t.set_index("respondent_id")["segment"]


def _likert(rng, latent: np.ndarray, loading: float, noise: float, points: int, n_items: int):
    """Items answering a latent score: ``round(centre + loading*latent + noise*e)``, clipped."""
    centre = (points + 1) / 2
    raw = centre + loading * latent[:, None] + noise * rng.standard_normal((latent.size, n_items))
    return np.clip(np.rint(raw), 1, points).astype(int)


def _predictor_pool(rng, spec: StudySpec, size: int):
    """Item answers and scale scores of the consumer characteristics for ``size`` shoppers."""
    sim = spec.simulation
    preds = spec.predictor_constructs
    p = len(preds)
    if p == 0:
        return np.empty((size, 0), dtype=int), np.empty((size, 0)), np.empty((size, 0))
    rho = sim.predictor_correlation.value
    cov = np.full((p, p), rho) + (1 - rho) * np.eye(p)
    latent = rng.multivariate_normal(np.zeros(p), cov, size=size, method="cholesky")
    items, scores, true_scores = [], np.empty((size, p)), np.empty((size, p))
    for j, c in enumerate(preds):
        answers = _likert(rng, latent[:, j], sim.predictor_loading.value, sim.predictor_item_noise.value,
                          c.scale_points.value, len(c.items.value))
        items.append(answers)
        scores[:, j] = answers.mean(axis=1)
        # The error-free score on the same scale: what the items measure, without item noise.
        true_scores[:, j] = (c.scale_points.value + 1) / 2 + sim.predictor_loading.value * latent[:, j]
    return np.hstack(items), scores, true_scores


def true_slopes(spec: StudySpec) -> np.ndarray:
    """Segments x predictors matrix of true logit slopes (reference row is zero)."""
    coefs = spec.simulation.coefficients.value if spec.simulation.coefficients else {}
    return np.array([[coefs.get(s, {}).get(c.id, 0.0) for c in spec.predictor_constructs]
                     for s in spec.segment_ids])


def _calibrate_intercepts(linear: np.ndarray, shares: np.ndarray, ref: int) -> np.ndarray:
    """Intercepts that make the population's expected shares equal ``shares``."""
    alpha = np.zeros(shares.size)
    for _ in range(200):
        eta = linear + alpha
        prob = np.exp(eta - eta.max(axis=1, keepdims=True))
        prob /= prob.sum(axis=1, keepdims=True)
        step = np.log(shares / prob.mean(axis=0))
        alpha += step - step[ref]
        if np.abs(step).max() < 1e-10:
            break
    return alpha


def simulate_survey(spec: StudySpec, n: int | None = None, separation: float | None = None,
                    random_state: int | None = None, *, composition: str | None = None,
                    predictor_error: bool | None = None, shuffle_dimensions: bool = False,
                    dimensions_from_predictors: float | None = None, response_shift: int = 0) -> SyntheticSample:
    """Simulate the survey for a study.

    Parameters
    ----------
    spec : StudySpec
        The study specification.
    n : int, optional
        Sample size; default the specification's N.
    separation : float, optional
        Distance between a High and a Low need in within-segment standard deviations of
        the latent need; default the specification's ``simulation.separation``. Zero gives
        a sample with no segment structure on the needs.
    random_state : int, optional
        Seed; default the specification's seed. The same seed gives identical output.
    composition : {"exact", "multinomial"}, optional
        ``exact`` (the default, ``simulation.composition``) takes exactly the
        largest-remainder count of each segment: the sample's composition is conditioned
        on the reported shares. ``multinomial`` takes N respondents from the population as
        they come, so the composition varies from sample to sample as in a real survey.
    predictor_error : bool, optional
        If true (default ``simulation.predictor_error``), segments depend on the error-free
        predictor scores, so the observed scale scores measure them with item error (and a
        logit on the observed scores is attenuated); if false, on the observed scores.
    shuffle_dimensions : bool
        Control scenario: shuffle each segmentation dimension's items across respondents
        (independently per dimension), destroying the joint structure but keeping each
        dimension's distribution.
    dimensions_from_predictors : float, optional
        Control scenario: no segments on the dimensions; each dimension's latent value is
        this weight times one standardized predictor trait (cycling through them) plus
        individual noise, so the dimensions depend linearly on the predictors.
    response_shift : int
        Control scenario: a response style; every Likert answer this many points higher
        (clipped to the answer scale), the segment structure unchanged.

    Returns
    -------
    SyntheticSample
    """
    if spec.simulation is None:
        raise ReplicationError(f"study '{spec.id}' has no 'simulation' block, so no synthetic "
                               "survey can be generated for it")
    n = spec.n.value if n is None else int(n)
    separation = spec.simulation.separation.value if separation is None else float(separation)
    seed = spec.seed.value if random_state is None else int(random_state)
    if n < len(spec.segments):
        raise ReplicationError(f"N = {n} is smaller than the number of segments ({len(spec.segments)})")
    if separation < 0 or not np.isfinite(separation):
        raise ReplicationError(f"separation must be >= 0 and finite, got {separation}")
    if seed < 0:
        raise ReplicationError(f"the seed must be a non-negative integer, got {seed}")
    rng = np.random.default_rng(seed)
    sim = spec.simulation
    composition = composition or sim.composition.value
    if composition not in ("exact", "multinomial"):
        raise ReplicationError(f"composition must be 'exact' or 'multinomial', got '{composition}'")
    predictor_error = sim.predictor_error.value if predictor_error is None else bool(predictor_error)
    counts = spec.segment_counts(n) if composition == "exact" else np.zeros(len(spec.segments), int)
    k = len(spec.segments)
    ref = spec.segment_ids.index(spec.reference_segment)
    slopes = true_slopes(spec)
    centres = np.array([(c.scale_points.value + 1) / 2 for c in spec.predictor_constructs])

    # Steps 1-2: a population with logit-distributed segments, sampled on the outcome.
    pool = 4 * n + 200
    while True:
        pred_items, scores, true_scores = _predictor_pool(rng, spec, pool)
        linear = ((true_scores if predictor_error else scores) - centres) @ slopes.T
        alpha = _calibrate_intercepts(linear, spec.shares, ref)
        eta = linear + alpha
        prob = np.exp(eta - eta.max(axis=1, keepdims=True))
        prob /= prob.sum(axis=1, keepdims=True)
        u = rng.random(pool)
        segment_of = (prob.cumsum(axis=1) < u[:, None]).sum(axis=1).clip(max=k - 1)
        members = [np.flatnonzero(segment_of == s) for s in range(k)]
        if all(m.size >= c for m, c in zip(members, counts)):
            break
        pool *= 2  # a rare segment came up short: draw a larger population
    if composition == "exact":
        chosen = np.concatenate([m[:c] for m, c in zip(members, counts)])
        chosen = chosen[rng.permutation(n)]  # respondents in random order, not by segment
    else:
        chosen = np.arange(n)                # the population's first n, as they come
        counts = np.bincount(segment_of[chosen], minlength=k)
    seg = segment_of[chosen]
    pred_items = pred_items[chosen]
    trait = (true_scores[chosen] - centres) / (sim.predictor_loading.value if spec.predictor_constructs else 1)

    # Step 3: needs from the segment profiles.
    need_items = []
    levels = spec.profile_matrix()
    for j, c in enumerate(spec.clustering_constructs):
        if dimensions_from_predictors is None:
            latent = levels[seg, j] * separation / 2 + rng.standard_normal(n)
        else:
            if not spec.predictor_constructs:
                raise ReplicationError("dimensions driven by predictors need predictor constructs")
            latent = dimensions_from_predictors * trait[:, j % trait.shape[1]] + rng.standard_normal(n)
        answers = _likert(rng, latent, sim.need_loading.value, sim.need_item_noise.value,
                          c.scale_points.value, len(c.items.value))
        if shuffle_dimensions:
            answers = answers[rng.permutation(n)]
        need_items.append(np.clip(answers + response_shift, 1, c.scale_points.value))

    # Step 4: demographics and profiling variables.
    columns: dict[str, np.ndarray] = {"respondent_id": np.arange(1, n + 1)}
    for d in spec.demographics:
        if d.kind == "integer":
            columns[d.id] = np.clip(np.rint(rng.normal(d.mean.value, d.sd.value, n)), d.min, d.max).astype(int)
        else:
            codes = np.array(list(d.categories.value))
            columns[d.id] = rng.choice(codes, size=n, p=d.probabilities.value)
    for c, answers in zip(spec.clustering_constructs, need_items):
        columns.update({item: answers[:, i] for i, item in enumerate(c.items.value)})
    if response_shift:
        top = np.repeat([c.scale_points.value for c in spec.predictor_constructs],
                        [len(c.items.value) for c in spec.predictor_constructs])
        pred_items = np.clip(pred_items + response_shift, 1, top)
    pred_cols = [item for c in spec.predictor_constructs for item in c.items.value]
    columns.update({item: pred_items[:, i] for i, item in enumerate(pred_cols)})
    for p in spec.profiling:
        rate = np.array([p.segment_rates.value.get(s, p.rate.value) for s in spec.segment_ids])[seg]
        columns[p.id] = rng.binomial(p.max if p.kind == "count" else 1, rate)
    survey = pd.DataFrame(columns)

    truth = {
        "study": spec.study.id,
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "n": n,
        "parameters": {
            "separation": separation,
            "composition": composition,
            "predictor_error": predictor_error,
            "shuffle_dimensions": shuffle_dimensions,
            "dimensions_from_predictors": dimensions_from_predictors,
            **({"response_shift": response_shift} if response_shift else {}),
            "need_loading": sim.need_loading.value,
            "need_item_noise": sim.need_item_noise.value,
            **{key: getattr(sim, key).value for key in ("predictor_loading", "predictor_item_noise",
                                                         "predictor_correlation") if getattr(sim, key)},
        },
        "segment_counts": dict(zip(spec.segment_ids, counts.tolist())),
        "respondents": [{"respondent_id": int(i), "segment": spec.segment_ids[s]}
                        for i, s in zip(columns["respondent_id"], seg)],
    }
    if spec.membership is not None:
        predictors = [c.id for c in spec.predictor_constructs]
        truth["logit"] = {
            "reference": spec.reference_segment,
            "units": "per scale point of the predictor's scale score (mean of its items)",
            "predictors": predictors,
            "slopes": {s: dict(zip(predictors, row.tolist()))
                       for s, row in zip(spec.segment_ids, slopes) if s != spec.reference_segment},
            "population_intercepts": dict(zip(spec.segment_ids, np.round(alpha, 6).tolist())),
            "note": "outcome-based sampling keeps the slopes and shifts the intercepts",
        }
    return SyntheticSample(survey=survey, codebook=make_codebook(spec), truth=truth)


def make_codebook(spec: StudySpec) -> pd.DataFrame:
    """One row per survey column: label, construct, role, scale, min, max, value labels."""
    rows = [dict(column="respondent_id", label="Respondent identifier", construct="", role="id",
                 scale="integer", min=1, max="", values="")]
    for d in spec.demographics:
        if d.kind == "integer":
            rows.append(dict(column=d.id, label=d.label, construct="", role="demographic",
                             scale="integer", min=d.min, max=d.max, values=""))
        else:
            cats = d.categories.value
            rows.append(dict(column=d.id, label=d.label, construct="", role="demographic", scale="categorical",
                             min=min(cats), max=max(cats), values="; ".join(f"{k}={v}" for k, v in cats.items())))
    for c in spec.clustering_constructs + spec.predictor_constructs:
        pts = c.scale_points.value
        for i, item in enumerate(c.items.value, 1):
            rows.append(dict(column=item, label=f"{c.label.value}, item {i} (wording not reported)",
                             construct=c.id, role=f"{c.role} item", scale=f"likert{pts}", min=1, max=pts,
                             values=f"1=strongly disagree; {pts}=strongly agree"))
    for p in spec.profiling:
        if p.kind == "binary":
            rows.append(dict(column=p.id, label=p.label.value, construct="", role="profiling",
                             scale="binary", min=0, max=1, values="0=no; 1=yes"))
        else:
            rows.append(dict(column=p.id, label=p.label.value, construct="", role="profiling",
                             scale="count", min=0, max=p.max, values=""))
    return pd.DataFrame(rows, columns=["column", "label", "construct", "role", "scale", "min", "max", "values"])
