"""The reports as people read them: in a real browser, offline, on a desktop and a phone.

Both shipped studies are built once into a temporary root (Forrester on a 1,000-respondent
sample, so the module stays quick; Golovacheva with one executed notebook, the one with
the maths). Headless Chromium (Debian's ``chromium``; ``.ci/run`` installs it) opens each
study page, the landing page and the notebook at 1366 and 390 CSS pixels wide, through
the DevTools protocol (``websocket-client``, already pinned for Jupyter), with every host
name resolving nowhere (it visits the study pages while the kernel runs the notebook), and
checks what a reader needs:

* nothing wider than the screen (no sideways scrolling of the page), and no table hiding
  columns behind a scrollbar;
* every scorecard row's PASS/FAIL in view;
* every figure loaded, with alt text that states its numbers, and shown large enough that
  its smallest text is at least 9 px;
* not one request leaving the machine;
* the notebook's maths laid out as maths, not ``$\\log\\frac{...}$``.

Screenshots of every page at both widths are kept under ``reports/<study>/screenshots/``
(ignored by git) for a person to look at. The checks of the figures, tables and alt text
that need no browser run everywhere.
"""

from __future__ import annotations

import base64
import html
import json
import re
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.colors import to_hex

from replication import pipeline
from replication.report import figures
from replication.report.notebooks import NotebookKernel, execute_notebooks, notebook_dir, tex_to_mathml
from replication.report.page import Readable, write_study_page

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium")
WIDTHS = {"desktop": (1366, 900), "phone": (390, 844)}
NOTEBOOK = "04_multinomial_logit"
#: axe-core, for the accessibility checks: `npm ci --prefix tests/axe` (.ci/run and `make
#: axe` install it; tests/axe/package.json pins the version).
AXE = REPO / "tests" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
#: The study page a reviewer reads first: at 1366 px its verdict and size figure lie within
#: the first screen, the page (tables and side figures folded) is at most this tall, and it
#: prints on at most this many A4 pages.
FIRST_SCREEN, MAX_HEIGHT, MAX_PRINTED_PAGES = 900, 9000, 15
SMALL_N = 1000          # Forrester's sample here (the shipped one has 60,000 respondents)
LOCAL_SCHEMES = ("file:", "data:", "about:", "blob:", "chrome:", "devtools:")


def quiet(*_):
    pass


# --- the reports, built once -------------------------------------------------------------

def pages(root: Path, runs: dict) -> dict[str, Path]:
    """The pages a reader opens: each study's, the landing page, the executed notebook."""
    out = {sid: r.layout.page for sid, r in runs.items()}
    out["landing"] = root / "reports" / "index.html"
    out["notebook"] = runs["golovacheva2022"].layout.notebooks / f"{NOTEBOOK}.html"
    return out


def browser_missing() -> str | None:
    if CHROMIUM is None:
        return "Chromium is not installed (Debian: `apt-get install chromium`; .ci/run installs it)"
    try:
        import websocket  # noqa: F401
    except ImportError:
        return "websocket-client is not installed (requirements.lock pins it)"
    return None


def screenshot_path(name: str, width: int) -> Path | None:
    """Where a page's screenshot is kept: ``reports/<study>/screenshots/`` (ignored by git)."""
    if name == "landing":
        return None
    study, page = ("golovacheva2022", f"notebook-{NOTEBOOK}") if name == "notebook" else (name, "index")
    return REPO / "reports" / study / "screenshots" / f"{page}-{width}.png"


