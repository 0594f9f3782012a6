"""Shared fixtures: the shipped study, its default synthetic sample, and a raw-data folder."""

from __future__ import annotations

import pytest

from replication import pipeline
from replication.simulate import simulate_survey
from replication.spec import load_study


@pytest.fixture(scope="session")
def spec():
    """The shipped study specification (golovacheva2022)."""
    return load_study()


@pytest.fixture(scope="session")
def sample(spec):
    """The default synthetic sample: the study's N, separation and seed."""
    return simulate_survey(spec)


@pytest.fixture
def raw_layout(spec, tmp_path):
    """A Layout below ``tmp_path`` whose data/raw holds a freshly generated default survey."""
    layout = pipeline.Layout(tmp_path)
    pipeline.generate(spec, layout)
    return layout
