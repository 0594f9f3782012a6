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