@pytest.fixture(scope="module")
def built(spec, forrester, tmp_path_factory):
    """Both studies' pages, the landing page and one executed notebook in a temporary root,
    and (where Chromium is installed) what a browser shows of each at both widths.

    The browser visits the study pages while the kernel executes the notebook."""
    root = tmp_path_factory.mktemp("site")
    views = {}
    # The kernel starts (importing the scientific stack) while the studies are analysed.
    with NotebookKernel(notebook_dir(REPO).resolve()) as kernel:
        pipeline.generate(forrester, pipeline.layout_for(forrester, root), n=SMALL_N)
        runs = {r.spec.id: r for r in pipeline.run_studies([spec, forrester], root, notebooks=False, log=quiet)}
        gol = runs[spec.id]
        with ThreadPoolExecutor(1) as pool:
            # Every chapter of the study (each is checked with axe-core below).
            fr = runs[forrester.id]

            def chapters():    # both studies' chapters (each is checked with axe-core below)
                execute_notebooks(spec, gol.layout, kernel=kernel, log=quiet, result=gol.result)
                execute_notebooks(forrester, fr.layout, kernel=kernel, log=quiet, result=fr.result)
            job = pool.submit(chapters)
            browser = None if browser_missing() else Chromium()
            try:
                for name, path in pages(root, runs).items():
                    if name == "notebook":
                        job.result()
                    for device, (width, height) in WIDTHS.items():
                        if browser is not None:
                            views[name, device] = browser.visit(path, width, height, screenshot_path(name, width))
                    if browser is not None and name == "golovacheva2022":
                        views[name, "print"] = browser.print_pdf(path)
                job.result()
                for study in (gol, fr):             # the other chapters, on a desktop
                    for chapter in sorted(study.layout.notebooks.glob("*.html")):
                        if browser is not None and (study is fr or chapter.stem != NOTEBOOK):
                            views[f"chapter:{study.spec.id}/{chapter.stem}", "desktop"] = \
                                browser.visit(chapter, *WIDTHS["desktop"], None)
            finally:
                if browser is not None:
                    browser.close()
    write_study_page(gol)     # now linking the executed notebook
    return root, runs, views


@pytest.fixture(scope="module")
def site(built):
    return built[0], built[1]


# --- headless Chromium over the DevTools protocol ----------------------------------------

