"""The segmentation methods by name: the one map from the name a specification gives
(``segmentation.method``) to an estimator, and each method's own rule for k.

>>> model = make_segmentation("twostep", 5, spec).fit(needs)          # doctest: +SKIP
>>> table, k = select_k("lpa", make_segmentation("lpa", 5, spec), needs, 2, 10)   # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import ReplicationError
from . import mixture, spss_twostep
from .mixture import LatentProfileClustering
from .ward_kmeans import TwoStageClustering
from .spss_twostep import TwoStepClustering

if TYPE_CHECKING:   # annotations only
    from ..study.spec import StudySpec

#: The paper's method (the package's reading of "two-stage").
PAPER_METHOD = "ward_kmeans"
#: Estimator of each method name.
METHODS = {"ward_kmeans": TwoStageClustering, "twostep": TwoStepClustering, "lpa": LatentProfileClustering}
#: How each method is named in tables and notes.
METHOD_LABELS = {"ward_kmeans": "Ward's method then k-means",
                 "twostep": "TwoStep (CF tree, log-likelihood distance)",
                 "lpa": "latent profile analysis (Gaussian mixture)"}
#: Each method's own rule for k.
K_RULES = {"ward_kmeans": "most common k preferred by the k-selection criteria",
           "twostep": "SPSS's BIC-change and distance-jump rule",
           "lpa": "lowest BIC"}
#: The function applying a method's own rule for k, ``(estimator, X, k_min, k_max) -> (table, k)``,
#: for the methods without Ward's tree (``ward_kmeans`` uses :func:`.kselect.k_selection`).
OWN_K_SELECTION = {"twostep": spss_twostep.select_k, "lpa": mixture.select_k}


def make_segmentation(method: str, n_clusters: int, spec: StudySpec, **params):
    """An unfitted estimator for ``method`` with the specification's settings.

    ``standardize`` comes from ``spec.segmentation.standardize``, ``random_state`` from
    ``spec.seed`` and, for ``ward_kmeans``, ``exact_limit`` from the specification;
    ``params`` override or add method parameters.
    """
    if method not in METHODS:
        raise ReplicationError(f"unknown segmentation method '{method}'; known: {', '.join(METHODS)}")
    seg = spec.segmentation
    base = {"standardize": seg.standardize.value, "random_state": spec.seed.value}
    if method == "ward_kmeans":
        base["exact_limit"] = seg.exact_limit
    base.update(params)
    return METHODS[method](n_clusters=n_clusters, **base)


def select_k(method: str, estimator, X, k_min: int, k_max: int):
    """``method``'s own rule for k on ``X`` (TwoStep: SPSS's rule; LPA: lowest BIC):
    ``(table, k)``. ``ward_kmeans`` has several criteria: see :func:`.kselect.k_selection`."""
    if method not in OWN_K_SELECTION:
        raise ReplicationError(f"segmentation method '{method}' has no single rule for k; "
                               "use replication.segmentation.kselect.k_selection")
    return OWN_K_SELECTION[method](estimator, X, k_min, k_max)
