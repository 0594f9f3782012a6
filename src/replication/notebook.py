"""What every notebook starts with: the study, its folders and its analysis.

The notebooks are generic; the study comes from ``REPLICATION_STUDY`` (an id or a path to
a YAML file; default ``golovacheva2022``) and the project folder from ``REPLICATION_ROOT``
(default ``..``, the notebooks' parent). ``replication run`` sets both.

>>> from replication.notebook import setup      # doctest: +SKIP
>>> nb = setup()                                # doctest: +SKIP
>>> nb.spec, nb.layout, nb.survey, nb.result    # doctest: +SKIP
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .analysis import AnalysisResult, analyse
from .layout import Layout
from .pipeline import load_survey, load_user_data
from .study.spec import StudySpec, load_study

DEFAULT_STUDY = "golovacheva2022"


@dataclass
class NotebookContext:
    spec: StudySpec
    layout: Layout
    survey: pd.DataFrame
    result: AnalysisResult


def setup(study: str | None = None, root: str | Path | None = None) -> NotebookContext:
    """Load the study, read its validated survey and run its analysis (in memory).

    When ``replication run`` executes the notebook, it hands over its own analysis of the
    same survey (``REPLICATION_RESULT``), which is used instead of computing it again.
    """
    spec = load_study(study or os.environ.get("REPLICATION_STUDY", DEFAULT_STUDY))
    layout = Layout(Path(root or os.environ.get("REPLICATION_ROOT", "..")), spec.id)
    # A study on its own data reads its file (the data: block); a synthetic one, data/raw/.
    survey = load_user_data(spec).survey if spec.data is not None else load_survey(layout)
    pd.set_option("display.max_columns", 30)
    pd.set_option("display.width", 160)
    return NotebookContext(spec, layout, survey, _handed_over(spec, survey) or
                           analyse(spec, survey, source=layout.survey))


def _handed_over(spec: StudySpec, survey: pd.DataFrame) -> AnalysisResult | None:
    """The run's analysis, if it was handed over and is of this study and this survey."""
    path = os.environ.get("REPLICATION_RESULT")
    if not path or not Path(path).is_file():
        return None
    import pickle
    study_id, result = pickle.loads(Path(path).read_bytes())   # written by this run's own process
    if study_id != spec.id or result.survey.shape != survey.shape or not result.survey.equals(survey):
        return None
    result.spec = spec
    return result
