"""Executing the notebooks for a study and rendering them to HTML.

The notebooks are generic: each reads the study from the environment variables
``REPLICATION_STUDY`` (an id or a path to a YAML file) and ``REPLICATION_ROOT`` (the
project folder) through :func:`replication.notebook.setup`. A kernel executes several
notebooks, with a fresh namespace for each (:class:`NotebookKernel`): starting a kernel
imports the whole scientific stack, which costs more than running a notebook
(`replication run` goes further: :mod:`replication.kernels`).

The rendered notebooks work offline: :func:`offline_exporter` renders the maths of the
markdown cells to MathML when it exports (browsers show MathML natively) and loads no
script from the network (nbconvert's lab template would fetch MathJax, require.js and
mermaid from a CDN). Tables show p-values in APA style (``< .001``), as the study pages do
(:func:`install_display_formatters`, run in the kernel before each notebook).
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

from .. import files
from ..errors import ReplicationError
from ..layout import Layout
from ..outputs import notebooks_for
from ..study.spec import StudySpec

#: Run in the kernel before each notebook (after its namespace is reset).
DISPLAY_SETUP = ("import replication.report.notebooks as _replication_nb\n"
                 "_replication_nb.install_display_formatters()\ndel _replication_nb")

#: Where the notebooks live, relative to the project root.
NOTEBOOK_DIR = Path("notebooks")


def notebook_dir(root: Path | None = None) -> Path:
    """The notebooks folder: the project's; else the source checkout's (``notebooks/``
    beside ``src/``); else the copy an installed wheel carries (``replication/notebooks``,
    put there when the wheel is built: see setup.py)."""
    candidate = Path(root) / NOTEBOOK_DIR if root is not None else None
    if candidate is not None and candidate.is_dir():
        return candidate
    checkout = Path(__file__).resolve().parents[3] / "notebooks"
    packaged = Path(__file__).resolve().parents[1] / "notebooks"
    return packaged if not checkout.is_dir() and packaged.is_dir() else checkout


#: The lab template without anything fetched from the network: no require.js, MathJax,
#: mermaid or widget scripts (maths is MathML by then), LaTeX outputs as MathML too, and
#: images with the alternative text their output carries (the study page's descriptions).
OFFLINE_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block html_head_css -%}<style type="text/css">
math[display="block"]{margin:1em 0;overflow-x:auto;overflow-y:hidden;font-size:1.15em}
code.tex-source{white-space:pre-wrap}
</style>{%- endblock html_head_css -%}
{% block data_png scoped %}
<div class="jp-RenderedImage jp-OutputArea-output {{ extra_class }}">
<img src="data:image/png;base64,{{ output.data['image/png'] | escape_html }}"
{%- set alt = output | get_metadata('alt', 'image/png') -%}
{%- if alt is not none %} alt="{{ alt | escape_html }}"{%- endif %}>
</div>
{%- endblock data_png %}
{% block data_latex scoped %}
<div class="jp-RenderedLatex jp-OutputArea-output {{ extra_class }}" data-mime-type="text/latex">
{{ output.data['text/latex'] | tex_to_mathml }}
</div>
{%- endblock data_latex %}
"""


def tex_to_mathml(tex: str, display: bool = False) -> str:
    """LaTeX maths as MathML (rendered by the browser, no script needed); where it cannot
    be converted, the LaTeX source as code, escaped."""
    import html

    try:
        from latex2mathml.converter import convert
    except ImportError:   # not installed: the maths stays LaTeX source (requirements.lock has it)
        print("warning: latex2mathml is not installed; maths in the notebooks is shown as LaTeX source",
              file=sys.stderr)
        return f'<code class="tex-source">{html.escape(tex)}</code>'

    source = tex.strip()
    for left, right, block in (("$$", "$$", True), (r"\[", r"\]", True), ("$", "$", False), (r"\(", r"\)", False)):
        if source.startswith(left) and source.endswith(right) and len(source) > len(left) + len(right):
            source, display = source[len(left):-len(right)], display or block
            break
    try:
        return convert(source, display="block" if display else "inline")
    except Exception:   # noqa: BLE001 - any LaTeX the converter does not know stays readable
        return f'<code class="tex-source">{html.escape(tex)}</code>'


