"""What a finished study reports back to the run: light, so that the process orchestrating
``replication run`` needs no scientific stack."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StudyOutcome:
    """What a finished study reports back: its N, how many claims pass, and its page."""

    study: str
    n: int
    passed: int
    claims: int
    page: str

    @property
    def verdict(self) -> str:
        return f"{self.passed} of {self.claims} claims pass" if self.claims else "no claims"