class Chromium:
    """One headless Chromium; :meth:`visit` opens a page in a fresh tab at a given size."""

    FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-default-apps", "--disable-extensions", "--mute-audio", "--hide-scrollbars",
             # Any host name resolves nowhere: a page that tried to fetch something would fail
             # visibly, besides being caught by the request log below.
             "--host-resolver-rules=MAP * ~NOTFOUND", "--remote-debugging-port=0", "--remote-allow-origins=*"]

    def __init__(self):
        import websocket

        self.profile = tempfile.mkdtemp(prefix="replication-chromium-")
        self.proc = subprocess.Popen([CHROMIUM, *self.FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = Path(self.profile) / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.exists() and len(port_file.read_text().split()) >= 2):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"Chromium did not start (exit code {self.proc.poll()})")
            time.sleep(0.05)
        port, path = port_file.read_text().split()[:2]
        self.ws = websocket.create_connection(f"ws://127.0.0.1:{port}{path}", timeout=60, suppress_origin=True)
        self.next_id = 0
        self.events: list[dict] = []

    def send(self, method: str, session: str | None = None, **params):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        self.ws.send(json.dumps(message))
        while True:
            reply = json.loads(self.ws.recv())
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str, session: str, timeout: float = 60):
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events:
                if event.get("method") == method and event.get("sessionId") == session:
                    return event
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {method} within {timeout} s")
            self.events.append(json.loads(self.ws.recv()))

    def evaluate(self, session: str, expression: str):
        result = self.send("Runtime.evaluate", session, expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def visit(self, path: Path, width: int, height: int, screenshot: Path | None = None) -> dict:
        """Open ``path``; return what :data:`MEASURE` reports, every request the page made
        and every script error, after saving a full-page screenshot."""
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        try:
            for domain in ("Page", "Network", "Runtime", "Log"):
                self.send(f"{domain}.enable", session)
            self.send("Emulation.setDeviceMetricsOverride", session, width=width, height=height,
                      deviceScaleFactor=1, mobile=width < 600)
            self.send("Page.navigate", session, url=path.resolve().as_uri())
            self.wait_for("Page.loadEventFired", session)
            self.evaluate(session, "document.fonts.ready.then(() => true)")
            report = json.loads(self.evaluate(session, MEASURE))
            if AXE.exists() and width >= 600:
                self.evaluate(session, AXE.read_text(encoding="utf-8") + ";true")
                report["axe"] = json.loads(self.evaluate(session, AXE_RUN))
            if screenshot is not None:
                shot = self.send("Page.captureScreenshot", session, format="png", captureBeyondViewport=True,
                                 optimizeForSpeed=True)
                screenshot.parent.mkdir(parents=True, exist_ok=True)
                screenshot.write_bytes(base64.b64decode(shot["data"]))
            mine = [e for e in self.events if e.get("sessionId") == session]
            report["requests"] = [e["params"]["request"]["url"] for e in mine
                                  if e.get("method") == "Network.requestWillBeSent"]
            report["requests"] += [e["params"]["url"] for e in mine if e.get("method") == "Network.webSocketCreated"]
            report["errors"] = [e["params"] for e in mine if e.get("method") == "Runtime.exceptionThrown"]
            report["errors"] += [e["params"]["entry"]["text"] for e in mine if e.get("method") == "Log.entryAdded"
                                 and e["params"]["entry"].get("level") == "error"]
            return report
        finally:
            self.send("Target.closeTarget", targetId=target)
            self.events = [e for e in self.events if e.get("sessionId") != session]

    def print_pdf(self, path: Path) -> bytes:
        """``path`` printed on A4 as Chromium's ``--print-to-pdf`` does (the page's print
        stylesheet, its ``beforeprint`` handler), with an outline of its headings."""
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        try:
            self.send("Page.enable", session)
            self.send("Page.navigate", session, url=path.resolve().as_uri())
            self.wait_for("Page.loadEventFired", session)
            pdf = self.send("Page.printToPDF", session, paperWidth=8.27, paperHeight=11.69, printBackground=True,
                            generateDocumentOutline=True, preferCSSPageSize=True)
            return base64.b64decode(pdf["data"])
        finally:
            self.send("Target.closeTarget", targetId=target)
            self.events = [e for e in self.events if e.get("sessionId") != session]

    def close(self):
        try:
            if getattr(self, "ws", None) is not None:
                self.ws.close()
        finally:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(10)
            shutil.rmtree(self.profile, ignore_errors=True)


#: What the page looks like to a reader, measured in the page.
MEASURE = r"""JSON.stringify((() => {
  const vw = window.innerWidth, de = document.documentElement;
  const box = e => { const r = e.getBoundingClientRect(); return {left: r.left, right: r.right, top: r.top,
                     bottom: r.bottom, width: r.width, height: r.height}; };
  const verdicts = [...document.querySelectorAll('table td.pass, table td.fail')].map(td => {
    const wrap = td.closest('.wrap'), w = wrap ? wrap.getBoundingClientRect() : null;
    return {text: td.innerText.trim(), cell: box(td),
            clip: w ? {left: w.left, right: w.left + wrap.clientWidth} : {left: 0, right: vw}};
  });
  const tables = [...document.querySelectorAll('.wrap > table')].map(t => {
    const wrap = t.parentElement, cap = t.querySelector('caption');
    return {caption: cap ? cap.innerText : t.querySelector('th,td').innerText,
            scroll: wrap.scrollWidth, visible: wrap.clientWidth};
  });
  const images = [...document.images].map(i => { const f = i.closest('figure'), r = i.getBoundingClientRect();
    return {figure: (f || {}).id || '', alt: i.alt, complete: i.complete, natural: i.naturalWidth, shown: r.width,
            left: r.left, right: r.right, bottom: r.bottom + scrollY,
            caption: f && f.querySelector('figcaption') ? f.querySelector('figcaption').textContent.trim() : ''}; });
  const verdict = document.getElementById('verdict');
  const maths = [...document.querySelectorAll('math')].map(m => {
    const frac = m.querySelector('mfrac');
    const parts = frac ? [...frac.children].map(box) : [];
    return {display: getComputedStyle(m).display, box: box(m),
            stacked: parts.length === 2 ? parts[0].bottom <= parts[1].top + 1 : null};
  });
  return {innerWidth: vw, scrollWidth: de.scrollWidth, bodyWidth: document.body.scrollWidth, height: de.scrollHeight,
          verdictBottom: verdict ? verdict.getBoundingClientRect().bottom + scrollY : null,
          text: document.body.innerText, verdicts, tables, images, maths,
          links: [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href')),
          remote: [...document.querySelectorAll('script[src], link[href], img[src], iframe[src]')]
                  .map(e => e.getAttribute('src') || e.getAttribute('href'))
                  .filter(u => /^(https?:)?\/\//i.test(u))};
})())"""


#: axe-core's violations of the WCAG 2 A/AA rules and best practices: (rule, impact, nodes).
AXE_RUN = """axe.run(document, {resultTypes: ['violations']}).then(r => JSON.stringify(
  r.violations.map(v => [v.id, v.impact, v.nodes.length, v.nodes.slice(0, 3).map(n => n.target.join(' '))])))"""


@pytest.fixture(scope="module")
def seen(built):
    """Every page at both widths, as headless Chromium shows it (screenshots kept)."""
    reason = browser_missing()
    if reason:
        pytest.skip(reason)
    return built[2]


VISITS = [(name, device) for name in ("golovacheva2022", "forrester2016", "landing", "notebook") for device in WIDTHS]


# --- in the browser ----------------------------------------------------------------------

@pytest.mark.parametrize("name,device", VISITS)
def test_nothing_wider_than_the_screen(seen, name, device):
    page = seen[name, device]
    assert page["innerWidth"] == WIDTHS[device][0], "the page was zoomed out to fit something too wide"
    assert page["scrollWidth"] <= page["innerWidth"], \
        f"{name} at {page['innerWidth']} px scrolls sideways ({page['scrollWidth']} px wide)"
    if name != "notebook":
        hidden = [(t["caption"][:60], t["scroll"], t["visible"]) for t in page["tables"] if t["scroll"] > t["visible"] + 1]
        assert not hidden, f"tables hiding columns behind a scrollbar at {page['innerWidth']} px: {hidden}"


@pytest.mark.parametrize("device", WIDTHS)
@pytest.mark.parametrize("sid", ["golovacheva2022", "forrester2016"])
def test_every_verdict_is_in_view(site, seen, sid, device):
    page = seen[sid, device]
    claims = len(site[1][sid].spec.claims)
    verdicts = page["verdicts"]
    assert len(verdicts) == claims, (len(verdicts), claims)
    for v in verdicts:
        cell, clip = v["cell"], v["clip"]
        assert v["text"] in ("PASS", "FAIL"), v["text"]
        assert cell["width"] > 0 and cell["height"] > 0, "a verdict is not displayed"
        assert 0 <= cell["left"] and cell["right"] <= page["innerWidth"], f"verdict off screen: {cell}"
        assert clip["left"] - 1 <= cell["left"] and cell["right"] <= clip["right"] + 1, \
            f"verdict scrolled out of its table's view: {cell} in {clip}"


@pytest.mark.parametrize("device", WIDTHS)
@pytest.mark.parametrize("sid", ["golovacheva2022", "forrester2016"])
def test_figures_load_and_their_text_is_legible(drawn, smallest_text, seen, sid, device):
    page = seen[sid, device]
    smallest = smallest_text[sid]
    images = page["images"]
    assert sorted(i["figure"] for i in images) == sorted(f"fig-{name}" for name in drawn[sid])
    for img in images:
        name = img["figure"].removeprefix("fig-")
        assert img["complete"] and img["natural"] > 0, f"{name} did not load"
        assert len(img["alt"]) > 60 and re.search(r"\d", img["alt"]), f"{name}: alt text {img['alt']!r}"
        assert img["caption"], f"{name} has no caption saying how to read it"
        if not img["shown"]:         # folded behind a one-line summary until opened
            continue
        # Scaled to the column, never wider than the screen (no sideways scroller).
        assert img["left"] >= -0.5 and img["right"] <= page["innerWidth"] + 0.5, \
            f"{name} reaches beyond the {page['innerWidth']} px screen: {img['left']:.0f} to {img['right']:.0f}"
        if device == "desktop":      # shown as drawn, its smallest text legible
            scale = img["shown"] / img["natural"]
            assert abs(scale - 1) < 0.01, f"{name} is drawn at {img['natural']} px but shown at {img['shown']:.0f}"
            assert smallest[name] * scale >= figures.MIN_TEXT_PX - 0.05, \
                f"{name}: smallest text {smallest[name]:.1f} px drawn, {smallest[name] * scale:.1f} px shown"


@pytest.mark.parametrize("name,device", VISITS)
def test_nothing_leaves_the_machine(seen, name, device):
    page = seen[name, device]
    remote = [u for u in page["requests"] if not u.startswith(LOCAL_SCHEMES)]
    assert not remote, f"{name} requested {remote}"
    assert not page["remote"], f"{name} refers to {page['remote']}"
    assert not page["errors"], f"{name}: errors in the page: {page['errors']}"


@pytest.mark.parametrize("device", WIDTHS)
def test_notebook_maths_is_rendered(seen, device):
    page = seen["notebook", device]
    assert "$$" not in page["text"] and not re.search(r"\$\\[a-zA-Z]", page["text"]), "raw TeX is visible"
    for raw in (r"\log", r"\frac", r"\mid", r"\text{"):
        assert raw not in page["text"], f"raw TeX {raw!r} is visible"
    maths = page["maths"]
    assert len(maths) >= 2
    for m in maths:
        assert m["box"]["width"] > 0 and m["box"]["height"] > 0
        assert "math" in m["display"], f"MathML not laid out as maths (display: {m['display']})"
    assert any(m["stacked"] for m in maths), "no fraction is laid out as numerator over denominator"


def test_study_page_links_the_executed_notebook(site):
    layout = site[1]["golovacheva2022"].layout
    links = re.findall(r"href=['\"]([^'\"]+)['\"]", layout.page.read_text(encoding="utf-8"))
    assert f"notebooks/{NOTEBOOK}.html" in links
    assert (layout.page.parent / "notebooks" / f"{NOTEBOOK}.html").is_file()
    assert "../index.html" in links and "manifest.json" in links


# --- without a browser: the files themselves ----------------------------------------------

def test_pages_and_notebook_load_nothing_from_the_network(site):
    for name, path in pages(*site).items():
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"<script\b[^>]*\bsrc\s*=\s*['\"]?(https?:)?//", text, re.I), f"{name} loads a script"
        assert not re.search(r"<link\b[^>]*\bhref\s*=\s*['\"]?(https?:)?//", text, re.I), f"{name} loads a stylesheet"
        assert not re.search(r"""import\s*\(\s*['"]https?:""", text), f"{name} imports a module from the network"
        assert not re.search(r"""\bsrc\s*=\s*['"]?https?:""", text, re.I), f"{name} embeds something remote"
    notebook = pages(*site)["notebook"].read_text(encoding="utf-8")
    assert "<math" in notebook and "$$" not in notebook and "mathjax" not in notebook.lower()
    assert "require.min.js" not in notebook and "mermaid.esm" not in notebook