def offline_exporter():
    """An nbconvert ``HTMLExporter`` (lab template) whose pages load nothing from the network:
    markdown maths becomes MathML when exported, and no CDN script is referenced."""
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter
    from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath

    class MathMLRenderer(IPythonRenderer):
        def block_math(self, body: str) -> str:
            return tex_to_mathml(body, display=True)

        def inline_math(self, body: str) -> str:
            return tex_to_mathml(body)

        def latex_environment(self, name: str, body: str) -> str:
            return tex_to_mathml(f"\\begin{{{name}}}{body}\\end{{{name}}}", display=True)

        def multiline_math(self, text: str) -> str:
            return tex_to_mathml(text, display=True)

    class OfflineHTMLExporter(HTMLExporter):
        def markdown2html(self, context, source):
            cell = context.get("cell", {})
            renderer = MathMLRenderer(
                escape=False, attachments=cell.get("attachments", {}), embed_images=self.embed_images,
                path=context.get("resources", {}).get("metadata", {}).get("path", ""),
                anchor_link_text=self.anchor_link_text, exclude_anchor_links=self.exclude_anchor_links,
                **self.lexer_options)
            return MarkdownWithMath(renderer=renderer).render(source)

        def default_filters(self):
            yield from super().default_filters()
            yield ("markdown2html", self.markdown2html)
            yield ("tex_to_mathml", tex_to_mathml)

    # markdown2html is a jinja2 context filter in nbconvert; keep it one.
    OfflineHTMLExporter.markdown2html = _context_filter(OfflineHTMLExporter.markdown2html)
    return OfflineHTMLExporter(template_name="lab", extra_loaders=[DictLoader({"offline.html.j2": OFFLINE_TEMPLATE})],
                               template_file="offline.html.j2", embed_images=True)


def _context_filter(fn):
    from jinja2 import pass_context
    return pass_context(fn)


def install_display_formatters() -> None:
    """In a notebook's kernel: show the p-values of displayed tables (columns such as
    ``p_value``, or rows such as ``lr_p_value``) in APA style, ``< .001`` or ``.023``,
    instead of a rounded 0.000. Nothing else about the table changes."""
    import pandas as pd
    from IPython import get_ipython

    from .figures import apa_p

    shell = get_ipython()
    if shell is None:
        return

    def is_p(name) -> bool:
        name = str(name)
        return name == "p" or name.endswith(("p_value", "_p")) or name.startswith("p_")

    def frame_html(df):
        try:
            out, changed = df.copy(), False
            for col in out.columns:
                if is_p(col) and pd.api.types.is_numeric_dtype(out[col]) \
                        and not pd.api.types.is_bool_dtype(out[col]):
                    out[col] = out[col].map(lambda v: apa_p(v) if pd.notna(v) else "")
                    changed = True
            p_rows = [i for i, label in enumerate(out.index) if is_p(label)]
            if p_rows and len(out.columns) == 1 and pd.api.types.is_numeric_dtype(out.iloc[:, 0]):
                col = out.columns[0]
                values = out[col].astype(object)
                for i in p_rows:
                    values.iloc[i] = apa_p(values.iloc[i])
                out[col] = values
                changed = True
            return (out if changed else df)._repr_html_()
        except Exception:   # noqa: BLE001 - a display helper never breaks a notebook
            return df._repr_html_()

    shell.display_formatter.formatters["text/html"].for_type(pd.DataFrame, frame_html)


