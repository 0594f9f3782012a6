"""Where a study's files live: ``data/raw/<study>/``, ``data/processed/<study>/`` and
``reports/<study>/`` below one project root, so two studies never write into each
other's folders; ``reports/index.html`` is the landing page that lists every study."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Layout:
    """The folders and fixed files of one study below a project root.

    Parameters
    ----------
    root : str or Path
        The project folder (holding ``data/`` and ``reports/``).
    study : str
        The study id (``study.id`` of its specification).
    """

    root: Path
    study: str

    def __post_init__(self):
        object.__setattr__(self, "root", Path(self.root))  # accept a str too

    # folders
    @property
    def raw(self) -> Path:
        return self.root / "data" / "raw" / self.study

    @property
    def processed(self) -> Path:
        return self.root / "data" / "processed" / self.study

    @property
    def reports(self) -> Path:
        return self.root / "reports" / self.study

    @property
    def tables(self) -> Path:
        return self.reports / "tables"

    @property
    def figures(self) -> Path:
        return self.reports / "figures"

    @property
    def notebooks(self) -> Path:
        return self.reports / "notebooks"

    # fixed files
    @property
    def survey(self) -> Path:
        return self.raw / "survey.csv"

    @property
    def codebook(self) -> Path:
        return self.raw / "codebook.csv"

    @property
    def generation(self) -> Path:
        """How the raw data were generated (seed, N, separation): no truth in it."""
        return self.raw / "generation.json"

    @property
    def truth(self) -> Path:
        """The generating truth: only recovery checks may read it."""
        return self.raw / "truth.json"

    @property
    def page(self) -> Path:
        return self.reports / "index.html"

    @property
    def manifest(self) -> Path:
        return self.reports / "manifest.json"

    @property
    def run_log(self) -> Path:
        """Timings and the commit of the last run: volatile, so kept out of the manifest."""
        return self.reports / ".run.json"

    @property
    def landing(self) -> Path:
        return self.root / "reports" / "index.html"
