"""The two-stage cluster analysis at panel scale, side by side with the peer tools
(a benchmark, not a test).

For each sample size N and each chosen study's generator, one synthetic survey is
generated (seeded) and every configuration below runs on that SAME data, each in its own
fresh subprocess, so that its peak resident memory is its own:

  package            this package, clustering only:
                     ``TwoStageClustering(n_clusters=5, random_state=seed).fit(X)``
  package-analysis   this package, complete analysis: ``replication.analyse(spec, survey)``
                     with its defaults (survey in, every table out: k-selection criteria,
                     segmentation, naming, profiling, whatever resampling analyse() does
                     by default, the logit where the study has one, scorecard; no
                     notebooks, no files written). The budgets apply to this one.
  scipy              ``scipy.cluster.hierarchy.linkage(Z, "ward")``, cut at 5 with
                     ``fcluster``, then k-means from the Ward centroids. Skipped where the
                     condensed distance matrix, N(N-1)/2 * 8 bytes, exceeds ``--scipy-max-gb``.
  fastcluster        ``fastcluster.linkage_vector(Z, method="ward")`` (exact Ward in linear
                     memory), same cut and k-means. Skipped where its expected time, quadratic
                     in N from earlier measurements on this machine, exceeds ``--max-minutes``.
  sklearn-knn        ``AgglomerativeClustering(n_clusters=5, linkage="ward",
                     connectivity=kneighbors_graph(Z, 10, include_self=False))``, same k-means.
                     The worker builds the graph and, before clustering, estimates what
                     scikit-learn's repair of a disconnected graph would cost (one dense
                     distance block per pair of components); it stops with the reason where
                     that exceeds the time limit or ``--max-block-gb``.
  A peer that was skipped or timed out at some N is skipped at every larger N of the run.

k-means is always scikit-learn's ``KMeans(n_clusters=5, init=<Ward centroids>, n_init=1,
algorithm="lloyd", tol=0)``. ``X`` is the studies' segmentation dimensions (scale scores,
``scale_scores(survey, spec)[spec.dimension_ids]``), ``Z`` their z-scores (ddof=1), rows
in survey order.

Measured per configuration: wall time of the call only (data generation, loading and
imports excluded; each worker first runs its configuration once on the first 2,000 rows
so one-time lazy imports and initialisation are not timed), peak RSS in MB (MiB; the
worker's own ``ru_maxrss`` or, when it starts worker processes of its own, the sampled
summed RSS of its process tree if larger; so it includes the interpreter, imports and the
loaded input),
RSS/N, ARI against the exact two-stage result (exact Ward -> k-means: scipy where it ran,
otherwise fastcluster; "n/a" where neither ran) and ARI against the generating truth.

Then the budgets, each marked met / NOT MET / not evaluated (a run killed by the timeout,
or otherwise, after the time budget had passed counts as NOT MET):

* forrester2016, N = 60,000, complete analysis: at most 10 s, at most 1 GB (1024 MB) peak,
  and at most 0.3x the time of fastcluster linkage_vector + k-means on the same data;
* N = 1,000,000, complete analysis: at most 60 s and 4 GB (4096 MB) peak;
* memory linear in N above the exact limit: peak RSS per N, RSS/N, and the exponent b
  of (peak - RSS after imports) ~ N**b over the sizes above the limit (met if b <= 1.15);
* agreement: at N = 20,000 the package (both configurations) and exact Ward -> k-means
  agree with ARI >= 0.99, per study generator run (run with ``--study all`` to cover
  every shipped study).

Usage::

    .venv/bin/python benchmarks/scale.py                                   # 20k..1M, forrester2016
    .venv/bin/python benchmarks/scale.py --sizes 20000 60000 200000 --study all --csv /tmp/scale.csv
    .venv/bin/python benchmarks/scale.py --sizes 1000000 --configs package package-analysis

The workers run on a copy of src/replication taken at the start (so one version of the
library is measured even while src/ is being edited; ``--no-snapshot`` to disable); the
header names it by git HEAD and a digest. Peak memory includes worker processes the
configuration starts (the complete analysis may run a joblib bootstrap): the summed RSS
of the process tree is sampled every 0.1 s, and the notes say when there were any.

Progress goes to stderr; the tables go to stdout. Every worker has a timeout
(``--timeout``, default 15 minutes), so the script always ends. The generated data
lives in a temporary directory (``--tmpdir``) that is removed at the end. Machine load
(1-minute load average) is printed at the start and end and recorded per row.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONFIGS = ["package", "package-analysis", "scipy", "fastcluster", "sklearn-knn"]
PEERS = CONFIGS[2:]
DEFAULT_SIZES = [20_000, 60_000, 200_000, 1_000_000]
K = 5
WARMUP_ROWS = 2000
#: fastcluster.linkage_vector(Z, "ward") + k-means, seconds, measured earlier on this machine.
FASTCLUSTER_MEASURED = {20_000: 3.0, 60_000: 32.0, 200_000: 284.0}
MB = 1024 * 1024

# Budgets (stated in the brief): seconds and MB (MiB) of the complete analysis.
BUDGET_60K_SECONDS, BUDGET_60K_MB, BUDGET_60K_VS_FASTCLUSTER = 10.0, 1024.0, 0.3
BUDGET_1M_SECONDS, BUDGET_1M_MB = 60.0, 4096.0
AGREEMENT_ARI, AGREEMENT_N = 0.99, 20_000
LINEAR_EXPONENT = 1.15


SRC = Path(__file__).resolve().parent.parent / "src"


def code_state(pkg: Path = SRC / "replication") -> str:
    """Which library code ran: git HEAD (read-only), and a digest of the package's .py and
    .yaml files (the library may be edited while the benchmark runs)."""
    import hashlib
    root = SRC.parent
    h = hashlib.sha1()
    for f in sorted(list(pkg.rglob("*.py")) + list(pkg.rglob("*.yaml"))):
        h.update(str(f.relative_to(pkg)).encode())
        h.update(f.read_bytes())
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        head = "?"
    return f"HEAD {head or '?'}, src digest {h.hexdigest()[:10]}"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def load1() -> float:
    return os.getloadavg()[0]


def rss_mb() -> float:
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024   # Linux: KiB


# ---------------------------------------------------------------------------------------
# Worker side: one configuration in a fresh process.
# ---------------------------------------------------------------------------------------

def _descendants(pid: int) -> list[int]:
    """Live descendant processes of ``pid`` (from /proc; Linux)."""
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def _rss_now_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / MB
    except (OSError, IndexError, ValueError):
        return 0.0


class TreeSampler:
    """Peak summed RSS of this process and its descendants, sampled every ``interval`` s.

    ``ru_maxrss`` sees only this process; the complete analysis may start worker
    processes (joblib/loky), whose memory is part of the configuration's footprint.
    Summed RSS counts pages shared between the processes once per process (an upper
    bound); sampling can miss a spike shorter than the interval (``ru_maxrss`` of this
    process is exact, so the reported peak is the larger of the two)."""

    def __init__(self, interval: float = 0.1):
        import threading
        self.interval, self.peak_mb, self.max_children = interval, 0.0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        me = os.getpid()
        while not self._stop.is_set():
            kids = _descendants(me)
            total = _rss_now_mb(me) + sum(_rss_now_mb(k) for k in kids)
            self.peak_mb = max(self.peak_mb, total)
            self.max_children = max(self.max_children, len(kids))
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def _kmeans_from(Z, labels):
    """k-means (scikit-learn, Lloyd, tol=0, one start) from the centroids of ``labels``."""
    import numpy as np
    from sklearn.cluster import KMeans
    k = int(labels.max()) + 1
    centers = np.vstack([Z[labels == j].mean(axis=0) for j in range(k)])
    km = KMeans(n_clusters=k, init=centers, n_init=1, algorithm="lloyd", tol=0.0).fit(Z)
    return km.labels_, int(km.n_iter_)


def _standardize(X):
    return (X - X.mean(axis=0)) / X.std(axis=0, ddof=1)


def _knn_repair_cost(G):
    """What sklearn's _fix_connected_components would do on graph G: (components, pairs,
    largest dense block in GB, distance elements)."""
    import numpy as np
    from scipy.sparse.csgraph import connected_components
    n_comp, comp = connected_components(G, directed=True, connection="weak")
    sizes = np.sort(np.bincount(comp))[::-1].astype(float)
    pairs = n_comp * (n_comp - 1) // 2
    block_gb = sizes[0] * sizes[1] * 8 / 1e9 if n_comp > 1 else 0.0
    elements = (sizes.sum() ** 2 - (sizes ** 2).sum()) / 2
    return n_comp, pairs, block_gb, elements


def worker(args) -> None:
    import gc
    import warnings
    warnings.filterwarnings("ignore")
    import numpy as np

    config, data = args.worker, Path(args.data)
    out = {"config": config, "status": "ok", "reason": "", "path": ""}
    # Imports first (the constant part of the footprint), then the input.
    if config == "package-analysis":
        import pandas as pd
        from replication import analyse, load_study
    elif config == "package":
        from replication.segmentation.ward_kmeans import TwoStageClustering
    elif config in ("scipy", "fastcluster"):
        import fastcluster
        from scipy.cluster.hierarchy import fcluster, linkage
        from sklearn.cluster import KMeans  # noqa: F401
    else:
        from sklearn.cluster import AgglomerativeClustering
        from sklearn.neighbors import kneighbors_graph
    out["rss_imports_mb"] = rss_mb()
    if config == "package-analysis":
        spec = load_study(args.study_id)
        survey = pd.read_pickle(data / "survey.pkl")
    else:
        X = np.load(data / "X.npy")
    out["rss_loaded_mb"] = rss_mb()

    def run(n_rows=None):
        """Run the configuration (on the first n_rows rows for the warm-up)."""
        if config == "package-analysis":
            s = survey if n_rows is None else survey.iloc[:n_rows]
            res = analyse(spec, s)
            return res.assignments["cluster"].to_numpy(), {"path": res.segmentation.model.path_}
        Xr = X if n_rows is None else X[:n_rows]
        if config == "package":
            m = TwoStageClustering(n_clusters=K, random_state=args.seed).fit(Xr)
            return m.labels_, {"path": m.path_, "kmeans_iter": m.n_iter_}
        Z = _standardize(Xr)
        if config == "scipy":
            ward = fcluster(linkage(Z, "ward"), K, "maxclust") - 1
        elif config == "fastcluster":
            ward = fcluster(fastcluster.linkage_vector(Z, method="ward"), K, "maxclust") - 1
        else:
            G = kneighbors_graph(Z, 10, include_self=False)
            if n_rows is None:
                n_comp, pairs, block_gb, elements = _knn_repair_cost(G)
                # sklearn's repair loops in Python over every pair of components and builds
                # a dense distance block per pair: ~1 ms per pair plus ~2 ns per distance,
                # and the tree itself ~0.15 ms per row (rough, measured on this machine at
                # 20,000-60,000: golovacheva2022 N=20,000 has 206 components, 21k pairs, 21 s).
                est = args.n * 0.15e-3 + pairs * 1e-3 + elements * 2e-9
                info = (f"10-NN graph has {n_comp:,} connected components (duplicate answer patterns); "
                        f"sklearn's repair would compute {pairs:,} dense distance blocks, the largest "
                        f"{block_gb:.2f} GB, ~{est / 60:.0f} min")
                if block_gb > args.max_block_gb or est > args.max_minutes * 60:
                    raise _Skip(info)
                out["note"] = f"{n_comp:,} graph components"
            ward = AgglomerativeClustering(n_clusters=K, linkage="ward", connectivity=G).fit(Z).labels_
        labels, n_iter = _kmeans_from(Z, ward)
        return labels, {"kmeans_iter": n_iter}

    try:
        run(min(WARMUP_ROWS, args.n))
    except Exception as exc:   # the warm-up only primes imports; the timed run reports errors
        out["warmup_error"] = repr(exc)
    gc.collect()
    out["rss_before_mb"] = rss_mb()
    # When the timed call began, so the parent can say how long a killed call had run.
    Path(args.out).with_suffix(".started").write_text(repr(time.time()))
    with TreeSampler() as tree:
        start = time.perf_counter()
        try:
            labels, extra = run()
        except _Skip as skip:
            out.update(status="skipped", reason=str(skip))
            labels, extra = None, {}
        out["wall_s"] = time.perf_counter() - start
    out["self_peak_mb"] = rss_mb()
    out["tree_peak_mb"] = tree.peak_mb
    out["peak_mb"] = max(out["self_peak_mb"], tree.peak_mb)
    out["child_processes"] = tree.max_children
    out.update(extra)
    if labels is not None:
        np.save(Path(args.out).with_suffix(".labels.npy"), np.asarray(labels, dtype=np.int32))
    Path(args.out).write_text(json.dumps(out))


class _Skip(Exception):
    pass


def prepare(args) -> None:
    """Generate the survey once for (study, N, seed) and store what the workers read."""
    import numpy as np
    import pandas as pd
    from replication import load_study, simulate_survey
    from replication.study.measurement import scale_scores

    data = Path(args.data)
    spec = load_study(args.study_id)
    start = time.perf_counter()
    sample = simulate_survey(spec, n=args.n, random_state=args.seed)
    gen = time.perf_counter() - start
    X = scale_scores(sample.survey, spec)[spec.dimension_ids].to_numpy(dtype=float)
    truth = sample.true_segments
    assert (truth.index.to_numpy() == sample.survey["respondent_id"].to_numpy()).all()
    codes, _ = pd.factorize(truth.to_numpy())
    sample.survey.to_pickle(data / "survey.pkl")
    np.save(data / "X.npy", X)
    np.save(data / "truth.npy", codes.astype(np.int32))
    from replication.segmentation import kselect, ward_kmeans
    (data / "meta.json").write_text(json.dumps({
        "generation_s": gen, "distinct_rows": int(np.unique(X, axis=0).shape[0]),
        "exact_limit": spec.segmentation.exact_limit,
        "constants": f"exact_limit {spec.segmentation.exact_limit:,}, n_micro {ward_kmeans.N_MICRO}, "
                     f"k-selection sample {getattr(kselect, 'SAMPLE_LIMIT', '?')}"}))


# ---------------------------------------------------------------------------------------
# Parent side.
# ---------------------------------------------------------------------------------------

def fastcluster_estimate(n: int) -> float:
    """Expected seconds of linkage_vector + k-means: quadratic from the measured points
    (the largest of the three extrapolations, to err towards skipping)."""
    return max(t * (n / m) ** 2 for m, t in FASTCLUSTER_MEASURED.items())


def a_priori_skip(config: str, n: int, args) -> str | None:
    if config == "scipy":
        gb = n * (n - 1) / 2 * 8 / 1e9
        if gb > args.scipy_max_gb:
            return (f"condensed distance matrix N(N-1)/2*8 = {gb:,.1f} GB > {args.scipy_max_gb:g} GB "
                    f"(fits only to N ~ {int(math.sqrt(2 * args.scipy_max_gb * 1e9 / 8)):,})")
    if config == "fastcluster":
        est = fastcluster_estimate(n)
        if est > args.max_minutes * 60:
            return (f"expected ~{est / 60:,.0f} min (quadratic: ~3 s at 20k, 32 s at 60k, 284 s at 200k) "
                    f"> {args.max_minutes:g} min")
    return None


#: Environment of the workers (PYTHONPATH set to the library snapshot, see --no-snapshot).
WORKER_ENV = None


def spawn(argv: list[str], timeout: float) -> tuple[int | None, str]:
    """Run a worker in its own process group; kill the group on timeout."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, env=WORKER_ENV)
    try:
        _, err = proc.communicate(timeout=timeout)
        return proc.returncode, err
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        _, err = proc.communicate()
        return None, err