def test_tex_becomes_mathml():
    block = tex_to_mathml(r"$$\log\frac{P(\text{segment}=k \mid x)}{P(\text{segment}=r \mid x)}$$")
    assert block.startswith("<math") and 'display="block"' in block and "<mfrac>" in block
    assert "$" not in block and "\\" not in block
    inline = tex_to_mathml(r"\alpha_k")
    assert 'display="inline"' in inline and "<msub>" in inline
    broken = tex_to_mathml(r"\frac{1}{")
    assert "<math" in broken or 'class="tex-source"' in broken


def table_rows(page: str, caption: str) -> list[list[str]]:
    """The body cells (text) of the table under ``caption``."""
    part = page.split(f"<caption>{caption}", 1)[1].split("</table>", 1)[0]
    return [[html.unescape(re.sub(r"<[^>]+>", "", c)) for c in re.findall(r"<td[^>]*>(.*?)</td>", row)]
            for row in re.findall(r"<tr>(.*?)</tr>", part.split("<tbody>", 1)[1])]


@pytest.mark.parametrize("sid", ["golovacheva2022", "forrester2016"])
def test_page_tables_read_like_a_report(site, sid):
    run = site[1][sid]
    page = run.layout.page.read_text(encoding="utf-8")
    headers = [re.sub(r"<[^>]+>", "", h) for h in re.findall(r"<th[^>]*>(.*?)</th>", page)]
    snake = sorted({h for h in headers if re.search(r"[a-z]_[a-z]", h)})
    assert not snake, f"raw column names as headers: {snake}"
    cells = [html.unescape(re.sub(r"<[^>]+>", "", c)) for c in re.findall(r"<td[^>]*>(.*?)</td>", page)]
    assert "True" not in cells and "False" not in cells, "booleans shown as True/False"
    assert not [c for c in cells if re.fullmatch(r"-?\d\.?\d*e[-+]\d+", c)], "numbers in exponent notation"
    assert not re.search(r"\bp = \d\.\d+e-\d+", page), "a p-value in exponent notation"
    assert not re.search(r"\bp = 0\.0{3}\b", page), "a p-value printed as 0.000"
    # Segments in the specification's order, by their names, in every table that lists them.
    names = list(run.spec.segment_names.values())
    sizes = [r[0] for r in table_rows(page, "Reported vs replicated shares")]
    assert [s for s in sizes if s in names] == names
    centroids = [r[0] for r in table_rows(page, html.escape(f"Centroids on the {run.spec.study.dimensions}, the"))]
    assert [s for s in centroids if s in names] == names
    confusion = [r[0] for r in table_rows(page, "True segment (rows)")]
    assert confusion == names


