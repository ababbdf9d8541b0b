"""The one cluster interface: scale, adapt, close, logs and views, for every kind of cluster.

Theory of operation
-------------------
A cluster is a scheduler plus *jobs*, each job running one worker that registers with the
scheduler under the job's name.  :class:`Cluster` does everything but start and stop jobs:
the scheduler (in this process by default), the sync/async facade, ``scale``, ``adapt`` (the
one policy, computed in the scheduler: :mod:`futurelab.scheduler.adaptive`), retiring workers
without losing data, ``get_logs``, ``wait_for_workers``, ``scheduler_info``, the repr and the
notebook widget.  A kind — :class:`~futurelab.deploy.local.LocalCluster`,
:class:`~futurelab.deploy.ssh.SSHCluster`, a batch system — subclasses it and implements the
two coroutines described in :class:`Cluster`'s docstring.

Every public method works from synchronous code (it blocks, on the cluster's event loop, up to
a deadline) and from asynchronous code running on the cluster's loop (it returns an awaitable
that runs even if never awaited), whoever made the cluster: ``Client()``'s own cluster
included.  The loop is the caller's with ``asynchronous=True``, else futurelab's background
loop (:mod:`futurelab.client.sync`).
"""
from __future__ import annotations

import asyncio
import logging
import math
import os
import time
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

from ..client import sync as _sync
from ..security import Security, forget, remember
from ..utils import format_bytes, parse_bytes, parse_timedelta
from .adaptive import Adaptive, adaptive_bounds

logger = logging.getLogger("futurelab.deploy")

#: keys accepted in ``scheduler_options`` of a cluster whose scheduler runs in this process
SCHEDULER_OPTIONS = ("host", "port", "protocol", "dashboard_address")
#: how often the scheduler is polled while waiting for workers
POLL = 0.01


class ClusterError(RuntimeError):
    """A cluster could not start, scale or reach a worker or its scheduler (says which, why)."""


class Log(str):
    """Newline-separated log lines (what dask's ``Log`` is)."""


class Logs(dict[str, Log]):
    """Logs by source: ``"Cluster"``, ``"Scheduler"`` and each worker's address."""


