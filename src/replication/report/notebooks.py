"""Executing the notebooks for a study and rendering them to HTML.

The notebooks are generic: each reads the study from the environment variables
``REPLICATION_STUDY`` (an id or a path to a YAML file) and ``REPLICATION_ROOT`` (the
project folder) through :func:`replication.notebook.setup`. One Jupyter kernel executes
every notebook of every study in a run, with a fresh namespace for each notebook: starting
a kernel imports the whole scientific stack, which costs more than running a notebook.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from .. import files
from ..layout import Layout
from ..outputs import notebooks_for
from ..study.spec import StudySpec

#: Where the notebooks live, relative to the project root.
NOTEBOOK_DIR = Path("notebooks")


def notebook_dir(root: Path | None = None) -> Path:
    """The notebooks folder: the project's, or the one beside the installed package."""
    here = Path(__file__).resolve().parents[3] / "notebooks"
    candidate = Path(root) / NOTEBOOK_DIR if root is not None else None
    return candidate if candidate is not None and candidate.is_dir() else here


class NotebookKernel:
    """One running Jupyter kernel, reused for several notebooks (a context manager)."""

    def __init__(self, cwd: Path):
        from nbclient import NotebookClient
        import nbformat

        self._client = NotebookClient(nbformat.v4.new_notebook(), kernel_name="python3",
                                      extra_arguments=["--log-level=ERROR"],
                                      resources={"metadata": {"path": str(cwd)}})
        self.km = self._client.create_kernel_manager()
        # Start the kernel now and have it import the stack while the caller analyses: a
        # kernel's start-up imports cost more than executing a notebook.
        from nbclient.util import run_sync
        run_sync(self.km.start_kernel)(extra_arguments=["--log-level=ERROR"], cwd=str(cwd))
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.execute("import replication.notebook, replication.report.figures", silent=True,
                        store_history=False)

    def execute(self, nb, cwd: Path, setup_code: str):
        """Execute ``nb`` after ``setup_code`` (run in a fresh namespace; not kept in the output)."""
        import nbformat
        from nbclient import NotebookClient

        setup = nbformat.v4.new_code_cell("%reset -f\n" + setup_code)
        nb.cells.insert(0, setup)
        client = NotebookClient(nb, km=self.km, kernel_name="python3", timeout=600,
                                extra_arguments=["--log-level=ERROR"],
                                resources={"metadata": {"path": str(cwd)}})
        client.kc = self.kc
        try:
            client.execute()
        finally:
            self.kc = client.kc
            nb.cells.pop(0)
        # Number the notebook's own cells from 1, as a fresh kernel would.
        count = 0
        for cell in nb.cells:
            if cell.cell_type == "code":
                count += 1
                cell.execution_count = count
                for out in cell.get("outputs", []):
                    if "execution_count" in out:
                        out["execution_count"] = count
        return nb

    def close(self):
        from nbclient.util import run_sync
        if self.kc is not None:
            self.kc.stop_channels()
        if self.km.has_kernel:
            run_sync(self.km.shutdown_kernel)(now=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def execute_notebooks(spec: StudySpec, layout: Layout, names=None, kernel: NotebookKernel | None = None,
                      log=print, result=None) -> list[Path]:
    """Execute the study's notebooks and render each to ``reports/<study>/notebooks/<name>.html``.

    ``result``, the run's own :class:`~replication.analysis.AnalysisResult`, is handed to
    the notebooks through a private temporary file, so that they show this run's analysis
    without computing it again (:func:`replication.notebook.setup` checks it belongs to
    the same study and survey; without it, the notebooks analyse the survey themselves).
    """
    import nbformat
    import pickle
    import tempfile
    from nbconvert import HTMLExporter

    folder = notebook_dir(layout.root)
    chosen = [nb for nb in notebooks_for(spec) if names is None or nb.name in names]
    study_ref = str(spec.path) if spec.path is not None else spec.id
    cache_dir = tempfile.TemporaryDirectory(prefix="replication-nb-")
    cache = Path(cache_dir.name) / "result.pickle"
    if result is not None:
        # The specification (pydantic generics do not pickle) is reloaded by the notebook.
        from dataclasses import replace
        cache.write_bytes(pickle.dumps((spec.id, replace(result, spec=None)), protocol=pickle.HIGHEST_PROTOCOL))
    setup_code = ("import os\n"
                  f"os.environ['REPLICATION_STUDY'] = {study_ref!r}\n"
                  f"os.environ['REPLICATION_ROOT'] = {str(Path(layout.root).resolve())!r}\n"
                  f"os.environ['REPLICATION_RESULT'] = {str(cache) if result is not None else ''!r}\n")
    own = kernel is None
    kernel = kernel or NotebookKernel(folder.resolve())
    written = []
    try:
        for nb_info in chosen:
            src = folder / f"{nb_info.name}.ipynb"
            start = time.perf_counter()
            print(f"{spec.id}: executing {src} ...", file=sys.stderr, flush=True)
            nb = nbformat.read(src, as_version=4)
            kernel.execute(nb, folder.resolve(), setup_code)
            body, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
            out = layout.notebooks / f"{nb_info.name}.html"
            files.atomic_write_text(out, body)
            print(f"  done in {time.perf_counter() - start:.1f} s -> {out}", file=sys.stderr, flush=True)
            written.append(out)
    finally:
        cache_dir.cleanup()
        if own:
            kernel.close()
    return written
