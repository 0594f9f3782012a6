"""``replication run`` with notebooks: each study runs inside a Jupyter kernel.

A notebook needs a kernel, and a kernel's start imports the whole scientific stack, which
costs more than a study's analysis. So the kernel that will execute a study's notebooks
also does the study's work: its analysis, its outputs, its page
(:class:`~replication.pipeline.StudyWorker`, the same stages that
:func:`~replication.pipeline.run_studies` calls in one process without notebooks). The
notebooks then show that very analysis, handed over in memory. This process only
orchestrates and renders the executed notebooks to HTML; it never imports the stack, so the
kernels start at once. With two cores, two kernels share the studies.

The run keeps the pipeline's promise: every study is analysed, and its notebooks executed,
before any output is written (a barrier between the two phases), so bad input in any study
leaves every existing file as it was.
"""

from __future__ import annotations

import ast
import json
import logging
import os
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path

from . import files
from .errors import ReplicationError
from .layout import Layout
from .outcome import StudyOutcome
from .outputs import notebooks_for
from .report.notebooks import NotebookKernel, notebook_dir, offline_exporter, render_notebook, setup_code
from .study.spec import StudySpec

#: At most this many kernels (one per core, two on the reference machine).
MAX_KERNELS = 2

_WORKER = None


def worker(root: str):
    """In a kernel: this kernel's :class:`~replication.pipeline.StudyWorker` (one per kernel,
    kept in this module so that a notebook's ``%reset`` does not drop it)."""
    global _WORKER
    if _WORKER is None:
        from .pipeline import StudyWorker
        _WORKER = StudyWorker(root)
    return _WORKER


class StudyKernel(NotebookKernel):
    """A notebook kernel that also runs the pipeline's stages for its studies."""

    def __init__(self, cwd: Path, root: Path, log=print):
        super().__init__(cwd)
        self.root, self.log = str(root), log

    def call(self, method: str, *args):
        """``worker(root).<method>(*args)`` in the kernel; its printed log lines go to
        ``self.log`` and its JSON-able return value comes back. A ReplicationError in the
        kernel is raised here with the same message; a kernel that dies (out of memory,
        say) is one ReplicationError, not a wait for ever."""
        from jupyter_core.utils import run_sync

        code = ("import replication.kernels as _rk\n"
                f"_replication_out = _rk.worker({self.root!r}).{method}(*{args!r})")
        reply = run_sync(self._request)(code, {"out": "__import__('json').dumps(_replication_out)"}, method)
        content = reply["content"]
        if content["status"] != "ok":
            if content.get("ename") == "ReplicationError":
                raise ReplicationError(content.get("evalue", ""))
            trace = "\n".join(content.get("traceback", []))
            raise RuntimeError(f"{method} failed in its kernel: {content.get('ename')}: "
                               f"{content.get('evalue')}\n{trace}")
        out = content["user_expressions"]["out"]
        return json.loads(ast.literal_eval(out["data"]["text/plain"]))

    async def _request(self, code: str, user_expressions: dict, what: str) -> dict:
        """Execute ``code``; forward its printed lines to the log as they come; return the
        reply."""
        msg_id = self.kc.execute(code, store_history=False, allow_stdin=False, user_expressions=user_expressions)
        pending = ""
        while True:
            msg = await self._answer(self.kc.get_iopub_msg, msg_id, what)
            if msg["msg_type"] == "stream":
                pending += msg["content"]["text"]
                *lines, pending = pending.split("\n")
                for line in lines:
                    self.log(line)
            elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
        if pending:
            self.log(pending)
        return await self._answer(self.kc.get_shell_msg, msg_id, what)

    async def _answer(self, get, msg_id: str, what: str) -> dict:
        """The next message from channel getter ``get`` that answers ``msg_id``, checking
        every second that the kernel is still alive."""
        while True:
            try:
                msg = await get(timeout=1)
            except (queue.Empty, TimeoutError):
                await self._check_alive(what)
                continue
            if msg["parent_header"].get("msg_id") == msg_id:
                return msg

    async def _check_alive(self, what: str) -> None:
        if not await self.km.is_alive():
            raise ReplicationError(f"the Jupyter kernel running '{what}' stopped unexpectedly "
                                   "(out of memory?); no output of this run was written")