def test_p_values_in_apa_style(site):
    page = site[1]["golovacheva2022"].layout.page.read_text(encoding="utf-8")
    lr = table_rows(page, "Likelihood-ratio test per predictor")
    assert lr and all(re.fullmatch(r"< \.001|\.\d{3}", row[-1]) for row in lr), lr
    assert "p &lt; .001" in page or "p < .001" in page
    assert figures.apa_p(0.0234) == ".023" and figures.apa_p(3e-45) == "< .001" and figures.apa_p(0.5) == ".500"
    assert figures.apa_p(float("nan")) == "" and figures.apa_p(1.0) == "1.000"
    rd = Readable()
    assert rd.value(True, "consistent") == "Yes" and rd.value(np.bool_(False), "matched") == "No"
    assert rd.header("margin_pp") == "margin pp" and rd.header("reported_pct") == "reported share (%)"


# --- the figures --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def analyses(site):
    """The analyses behind the pages (Forrester on its small sample)."""
    return {sid: r.result for sid, r in site[1].items()}


@pytest.fixture(scope="module")
def drawn(analyses):
    """Every figure of each study, drawn once (closed at the end of the module)."""
    out = {sid: result.figures() for sid, result in analyses.items()}
    yield out
    for figs in out.values():
        for fig in figs.values():
            plt.close(fig)


