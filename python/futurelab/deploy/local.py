"""LocalCluster: a scheduler and workers on this machine, as threads or as processes.

With ``processes=False`` the scheduler and workers run on the cluster's event loop and talk
over the in-process transport (objects are passed, never serialized).  With ``processes=True``
(the default) the scheduler runs on that loop too, listening on TCP, and each worker is a
process (``python -m futurelab worker``) supervised from this process by a
:class:`~futurelab.nanny.WorkerProcess`, which restarts it if it dies and enforces the memory
limit.  Everything else — scale, adapt, logs, views — is :class:`~.cluster.Cluster`'s.
"""
from __future__ import annotations

import atexit
import math
import os
import weakref
from typing import Any

from ..nanny import WorkerProcess
from ..scheduler.server import DEFAULT_DASHBOARD
from .cluster import Cluster, ClusterError

_live_processes: weakref.WeakSet[WorkerProcess] = weakref.WeakSet()

#: dask's LocalCluster keywords that futurelab refuses, with the reason
UNSUPPORTED = {
    "worker_class": "futurelab has one worker class",
    "services": "the scheduler serves only its own dashboard",
    "worker_services": "workers serve no extra services",
    "service_kwargs": "there are no extra services",
    "worker_dashboard_address": "workers serve no dashboard of their own",
    "blocked_handlers": "handlers cannot be blocked",
    "interface": "bind by address with host= instead of a network interface name",
    "scheduler_kwargs": "use host=, scheduler_port=, dashboard_address=, security=",
}


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
    """``(n_workers, threads_per_worker)`` sized to this machine when not given.

    >>> default_shape(False, 2, 3)
    (2, 3)
    """
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


class LocalCluster(Cluster):
    """A scheduler plus ``n_workers`` workers on this machine.

    Args:
        n_workers: number of workers (default: sized to the machine).
        threads_per_worker: threads in each worker's pool.
        processes: True for worker processes, False for workers as threads in this process.
        host: the address the scheduler and workers bind to (loopback by default; ``ip`` is
            the same).
        scheduler_port: the scheduler's TCP port (0 picks a free one).
        dashboard_address: where the scheduler serves its web dashboard (the next free port
            when taken; None: no dashboard).
        memory_limit: per worker, as bytes or ``"4GB"``: a worker pauses new work at 80% of
            it and a worker process is restarted at 95% (workers as threads measure this
            whole process, which they share, and are never restarted).
        silence_logs: the level below which worker processes do not print log lines
            (``logging.WARNING`` by default; False prints everything).
        protocol: ``"tcp"`` (processes) or ``"inproc"`` (threads); default from ``processes``.
        Other arguments: see :class:`~futurelab.deploy.cluster.Cluster`.

    Raises:
        TypeError: an argument dask's LocalCluster has and futurelab does not support, or an
            unknown one (named).

    >>> # with LocalCluster(n_workers=2, processes=False) as cluster:
    >>> #     client = Client(cluster)
    """

    def __init__(self, n_workers: int | None = None, threads_per_worker: int | None = None,
                 processes: bool | None = None, host: str | None = None,
                 scheduler_port: int = 0, asynchronous: bool = False, loop: Any = None,
                 name: str | None = None, timeout: float | str = 30, security: Any = None,
                 memory_limit: int | float | str | None = None,
                 dashboard_address: str | int | None = DEFAULT_DASHBOARD,
                 ip: str | None = None, silence_logs: int | bool = 30,
                 protocol: str | None = None, scheduler_sync_interval: float | str = 1,
                 start: bool | None = None, **kwargs: Any) -> None:
        refused = [f"{k!r} ({UNSUPPORTED[k]})" for k in kwargs if k in UNSUPPORTED]
        unknown = [repr(k) for k in kwargs if k not in UNSUPPORTED]
        if refused or unknown:
            raise TypeError("LocalCluster: " + "; ".join(
                ([f"unsupported argument(s) {', '.join(refused)}"] if refused else [])
                + ([f"unexpected keyword argument(s) {', '.join(unknown)}"] if unknown else [])))
        if start is False:
            raise TypeError("LocalCluster: start=False is not supported; the cluster starts "
                            "when made (use asynchronous=True to start it by awaiting)")
        if protocol not in (None, "tcp", "inproc", "tcp://", "inproc://"):
            raise ValueError(f"LocalCluster: protocol must be 'tcp' or 'inproc', not "
                             f"{protocol!r}")
        if protocol is not None:
            protocol = protocol.rstrip(":/")
            if processes is None:
                processes = protocol == "tcp"
            elif processes and protocol == "inproc":
                raise ValueError("LocalCluster: worker processes cannot use protocol='inproc'")
        processes = True if processes is None else bool(processes)
        if host is not None and ip is not None and host != ip:
            raise ValueError(f"LocalCluster: host={host!r} and ip={ip!r} disagree")
        self.host = host or ip or "127.0.0.1"
        self.processes = processes
        self.silence_logs = silence_logs
        n, threads = default_shape(processes, n_workers, threads_per_worker)
        self.n_workers = n
        super().__init__(
            n_workers=n, threads_per_worker=threads, memory_limit=memory_limit, name=name,
            asynchronous=asynchronous, loop=loop, timeout=timeout, security=security,
            scheduler_options={"host": self.host, "port": scheduler_port,
                               "protocol": protocol or ("tcp" if processes else "inproc"),
                               "dashboard_address": dashboard_address},
            scheduler_sync_interval=scheduler_sync_interval)

    async def _start_worker(self, name: str) -> Any:
        if not self.processes:
            from ..worker.server import Worker
            # as dask's: a worker in this process pauses on this whole process's memory
            return await Worker(self.scheduler_address, nthreads=self.threads_per_worker,
                                name=name, security=self.security,
                                memory_limit=self.memory_limit).start()
        args = [self.scheduler_address, "--nthreads", str(self.threads_per_worker), "--name",
                name, "--host", self.host, "--log-level", _level_name(self.silence_logs)]
        if self.secret_hex is not None:
            args += ["--auth-file", self._secret_file()]
        wp = await WorkerProcess(args, memory_limit=self.memory_limit, name=name).start()
        _live_processes.add(wp)
        try:
            await self._wait_registered(name, ended=lambda: _ended(wp))
        except BaseException:
            await wp.stop()
            raise
        return wp

    async def _stop_worker(self, name: str, handle: Any) -> None:
        if isinstance(handle, WorkerProcess):
            await handle.stop(self.timeout)
        else:
            await handle.close()

    def _job_ended(self, name: str, handle: Any) -> str | None:
        if isinstance(handle, WorkerProcess):
            return _ended(handle)
        return "closed" if handle.closed.is_set() else None


def _ended(wp: WorkerProcess) -> str | None:
    if wp.gave_up:
        return f"it died {len(wp.deaths)} times; its nanny gave up restarting it"
    if wp.returncode == 0 or (wp.returncode is not None and not wp.restart):
        return f"its process exited with code {wp.returncode}"
    return None


def _level_name(silence_logs: int | bool) -> str:
    """``--log-level`` for worker processes from dask's ``silence_logs``."""
    import logging
    if silence_logs is False:
        return "debug"
    if silence_logs is True:
        return "warning"
    if isinstance(silence_logs, str):
        return silence_logs.lower()
    return logging.getLevelName(int(silence_logs)).lower()


__all__ = ["ClusterError", "LocalCluster", "default_shape"]
