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

    def figure(self, name: str):
        """The study page's figure ``name`` (``reports/<study>/figures/<name>.png``, made
        by :func:`replication.report.figures.study_figures`), for display: the very PNG
        that the run saves, drawn once."""
        from IPython.display import Image

        from .report.figures import describe_figures
        alt = describe_figures(self.result).get(name)
        return Image(data=self.result.figure_pngs()[name], format="png", metadata={"alt": alt} if alt else None)


#: Analyses handed over by the process that runs the notebooks, by study id.
_HANDED_OVER: dict[str, AnalysisResult] = {}


def hand_over(result: AnalysisResult) -> None:
    """Offer ``result`` to the notebooks executed later in this process (a Jupyter kernel):
    :func:`setup` uses it, instead of analysing again, when it is of the same study and
    the same survey."""
    _HANDED_OVER[result.spec.id] = result


def receive(path: str | Path) -> None:
    """:func:`hand_over` the analysis pickled by another process at ``path``
    (:func:`replication.report.notebooks.execute_notebooks` with ``result=``)."""
    import pickle
    from .study.spec import load_study
    study, result = pickle.loads(Path(path).read_bytes())   # written by this run's own process
    result.spec = load_study(study)
    hand_over(result)


def setup(study: str | None = None, root: str | Path | None = None) -> NotebookContext:
    """Load the study, read its validated survey and run its analysis (in memory).

    When ``replication run`` executes the notebook, its analysis of the same survey has
    been handed over (:func:`hand_over`) and is used instead of computing it again.
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
    """A copy of the handed-over analysis, if it is of this study and this survey (a copy,
    so that nothing a notebook does can change what the run writes)."""
    import copy
    from dataclasses import replace
    result = _HANDED_OVER.get(spec.id)
    if result is None or result.survey.shape != survey.shape or not result.survey.equals(survey):
        return None
    result = copy.deepcopy(replace(result, spec=None))   # the specification is the notebook's own
    result.spec = spec
    return result
