"""futurelab: a real-time distributed futures framework for Python and Jupyter.

The public API is dask.distributed's futures API: code written for it runs after changing
``from dask.distributed import ...`` to ``from futurelab import ...``.

>>> from futurelab import Client
>>> # client = Client()
>>> # client.submit(sum, [1, 2, 3]).result()
>>> # 6
"""
from __future__ import annotations

from builtins import TimeoutError as TimeoutError
from concurrent.futures import CancelledError as CancelledError
from typing import TYPE_CHECKING as _TYPE_CHECKING

from ._lazy import lazy_attributes as _lazy_attributes
from .dask_integration import install_import_hook as _install_dask_hook

# dask's default scheduler becomes futurelab inside tasks and under a running default Client
# (a no-op without dask installed; dask itself is not imported here)
_install_dask_hook()

if _TYPE_CHECKING:  # what the names below resolve to, for type checkers and IDEs
    from .actor import Actor as Actor
    from .actor import ActorFuture as ActorFuture
    from .client.client import Client as Client
    from .client.client import default_client as default_client
    from .client.client import get_client as get_client
    from .client.client import worker_client as worker_client
    from .client.future import Future as Future
    from .client.waiting import ALL_COMPLETED as ALL_COMPLETED
    from .client.waiting import FIRST_COMPLETED as FIRST_COMPLETED
    from .client.waiting import FIRST_EXCEPTION as FIRST_EXCEPTION
    from .client.waiting import as_completed as as_completed
    from .client.waiting import fire_and_forget as fire_and_forget
    from .client.waiting import wait as wait
    from .deploy.adaptive import Adaptive as Adaptive
    from .deploy.cluster import Cluster as Cluster
    from .deploy.local import LocalCluster as LocalCluster
    from .deploy.ssh import SSHCluster as SSHCluster
    from .errors import FuturelabError as FuturelabError
    from .errors import KilledWorker as KilledWorker
    from .errors import LostData as LostData
    from .jobqueue.cluster import PBSCluster as PBSCluster
    from .jobqueue.cluster import SLURMCluster as SLURMCluster
    from .primitives.event import Event as Event
    from .primitives.lock import Lock as Lock
    from .primitives.pubsub import Pub as Pub
    from .primitives.pubsub import Sub as Sub
    from .primitives.queue import Queue as Queue
    from .primitives.semaphore import Semaphore as Semaphore
    from .primitives.variable import Variable as Variable
    from .worker.executor import get_worker as get_worker
    from .worker.executor import rejoin as rejoin
    from .worker.executor import secede as secede
    from .worker.server import Worker as Worker

#: public names imported on first use (PEP 562): ``python -m futurelab worker`` then loads only
#: the worker's modules, and a worker process starts faster
_LAZY = {
    "Actor": ".actor",
    "ActorFuture": ".actor",
    "Client": ".client.client",
    "default_client": ".client.client",
    "get_client": ".client.client",
    "worker_client": ".client.client",
    "Future": ".client.future",
    "ALL_COMPLETED": ".client.waiting",
    "FIRST_COMPLETED": ".client.waiting",
    "FIRST_EXCEPTION": ".client.waiting",
    "as_completed": ".client.waiting",
    "fire_and_forget": ".client.waiting",
    "wait": ".client.waiting",
    "Adaptive": ".deploy.adaptive",
    "Cluster": ".deploy.cluster",
    "LocalCluster": ".deploy.local",
    "SSHCluster": ".deploy.ssh",
    "FuturelabError": ".errors",
    "KilledWorker": ".errors",
    "LostData": ".errors",
    "PBSCluster": ".jobqueue.cluster",
    "SLURMCluster": ".jobqueue.cluster",
    "Event": ".primitives.event",
    "Lock": ".primitives.lock",
    "Pub": ".primitives.pubsub",
    "Sub": ".primitives.pubsub",
    "Queue": ".primitives.queue",
    "Semaphore": ".primitives.semaphore",
    "Variable": ".primitives.variable",
    "get_worker": ".worker.executor",
    "rejoin": ".worker.executor",
    "secede": ".worker.executor",
    "Worker": ".worker.server",
}


__getattr__, __dir__ = _lazy_attributes(__name__, _LAZY, globals())


__version__ = "0.1.0"


def progress(*futures: object, notebook: bool | None = None, multi: bool = True,
             complete: bool = True, **kwargs: object) -> object:
    """Show live progress of futures: a widget in a notebook, a text bar in a terminal.

    >>> # progress(client.map(inc, range(100)))
    """
    from .jupyter.progress import progress as _progress
    return _progress(*futures, notebook=notebook, multi=multi, complete=complete, **kwargs)


def load_ipython_extension(ipython: object) -> None:
    """``%load_ext futurelab``: the ``%%submit``, ``%futures`` and ``%cancel`` magics."""
    from .jupyter.magics import load_ipython_extension as _load
    _load(ipython)

__all__ = [
    "ALL_COMPLETED",
    "Actor",
    "ActorFuture",
    "Adaptive",
    "CancelledError",
    "Client",
    "Cluster",
    "Event",
    "FIRST_COMPLETED",
    "FIRST_EXCEPTION",
    "Future",
    "FuturelabError",
    "KilledWorker",
    "LocalCluster",
    "Lock",
    "LostData",
    "PBSCluster",
    "Pub",
    "Queue",
    "SLURMCluster",
    "SSHCluster",
    "Semaphore",
    "Sub",
    "TimeoutError",
    "Variable",
    "Worker",
    "__version__",
    "as_completed",
    "default_client",
    "fire_and_forget",
    "get_client",
    "get_worker",
    "load_ipython_extension",
    "progress",
    "rejoin",
    "secede",
    "wait",
    "worker_client",
]
