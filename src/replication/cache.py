"""A run's analyses, kept for its notebooks: one pickle per study, found by a key.

``replication run`` analyses every study in its own process, then executes the study's
notebooks in Jupyter kernels. So that a notebook shows that very analysis instead of
computing it again, the run pickles each :class:`~replication.analysis.AnalysisResult`
into a cache folder (:func:`store`), named by :func:`key`: a hash of the study
specification and of the survey analysed. The folder is given to the kernels in the
environment variable ``REPLICATION_CACHE``; :func:`replication.notebook.setup` computes
the key of the study and survey it has loaded and takes the pickle with that name
(:func:`load`). A notebook whose study or survey differs, or one opened on its own in
JupyterLab (no cache folder), finds nothing and analyses the survey itself.

The traffic also goes the other way, for one table: a kernel has imported the scientific
stack seconds before the run's first analysis is ready, and spends them comparing the
segmentation methods on a synthetic study's survey (the comparison needs the survey and the
truth, not the analysis: :func:`replication.notebook.precompute_comparison`). It stores the
table under the same key (:func:`store_comparison`), and the run takes it from there
(:func:`load_comparison`) instead of computing it again; where it finds none, it computes it.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from dataclasses import replace
from pathlib import Path

#: The environment variable naming the cache folder (set on the kernels of a run).
CACHE_ENV = "REPLICATION_CACHE"


def key(spec, survey) -> str:
    """A hash of the study specification (its parsed content) and the survey (its columns,
    dtypes and every value, index included)."""
    import pandas as pd

    h = hashlib.sha256()
    h.update(spec.model_dump_json().encode())
    h.update(repr([(str(c), str(t)) for c, t in survey.dtypes.items()]).encode())
    h.update(pd.util.hash_pandas_object(survey, index=True).to_numpy().tobytes())
    return h.hexdigest()[:32]


def path(folder: str | Path, spec, survey) -> Path:
    return Path(folder) / f"{spec.id}-{key(spec, survey)}.pickle"


def store(result, folder: str | Path) -> Path:
    """Pickle ``result`` (its figures drawn first, so that the notebooks show the very PNGs
    the run saves) under its key in ``folder``. The specification is not pickled (the
    notebook has loaded its own)."""
    result.figure_pngs()
    target = path(folder, result.spec, result.survey)
    target.write_bytes(pickle.dumps(replace(result, spec=None), protocol=pickle.HIGHEST_PROTOCOL))
    return target


def load(spec, survey, folder: str | Path | None = None):
    """The analysis of ``spec`` on ``survey`` stored by this run, or None. ``folder``
    defaults to ``$REPLICATION_CACHE``; no folder, no analysis."""
    folder = folder or os.environ.get(CACHE_ENV)
    if not folder:
        return None
    target = path(folder, spec, survey)
    if not target.is_file():
        return None
    result = pickle.loads(target.read_bytes())   # written by the run that started this kernel
    result.spec = spec
    return result


def comparison_path(folder: str | Path, spec, survey) -> Path:
    return Path(folder) / f"{spec.id}-{key(spec, survey)}.comparison.pickle"


def store_comparison(table, folder: str | Path, spec, survey) -> Path:
    """Pickle the method comparison ``table`` of ``spec`` on ``survey`` under its key in
    ``folder`` (atomically: the run may look for it while it is being written)."""
    from .files import atomic_write_bytes
    return atomic_write_bytes(comparison_path(folder, spec, survey),
                              pickle.dumps(table, protocol=pickle.HIGHEST_PROTOCOL))


def load_comparison(spec, survey, folder: str | Path | None):
    """The method comparison a kernel of this run stored for ``spec`` on ``survey``, or None."""
    if not folder:
        return None
    target = comparison_path(folder, spec, survey)
    return pickle.loads(target.read_bytes()) if target.is_file() else None