class Cluster:
    """The interface every kind of cluster shares: scale, adapt, close, logs, views.

    A new kind implements exactly two coroutines, and nothing else is required:

    ``async def _start_worker(self, name: str) -> Any``
        Start one job running one worker that registers with ``self.scheduler_address``
        under the name ``name``, with ``self.threads_per_worker`` threads (and
        ``self.memory_limit`` bytes when nonzero), authenticated with ``self.security``
        (helpers: :meth:`_secret_file`, :attr:`secret_hex`).  Return a handle for the job
        (anything: a process, a job id).  It may return once the system accepted the job
        (a batch queue) or once the worker registered (:meth:`_wait_registered` helps); if it
        raises, it must leave nothing running, and its message should name the host or job
        and the reason.

    ``async def _stop_worker(self, name: str, handle: Any) -> None``
        Stop that job, and return once it is gone.  The worker may have left already (it was
        retired: the scheduler moved its data and closed it first) or the job may have ended.

    A kind may also override :meth:`_job_ended` (why a job ended, so it stops counting as a
    worker), and :meth:`_start_scheduler` / :meth:`_stop_scheduler` (by default the scheduler
    runs in this process, on ``scheduler_options`` host/port/protocol/dashboard_address).  Its
    ``__init__`` sets its own attributes, then calls ``super().__init__(...)``, which starts
    the cluster (blocking, or as a task to await with ``asynchronous=True``).

    Args:
        n_workers: workers to start with.
        threads_per_worker: threads of each worker (for ``scale(cores=)``, ``adapt`` and views).
        memory_limit: bytes per worker (int, float or ``"4GB"``; 0/None: no limit).
        name: the cluster's name (default: random); worker names start with the kind's name.
        asynchronous: True when created from async code: ``await`` the cluster.
        loop: the event loop to run on (default: the caller's loop when asynchronous, else
            futurelab's background loop).
        timeout: seconds allowed to start the scheduler and each batch of workers (number or
            ``"30s"``).
        security: a :class:`~futurelab.security.Security`; None: a fresh secret when the
            scheduler listens on TCP.
        scheduler_options: where an in-process scheduler listens (``host``, ``port``,
            ``protocol``, ``dashboard_address``).
        scheduler_sync_interval: seconds between refreshes of :attr:`scheduler_info`.

    >>> # with LocalCluster(n_workers=2) as cluster, Client(cluster) as client: ...
    """

    #: True: workers run in other processes (a Client pickles what it sends)
    processes = True

    def __init__(self, *, n_workers: int = 0, threads_per_worker: int = 1,
                 memory_limit: int | float | str | None = None, name: str | None = None,
                 asynchronous: bool = False, loop: asyncio.AbstractEventLoop | None = None,
                 timeout: float | str = 30, security: Security | None = None,
                 scheduler_options: dict[str, Any] | None = None,
                 scheduler_sync_interval: float | str = 1.0) -> None:
        if not isinstance(n_workers, int) or isinstance(n_workers, bool) or n_workers < 0:
            raise ValueError(f"n_workers must be a non-negative integer, not {n_workers!r}")
        if (not isinstance(threads_per_worker, int) or isinstance(threads_per_worker, bool)
                or threads_per_worker < 1):
            raise ValueError(f"threads_per_worker must be a positive integer, "
                             f"not {threads_per_worker!r}")
        options = dict(scheduler_options or {})
        unknown = sorted(set(options) - set(SCHEDULER_OPTIONS))
        if unknown:
            raise TypeError(f"scheduler_options: unknown option(s) {', '.join(unknown)} "
                            f"(known: {', '.join(SCHEDULER_OPTIONS)})")
        self.name = str(name) if name is not None else uuid.uuid4().hex[:8]
        self.threads_per_worker = threads_per_worker
        self.memory_limit = parse_bytes(memory_limit) if memory_limit else 0
        self.timeout = _seconds(timeout, "timeout")
        self.scheduler_sync_interval = _seconds(scheduler_sync_interval,
                                                "scheduler_sync_interval")
        self.scheduler_options = options
        self.asynchronous = asynchronous
        self.security: Security | None = security
        #: worker name → the handle of its job (what the kind's ``_start_worker`` returned)
        self.workers: dict[str, Any] = {}
        #: the scheduler's identity and workers, refreshed every scheduler_sync_interval
        self.scheduler_info: dict[str, Any] = {"workers": {}}
        #: the scheduler object when it runs in this process, else None
        self.scheduler: Any = None
        self.scheduler_address = ""
        #: where a Client of this process connects (in-process when the scheduler is here)
        self.local_address: str | None = None
        self.status = "created"
        self._n_initial = n_workers
        self._counter = 0
        self._cluster_logs: list[tuple[float, str]] = []
        self._own_secret_file: str | None = None
        self._pool: Any = None
        self._watcher: asyncio.Task[None] | None = None
        self._adaptive: Adaptive | None = None
        self._scaling: asyncio.Lock | None = None
        #: called (on the loop) after each refresh of scheduler_info: the widget redraws
        self._listeners: list[Callable[[], Any]] = []
        self.loop = loop or (asyncio.get_running_loop() if asynchronous
                             else _sync.background_loop())
        self._started: asyncio.Future[Any] | None = None
        if asynchronous:
            self._started = asyncio.ensure_future(self._start())
        else:
            _sync.sync(self.loop, self._start)

    # ------------------------------------------------------------------ what a kind implements
    async def _start_worker(self, name: str) -> Any:
        """Start one worker job named ``name``; return its handle (see the class docstring)."""
        raise NotImplementedError(f"{type(self).__name__} does not start workers")

    async def _stop_worker(self, name: str, handle: Any) -> None:
        """Stop the job of worker ``name`` (see the class docstring)."""
        raise NotImplementedError(f"{type(self).__name__} does not stop workers")

    def _job_ended(self, name: str, handle: Any) -> str | None:
        """Why the job of ``name`` has ended (it no longer counts as a worker), or None."""
        return None

    # ------------------------------------------------------------------ the facade
    def _run(self, fn: Callable[..., Coroutine[Any, Any, Any]], *args: Any,
             **kwargs: Any) -> Any:
        """Run ``fn`` on the cluster's loop: a task to await in that loop, else block on it."""
        if _sync.in_loop_thread(self.loop):
            return asyncio.ensure_future(fn(*args, **kwargs))
        return _sync.sync(self.loop, fn, *args, **kwargs)

    def __await__(self) -> Any:
        async def started() -> Cluster:
            if self._started is not None:
                await self._started
            return self
        return started().__await__()

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Cluster:
        return await self

    async def __aexit__(self, *exc: object) -> None:
        await self._close()

    # ------------------------------------------------------------------ start / stop
    async def _start(self) -> Cluster:
        self._scaling = asyncio.Lock()
        try:
            await self._start_scheduler()
            from ..rpc import ConnectionPool
            self._pool = ConnectionPool(timeout=self.timeout, security=self.security)
            await self._refresh()
            if self._n_initial:
                await self._scale_up(self._n_initial)
                await self._wait_for_workers(self._n_initial, self.timeout)
        except BaseException:
            await self._close()
            raise
        self._watcher = asyncio.ensure_future(self._watch())
        self.status = "running"
        return self

    async def _start_scheduler(self) -> None:
        """Start the scheduler in this process (kinds with a remote scheduler override this)."""
        from ..scheduler.server import DEFAULT_DASHBOARD, Scheduler
        opts = self.scheduler_options
        protocol = opts.get("protocol", "tcp")
        if protocol == "inproc":
            address = "inproc://"
        else:
            address = f"{protocol}://{opts.get('host', '127.0.0.1')}:{opts.get('port', 0)}"
            if self.security is None:
                self.security = Security.generate()  # a fresh secret for this cluster
        self.scheduler = await Scheduler(
            address, security=self.security,
            dashboard_address=opts.get("dashboard_address", DEFAULT_DASHBOARD)).start()
        self.scheduler_address = self.scheduler.address
        self.local_address = (await self.scheduler.listen_also("inproc://")
                              if protocol != "inproc" else self.scheduler.address)
        remember(self.scheduler_address, self.security)

    async def _stop_scheduler(self) -> None:
        if self.scheduler is not None:
            forget(self.scheduler_address)
            await self.scheduler.close()

    def close(self, timeout: float | str | None = None) -> Any:
        """Stop every worker job and the scheduler; nothing is left running.

        Args:
            timeout: seconds allowed to stop the jobs (default: the cluster's timeout).
        """
        if self.status == "closed" and not _sync.in_loop_thread(self.loop):
            return None
        return self._run(self._close, timeout)

    async def _close(self, timeout: float | str | None = None) -> None:
        if self.status == "closed":
            return
        self.status = "closing"
        limit = self.timeout if timeout is None else _seconds(timeout, "timeout")
        if self._adaptive is not None:
            self._adaptive.stop()
        if self._watcher is not None:
            self._watcher.cancel()
        jobs = list(self.workers.items())
        self.workers.clear()
        from .scaling import stop_jobs
        await stop_jobs(self, jobs, limit)
        try:
            await asyncio.wait_for(self._stop_scheduler(), limit)
        finally:
            if self._pool is not None:
                self._pool.close()
            if self._own_secret_file:
                try:
                    os.unlink(self._own_secret_file)
                except OSError:
                    pass
            self.status = "closed"

    # ------------------------------------------------------------------ helpers for kinds
    @property
    def secret_hex(self) -> str | None:
        """The cluster secret as hex text (what ``--auth-file`` files hold), or None."""
        sec = self.security
        return sec.secret.hex() if sec is not None and sec.secret is not None else None

    def _secret_file(self) -> str:
        """A file holding the secret, readable by its owner only (removed at close)."""
        assert self.security is not None and self.security.secret is not None
        if self.security.path is None:
            self.security = self.security.to_temp_file()
            self._own_secret_file = self.security.path
        assert self.security.path is not None
        return self.security.path

    def _new_worker_name(self) -> str:
        name = f"{type(self).__name__}-{self._counter}"
        self._counter += 1
        return name

    def _log(self, line: str) -> None:
        """Record a line of the cluster manager's log (``get_logs()["Cluster"]``)."""
        self._cluster_logs.append((time.time(), line))
        del self._cluster_logs[:-1000]
        logger.info("%s: %s", self.name, line)

    async def _request(self, msg: dict[str, Any], timeout: float | None = None) -> Any:
        """Ask the scheduler; its errors and silence past ``timeout`` raise ClusterError."""
        from ..rpc import RemoteError
        address = self.local_address or self.scheduler_address
        try:
            return await asyncio.wait_for(self._pool.request(address, msg),
                                          timeout or self.timeout)
        except (OSError, RemoteError, asyncio.TimeoutError) as e:
            raise ClusterError(f"the scheduler at {self.scheduler_address} did not answer "
                               f"{msg['op']!r}: {type(e).__name__}: {e}") from e

    async def _refresh(self) -> dict[str, Any]:
        """Fetch the scheduler's identity into :attr:`scheduler_info` (dask's keys)."""
        info = (self.scheduler.identity() if self.scheduler is not None
                else await self._request({"op": "identity"}))
        workers = info.get("workers", {})
        info["n_workers"] = len(workers)
        info["total_threads"] = sum(w["nthreads"] for w in workers.values())
        info["total_memory"] = sum(w.get("memory_limit") or 0 for w in workers.values())
        self.scheduler_info = info
        return info

    def _registered(self) -> dict[str, str]:
        """Worker name → address, of the workers the scheduler knows (fresh when local)."""
        if self.scheduler is not None:
            return {str(ws.name or a): a for a, ws in self.scheduler.state.workers.items()}
        return {str(w.get("name")): a for a, w in self.scheduler_info["workers"].items()}

    async def _wait_registered(self, name: str, timeout: float | None = None,
                               ended: Callable[[], str | None] | None = None) -> str:
        """Wait until worker ``name`` registers; its address.

        Raises:
            ClusterError: ``ended()`` gave a reason the job is gone, or ``timeout`` passed.
        """
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            if self.scheduler is None:
                await self._refresh()
            address = self._registered().get(name)
            if address is not None:
                return address
            reason = ended() if ended is not None else None
            if reason:
                raise ClusterError(f"worker {name} ended before registering: {reason}")
            if time.monotonic() > deadline:
                raise ClusterError(f"worker {name} did not register with "
                                   f"{self.scheduler_address} within {timeout or self.timeout} s")
            await asyncio.sleep(POLL if self.scheduler is not None else 5 * POLL)

    async def _watch(self) -> None:
        """Keep :attr:`scheduler_info` fresh; forget jobs that ended by themselves."""
        while self.status == "running":
            try:
                await self._refresh()
            except ClusterError as e:
                logger.debug("%s: %s", self.name, e)
            for name, handle in list(self.workers.items()):
                reason = self._job_ended(name, handle)
                if reason:
                    self.workers.pop(name, None)
                    self._log(f"worker {name} ended: {reason}")
            for listener in list(self._listeners):
                try:
                    listener()
                except Exception:  # noqa: BLE001 - a view must not stop the cluster
                    logger.exception("a view of cluster %s failed to refresh", self.name)
            await asyncio.sleep(self.scheduler_sync_interval)

    # ------------------------------------------------------------------ scaling
    def scale(self, n: int = 0, memory: int | float | str | None = None,
              cores: int | None = None) -> Any:
        """Grow or shrink to ``n`` workers (or enough for ``memory`` bytes / ``cores``).

        Growing starts jobs; shrinking retires workers through the scheduler — data they
        alone hold is copied to the others first — then stops their jobs.  A manual scale
        turns adaptivity off.

        Raises:
            ValueError: ``n`` is not a non-negative integer, or ``memory``/``cores`` cannot be
                turned into workers for this cluster.
            ClusterError: a worker could not be started (naming it and why).

        >>> # cluster.scale(4); cluster.scale(cores=8); cluster.scale(memory="32GB")
        """
        target = self._workers_for(n, memory, cores)
        return self._run(self._scale, target)

    def _workers_for(self, n: int, memory: Any, cores: Any) -> int:
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"scale: n must be a non-negative integer, not {n!r}")
        if memory is not None:
            n = max(n, adaptive_bounds(self, minimum_memory=memory)[0])
        if cores is not None:
            n = max(n, adaptive_bounds(self, minimum_cores=cores)[0])
        return n

    async def _scale(self, n: int) -> None:
        if self._adaptive is not None:
            self._adaptive.stop()
            self._adaptive = None
            self._log("adaptive scaling turned off by a manual scale()")
        if n > len(self.workers):
            await self._scale_up(n)
        elif n < len(self.workers):
            await self._scale_down(n, force=True)

    async def _scale_up(self, n: int) -> None:
        """Start jobs until there are ``n`` (:func:`.scaling.scale_up`)."""
        from .scaling import scale_up
        await scale_up(self, n)

    async def _scale_down(self, n: int, close: list[str] | None = None,
                          force: bool = False) -> list[str]:
        """Shrink toward ``n``; the names stopped (:func:`.scaling.scale_down`)."""
        from .scaling import scale_down
        return await scale_down(self, n, close, force)

    def adapt(self, Adaptive: Any = None, minimum: int = 0, maximum: float = math.inf,
              minimum_cores: int | None = None, maximum_cores: int | None = None,
              minimum_memory: int | str | None = None, maximum_memory: int | str | None = None,
              interval: float | str = "1s", wait_count: int = 3,
              target_duration: float | str = "5s", **kwargs: Any) -> Adaptive:
        """Grow and shrink with the work: the scheduler's adaptive policy, every ``interval``.

        Args:
            minimum: fewest workers, also when idle.
            maximum: most workers.
            minimum_cores, maximum_cores: bounds in threads (turned into workers with
                ``threads_per_worker``); the larger of both minimums and the smaller of both
                maximums apply.
            minimum_memory, maximum_memory: bounds in bytes (needs a ``memory_limit``).
            interval: time between two decisions (``"500ms"``, 0.5).
            wait_count: consecutive decisions to shrink before shrinking (hysteresis).
            target_duration: the time in which the work at hand should be done: more work
                per worker than this asks for more workers.

        Returns:
            The running :class:`~futurelab.deploy.adaptive.Adaptive` (``.stop()`` ends it).

        Raises:
            TypeError: an argument is not a number, or is unknown.
            ValueError: a bound is negative, ``minimum > maximum``, ``wait_count < 1``, or a
                memory bound on a cluster without a memory limit.  Nothing is changed then.

        >>> # cluster.adapt(minimum=1, maximum=10, interval="500ms", wait_count=3)
        """
        if Adaptive is not None:
            raise TypeError("adapt: a custom Adaptive class is not supported; the policy is "
                            "the scheduler's (see futurelab.scheduler.adaptive)")
        if kwargs:
            raise TypeError(f"adapt() got unexpected keyword argument(s): {', '.join(kwargs)}")
        from .adaptive import Adaptive as _Adaptive
        lo, hi = adaptive_bounds(self, minimum, maximum, minimum_cores, maximum_cores,
                                 minimum_memory, maximum_memory)
        new = _Adaptive(self, minimum=lo, maximum=hi, interval=parse_timedelta(interval),
                        wait_count=wait_count,
                        target_duration=parse_timedelta(target_duration))
        if self.status in ("closing", "closed"):
            raise ClusterError(f"cluster {self.name} is {self.status}")
        old, self._adaptive = self._adaptive, new
        if old is not None:
            old.stop()
        self._run(new.start)
        return new

    # ------------------------------------------------------------------ information
    def wait_for_workers(self, n_workers: int, timeout: float | str | None = None) -> Any:
        """Block until ``n_workers`` workers are connected.

        Raises:
            ValueError: ``n_workers`` is not a non-negative integer.
            TimeoutError: ``timeout`` passed first.
        """
        if isinstance(n_workers, bool) or not isinstance(n_workers, int) or n_workers < 0:
            raise ValueError(f"n_workers must be a non-negative integer, not {n_workers!r}")
        limit = None if timeout is None else _seconds(timeout, "timeout")
        return self._run(self._wait_for_workers, n_workers, limit)

    async def _wait_for_workers(self, n: int, timeout: float | None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            info = await self._refresh()
            if len(info["workers"]) >= n:
                return
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"only {len(info['workers'])}/{n} workers registered with "
                                   f"{self.scheduler_address} within {timeout} s")
            await asyncio.sleep(POLL if self.scheduler is not None else 5 * POLL)

    def get_logs(self, cluster: bool = True, scheduler: bool = True,
                 workers: Any = True) -> Any:
        """Recent log lines: ``{"Cluster": ..., "Scheduler": ..., address: ...}``.

        Args:
            cluster: include this cluster manager's own lines.
            scheduler: include the scheduler's lines.
            workers: True for every worker, a list of addresses for some, False for none.

        Returns:
            A :class:`Logs` dict of :class:`Log` strings, newest line first (as dask).
        """
        return self._run(self._get_logs, cluster, scheduler, workers)

    async def _get_logs(self, cluster: bool, scheduler: bool, workers: Any) -> Logs:
        logs = Logs()
        if cluster:
            logs["Cluster"] = Log("\n".join(line for _, line in self._cluster_logs))
        if scheduler:
            reply = await self._request({"op": "get-logs"})
            logs["Scheduler"] = Log("\n".join(line for _, line in reply["logs"]))
        if workers:
            msg: dict[str, Any] = {"op": "get-worker-logs"}
            if workers is not True:
                msg["workers"] = list(workers)
            reply = await self._request(msg, timeout=self.timeout + 15)
            for address, lines in reply["logs"].items():
                logs[address] = Log("\n".join(line for _, line in lines))
        return logs

    @property
    def dashboard_link(self) -> str | None:
        """The URL of the scheduler's web dashboard, or None when it serves none."""
        if self.scheduler is not None:
            dashboard = self.scheduler.dashboard
            return dashboard.link if dashboard is not None else None
        port = self.scheduler_info.get("services", {}).get("dashboard")
        if not isinstance(port, int):
            return None
        from ..dashboard.link import dashboard_link, reachable_host
        return dashboard_link(reachable_host("", self.scheduler_address), port)

    def get_client(self) -> Any:
        """A Client connected to this cluster."""
        from ..client.client import Client
        return Client(self, asynchronous=self.asynchronous)

    def __repr__(self) -> str:
        workers = self.scheduler_info.get("workers", {})
        if self.scheduler is not None:
            try:
                workers = self.scheduler.identity()["workers"]
            except RuntimeError:  # the scheduler's loop changed the dict meanwhile
                pass
        text = (f"{type(self).__name__}({self.name}, {self.scheduler_address!r}, "
                f"workers={len(workers)}, "
                f"threads={sum(w['nthreads'] for w in workers.values())}")
        memory = [w.get("memory_limit") or 0 for w in workers.values()]
        if memory and all(memory):
            text += f", memory={format_bytes(sum(memory))}"
        return text + ")"

    def _repr_html_(self) -> str:
        from ..jupyter.cluster_widget import cluster_html
        return cluster_html(self)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> Any:
        from ..jupyter.cluster_widget import cluster_mimebundle
        return cluster_mimebundle(self, include, exclude)


def _seconds(value: Any, what: str) -> float:
    """A duration in seconds from a number or a string like ``"500ms"``, naming ``what``."""
    try:
        seconds = parse_timedelta(value)
    except (TypeError, ValueError) as e:
        raise type(e)(f"{what}: {e}") from None
    if seconds is None or seconds < 0:
        raise ValueError(f"{what} must be a non-negative duration, not {value!r}")
    return float(seconds)