@pytest.fixture(scope="module")
def smallest_text(drawn):
    """The smallest text of each figure, in pixels as drawn."""
    return {sid: {name: figures.smallest_text_px(fig) for name, fig in figs.items()} for sid, figs in drawn.items()}


def colour_by_label(fig) -> dict[str, str]:
    """Legend entry -> its colour (hex), over every legend of the figure."""

    out = {}
    for legend in [*fig.legends, *[ax.get_legend() for ax in fig.axes if ax.get_legend()]]:
        for handle, text in zip(legend.legend_handles, legend.get_texts()):
            colour = handle.get_color() if hasattr(handle, "get_color") else handle.get_facecolor()
            if not isinstance(colour, str):
                colour = np.asarray(colour).reshape(-1, 4)[0] if np.ndim(colour) else colour
            out[text.get_text()] = to_hex(colour)
    return out


@pytest.mark.parametrize("sid", ["golovacheva2022", "forrester2016"])
def test_figures_are_drawn_at_the_size_they_are_shown(site, drawn, smallest_text, sid):
    from PIL import Image

    layout = site[1][sid].layout
    for name, fig in drawn[sid].items():
        smallest = smallest_text[sid][name]
        width, _ = Image.open(layout.figures / f"{name}.png").size
        assert width == round(fig.get_figwidth() * figures.DPI), f"{name}: saved {width} px, drawn otherwise"
        assert width <= figures.MAX_WIDTH_PX, f"{name} is {width} px wide"
        # Shown 1:1 on a desktop and at PHONE_SCALE on a phone: text at least 9 px in both.
        assert smallest * figures.PHONE_SCALE >= figures.MIN_TEXT_PX, f"{name}: smallest text {smallest:.1f} px"


