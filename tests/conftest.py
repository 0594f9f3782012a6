"""Shared fixtures: the shipped studies, the default synthetic sample, and a study's raw-data folder."""

from __future__ import annotations

import pytest

from replication import pipeline
from replication.study.simulate import simulate_survey
from replication.study.spec import load_study

#: Forrester's sample in tests that run the whole pipeline: above the exact-Ward limit
#: (5,000), so the micro-cluster path runs, at a tenth of the shipped 60,000 (the shipped
#: sample itself is regenerated and checked once per `make test`, by
#: test_report.py::test_verify_passes_on_the_committed_outputs).
PANEL_TEST_N = 6000


@pytest.fixture(scope="session")
def spec():
    """The shipped study specification golovacheva2022 (the default study)."""
    return load_study("golovacheva2022")


@pytest.fixture(scope="session")
def forrester():
    """The shipped study specification forrester2016 (no membership model, N = 2000)."""
    return load_study("forrester2016")


@pytest.fixture(scope="session")
def sample(spec):
    """The default synthetic sample: the study's N, separation and seed."""
    return simulate_survey(spec)


@pytest.fixture(scope="session")
def analysed(spec, sample):
    """The default study's complete analysis of the default sample (k criteria, bootstrap,
    method comparison: seconds), computed once for every test file that only reads it."""
    from replication import analyse
    return analyse(spec, sample.survey)


@pytest.fixture
def raw_layout(spec, tmp_path):
    """The study's Layout below ``tmp_path`` whose ``data/raw/golovacheva2022/`` holds a
    freshly generated default survey."""
    layout = pipeline.layout_for(spec, tmp_path)
    pipeline.generate(spec, layout)
    return layout


@pytest.fixture(scope="session")
def small_forrester(forrester):
    """A function writing Forrester's raw data at ``PANEL_TEST_N`` below a project root,
    so that a pipeline run there analyses that sample instead of generating 60,000."""
    def write(root):
        pipeline.generate(forrester, pipeline.layout_for(forrester, root), n=PANEL_TEST_N)
        return root
    return write


def analyse_fast(spec, survey, **kw):
    """``analyse`` without the parts the data-handling tests do not look at (k criteria,
    cross-check, bootstrap and method comparison)."""
    from replication import analyse
    return analyse(spec, survey, with_k_selection=False, crosscheck=False, stability=False, **kw)
