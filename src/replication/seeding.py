"""Seeds: one integer seed in, independent integer seeds out.

A base module (it imports nothing of the package), so the estimators in
:mod:`replication.segmentation` and the resampling in :mod:`replication.evaluation` draw
their seeds the same way without importing each other.
"""

from __future__ import annotations

import numpy as np


def spawn_seeds(seed: int, n: int) -> list[int]:
    """``n`` independent integer seeds from one seed (numpy's SeedSequence.spawn)."""
    return [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(n)]
