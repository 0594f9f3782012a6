"""What every notebook starts with: the study, its folders and its analysis.

The notebooks are generic. Their first code cell, tagged ``parameters`` (papermill's
convention), names the study and the project folder::

    study = "golovacheva2022"   # a shipped study id or a path to a study YAML
    root = ".."                 # the project folder (the notebooks' parent)

``replication run`` replaces that cell's values with the study it executes the notebook
for. The environment variables ``REPLICATION_STUDY`` and ``REPLICATION_ROOT``, when set,
override them (handy in JupyterLab: ``REPLICATION_STUDY=forrester2016 make lab``).

>>> from replication.notebook import setup      # doctest: +SKIP
>>> nb = setup(study, root)                     # doctest: +SKIP
>>> nb.spec, nb.layout, nb.survey, nb.result    # doctest: +SKIP
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from . import cache
from .analysis import AnalysisResult, analyse, survey_weights
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

    @staticmethod
    def show(fig, alt: str):
        """A figure drawn in the notebook, for display with its alternative text ``alt``
        (what a reader who cannot see it needs to know); the figure is closed."""
        import io

        import matplotlib.pyplot as plt
        from IPython.display import Image

        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
        plt.close(fig)
        return Image(data=buf.getvalue(), format="png", metadata={"alt": alt})


def setup(study: str | None = None, root: str | Path | None = None) -> NotebookContext:
    """Load the study, read its validated survey and get its analysis (in memory).

    The analysis is the one ``replication run`` stored for this study and this survey
    (:mod:`replication.cache`) when there is one; otherwise it is computed here.
    """
    from .report.notebooks import install_display_formatters

    spec = load_study(os.environ.get("REPLICATION_STUDY") or study or DEFAULT_STUDY)
    layout = Layout(Path(os.environ.get("REPLICATION_ROOT") or root or ".."), spec.id)
    # A study on its own data reads its file (the data: block); a synthetic one, data/raw/.
    user = load_user_data(spec) if spec.data is not None else None
    survey = user.survey if user is not None else load_survey(layout)
    pd.set_option("display.max_columns", 30)
    pd.set_option("display.width", 160)
    install_display_formatters()
    # The file's value labels name a categorical predictor's levels, as in the run.
    result = cache.load(spec, survey) or analyse(spec, survey, source=user.source if user else layout.survey,
                                                 weights=survey_weights(spec, survey),
                                                 labels=user.labels if user else None)
    return NotebookContext(spec, layout, survey, result)


def precompute_comparison(study: str, root: str | Path) -> Path | None:
    """In a kernel of ``replication run``: compare the segmentation methods on a synthetic
    study's survey and store the table for the run (:func:`replication.cache.store_comparison`).

    The kernel runs this after importing the scientific stack and before its first
    notebook, seconds in which it would otherwise wait for the run's first analysis; the
    comparison needs only the survey and the generating truth. None (nothing done) outside
    a run or for a study not on synthetic data.
    """
    from .evaluation.comparison import compare_methods
    from .pipeline import read_truth

    folder = os.environ.get(cache.CACHE_ENV)
    spec = load_study(study)
    if not folder or not spec.is_synthetic:
        return None
    layout = Layout(Path(root), spec.id)
    survey = load_survey(layout)
    return cache.store_comparison(compare_methods(spec, survey, read_truth(layout)), folder, spec, survey)