def _study_ref(spec: StudySpec) -> str:
    return str(Path(spec.path).resolve()) if spec.path is not None else spec.id


def run_in_kernels(specs: list[StudySpec], root: str | Path = ".", log=print, on_study_done=None) -> list:
    """Run the studies in (at most :data:`MAX_KERNELS`) Jupyter kernels, notebooks included.

    Returns the :class:`~replication.pipeline.StudyOutcome` of each study, in order.
    """
    from .study.spec import check_distinct_ids

    check_distinct_ids(specs)
    root = Path(root).resolve()
    folder = notebook_dir(root).resolve()
    n = max(1, min(MAX_KERNELS, len(specs), os.cpu_count() or 1))
    shares = [specs[i::n] for i in range(n)]
    barrier, lock, outcomes = threading.Barrier(n), threading.Lock(), {}

    def work(kernel: StudyKernel, share: list[StudySpec]) -> None:
        rendered, exporter = {}, offline_exporter()   # an exporter per thread
        def stop_if_another_failed():
            if barrier.broken:
                raise threading.BrokenBarrierError

        try:
            for spec in share:
                stop_if_another_failed()
                kernel.call("prepare", _study_ref(spec))
                log(f"{spec.id}: analysed in its kernel")
                start, layout = time.perf_counter(), Layout(root, spec.id)
                setup = setup_code(spec, layout)
                pages = []
                for nb in notebooks_for(spec):
                    stop_if_another_failed()
                    log(f"{spec.id}: executing {nb.name} ...")
                    t = time.perf_counter()
                    pages.append((nb.name, render_notebook(spec, nb.name, kernel, setup, exporter, folder)))
                    log(f"  {spec.id}: {nb.name} done in {time.perf_counter() - t:.1f} s")
                rendered[spec.id] = (pages, round(time.perf_counter() - start, 2))
        except BaseException:
            barrier.abort()          # the other kernels write nothing either
            raise
        barrier.wait()               # every study analysed before any output is written
        for spec in share:
            layout = Layout(root, spec.id)
            kernel.call("write_outputs", spec.id)
            pages, seconds = rendered[spec.id]
            for name, body in pages:
                files.atomic_write_text(layout.notebooks / f"{name}.html", body)
            outcome = StudyOutcome(**kernel.call("write_pages", spec.id, {"notebooks": seconds}))
            with lock:
                outcomes[spec.id] = outcome
                if on_study_done:
                    on_study_done(outcome)

    kernels, pool = [], ThreadPoolExecutor(n)
    try:
        for _ in range(n):   # each starts importing the stack at once, in its own process
            kernels.append(StudyKernel(folder, root, log))
        jobs = [pool.submit(work, k, share) for k, share in zip(kernels, shares)]
        wait(jobs)   # an interrupt (Ctrl-C) arrives here, and stops the kernels below
        errors = [job.exception() for job in jobs if job.exception() is not None]
        if errors:   # the error that broke the barrier, not the others' BrokenBarrierError
            raise next((e for e in errors if not isinstance(e, threading.BrokenBarrierError)), errors[0])
        kernels[0].call("write_landing_page")
    finally:
        # Stop the kernels first: an interrupted or failed run ends at once, and the
        # threads still talking to a kernel see it stop (their event loops' complaints
        # about the closed sockets are not for the user, so they are muted meanwhile).
        barrier.abort()
        asyncio_log, hook = logging.getLogger("asyncio"), threading.excepthook
        level, threading.excepthook = asyncio_log.level, (lambda args: None)
        asyncio_log.setLevel(logging.CRITICAL)
        try:
            for k in kernels:
                k.close()
            pool.shutdown(wait=True)
        finally:
            asyncio_log.setLevel(level)
            threading.excepthook = hook
    return [outcomes[s.id] for s in specs]
