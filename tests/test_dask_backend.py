"""Every Monte Carlo command on dask.distributed gives the same tables as on loky.

``replication controls``, ``curve`` and ``threestep`` run with tiny sizes (2 replicates,
one scenario or separation) once on the default loky backend, once with ``--backend dask``
(a local cluster on 127.0.0.1 that the command starts and stops) and, for ``controls``,
once with ``--scheduler`` on a cluster this module starts: the CSV tables must be
byte-identical, since the seeds are spawned before the replicates run and the rows are put
back in seed order. A scheduler that does not answer is one ``error:`` line and exit 2.
Network: the loopback interface only.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from replication import cli
from replication.evaluation import controls as C

pytest.importorskip("dask.distributed", reason="dask is an optional extra")

STUDY = "golovacheva2022"
#: The smallest run of each command: 2 replicates, one scenario / separation.
TINY = {
    "controls": ["--seeds", "2", "--scenario", str(C.scenario_folder() / STUDY / "zero_slopes.yaml")],
    "curve": ["--seeds", "2", "--separations", "3"],
    "threestep": ["--seeds", "2"],
}


@pytest.fixture(scope="module", autouse=True)
def bad_scheduler(tmp_path_factory):
    """``replication threestep --scheduler`` at a closed port, as a user runs it (a
    subprocess), started before the other tests so its imports and connection timeout
    overlap with them; :func:`test_bad_scheduler_is_one_error_line_and_exit_2` reads it."""
    root = tmp_path_factory.mktemp("bad_scheduler")
    proc = subprocess.Popen([sys.executable, "-m", "replication", "threestep", "--root", str(root),
                             *TINY["threestep"], "--scheduler", "tcp://127.0.0.1:1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    yield proc, root
    if proc.poll() is None:
        proc.kill()
        proc.communicate()


def run_command(command: str, root, *extra: str) -> dict[str, bytes]:
    """Run ``replication COMMAND`` in process into ``root``; its CSV tables by file name."""
    with pytest.raises(SystemExit) as exc:
        cli.main([command, "--study", STUDY, "--root", str(root), *TINY[command], *extra])
    assert exc.value.code == 0
    tables = root / "reports" / STUDY / "tables"
    written = {p.name: p.read_bytes() for p in sorted(tables.glob("*.csv"))}
    assert written, f"{command} wrote no table"
    return written


@pytest.fixture(scope="module")
def on_loky(tmp_path_factory):
    """Each command's tables on the default (loky) backend, run once and shared."""
    cache = {}

    def tables(command):
        if command not in cache:
            cache[command] = run_command(command, tmp_path_factory.mktemp(f"loky_{command}"))
        return cache[command]
    return tables


@pytest.mark.slow
@pytest.mark.parametrize("command", list(TINY))
def test_dask_backend_gives_byte_identical_tables(command, on_loky, tmp_path):
    # The default 2 workers: joblib runs a cluster of one worker's thread in this process.
    assert run_command(command, tmp_path, "--backend", "dask") == on_loky(command)


@pytest.mark.slow
def test_scheduler_of_a_running_cluster_gives_byte_identical_tables(on_loky, tmp_path):
    from dask.distributed import LocalCluster

    # Threads in this process: the cheapest cluster to start; the command reaches it by address
    # only. Two threads: on a cluster of one thread joblib would run the replicates in process.
    with LocalCluster(host="127.0.0.1", protocol="tcp://", n_workers=1, threads_per_worker=2, processes=False,
                      dashboard_address=None) as cluster:
        tables = run_command("controls", tmp_path, "--scheduler", cluster.scheduler_address)
        assert cluster.scheduler.transition_counter > 0         # the replicates ran there
    assert tables == on_loky("controls")


def test_bad_scheduler_is_one_error_line_and_exit_2(bad_scheduler):
    """No traceback, within the connection timeout, nothing written."""
    proc, root = bad_scheduler
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, err
    assert err.startswith("error: cannot connect to the dask scheduler at 'tcp://127.0.0.1:1'"), err
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert not (root / "reports").exists()


def test_scheduler_with_another_backend_is_an_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["threestep", "--root", str(tmp_path), "--scheduler", "tcp://127.0.0.1:1", "--backend", "loky"])
    assert exc.value.code == 2
    assert capsys.readouterr().err == ("error: a scheduler address ('tcp://127.0.0.1:1') needs the dask backend, "
                                       "not 'loky'\n")


def test_unknown_backend_is_a_replication_error():
    from replication.errors import ReplicationError
    from replication.evaluation.parallel import parallel_backend

    with pytest.raises(ReplicationError, match="unknown backend 'threads'"):
        with parallel_backend("threads", 2):
            pass
