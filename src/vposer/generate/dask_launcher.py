"""Run ``vposer generate`` on a Dask cluster (optional extra: ``pip install 'vposer[dask]'``).

Dask schedules, the runner does the rest: each shard is one task (:func:`produce_shard`), the
client's ``concurrent.futures`` interface (``Client.get_executor``) is handed to the runner,
which records finished shards in the manifest. Workers must see the output folder (a shared
file system), the model path and, if used, the body and pose files; give each worker one thread
(``--nthreads 1``) since a task fixes torch's thread count for its process::

    dask scheduler &                                   # on one machine
    dask worker tcp://HOST:8786 --nthreads 1 --nworkers 16   # on each machine
    vposer generate --n 10_000_000 --out /shared/poses --dask tcp://HOST:8786

``--dask local`` starts a ``LocalCluster`` on this machine (one single-threaded process per
core by default).
"""
from __future__ import annotations

import contextlib
from concurrent.futures import Executor
from collections.abc import Iterator

from ..errors import InputError


@contextlib.contextmanager
def dask_executor(address: str | None = None, n_workers: int | None = None,
                  processes: bool = True) -> Iterator[Executor]:
    """A ``concurrent.futures.Executor`` on a Dask cluster.

    Args:
        address: scheduler address (``tcp://host:8786``); None or ``'local'`` starts a
            ``distributed.LocalCluster`` with single-threaded workers.
        n_workers: workers of the local cluster (default: one per core).
        processes: local workers as processes (True) or threads of this process.
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise InputError("--dask needs dask.distributed: pip install 'vposer[dask]' "
                         "(or pip install 'dask[distributed]')") from None
    cluster = None
    if address in (None, "", "local"):
        cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=processes,
                               dashboard_address=None)
        client = Client(cluster)
    else:
        client = Client(address)
    try:
        yield client.get_executor(pure=False)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
