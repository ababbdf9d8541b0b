"""LocalCluster: a scheduler and workers on this machine, as threads or as processes.

With ``processes=False`` the scheduler and workers run on the client's event loop and talk over
the in-process transport (objects are passed, never serialized).  With ``processes=True`` (the
default) the scheduler runs on that loop too, listening on TCP, and each worker is a process
started with ``python -m futurelab worker``.
"""
from __future__ import annotations

import asyncio
import atexit
import logging
import math
import os
import time
import weakref
from typing import Any

from .client import sync as _sync
from .nanny import WorkerProcess
from .scheduler.server import DEFAULT_DASHBOARD, Scheduler
from .security import Security, forget, remember
from .utils import parse_bytes
from .worker.server import Worker

logger = logging.getLogger("futurelab.cluster")

_live_processes: weakref.WeakSet[WorkerProcess] = weakref.WeakSet()


@atexit.register
def _kill_leftovers() -> None:
    for wp in list(_live_processes):
        wp.stopping = True
        if wp.pid is not None and wp.returncode is None:
            try:
                os.kill(wp.pid, 9)
            except ProcessLookupError:
                pass


def default_shape(processes: bool, n_workers: int | None,
                  threads_per_worker: int | None) -> tuple[int, int]:
    """``(n_workers, threads_per_worker)`` sized to this machine when not given."""
    cores = os.cpu_count() or 1
    if n_workers is None and threads_per_worker is None:
        if not processes:
            return 1, cores
        n = cores if cores <= 4 else max(2, int(math.sqrt(cores)))
        return n, max(1, cores // n)
    if n_workers is None:
        assert threads_per_worker is not None
        return max(1, cores // threads_per_worker), threads_per_worker
    if threads_per_worker is None:
        return n_workers, max(1, cores // max(n_workers, 1))
    return n_workers, threads_per_worker


class LocalCluster:
    """A scheduler plus ``n_workers`` workers on this machine.

    Args:
        n_workers: number of workers (default: sized to the machine).
        threads_per_worker: threads in each worker's pool.
        processes: True for worker processes, False for workers as threads in this process.
        host: the address the scheduler and workers bind to (loopback by default).
        scheduler_port: the scheduler's TCP port (0 picks a free one).
        dashboard_address: where the scheduler serves its web dashboard (the next free port
            when taken; None: no dashboard).

    >>> # with LocalCluster(n_workers=2, processes=False) as cluster:
    >>> #     client = Client(cluster)
    """

    def __init__(self, n_workers: int | None = None, threads_per_worker: int | None = None,
                 processes: bool = True, host: str = "127.0.0.1", scheduler_port: int = 0,
                 asynchronous: bool = False, loop: asyncio.AbstractEventLoop | None = None,
                 name: str | None = None, timeout: float = 30, security: Any = None,
                 memory_limit: int | float | str | None = None,
                 dashboard_address: str | int | None = DEFAULT_DASHBOARD,
                 **kwargs: Any) -> None:
        self.processes = processes
        self.dashboard_address = dashboard_address
        self.memory_limit = parse_bytes(memory_limit) if memory_limit else 0
        self.n_workers, self.threads_per_worker = default_shape(processes, n_workers,
                                                                threads_per_worker)
        self.host = host
        self.scheduler_port = scheduler_port
        self.asynchronous = asynchronous
        self.timeout = timeout
        self.name = name or "LocalCluster"
        self.scheduler: Scheduler | None = None
        #: where a Client in this process connects (inproc, also in processes mode)
        self.local_address: str | None = None
        if security is None and processes:
            # a fresh secret per cluster, in a file only we can read, for the worker processes
            security = Security.generate().to_temp_file()
            self._own_secret_file = security.path
        else:
            self._own_secret_file = None
        self.security: Security | None = security
        #: worker name → Worker (threads) or Popen (processes)
        self.workers: dict[str, Any] = {}
        self.status = "created"
        self._counter = 0
        self.loop = loop or (asyncio.get_running_loop() if asynchronous
                             else _sync.background_loop())
        self._started: asyncio.Future[LocalCluster] | None = None
        if asynchronous:
            self._started = asyncio.ensure_future(self._start())
        else:
            _sync.sync(self.loop, self._start)

    def __await__(self) -> Any:
        async def started() -> LocalCluster:
            if self._started is not None:
                await self._started
            return self
        return started().__await__()

    @property
    def scheduler_address(self) -> str:
        assert self.scheduler is not None, "cluster not started"
        return self.scheduler.address

    async def _start(self) -> LocalCluster:
        address = (f"tcp://{self.host}:{self.scheduler_port}" if self.processes
                   else "inproc://")
        self.scheduler = await Scheduler(address, security=self.security,
                                         dashboard_address=self.dashboard_address).start()
        # a Client in this process talks to the scheduler in-process: no sockets, no pickling
        self.local_address = (await self.scheduler.listen_also("inproc://")
                              if self.processes else self.scheduler.address)
        remember(self.scheduler.address, self.security)
        try:
            await self._scale(self.n_workers)
        except BaseException:
            await self._close()
            raise
        self.status = "running"
        return self

    @property
    def dashboard_link(self) -> str | None:
        """The URL of the scheduler's web dashboard (None: disabled or not started)."""
        dashboard = self.scheduler.dashboard if self.scheduler is not None else None
        return dashboard.link if dashboard is not None else None

    # ------------------------------------------------------------------ scaling
    def scale(self, n: int) -> Any:
        """Grow or shrink to ``n`` workers."""
        if self.asynchronous:
            return self._scale(n)
        return _sync.sync(self.loop, self._scale, n)

    async def _scale(self, n: int) -> None:
        assert self.scheduler is not None
        while len(self.workers) > n:
            name, w = self.workers.popitem()
            await self._stop_worker(w)
        new = []
        while len(self.workers) < n:
            name = f"{self.name}-{self._counter}"
            self._counter += 1
            new.append(name)
            self.workers[name] = await self._start_worker(name)
        await self._wait_for_workers(len(self.workers))

    async def _start_worker(self, name: str) -> Any:
        assert self.scheduler is not None
        if not self.processes:
            return await Worker(self.scheduler.address, nthreads=self.threads_per_worker,
                                name=name, security=self.security).start()
        args = [self.scheduler.address, "--nthreads", str(self.threads_per_worker), "--name",
                name, "--host", self.host, "--log-level", "warning"]
        if self.security is not None and self.security.secret is not None:
            if self.security.path is None:
                self.security = self.security.to_temp_file()
                self._own_secret_file = self.security.path
            args += ["--auth-file", str(self.security.path)]
        wp = await WorkerProcess(args, memory_limit=self.memory_limit, name=name).start()
        _live_processes.add(wp)
        return wp

    async def _wait_for_workers(self, n: int) -> None:
        assert self.scheduler is not None
        deadline = time.monotonic() + self.timeout
        while len(self.scheduler.state.workers) < n:
            for name, w in self.workers.items():
                if isinstance(w, WorkerProcess) and (w.gave_up or w.returncode == 0):
                    raise RuntimeError(f"worker process {name} exited with code {w.returncode} "
                                       f"before registering")
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {len(self.scheduler.state.workers)} of {n} workers "
                                   f"registered within {self.timeout} s")
            await asyncio.sleep(0.002)  # a worker in this process registers within ms

    async def _stop_worker(self, w: Any, timeout: float = 5.0) -> None:
        if isinstance(w, Worker):
            await w.close()
        else:
            await w.stop(timeout)

    # ------------------------------------------------------------------ close
    def close(self, timeout: float | None = None) -> Any:
        """Stop the workers and the scheduler; no process or thread is left behind."""
        if self.asynchronous:
            return self._close()
        if self.status == "closed":
            return None
        return _sync.sync(self.loop, self._close)

    async def _close(self) -> None:
        if self.status == "closed":
            return
        self.status = "closed"
        workers = list(self.workers.values())
        self.workers.clear()
        await asyncio.gather(*(self._stop_worker(w) for w in workers), return_exceptions=True)
        if self.scheduler is not None:
            forget(self.scheduler.address)
            await self.scheduler.close()
        if self._own_secret_file:
            try:
                os.unlink(self._own_secret_file)
            except OSError:
                pass

    def __enter__(self) -> LocalCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> LocalCluster:
        return await self

    async def __aexit__(self, *exc: object) -> None:
        await self._close()

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> Any:
        from .jupyter.repr import cluster_mimebundle
        return cluster_mimebundle(self, include, exclude)

    def __repr__(self) -> str:
        addr = self.scheduler.address if self.scheduler is not None else "not started"
        return (f"LocalCluster({addr!r}, workers={len(self.workers)}, "
                f"threads={len(self.workers) * self.threads_per_worker})")