class NotebookKernel:
    """One running Jupyter kernel, reused for several notebooks (a context manager)."""

    def __init__(self, cwd: Path):
        # jupyter_client alone starts the kernel (nbclient, which executes the notebooks,
        # takes seconds more to import): the kernel starts importing the stack at once, and
        # a kernel's start-up imports cost more than executing a notebook.
        from jupyter_client.manager import AsyncKernelManager
        from jupyter_core.utils import run_sync

        self.km = AsyncKernelManager(kernel_name="python3")
        run_sync(self.km.start_kernel)(extra_arguments=["--log-level=ERROR"], cwd=str(cwd))
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.execute("import replication.notebook, replication.report.figures, replication.report.notebooks",
                        silent=True, store_history=False)

    def execute(self, nb, cwd: Path, setup_code: str):
        """Execute ``nb`` after ``setup_code`` (run in a fresh namespace; not kept in the output)."""
        import nbformat
        from nbclient import NotebookClient

        setup = nbformat.v4.new_code_cell("%reset -f\n" + setup_code + "\n" + DISPLAY_SETUP)
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
        from jupyter_core.utils import run_sync
        if self.kc is not None:
            self.kc.stop_channels()
        if self.km.has_kernel:
            run_sync(self.km.shutdown_kernel)(now=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _plain(text: str) -> str:
    """Kernel error text without ANSI colour codes, on one line."""
    return " ".join(re.sub(r"\x1b\[[0-9;]*m", "", str(text)).split())


def setup_code(spec: StudySpec, layout: Layout, received: Path | None = None) -> str:
    """The hidden first cell of each notebook: which study, which project folder, and (when
    the analysis was pickled by another process) where to receive it from."""
    study_ref = str(Path(spec.path).resolve()) if spec.path is not None else spec.id
    code = ("import os\n"
            f"os.environ['REPLICATION_STUDY'] = {study_ref!r}\n"
            f"os.environ['REPLICATION_ROOT'] = {str(Path(layout.root).resolve())!r}\n")
    if received is not None:
        code += f"import replication.notebook as _nb\n_nb.receive({str(received)!r})\ndel _nb\n"
    return code


def render_notebook(spec: StudySpec, name: str, kernel: NotebookKernel, setup: str, exporter,
                    folder: Path | None = None) -> str:
    """Execute the notebook ``name`` for ``spec`` in ``kernel`` and return its HTML (nothing
    is written). A failing cell is one :class:`ReplicationError` line, not a traceback."""
    import nbformat
    from nbclient.exceptions import CellExecutionError, DeadKernelError

    folder = (folder or notebook_dir()).resolve()
    src = folder / f"{name}.ipynb"
    nb = nbformat.read(src, as_version=4)
    try:
        kernel.execute(nb, folder, setup)
    except CellExecutionError as exc:
        # One line for the reader, not the kernel's coloured traceback.
        raise ReplicationError(f"{src}: a cell failed while executing it for study '{spec.id}': "
                               f"{exc.ename}: {_plain(exc.evalue)}") from None
    except DeadKernelError:
        raise ReplicationError(f"{src}: the Jupyter kernel stopped while executing it for study "
                               f"'{spec.id}' (out of memory?)") from None
    body, _ = exporter.from_notebook_node(nb)
    return body


def execute_notebooks(spec: StudySpec, layout: Layout, names=None, kernel: NotebookKernel | None = None,
                      log=print, result=None) -> list[Path]:
    """Execute the study's notebooks and render each to ``reports/<study>/notebooks/<name>.html``.

    ``result``, this process's :class:`~replication.analysis.AnalysisResult` of the study,
    is handed to the notebooks through a private temporary file, so that they show it
    without computing it again (:func:`replication.notebook.setup` checks it belongs to
    the same study and survey; without it, the notebooks analyse the survey themselves).
    ``replication run`` does not need this: its analyses live in the kernels.
    """
    import pickle
    import tempfile

    folder = notebook_dir(layout.root)
    chosen = [nb for nb in notebooks_for(spec) if names is None or nb.name in names]
    cache_dir = tempfile.TemporaryDirectory(prefix="replication-nb-")
    cache = Path(cache_dir.name) / "result.pickle"
    if result is not None:
        # The specification (pydantic generics do not pickle) is reloaded by the kernel.
        from dataclasses import replace
        study_ref = str(Path(spec.path).resolve()) if spec.path is not None else spec.id
        cache.write_bytes(pickle.dumps((study_ref, replace(result, spec=None)), protocol=pickle.HIGHEST_PROTOCOL))
    setup = setup_code(spec, layout, cache if result is not None else None)
    exporter = offline_exporter()
    own = kernel is None
    kernel = kernel or NotebookKernel(folder.resolve())
    written = []
    try:
        for nb_info in chosen:
            start = time.perf_counter()
            log(f"{spec.id}: executing {folder / nb_info.name}.ipynb ...")
            body = render_notebook(spec, nb_info.name, kernel, setup, exporter, folder)
            out = files.atomic_write_text(layout.notebooks / f"{nb_info.name}.html", body)
            log(f"  {spec.id}: {nb_info.name} done in {time.perf_counter() - start:.1f} s -> {out}")
            written.append(out)
    finally:
        cache_dir.cleanup()
        if own:
            kernel.close()
    return written
