"""SSHCluster: a scheduler on the first host, nanny-supervised workers on the others, over SSH.

Theory of operation
-------------------
Each host gets one SSH connection (asyncssh, the ``futurelab[ssh]`` extra), and each process
one channel on it: ``futurelab scheduler`` on the first host, ``futurelab worker`` (a nanny
and its worker) per worker job on the others.  Both run with ``--auth-file -``: the cluster
secret is the first line written to the channel's stdin, so it never appears on a command
line (``ps``) nor in a file, and ``--exit-on-stdin-close``: the channel's stdin stays open
while the cluster wants the process, and its end — the cluster closing it, this process dying,
the SSH session dropping — shuts the remote process down cleanly, so nothing is orphaned.

asyncssh rather than the ``ssh`` command: ``connect_options`` are asyncssh's keyword
arguments, which is what code written for dask's SSHCluster passes (``known_hosts``,
``username``, ``client_keys``, ``port`` …); its errors say *why* a connection failed
(refused, unreachable, permission denied, host key), and stdin/stdout of each remote process
are plain asyncio streams on this loop, with no extra process per channel.

>>> # with SSHCluster(["10.0.0.1", "10.0.0.2", "10.0.0.3"],
>>> #                 connect_options={"known_hosts": None}) as cluster, Client(cluster) as c: ...
"""
from __future__ import annotations

import asyncio
import shlex
import sys
from collections import deque
from typing import Any

from ..security import Security
from ..utils import parse_bytes
from .cluster import Cluster, ClusterError, _seconds

#: seconds a remote process has to exit after its stdin closed, before its channel is cut
STOP_GRACE = 5.0
#: worker_options and scheduler_options keys SSHCluster understands
WORKER_OPTIONS = ("nthreads", "n_workers", "memory_limit", "death_timeout", "host")
SCHEDULER_OPTIONS = ("port", "dashboard_address", "host")
SCHEDULER_LINE = "futurelab scheduler at "


def _asyncssh() -> Any:
    try:
        import asyncssh
    except ImportError:  # pragma: no cover - the extra is installed in the test environment
        raise ImportError("SSHCluster needs asyncssh: pip install 'futurelab[ssh]'") from None
    return asyncssh