@pytest.mark.parametrize("sid", ["golovacheva2022", "forrester2016"])
def test_one_colour_per_segment_in_every_figure(analyses, drawn, sid):
    result = analyses[sid]
    spec = result.spec
    palette = figures.segment_palette(spec.segment_ids)
    assert list(palette)[:len(spec.segment_ids)] == spec.segment_ids
    assert len(set(palette[s] for s in spec.segment_ids)) == len(spec.segment_ids)
    want = {name: palette[s] for s, name in spec.segment_names.items()}
    drawn = drawn[sid]
    for fname in ("segment_profiles", "dendrogram", "logit_probabilities"):
        if fname not in drawn:
            continue
        seen = {label.split(" (")[0]: colour for label, colour in colour_by_label(drawn[fname]).items()}
        shown = {n: c for n, c in seen.items() if n in want}
        assert shown, f"{fname}: no segment in its legend"
        assert shown == {n: want[n] for n in shown}, f"{fname}: {shown} != {want}"
    # The size check: each segment's dot in its colour, in the specification's order.
    dots = drawn["cluster_size_check"].axes[0].collections[-1].get_facecolors()

    assert [to_hex(c) for c in dots] == [palette[s] for s in spec.segment_ids]
    if "logit_odds_ratios" in drawn:
        fig = drawn["logit_odds_ratios"]
        panels = [ax for ax in fig.axes if ax.get_visible()]
        contrasts = [s for s in spec.segment_ids if s != result.membership.reference]
        titles = [ax.get_title().split("\n")[0] for ax in panels]
        assert titles == [spec.segment_names[s] for s in contrasts], "panels not in the specification's order"
        for ax, seg in zip(panels, contrasts):
            edges = {to_hex(c) for c in ax.collections[-1].get_edgecolors()}
            assert edges == {palette[seg]}, (seg, edges)
        assert len({ax.get_xlim() for ax in panels}) == 1, "odds-ratio panels on different x ranges"


@pytest.mark.parametrize("sid", ["golovacheva2022", "forrester2016"])
def test_alt_text_states_what_a_sighted_reader_sees(analyses, drawn, sid):
    result = analyses[sid]
    spec = result.spec
    alt = figures.describe_figures(result)
    assert set(alt) == set(drawn[sid])
    sizes = result.tables["cluster_sizes"]
    text = alt["cluster_size_check"]
    for row in sizes[sizes["segment"] != "unmatched"].itertuples():
        assert f"{spec.segment_names[row.segment]} reported {row.reported_pct:g} %, replicated " \
               f"{row.replicated_pct:.1f} %" in text
    # In the specification's order.
    positions = [text.index(spec.segment_names[s]) for s in spec.segment_ids]
    assert positions == sorted(positions)
    profiles = alt["segment_profiles"]
    for s in spec.segment_ids:
        assert spec.segment_names[s] in profiles
    for d in spec.dimension_ids:
        assert spec.dimension_labels[d] in profiles
    assert f"k = {spec.n_segments.value}" in alt["dendrogram"] and f"k = {spec.n_segments.value}" in alt["k_selection"]
    if "logit_odds_ratios" in alt:
        for c in spec.predictor_constructs:
            assert c.label.value in alt["logit_odds_ratios"] and c.label.value in alt["logit_probabilities"]
        assert re.search(r"\d\.\d\d \(\d\.\d\d to \d\.\d\d, p (< \.001|= \.\d{3})\)", alt["logit_odds_ratios"])
    # Words about a study come from its specification: no other study's names leak in.
    other = "forrester2016" if sid == "golovacheva2022" else "golovacheva2022"
    from replication.study.spec import load_study
    for name in load_study(other).segment_names.values():
        assert all(name not in a for a in alt.values()), name


