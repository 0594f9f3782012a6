"""Replication of published market-segmentation studies.

A study is a YAML specification (``replication/studies/*.yaml``); :func:`analyse` runs its
whole analysis on a survey in memory; :func:`simulate_survey` makes a synthetic survey
whose structure follows what the study reports. The subpackages follow the methods
section: :mod:`~replication.study`, :mod:`~replication.segmentation`,
:mod:`~replication.membership`, :mod:`~replication.evaluation`, :mod:`~replication.report`.
"""

__version__ = "0.2.0"

from .analysis import AnalysisResult, analyse  # noqa: E402
from .layout import Layout  # noqa: E402
from .study.simulate import simulate_survey  # noqa: E402
from .study.spec import load_study, shipped_studies  # noqa: E402

__all__ = ["AnalysisResult", "Layout", "analyse", "load_study", "shipped_studies", "simulate_survey"]
