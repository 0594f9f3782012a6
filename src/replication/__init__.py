"""Replication of published market-segmentation studies.

A study is a YAML specification (``replication/studies/*.yaml``); :func:`analyse` runs its
whole analysis on a survey in memory; :func:`simulate_survey` makes a synthetic survey
whose structure follows what the study reports. The subpackages follow the methods
section: :mod:`~replication.study`, :mod:`~replication.segmentation`,
:mod:`~replication.membership`, :mod:`~replication.evaluation`, :mod:`~replication.report`.
"""

from .version import package_version as _package_version

#: The installed distribution's version (pyproject.toml is the one place it is written).
__version__ = _package_version()

#: Public names and the modules that define them. They load on first use (PEP 562), so
#: that ``replication run`` can start its Jupyter kernels before importing the scientific
#: stack.
_EXPORTS = {
    "AnalysisResult": ".analysis", "analyse": ".analysis", "Layout": ".layout",
    "simulate_survey": ".study.simulate", "load_study": ".study.spec", "shipped_studies": ".study.spec",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        import importlib
        value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