class RemoteProcess:
    """One futurelab process on a host, on a channel of that host's SSH connection."""

    def __init__(self, host: str, what: str, process: Any) -> None:
        self.host = host
        self.what = what
        self.process = process
        #: the last lines it printed (stdout and stderr), for error messages
        self.output: deque[str] = deque(maxlen=20)
        self._readers = [asyncio.ensure_future(self._drain(process.stdout)),
                         asyncio.ensure_future(self._drain(process.stderr))]
        self._lines: asyncio.Queue[str] = asyncio.Queue()

    async def _drain(self, stream: Any) -> None:
        try:
            async for line in stream:
                self.output.append(line.rstrip())
                self._lines.put_nowait(line.rstrip())
        except Exception:  # noqa: BLE001 - the channel went away; exit_status tells the rest
            pass

    @property
    def exit_status(self) -> int | None:
        return self.process.exit_status  # type: ignore[no-any-return]

    def ended(self) -> str | None:
        """Why the remote process has ended, or None while it runs."""
        if self.process.exit_status is None and not self.process.channel.is_closing():
            return None
        code = self.process.exit_status
        tail = " | ".join(line for line in self.output if line)[-400:]
        return (f"the {self.what} on {self.host} exited with code {code}"
                + (f": {tail}" if tail else ""))

    async def wait_line(self, prefix: str, timeout: float) -> str:
        """The first line it prints that starts with ``prefix``.

        Raises:
            ClusterError: it ended first, or ``timeout`` passed (naming host and reason).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            reason = self.ended()
            if reason and self._lines.empty():
                raise ClusterError(reason)
            try:
                line = await asyncio.wait_for(self._lines.get(),
                                              min(0.5, max(0.0, deadline - loop.time())))
            except asyncio.TimeoutError:
                if loop.time() >= deadline:
                    raise ClusterError(f"the {self.what} on {self.host} did not start within "
                                       f"{timeout} s") from None
                continue
            if line.startswith(prefix):
                return line[len(prefix):].strip()

    async def stop(self, grace: float = STOP_GRACE) -> None:
        """Close its stdin (it shuts down), wait ``grace`` seconds, then cut the channel."""
        proc = self.process
        try:
            if not proc.channel.is_closing():
                proc.stdin.write_eof()
            await asyncio.wait_for(proc.wait_closed(), grace)
        except (asyncio.TimeoutError, OSError, Exception):  # noqa: BLE001 - cut it instead
            proc.channel.abort()
        for reader in self._readers:
            reader.cancel()


class SSHCluster(Cluster):
    """A cluster on hosts reached over SSH: the first runs the scheduler, the others workers.

    Args:
        hosts: host names or addresses; ``hosts[0]`` runs the scheduler, each of the others
            ``worker_options["n_workers"]`` workers (the scheduler host runs none unless it
            is listed again).
        connect_options: asyncssh ``connect`` keyword arguments, one dict for all hosts or a
            list with one per host (``known_hosts``, ``username``, ``client_keys``, ``port``…).
        worker_options: ``nthreads`` (default 1), ``n_workers`` per host (default 1),
            ``memory_limit``, ``death_timeout`` (seconds), ``host`` (bind address; default the
            SSH host name).
        scheduler_options: ``port`` (default 0: any free one), ``dashboard_address``
            (default ``"HOST:8787"``; None: none), ``host`` (bind address).
        remote_python: the Python with futurelab on the hosts (default: this interpreter's
            path), one for all or a list with one per host.
        Other arguments: see :class:`~futurelab.deploy.cluster.Cluster` (``timeout`` bounds
        each connection and each process start).

    Raises:
        ValueError, TypeError: bad hosts or options (named).
        ClusterError: a host could not be reached or a process not started — naming the
            host and the reason; whatever had started is stopped again.

    >>> # SSHCluster(["sched-host", "worker-1", "worker-2"],
    >>> #            connect_options={"known_hosts": None}, worker_options={"nthreads": 2})
    """

    def __init__(self, hosts: list[str] | None = None,
                 connect_options: dict[str, Any] | list[dict[str, Any]] | None = None,
                 worker_options: dict[str, Any] | None = None,
                 scheduler_options: dict[str, Any] | None = None,
                 worker_class: str | None = None,
                 remote_python: str | list[str] | None = None, **kwargs: Any) -> None:
        if not hosts or not isinstance(hosts, (list, tuple)) or \
                not all(isinstance(h, str) and h for h in hosts):
            raise ValueError(f"SSHCluster: hosts must be a non-empty list of host names, "
                             f"not {hosts!r}")
        if worker_class not in (None, "futurelab.Nanny", "distributed.Nanny"):
            raise TypeError(f"SSHCluster: worker_class={worker_class!r} is not supported; "
                            f"workers always run under futurelab's nanny")
        self.hosts = list(hosts)
        self.connect_options = _per_host(connect_options or {}, self.hosts, "connect_options")
        self.remote_python = _per_host(remote_python or sys.executable, self.hosts,
                                       "remote_python")
        wopts = _check_options(worker_options or {}, WORKER_OPTIONS, "worker_options")
        sopts = _check_options(scheduler_options or {}, SCHEDULER_OPTIONS, "scheduler_options")
        self.worker_options = wopts
        self.ssh_scheduler_options = sopts
        per_host = wopts.get("n_workers", 1)
        if isinstance(per_host, bool) or not isinstance(per_host, int) or per_host < 0:
            raise ValueError(f"SSHCluster: worker_options n_workers must be a non-negative "
                             f"integer, not {per_host!r}")
        self.death_timeout = _seconds(wopts.get("death_timeout", 60), "death_timeout")
        self._connections: dict[int, Any] = {}
        self._connecting: dict[int, asyncio.Lock] = {}
        self._scheduler_process: RemoteProcess | None = None
        #: worker name → index of its host in ``hosts`` (also while it starts)
        self._host_of: dict[str, int] = {}
        _asyncssh()
        super().__init__(n_workers=per_host * (len(self.hosts) - 1),
                         threads_per_worker=wopts.get("nthreads", 1),
                         memory_limit=wopts.get("memory_limit"), **kwargs)

    # ------------------------------------------------------------------ connections
    async def _connection(self, index: int) -> Any:
        """The SSH connection to ``hosts[index]`` (made once, shared by its processes)."""
        lock = self._connecting.setdefault(index, asyncio.Lock())
        async with lock:
            conn = self._connections.get(index)
            if conn is not None and not conn.is_closed():
                return conn
            asyncssh = _asyncssh()
            host = self.hosts[index]
            options = {"connect_timeout": self.timeout, **self.connect_options[index]}
            try:
                conn = await asyncio.wait_for(asyncssh.connect(host, **options),
                                              self.timeout + 1)
            except asyncssh.PermissionDenied as e:
                raise ClusterError(f"SSH to {host}: authentication failed (permission "
                                   f"denied): {e.reason}") from None
            except asyncssh.HostKeyNotVerifiable as e:
                raise ClusterError(f"SSH to {host}: its host key is not trusted: {e.reason} "
                                   f"(add it to known_hosts, or pass "
                                   f"connect_options={{'known_hosts': None}})") from None
            except asyncssh.Error as e:
                raise ClusterError(f"SSH to {host}: {e.reason}") from None
            except (asyncio.TimeoutError, TimeoutError):
                raise ClusterError(f"SSH to {host}: no answer within {self.timeout} s "
                                   f"(host unreachable?)") from None
            except OSError as e:
                raise ClusterError(f"SSH to {host}: cannot connect: "
                                   f"{e.strerror or e}") from None
            self._connections[index] = conn
            return conn

    async def _launch(self, index: int, args: list[str], what: str) -> RemoteProcess:
        """Start ``python -m futurelab ARGS`` on ``hosts[index]`` and hand it the secret."""
        conn = await self._connection(index)
        command = " ".join(shlex.quote(a) for a in
                           [self.remote_python[index], "-m", "futurelab", *args,
                            "--auth-file", "-", "--exit-on-stdin-close"])
        try:
            process = await conn.create_process(command, encoding="utf-8")
        except (_asyncssh().Error, OSError) as e:
            raise ClusterError(f"SSH to {self.hosts[index]}: could not start the {what}: "
                               f"{e}") from None
        secret = self.secret_hex
        assert secret is not None
        process.stdin.write(secret + "\n")
        return RemoteProcess(self.hosts[index], what, process)

    # ------------------------------------------------------------------ the scheduler
    async def _start_scheduler(self) -> None:
        if self.security is None:
            self.security = Security.generate()
        elif self.security.secret is None:
            raise ValueError("SSHCluster needs a security with a secret (or None for a new one)")
        opts = self.ssh_scheduler_options
        host = self.hosts[0]
        bind = opts.get("host", host)
        args = ["scheduler", "--host", bind, "--port", str(opts.get("port", 0))]
        dashboard = opts.get("dashboard_address", f"{bind}:8787")
        if dashboard is None:
            args.append("--no-dashboard")
        else:
            if isinstance(dashboard, str) and dashboard.startswith(":"):
                dashboard = f"{bind}{dashboard}"
            args += ["--dashboard-address", str(dashboard)]
        proc = await self._launch(0, args, "scheduler")
        self._scheduler_process = proc
        address = await proc.wait_line(SCHEDULER_LINE, self.timeout)
        self.scheduler_address = address
        self._log(f"scheduler on {host} at {address}")

    async def _stop_scheduler(self) -> None:
        proc, self._scheduler_process = self._scheduler_process, None
        if proc is not None:
            await proc.stop()
        for conn in self._connections.values():
            conn.close()
        self._connections.clear()

    # ------------------------------------------------------------------ workers
    def _worker_host(self) -> int:
        """The worker host with the fewest of this cluster's workers (the first on ties)."""
        counts = {i: 0 for i in range(1, len(self.hosts))} or {0: 0}
        for index in self._host_of.values():  # started and starting
            counts[index] += 1
        return min(counts, key=lambda i: (counts[i], i))

    async def _start_worker(self, name: str) -> Any:
        index = self._host_of[name] = self._worker_host()
        opts = self.worker_options
        host = self.hosts[index]
        args = ["worker", self.scheduler_address, "--name", name,
                "--host", opts.get("host", host), "--nthreads", str(self.threads_per_worker),
                "--death-timeout", str(self.death_timeout), "--log-level", "info"]
        if self.memory_limit:
            args += ["--memory-limit", str(parse_bytes(self.memory_limit))]
        try:
            proc = await self._launch(index, args, f"worker {name}")
        except BaseException:
            del self._host_of[name]
            raise
        try:
            await self._wait_registered(name, ended=proc.ended)
        except BaseException:
            del self._host_of[name]
            await proc.stop(grace=1.0)
            raise
        return proc

    async def _stop_worker(self, name: str, handle: Any) -> None:
        self._host_of.pop(name, None)
        await handle.stop()

    def _job_ended(self, name: str, handle: Any) -> str | None:
        return handle.ended()  # type: ignore[no-any-return]


def _per_host(value: Any, hosts: list[str], what: str) -> list[Any]:
    if isinstance(value, list):
        if len(value) != len(hosts):
            raise ValueError(f"SSHCluster: {what} has {len(value)} entries for {len(hosts)} "
                             f"hosts; give one for all, or one per host")
        return list(value)
    return [value] * len(hosts)


def _check_options(options: dict[str, Any], known: tuple[str, ...],
                   what: str) -> dict[str, Any]:
    if not isinstance(options, dict):
        raise TypeError(f"SSHCluster: {what} must be a dict, not {type(options).__name__}")
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise TypeError(f"SSHCluster: {what}: unsupported option(s) {', '.join(unknown)} "
                        f"(supported: {', '.join(known)})")
    return dict(options)
