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
    #: Verdict counts in words (``17 PASS, 1 NOT DIAGNOSTIC``).
    verdicts: str = ""

    @property
    def verdict(self) -> str:
        return f"{self.claims} claims: {self.verdicts}" if self.claims else "no claims"
