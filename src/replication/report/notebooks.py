"""Executing the notebooks for a study with nbclient and rendering them to HTML.

The notebooks are generic: the first code cell of each, tagged ``parameters``, names the
study and the project folder, and :func:`render_notebook` gives it the study it executes
the notebook for (as papermill would). :func:`replication.notebook.setup` then loads the
study and finds the analysis the run stored for it (:mod:`replication.cache`). A kernel
executes several notebooks, with a fresh namespace for each (:class:`NotebookKernel`):
starting a kernel imports the whole scientific stack, which costs more than running a
notebook, so ``replication run`` starts its kernels before it analyses the studies.

The rendered notebooks work offline: :func:`offline_exporter` renders the maths of the
markdown cells to MathML when it exports (browsers show MathML natively) and loads no
script from the network (nbconvert's lab template would fetch MathJax, require.js and
mermaid from a CDN). Tables show p-values in APA style (``< .001``), as the study pages do
(:func:`install_display_formatters`, called by :func:`replication.notebook.setup`).
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
/* Contrast of at least 4.5:1 on the code cells' grey (WCAG AA): prompts and comments darker */
.jp-InputPrompt,.jp-OutputPrompt{color:#2c3e8c!important;opacity:1!important}
:root{--jp-mirror-editor-number-color:#006b00;--jp-mirror-editor-quote-color:#006b00;
--jp-mirror-editor-operator-color:#7a1fb8;--jp-mirror-editor-meta-color:#7a1fb8;
--jp-mirror-editor-comment-color:#35605f;--jp-mirror-editor-atom-color:#4040c0;
--jp-mirror-editor-bracket-color:#6b6b4f;--jp-mirror-editor-hr-color:#666;--jp-mirror-editor-error-color:#c00000}
.highlight .c,.highlight .c1,.highlight .cm,.highlight .ch,.highlight .cs{color:#35605f!important}
.highlight .ow,.highlight .nd{color:#7a1fb8!important}.highlight .se{color:#8a4a15!important}
.highlight .ne{color:#b0302a!important}.highlight .ni,.highlight .nl{color:#5c5c00!important}
.highlight .si,.highlight .sr{color:#87415f!important}.highlight .cp,.highlight .cpf{color:#7a4f00!important}
.highlight .na{color:#55621b!important}
.jp-RenderedHTMLCommon a,.jp-RenderedHTMLCommon a:link,.jp-RenderedHTMLCommon a:visited{text-decoration:underline!important}
</style>{%- endblock html_head_css -%}
{#- The code as pygments highlights it, without the lab template's bleach pass: pygments
    escapes the source itself, so bleach returned it unchanged, and took a tenth of the
    export's time. -#}
{% block input %}
<div class="jp-CodeMirrorEditor jp-Editor jp-InputArea-editor" data-type="inline">
     <div class="cm-editor cm-s-jupyter">
{{ cell.source | highlight_code(metadata=cell.metadata) }}
     </div>
</div>
{%- endblock input %}
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
    """One running Jupyter kernel that executes notebooks one after another, each in a fresh
    namespace (a context manager).

    The kernel starts at once and imports the package and the scientific stack in the
    background, so that its imports overlap whatever this process does meanwhile.
    ``cache`` is the folder of the run's analyses (:mod:`replication.cache`), given to the
    kernel as ``REPLICATION_CACHE``; without one, the kernel gets an empty folder of its
    own (``self.cache``), removed when it closes.
    """

    def __init__(self, cwd: Path, cache: Path | None = None):
        # jupyter_client alone starts the kernel (nbclient takes seconds more to import).
        import os
        import tempfile

        from jupyter_client.manager import AsyncKernelManager
        from jupyter_core.utils import run_sync

        from ..cache import CACHE_ENV

        self._own_cache = None if cache is not None else tempfile.TemporaryDirectory(prefix="replication-cache-")
        self.cache = Path(cache if cache is not None else self._own_cache.name)
        # The study and the project folder come from each notebook's parameters cell: a
        # REPLICATION_STUDY or REPLICATION_ROOT of the caller's shell must not override them.
        env = {k: v for k, v in os.environ.items() if k not in ("REPLICATION_STUDY", "REPLICATION_ROOT")}
        env[CACHE_ENV] = str(self.cache)
        self.km = AsyncKernelManager(kernel_name="python3")
        self.kc = None
        run_sync(self.km.start_kernel)(extra_arguments=["--log-level=ERROR"], cwd=str(cwd), env=env)
        self.kc = self.km.client()
        self.kc.start_channels()
        self.run_silently(WARM_UP)

    def run_silently(self, code: str) -> None:
        """Queue ``code`` in the kernel without waiting for it (no output, no history)."""
        if self.kc is not None:
            self.kc.execute(code, silent=True, store_history=False)

    def execute(self, nb, cwd: Path):
        """Execute ``nb`` with nbclient in a fresh namespace (``%reset -f`` first, not kept
        in the output); its cells are numbered from 1, as in a fresh kernel."""
        import nbformat
        from nbclient import NotebookClient

        if self.kc is None:   # closed (the run was interrupted): never start another kernel
            raise ReplicationError("the Jupyter kernel was stopped before the notebook could execute")
        nb.cells.insert(0, nbformat.v4.new_code_cell(RESET))
        client = NotebookClient(nb, km=self.km, kernel_name="python3", timeout=600,
                                resources={"metadata": {"path": str(cwd)}})
        client.kc = self.kc
        try:
            client.execute()
        finally:
            self.kc = client.kc
            nb.cells.pop(0)
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
        """Stop the kernel at once (a notebook still executing in it fails); again, nothing."""
        from jupyter_core.utils import run_sync
        if self.kc is not None:
            self.kc.stop_channels()
            self.kc = None
        if self.km.has_kernel:
            run_sync(self.km.shutdown_kernel)(now=True)
        if self._own_cache is not None:
            self._own_cache.cleanup()
            self._own_cache = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class NotebookKernels:
    """``n`` kernels started at once (none for ``n = 0``), and :meth:`execute`, which executes
    a notebook in whichever of them is free: call it from at most ``n`` threads."""

    def __init__(self, n: int, root: Path, cache: Path | None = None):
        import queue

        self.folder = notebook_dir(root).resolve()
        self.kernels = []
        try:
            for _ in range(n):
                self.kernels.append(NotebookKernel(self.folder, cache))
        except BaseException:
            self.close()
            raise
        self.free = queue.Queue()
        for kernel in self.kernels:
            self.free.put(kernel)

    def execute(self, spec: StudySpec, layout: Layout, name: str, log=print) -> tuple:
        """Execute notebook ``name`` for ``spec`` in a free kernel: the executed notebook
        (:func:`execute_notebook`; the caller exports it, so that the kernel is free for the
        next notebook meanwhile) and the seconds it took."""
        kernel = self.free.get()
        try:
            start = time.perf_counter()
            log(f"{spec.id}: executing {name} ...")
            nb = execute_notebook(spec, layout, name, kernel, self.folder)
            seconds = time.perf_counter() - start
            log(f"  {spec.id}: {name} executed in {seconds:.1f} s")
            return nb, seconds
        finally:
            self.free.put(kernel)

    def precompute_comparisons(self, specs: list[StudySpec], root: Path) -> None:
        """Have the kernels, in turn, compare the segmentation methods of ``specs`` (synthetic
        studies) before their first notebook (:func:`replication.notebook.precompute_comparison`).
        Nothing is waited for: a kernel executes requests in order, so the tables are stored
        once a notebook sent after them has executed; one that failed is simply missing
        (the run then computes it itself)."""
        for i, spec in enumerate(specs if self.kernels else []):
            # No name is left in the kernel's namespace.
            code = (f"__import__('replication.notebook').notebook.precompute_comparison("
                    f"{study_ref(spec, self.folder)!r}, {_relative(root, self.folder)!r})")
            self.kernels[i % len(self.kernels)].run_silently(code)

    def close(self):
        for kernel in self.kernels:
            kernel.close()


#: What a kernel imports as soon as it starts (while the run analyses the studies). Then
#: the objects of those imports are frozen out of the garbage collector: each notebook's
#: ``%reset -f`` collects twice, and a full collection would otherwise walk the whole
#: scientific stack every time (about a third of a second each on the reference machine).
WARM_UP = ("import replication.notebook, replication.report.figures, replication.report.notebooks\n"
           "import gc; gc.freeze()")

#: The hidden first cell of every notebook executed in a reused kernel: a fresh namespace.
RESET = "%reset -f"


def _plain(text: str) -> str:
    """Kernel error text without ANSI colour codes, on one line."""
    return " ".join(re.sub(r"\x1b\[[0-9;]*m", "", str(text)).split())


def study_ref(spec: StudySpec, folder: Path | None = None) -> str:
    """How a notebook names the study: the shipped id, or the path of its YAML (relative to
    the notebooks' ``folder`` where given, so that no local path shows on the page)."""
    from ..study.spec import shipped_studies, study_path

    if spec.path is None:
        return spec.id
    path = Path(spec.path).resolve()
    if spec.id in shipped_studies() and study_path(spec.id).resolve() == path:
        return spec.id
    return _relative(path, folder) if folder is not None else str(path)


def _relative(path: Path, folder: Path) -> str:
    """``path`` relative to ``folder`` (with ``..``), else absolute (another drive)."""
    import os
    try:
        return Path(os.path.relpath(Path(path).resolve(), Path(folder).resolve())).as_posix()
    except ValueError:
        return str(path)


def _chapter_links(spec: StudySpec, name: str) -> tuple[str, str]:
    """The rendered chapter's title and its navigation line (study page, previous, next)."""
    chapters = notebooks_for(spec)
    names = [nb.name for nb in chapters]
    i = names.index(name) if name in names else None
    if i is None:
        return f"{name} · {spec.study.title}", "[← the study page](../index.html)"
    title = f"Chapter {i + 1}: {chapters[i].title} · {spec.study.title}"
    parts = ["[← the study page](../index.html)", f"chapter {i + 1} of {len(chapters)}"]
    if i > 0:
        parts.append(f"[previous: {chapters[i - 1].title}]({names[i - 1]}.html)")
    if i + 1 < len(chapters):
        parts.append(f"[next: {chapters[i + 1].title}]({names[i + 1]}.html)")
    return title, " · ".join(parts)


def _without_local_paths(nb, replacements: dict[str, str]) -> None:
    """Outputs name files relative to the project (``data/raw/...``), not by this machine's
    absolute paths: each prefix in ``replacements`` (longest first) is replaced."""
    pairs = sorted(replacements.items(), key=lambda kv: -len(kv[0]))

    def clean(text):
        if isinstance(text, list):
            return [clean(t) for t in text]
        for old, new in pairs:
            text = text.replace(old, new)
        return text

    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if "text" in out:
                out["text"] = clean(out["text"])
            for mime in ("text/plain", "text/html", "text/markdown"):
                if mime in out.get("data", {}):
                    out["data"][mime] = clean(out["data"][mime])


def _alt_fallback(nb) -> None:
    """An image without alternative text gets one naming the section it is in (the
    notebooks give their figures real descriptions; this is the safety net)."""
    heading = "the notebook"
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            titles = [line.strip("# ").strip() for line in cell.source.splitlines() if line.startswith("#")]
            heading = titles[-1][:160] if titles else heading
            continue
        for out in cell.get("outputs", []):
            if "image/png" in out.get("data", {}) and not out.get("metadata", {}).get("image/png", {}).get("alt") \
                    and not out.get("metadata", {}).get("alt"):
                out.setdefault("metadata", {}).setdefault("image/png", {})["alt"] = f"A figure of the section \u201c{heading}\u201d"


def set_parameters(nb, src: Path, **values) -> None:
    """Give the notebook's ``parameters`` cell (papermill's convention) these values."""
    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            cell.source = "\n".join(f"{name} = {value!r}" for name, value in values.items())
            return
    raise ReplicationError(f"{src}: no code cell is tagged 'parameters' (it names the study)")


def render_notebook(spec: StudySpec, layout: Layout, name: str, kernel: NotebookKernel, exporter,
                    folder: Path | None = None) -> str:
    """Execute the notebook ``name`` for ``spec`` in ``kernel`` and return its HTML (nothing
    is written). A failing cell is one :class:`ReplicationError` line, not a traceback."""
    body, _ = exporter.from_notebook_node(execute_notebook(spec, layout, name, kernel, folder))
    return body


def execute_notebook(spec: StudySpec, layout: Layout, name: str, kernel: NotebookKernel, folder: Path | None = None):
    """Execute the notebook ``name`` for ``spec`` in ``kernel``: the executed notebook, ready
    to export (no local path in its outputs, every image described, the chapter links
    added). A failing cell is one :class:`ReplicationError` line, not a traceback."""
    import nbformat
    from nbclient.exceptions import CellExecutionError, DeadKernelError

    folder = (folder or notebook_dir()).resolve()
    src = folder / f"{name}.ipynb"
    nb = nbformat.read(src, as_version=4)
    # The parameters relative to the notebooks' folder (the kernel's working folder), so the
    # page shows no local path.
    set_parameters(nb, src, study=study_ref(spec, folder), root=_relative(layout.root, folder))
    try:
        kernel.execute(nb, folder)
    except CellExecutionError as exc:
        # One line for the reader, not the kernel's coloured traceback.
        raise ReplicationError(f"{src}: a cell failed while executing it for study '{spec.id}': "
                               f"{exc.ename}: {_plain(exc.evalue)}") from None
    except DeadKernelError:
        raise ReplicationError(f"{src}: the Jupyter kernel stopped while executing it for study "
                               f"'{spec.id}' (out of memory?)") from None
    root = Path(layout.root).resolve()
    _without_local_paths(nb, {f"{root}/": "", str(root): ".", f"{folder.parent}/": "",
                              f"{Path(__file__).resolve().parents[2]}/": "", str(Path.home()): "~"})
    _alt_fallback(nb)
    title, links = _chapter_links(spec, name)
    nb.metadata["title"] = title
    nb.cells.insert(0, nbformat.v4.new_markdown_cell(links))
    nb.cells.append(nbformat.v4.new_markdown_cell(links))
    return nb


def render_notebooks(spec: StudySpec, layout: Layout, kernel: NotebookKernel, names=None, log=print,
                     exporter=None) -> dict[str, str]:
    """Execute the study's notebooks (those of ``names``; default all that apply) in
    ``kernel``; their HTML by notebook name. Nothing is written."""
    folder = notebook_dir(layout.root)
    exporter = exporter or offline_exporter()
    pages = {}
    for nb in notebooks_for(spec):
        if names is None or nb.name in names:
            start = time.perf_counter()
            log(f"{spec.id}: executing {nb.name} ...")
            pages[nb.name] = render_notebook(spec, layout, nb.name, kernel, exporter, folder)
            log(f"  {spec.id}: {nb.name} done in {time.perf_counter() - start:.1f} s")
    return pages


def write_notebooks(layout: Layout, pages: dict[str, str]) -> list[Path]:
    """Write rendered notebooks to ``reports/<study>/notebooks/<name>.html``."""
    return [files.atomic_write_text(layout.notebooks / f"{name}.html", body) for name, body in pages.items()]


def execute_notebooks(spec: StudySpec, layout: Layout, names=None, kernel: NotebookKernel | None = None,
                      log=print, result=None) -> list[Path]:
    """Execute the study's notebooks and render each to ``reports/<study>/notebooks/<name>.html``.

    ``result``, this process's :class:`~replication.analysis.AnalysisResult` of the study,
    is stored in the kernel's cache folder (:mod:`replication.cache`), so that the
    notebooks show it instead of computing it again; without it, they analyse the survey
    themselves.
    """
    from .. import cache

    own = kernel is None
    kernel = kernel or NotebookKernel(notebook_dir(layout.root).resolve())
    try:
        if result is not None:
            cache.store(result, kernel.cache)
        return write_notebooks(layout, render_notebooks(spec, layout, kernel, names, log))
    finally:
        if own:
            kernel.close()
