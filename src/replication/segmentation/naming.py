"""Naming clusters: match centroids to the reported High/Low profiles.

A cluster is High on a need when its centroid lies above the sample mean of that need
(z > 0), Low otherwise. A reported level is High (``H`` or a number >= 0.5), Low (``L`` or
<= -0.5) or claims no side (``M`` or a number in between). Each cluster is assigned to one reported segment by an optimal
one-to-one assignment (Hungarian algorithm, scipy's ``linear_sum_assignment``) that
maximises, in this order, the number of clusters that fit their profile on every need,
the number of dimensions on the reported side, and how far the centroids lie on that side. A cluster whose pattern does not agree with its assigned profile on
every need keeps no name: the match is reported as failed rather than forced.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from ..study.spec import StudySpec


@dataclass
class SegmentMatch:
    """The outcome of :func:`match_segments`.

    Attributes
    ----------
    table : DataFrame
        One row per cluster: ``cluster, pattern, segment, name, assigned_profile`` (the
        reported profile of the segment it was assigned to), ``agreement`` (share of dimensions
        on the reported side) and ``matched``.
    mapping : dict
        Cluster number -> segment id, or ``None`` where the cluster fits no profile.
    """

    table: pd.DataFrame
    mapping: dict

    @property
    def all_matched(self) -> bool:
        return bool(self.table["matched"].all())

    def segment_of(self, labels) -> np.ndarray:
        """Segment id of each label; ``"unmatched"`` for clusters without a name."""
        names = np.array([self.mapping[c] or "unmatched" for c in range(len(self.mapping))], dtype=object)
        return names[np.asarray(labels)]


def pattern(center_z) -> str:
    """``"H/L/H"``: High where the standardized centroid is above the sample mean."""
    return "/".join("H" if z > 0 else "L" for z in center_z)


def match_segments(centers_z, spec: StudySpec) -> SegmentMatch:
    """Assign the specification's segment names to clusters.

    Parameters
    ----------
    centers_z : array of shape (k, n_clustering_constructs)
        Standardized centroids, columns in the order of ``spec.clustering_constructs``.
    spec : StudySpec

    Returns
    -------
    SegmentMatch
    """
    centers_z = np.asarray(centers_z, dtype=float)
    dims = [c.id for c in spec.clustering_constructs]
    profiles = spec.profile_matrix()
    sides = np.array([[{"H": 1.0, "L": -1.0, "M": 0.0}[x] for x in s.pattern(dims).split("/")]
                      for s in spec.segments])
    signs = np.where(centers_z > 0, 1.0, -1.0)
    # A need agrees when the centroid lies on the reported side; a level with no side ("M")
    # agrees either way.
    agree_each = (signs[:, None, :] == sides[None, :, :]) | (sides[None, :, :] == 0)
    agreement = agree_each.mean(axis=2)   # clusters x segments
    depth = centers_z @ profiles.T
    # Lexicographic objective: most clusters that fit their profile on every need, then
    # most dimensions on the reported side, then depth (scaled into [0, 1)) to break ties.
    full = (agreement == 1.0).astype(float)
    score = full * 1e6 + agreement * len(dims) * 1e3 + depth / (np.abs(depth).max() + 1)
    rows, cols = linear_sum_assignment(-score)
    mapping, records = {}, []
    for c in range(centers_z.shape[0]):
        hit = np.flatnonzero(rows == c)
        seg = spec.segments[cols[hit[0]]] if hit.size else None
        agree = float(agreement[c, cols[hit[0]]]) if hit.size else 0.0
        matched = seg is not None and agree == 1.0
        mapping[c] = seg.id if matched else None
        records.append({
            "cluster": c + 1,
            "pattern": pattern(centers_z[c]),
            "segment": seg.id if matched else "unmatched",
            "name": seg.name.value if matched else "(no reported profile fits)",
            "assigned_profile": seg.pattern(dims) if seg else "",
            "agreement": agree,
            "matched": matched,
        })
    return SegmentMatch(table=pd.DataFrame(records), mapping=mapping)
