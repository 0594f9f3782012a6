"""Build hook: the wheel carries the notebooks.

The notebooks live in ``notebooks/`` at the top of the repository (where Binder and
JupyterLab users open them), outside the package, so package data cannot name them. This
copies them into the built package as ``replication/notebooks/``, where
:func:`replication.report.notebooks.notebook_dir` finds them when the package is installed
from a wheel. Everything else is declared in pyproject.toml.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


class BuildPyWithNotebooks(build_py):
    """``build_py``, then the notebooks into ``<build>/replication/notebooks/``."""

    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install runs from the checkout, which has notebooks/ itself
        notebooks = sorted((HERE / "notebooks").glob("*.ipynb"))
        if not notebooks:   # a wheel without them would fail only later, at `replication run`
            raise SystemExit(f"no notebooks in {HERE / 'notebooks'}: the sdist must include them (MANIFEST.in)")
        target = Path(self.build_lib) / "replication" / "notebooks"
        self.mkpath(str(target))
        for nb in notebooks:
            self.copy_file(str(nb), str(target / nb.name))


setup(cmdclass={"build_py": BuildPyWithNotebooks})
