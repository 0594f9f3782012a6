"""Where the Monte Carlo replicates run: one context manager for every joblib call.

Every Monte Carlo of the package (the control scenarios, the method comparison over them,
the replicability curve, the three-step Monte Carlo) runs its replicates with
``joblib.Parallel`` inside :func:`parallel_backend`, which picks the backend:

* ``"loky"``: processes on this machine (the default);
* ``"sequential"``: one after the other, in this process;
* ``"dask"``: a dask.distributed cluster: the scheduler at ``scheduler`` if given, else
  the client already running in this process, else a local cluster on 127.0.0.1 that is
  started for the block and closed after it.

The replicates' seeds are spawned before any of them runs and the rows are put back in
seed order, so the results never depend on the backend or the number of workers.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from ..errors import ReplicationError

#: The joblib backends a Monte Carlo can run on.
BACKENDS = ("loky", "dask", "sequential")
#: Seconds to wait for a dask scheduler given by address before giving up (a wrong
#: address should fail fast with one message, not hang).
CONNECT_TIMEOUT = 5


def _distributed():
    try:
        import dask.distributed as dd
    except ImportError:
        raise ReplicationError("the dask backend needs dask.distributed: pip install 'dask[distributed]'") from None
    return dd


def dask_client(address: str | None = None, n_workers: int = 2, timeout: float = CONNECT_TIMEOUT):
    """A dask.distributed client: to the scheduler at ``address``, or to a new local cluster.

    Parameters
    ----------
    address : str, optional
        A scheduler address such as ``tcp://10.0.0.5:8786``. Without it, a new cluster of
        ``n_workers`` processes (one thread each, no dashboard) on the loopback interface.
    n_workers : int
        Workers of the local cluster.
    timeout : float
        Seconds to wait for the scheduler at ``address``.

    Returns
    -------
    distributed.Client
        The client (the process's default one). For a local cluster, ``client.cluster``
        is the cluster; the caller closes both.

    Raises
    ------
    ReplicationError
        If dask.distributed is not installed, or the address is malformed or does not answer.
    """
    dd = _distributed()
    if address:
        try:
            return dd.Client(address, timeout=timeout)
        except (OSError, TimeoutError, ValueError, TypeError) as exc:
            raise ReplicationError(f"cannot connect to the dask scheduler at '{address}': {exc}") from None
    return dd.Client(dd.LocalCluster(n_workers=n_workers, threads_per_worker=1, host="127.0.0.1",
                                     dashboard_address=None, processes=True))


def _running_client():
    """The dask client already running in this process, or None."""
    dd = _distributed()
    try:
        return dd.get_client()
    except ValueError:       # no client: get_client's only way of saying so
        return None


def check_backend(backend: str, scheduler: str | None = None) -> None:
    """Raise a :class:`ReplicationError` for an unknown backend or a scheduler without dask."""
    if backend not in BACKENDS:
        raise ReplicationError(f"unknown backend '{backend}' ({', '.join(BACKENDS)})")
    if scheduler and backend != "dask":
        raise ReplicationError(f"a scheduler address ('{scheduler}') needs the dask backend, not '{backend}'")


@contextmanager
def parallel_backend(backend: str = "loky", n_jobs: int = 2, scheduler: str | None = None) -> Iterator[None]:
    """Run the ``joblib.Parallel`` calls of the block on ``backend``.

    Parameters
    ----------
    backend : {"loky", "dask", "sequential"}
        See the module docstring.
    n_jobs : int
        Parallel workers (loky), or workers of the local dask cluster if one is started;
        on a running dask cluster, all of its workers are used.
    scheduler : str, optional
        Address of a running dask scheduler (only with ``backend="dask"``).

    Notes
    -----
    Blocks nest: with dask, an inner block finds the outer block's client and uses it,
    so a command that runs several Monte Carlos starts one cluster, not one per call.

    On a cluster with a single thread in all (``n_jobs=1``), joblib runs the replicates in
    this process instead of submitting them; the results are the same.
    """
    from joblib import parallel_config

    check_backend(backend, scheduler)
    client = owned_cluster = None
    if backend == "dask":
        if scheduler:
            client = dask_client(scheduler)
        elif _running_client() is None:
            client = dask_client(n_workers=n_jobs)
            owned_cluster = client.cluster
    # dask: every thread of the cluster, whatever n_jobs (which sized a local cluster already).
    joblib_jobs = {"sequential": 1, "dask": -1}.get(backend, n_jobs)
    try:
        with parallel_config(backend=backend, n_jobs=joblib_jobs):
            yield
    finally:
        if client is not None:          # only what this block opened
            client.close()
        if owned_cluster is not None:
            owned_cluster.close()