# --- the first screen, accessibility, print ------------------------------------------------

@pytest.mark.parametrize("sid", ["golovacheva2022", "forrester2016"])
def test_first_screen_is_the_answer(seen, sid):
    """At 1366 px the verdict sentence and the size figure lie within the first screen; the
    Golovacheva page, its long tables and side figures folded, is at most MAX_HEIGHT tall."""
    page = seen[sid, "desktop"]
    assert page["verdictBottom"] is not None, "no verdict sentence (#verdict)"
    assert page["verdictBottom"] <= FIRST_SCREEN, f"the verdict ends at {page['verdictBottom']:.0f} px"
    size = [i for i in page["images"] if i["figure"] == "fig-cluster_size_check"]
    assert size and size[0]["bottom"] <= FIRST_SCREEN, f"the size figure ends at {size[0]['bottom']:.0f} px"
    if sid == "golovacheva2022":
        assert page["height"] <= MAX_HEIGHT, f"the page is {page['height']} px tall at 1366 px"


@pytest.mark.parametrize("name", ["golovacheva2022", "forrester2016", "landing"])
def test_no_serious_accessibility_violation(seen, name):
    if not AXE.exists():
        pytest.skip(f"axe-core is not installed ({AXE.relative_to(REPO)} missing): run `npm ci --prefix tests/axe`")
    bad = [v for v in seen[name, "desktop"]["axe"] if v[1] in ("serious", "critical")]
    assert not bad, f"{name}: axe-core reports {bad}"


def test_no_serious_accessibility_violation_in_any_chapter(seen):
    """axe-core on every executed chapter of both studies (notebook pages), not only one."""
    if not AXE.exists():
        pytest.skip(f"axe-core is not installed ({AXE.relative_to(REPO)} missing): run `npm ci --prefix tests/axe`")
    chapters = {"notebook": NOTEBOOK, **{k[0]: k[0].split(":", 1)[1] for k in seen if k[0].startswith("chapter:")}}
    assert len(chapters) >= 7, sorted(chapters.values())        # Golovacheva has four chapters, Forrester three
    for key, name in chapters.items():
        bad = [v for v in seen[key, "desktop"]["axe"] if v[1] in ("serious", "critical")]
        assert not bad, f"{name}: axe-core reports {bad}"


def pdf_headings(pdf: bytes) -> list[tuple[str, float]]:
    """Each heading of a PDF's outline (Chromium's ``generateDocumentOutline``) and the height
    of its top above the foot of its page, in points."""
    out = []
    for title, y in re.findall(rb"/Title \(((?:\\.|[^\\)])*)\)\s*/Dest \[\d+ 0 R /XYZ [\d.]+ ([\d.]+)", pdf):
        out.append((title.decode("latin-1").replace("\\", ""), float(y)))
    return out


def test_prints_on_few_pages_and_no_heading_ends_a_page(seen):
    """Printed on A4 (the folded tables opened, but the long reference tables): at most
    MAX_PRINTED_PAGES pages, and every heading has at least 3 cm of its section below it."""
    pdf = seen["golovacheva2022", "print"]
    pages = len(re.findall(rb"/Type\s*/Page\b(?!s)", pdf))
    assert 0 < pages <= MAX_PRINTED_PAGES, f"the Golovacheva page prints on {pages} A4 pages"
    headings = pdf_headings(pdf)
    assert len(headings) >= 10, f"the PDF outline lists only {headings}"
    bottom_margin, room = 1.4 / 2.54 * 72, 3 / 2.54 * 72
    low = [(t, round(y)) for t, y in headings if y < bottom_margin + room]
    assert not low, f"headings at the foot of a page (points above the page's foot): {low}"


def test_print_opens_folded_tables(site):
    page = site[1]["golovacheva2022"].layout.page.read_text(encoding="utf-8")
    assert "<details" in page and "addEventListener('beforeprint'" in page and "@media print" in page
