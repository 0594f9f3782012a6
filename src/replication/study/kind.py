"""What kind of study a specification is, for the words its page uses.

* ``replication``: a published study's claims checked (on synthetic data, or on a survey
  the researcher holds for that study);
* ``like``: a paper's claims tested on the researcher's own survey (``study.like``,
  written by ``replication init --like``);
* ``explore``: the researcher's own survey with no source: a ``data:`` block and no
  claims; nothing is "reported", the page shows what was found.
"""

from __future__ import annotations


def study_kind(spec) -> str:
    """``"explore"``, ``"like"`` or ``"replication"`` (see the module docstring)."""
    if spec.study.like:
        return "like"
    if spec.data is not None and not spec.claims:
        return "explore"
    return "replication"