def run_all(args) -> tuple[list[dict], dict]:
    import numpy as np
    from sklearn.metrics import adjusted_rand_score

    rows, meta_by = [], {}
    infeasible = {}   # (study, config) -> (N, why): a peer that could not finish at N is skipped above it
    global WORKER_ENV
    tmp_root = Path(tempfile.mkdtemp(prefix="scale_bench_", dir=args.tmpdir))
    me = [sys.executable, os.path.abspath(__file__)]
    try:
        if args.snapshot:
            # One version of the library for the whole run, even if src/ is edited meanwhile.
            src = SRC / "replication"
            shutil.copytree(src, tmp_root / "lib" / "replication",
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            WORKER_ENV = {**os.environ, "PYTHONPATH": str(tmp_root / "lib")}
            args.snapshot_state = code_state(tmp_root / "lib" / "replication")
            log(f"library snapshot: {args.snapshot_state} -> {tmp_root / 'lib'}")
        plan = [(s, n) for s in args.study for n in args.sizes]
        for si, (study, n) in enumerate(plan, 1):
            data = tmp_root / f"{study}_{n}"
            data.mkdir()
            log(f"({si}/{len(plan)}) {study} N={n:,}: generating the survey (seed {args.seed}) ...")
            rc, err = spawn(me + ["--prepare", "--data", str(data), "--study-id", study, "--n", str(n),
                                  "--seed", str(args.seed)], args.timeout * 60)
            if rc != 0:
                log(f"  data generation failed (rc={rc}):\n{err[-2000:]}")
                for c in args.configs:
                    rows.append(dict(study=study, n=n, config=c, status="failed",
                                     reason="data generation failed"))
                continue
            meta = json.loads((data / "meta.json").read_text())
            meta_by[(study, n)] = meta
            log(f"  generated in {meta['generation_s']:.1f} s; {meta['distinct_rows']:,} distinct rows")
            truth = np.load(data / "truth.npy")
            labels = {}
            for config in args.configs:
                row = dict(study=study, n=n, config=config, load1=round(load1(), 2))
                reason = a_priori_skip(config, n, args)
                prior = infeasible.get((study, config))
                if reason is None and prior and n > prior[0] and config in PEERS:
                    reason = f"already {prior[1]} at N={prior[0]:,} (its cost grows with N)"
                if reason:
                    log(f"  {config}: skipped ({reason})")
                    rows.append({**row, "status": "skipped", "reason": reason})
                    continue
                out = data / f"{config}.json"
                log(f"  {config}: running (load {row['load1']:.2f}) ...")
                rc, err = spawn(me + ["--worker", config, "--data", str(data), "--study-id", study,
                                      "--n", str(n), "--seed", str(args.seed), "--out", str(out),
                                      "--max-minutes", str(args.max_minutes),
                                      "--max-block-gb", str(args.max_block_gb)], args.timeout * 60)
                started = out.with_suffix(".started")
                ran = time.time() - float(started.read_text()) if started.exists() else None
                ran_txt = f"; the timed call had run {ran:,.0f} s" if ran is not None else " before the timed call"
                if rc is None:
                    infeasible.setdefault((study, config), (n, "timed out"))
                    log(f"  {config}: TIMEOUT after {args.timeout:g} min{ran_txt}")
                    rows.append({**row, "status": "timeout", "elapsed_s": ran,
                                 "reason": f"killed after {args.timeout:g} min{ran_txt}"})
                    continue
                if rc != 0 or not out.exists():
                    if rc is not None and rc < 0:
                        import signal
                        why = f"terminated by signal {signal.Signals(-rc).name} (not by this script)"
                    else:
                        lines = [x for x in err.strip().splitlines() if "Error" in x or "Exception" in x]
                        why = (lines or err.strip().splitlines() or [f"exit code {rc}"])[-1].strip()
                    log(f"  {config}: FAILED (rc={rc}){ran_txt}\n{err[-3000:]}")
                    rows.append({**row, "status": "failed", "elapsed_s": ran, "reason": why[:200] + ran_txt})
                    continue
                res = json.loads(out.read_text())
                row.update(status=res["status"], reason=res.get("reason", ""), wall_s=res["wall_s"],
                           peak_mb=res["peak_mb"], self_peak_mb=res["self_peak_mb"],
                           tree_peak_mb=res["tree_peak_mb"], child_processes=res["child_processes"],
                           rss_imports_mb=res["rss_imports_mb"],
                           rss_before_mb=res["rss_before_mb"], path=res.get("path", ""),
                           note=res.get("note", ""), kmeans_iter=res.get("kmeans_iter", ""))
                lab_file = out.with_suffix(".labels.npy")
                if res["status"] == "ok" and lab_file.exists():
                    labels[config] = np.load(lab_file)
                    row["ari_truth"] = adjusted_rand_score(truth, labels[config])
                    log(f"  {config}: {res['wall_s']:.2f} s, peak {res['peak_mb']:,.0f} MB")
                else:
                    infeasible.setdefault((study, config), (n, "skipped"))
                    log(f"  {config}: skipped in the worker ({row['reason']})")
                rows.append(row)
            ref = next((c for c in ("scipy", "fastcluster") if c in labels), None)
            for row in rows:
                if row["study"] == study and row["n"] == n:
                    row["exact_ref"] = ref or ""
                    if ref and row["config"] in labels:
                        row["ari_exact"] = adjusted_rand_score(labels[ref], labels[row["config"]])
            shutil.rmtree(data, ignore_errors=True)
    finally:
        shutil.rmtree(tmp_root, ignore_errors=True)
    return rows, meta_by


def fmt(v, spec=".2f", na="n/a"):
    if v is None or v == "" or (isinstance(v, float) and math.isnan(v)):
        return na
    return format(v, spec)


def print_table(rows: list[dict]) -> None:
    head = (f"{'study':<16} {'N':>9} {'configuration':<17} {'wall s':>8} {'peak MB':>8} {'KB/resp':>8} "
            f"{'ARI exact':>9} {'ARI truth':>9} {'load':>5}  notes")
    print(head)
    print("-" * len(head))
    for r in rows:
        ok = r.get("status") == "ok"
        kb = r["peak_mb"] * 1024 / r["n"] if ok else None
        if ok:
            ari_ex = "(ref)" if r.get("exact_ref") == r["config"] else fmt(r.get("ari_exact"), ".4f")
            kids = (f"+{r['child_processes']} worker processes (own RSS {r['self_peak_mb']:,.0f} MB)"
                    if r.get("child_processes") else "")
            notes = ", ".join(x for x in (f"path={r['path']}" if r.get("path") else "", r.get("note", ""), kids) if x)
        else:
            ari_ex = "-"
            notes = f"{r.get('status', '').upper()}: {r.get('reason', '')}"
        wall = fmt(r.get("wall_s"), ".2f") if ok else (f">{r['elapsed_s']:.0f}" if r.get("elapsed_s") else "-")
        print(f"{r['study']:<16} {r['n']:>9,} {r['config']:<17} {wall:>8} "
              f"{fmt(r.get('peak_mb') if ok else None, ',.0f', '-'):>8} {fmt(kb, '.3f', '-'):>8} {ari_ex:>9} "
              f"{fmt(r.get('ari_truth') if ok else None, '.4f', '-'):>9} {fmt(r.get('load1'), '.2f', '-'):>5}  {notes}")


def find(rows, study, n, config):
    for r in rows:
        if r["study"] == study and r["n"] == n and r["config"] == config and r.get("status") == "ok":
            return r
    return None


def unfinished(rows, study, n, config):
    """A timed-out or failed run whose timed call had already run ``elapsed_s`` seconds."""
    for r in rows:
        if (r["study"] == study and r["n"] == n and r["config"] == config
                and r.get("status") in ("timeout", "failed") and r.get("elapsed_s")):
            return r
    return None


def time_verdict(rows, study, n, budget):
    """(value text, verdict) of a time budget, counting a run killed after the budget as over it."""
    r = find(rows, study, n, "package-analysis")
    if r is not None:
        return f"{r['wall_s']:.2f} s", r["wall_s"] <= budget
    u = unfinished(rows, study, n, "package-analysis")
    if u is not None and u["elapsed_s"] > budget:
        return f"did not finish: {u['status']} after {u['elapsed_s']:,.0f} s", False
    return "not run", None


def mark(ok: bool | None) -> str:
    return {True: "met", False: "NOT MET", None: "not evaluated"}[ok]


def print_budgets(rows: list[dict], studies: list[str], meta_by: dict) -> list[bool | None]:
    verdicts = []
    print("\nBudgets (complete analysis = configuration package-analysis; MB = MiB)")
    lines = []
    f60 = find(rows, "forrester2016", 60_000, "package-analysis")
    fc60 = find(rows, "forrester2016", 60_000, "fastcluster")
    value, ok = time_verdict(rows, "forrester2016", 60_000, BUDGET_60K_SECONDS)
    lines.append((f"forrester2016 N=60,000 analysis <= {BUDGET_60K_SECONDS:g} s", value, ok))
    ok = None if f60 is None else f60["peak_mb"] <= BUDGET_60K_MB
    lines.append((f"forrester2016 N=60,000 analysis peak <= {BUDGET_60K_MB:,.0f} MB",
                  f"{f60['peak_mb']:,.0f} MB" if f60 else "not run", ok))
    ok = None if f60 is None or fc60 is None else f60["wall_s"] <= BUDGET_60K_VS_FASTCLUSTER * fc60["wall_s"]
    lines.append((f"forrester2016 N=60,000 analysis <= {BUDGET_60K_VS_FASTCLUSTER}x fastcluster+k-means",
                  f"{f60['wall_s']:.2f} s vs {BUDGET_60K_VS_FASTCLUSTER}x {fc60['wall_s']:.2f} s = "
                  f"{BUDGET_60K_VS_FASTCLUSTER * fc60['wall_s']:.2f} s (ratio {f60['wall_s'] / fc60['wall_s']:.2f}x)"
                  if f60 and fc60 else "not run", ok))
    for study in studies:
        r = find(rows, study, 1_000_000, "package-analysis")
        value, ok = time_verdict(rows, study, 1_000_000, BUDGET_1M_SECONDS)
        lines.append((f"{study} N=1,000,000 analysis <= {BUDGET_1M_SECONDS:g} s", value, ok))
        ok = None if r is None else r["peak_mb"] <= BUDGET_1M_MB
        lines.append((f"{study} N=1,000,000 analysis peak <= {BUDGET_1M_MB:,.0f} MB",
                      f"{r['peak_mb']:,.0f} MB" if r else "not run", ok))
    width = max(len(a) for a, _, _ in lines)
    for what, value, ok in lines:
        print(f"  {what:<{width}}  {value:<48} {mark(ok)}")
        verdicts.append(ok)

    print(f"\nMemory against N above the exact limit (linear if b <= {LINEAR_EXPONENT}: "
          "(peak - RSS after imports) ~ N**b; marginal = extra KB per extra respondent)")
    for study in studies:
        for config in ("package", "package-analysis"):
            pts = [r for r in rows if r["study"] == study and r["config"] == config and r.get("status") == "ok"
                   and r["n"] > meta_by.get((study, r["n"]), {}).get("exact_limit", 5000)]
            pts.sort(key=lambda r: r["n"])
            if not pts:
                continue
            cells = "; ".join(f"N={r['n']:,}: {r['peak_mb']:,.0f} MB, {r['peak_mb'] * 1024 / r['n']:.3f} KB/resp"
                              for r in pts)
            marg = [((b["peak_mb"] - a["peak_mb"]) * 1024 / (b["n"] - a["n"])) for a, b in zip(pts, pts[1:])]
            if len(pts) >= 2:
                import numpy as np
                x = np.log([r["n"] for r in pts])
                y = np.log([max(r["peak_mb"] - r["rss_imports_mb"], 1.0) for r in pts])
                b = float(np.polyfit(x, y, 1)[0])
                ok = b <= LINEAR_EXPONENT
                tail = f"marginal {', '.join(f'{m:.3f}' for m in marg)} KB/resp; b = {b:.2f}"
            else:
                ok, tail = None, "one size only"
            print(f"  {study} {config}: {cells}")
            print(f"      {tail}  -> {mark(ok)}")
            verdicts.append(ok)

    print(f"\nAgreement at N = {AGREEMENT_N:,}: package vs exact Ward -> k-means, ARI >= {AGREEMENT_ARI}")
    for study in studies:
        for config in ("package", "package-analysis"):
            r = find(rows, study, AGREEMENT_N, config)
            ari = r.get("ari_exact") if r else None
            ok = None if ari is None else ari >= AGREEMENT_ARI
            what = (f"ARI {ari:.4f} vs {r['exact_ref']} (path {r.get('path', '?')})" if ari is not None
                    else "not run")
            print(f"  {study:<16} {config:<17} {what:<48} {mark(ok)}")
            verdicts.append(ok)
    return verdicts


def main(argv=None):
    from replication import shipped_studies
    studies = shipped_studies()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=DEFAULT_SIZES)
    ap.add_argument("--study", nargs="+", default=["forrester2016"], choices=studies + ["all"],
                    help="study generator(s); 'all' for every shipped study")
    ap.add_argument("--configs", nargs="+", default=CONFIGS, choices=CONFIGS)
    ap.add_argument("--seed", type=int, default=0, help="data seed, also the package's random_state")
    ap.add_argument("--csv", metavar="PATH", help="also write the results table as CSV")
    ap.add_argument("--timeout", type=float, default=15.0, help="minutes per worker")
    ap.add_argument("--max-minutes", type=float, default=10.0, help="skip peers expected to take longer")
    ap.add_argument("--scipy-max-gb", type=float, default=3.0, help="largest condensed matrix for scipy")
    ap.add_argument("--max-block-gb", type=float, default=4.0,
                    help="largest dense block sklearn's graph repair may allocate")
    ap.add_argument("--tmpdir", default=None, help="where to put the generated data (default: system temp)")
    ap.add_argument("--no-snapshot", dest="snapshot", action="store_false",
                    help="run the workers on src/ as it is at each moment, not on a copy taken at the start")
    # internal
    ap.add_argument("--worker", choices=CONFIGS, help=argparse.SUPPRESS)
    ap.add_argument("--prepare", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ap.add_argument("--study-id", help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.prepare:
        return prepare(args)
    if args.worker:
        return worker(args)
    args.study = studies if "all" in args.study else list(dict.fromkeys(args.study))

    start_load = os.getloadavg()
    started = time.perf_counter()
    log(f"load average at start: {start_load[0]:.2f} {start_load[1]:.2f} {start_load[2]:.2f}; "
        f"{os.cpu_count()} CPUs")
    code_start = code_state()
    rows, meta_by = run_all(args)
    end_load = os.getloadavg()
    code_end = code_state()

    import platform
    import fastcluster
    import numpy
    import scipy
    import sklearn
    print(f"Two-stage clustering at scale: {', '.join(args.study)}; k = {K}; seed {args.seed}; "
          f"{platform.node()}, {os.cpu_count()} CPUs")
    print(f"numpy {numpy.__version__}, scipy {scipy.__version__}, scikit-learn {sklearn.__version__}, "
          f"fastcluster {fastcluster.__version__}; load average start {start_load[0]:.2f} "
          f"(5 min {start_load[1]:.2f}), end {end_load[0]:.2f} (5 min {end_load[1]:.2f}); "
          f"total {time.perf_counter() - started:.0f} s")
    consts = next(iter(meta_by.values()), {}).get("constants", "?")
    changed = code_end != code_start
    if args.snapshot:
        print(f"library: snapshot of src/replication taken at the start ({getattr(args, 'snapshot_state', '?')}); "
              f"{consts}" + ("; src/ was edited during the run (the snapshot was not)" if changed else ""))
    else:
        print(f"library: working tree, {code_start}" + (f" -> {code_end} (CHANGED DURING THE RUN: figures "
                                                        "may mix versions)" if changed else "") + f"; {consts}")
    print("wall s: the call alone; peak MB: the worker process tree (interpreter + imports + input + any "
          "worker processes it starts); "
          "KB/resp = peak/N; ARI exact: against exact Ward -> k-means (scipy, else fastcluster)\n")
    print_table(rows)
    print_budgets(rows, args.study, meta_by)
    if args.csv:
        fields = ["study", "n", "config", "status", "wall_s", "elapsed_s", "peak_mb", "self_peak_mb", "tree_peak_mb",
                  "child_processes", "rss_imports_mb", "rss_before_mb",
                  "exact_ref", "ari_exact", "ari_truth", "path", "kmeans_iter", "load1", "note", "reason"]
        with open(args.csv, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore")
            w.writeheader()
            for r in rows:
                w.writerow({f: r.get(f, "") for f in fields})
        log(f"wrote {args.csv}")


if __name__ == "__main__":
    main()
