"""The nanny: keeps a worker process alive, and within its memory limit.

:class:`WorkerProcess` runs ``python -m futurelab worker ... --no-nanny`` as a child process and
starts it again when it dies (not when it exits cleanly).  With a memory limit it samples the
child's resident memory and kills it past :data:`TERMINATE_FRACTION` of the limit — the worker
itself pauses new work past :data:`~futurelab.worker.server.PAUSE_FRACTION` — and the scheduler
then reschedules what it was running.  LocalCluster supervises its worker processes with it; the
``futurelab worker`` command runs one in a process of its own.
"""
from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Sequence

logger = logging.getLogger("futurelab.nanny")

#: kill the worker when its memory passes this fraction of the limit
TERMINATE_FRACTION = 0.95
#: give up restarting after this many restarts within RESTART_WINDOW seconds
MAX_RESTARTS = 10
RESTART_WINDOW = 60.0
MEMORY_POLL = 0.1
#: a worker exits with this code to be started afresh (``Client.restart``), not as a death
RESTART_EXIT_CODE = 75
#: set in a supervised worker's environment to its nanny's pid: a restart request is honoured
NANNY_ENV = "FUTURELAB_NANNY_PID"


class WorkerProcess:
    """One supervised worker process.

    >>> # wp = WorkerProcess(["tcp://127.0.0.1:8786", "--nthreads", "2"])
    >>> # await wp.start(); ...; await wp.stop()
    """

    def __init__(self, worker_args: Sequence[str], *, memory_limit: int = 0,
                 restart: bool = True, name: str = "worker", secret: bytes | None = None) -> None:
        self.args = [sys.executable, "-m", "futurelab", "worker", *worker_args, "--no-nanny"]
        #: written to the child's stdin (it runs with ``--auth-file -``): never in a file
        self.secret = secret
        if secret is not None:
            self.args += ["--auth-file", "-"]
        if memory_limit:
            self.args += ["--memory-limit", str(memory_limit)]
        self.memory_limit = memory_limit
        self.restart = restart
        self.name = name
        self.proc: asyncio.subprocess.Process | None = None
        self.restarts: deque[float] = deque()
        self.stopping = False
        self.gave_up = False
        self._supervisor: asyncio.Task[None] | None = None
        self._started = asyncio.Event()
        #: times (monotonic) the child was seen dead and restarted — for diagnostics and tests
        self.deaths: list[float] = []

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode if self.proc is not None else None

    async def start(self) -> WorkerProcess:
        await self._spawn()
        self._supervisor = asyncio.ensure_future(self._supervise())
        return self

    async def _spawn(self) -> None:
        env = {**os.environ, NANNY_ENV: str(os.getpid())} if self.restart else None
        piped = self.secret is not None
        self.proc = await asyncio.create_subprocess_exec(
            *self.args, env=env, preexec_fn=_die_with_parent,
            stdin=asyncio.subprocess.PIPE if piped else asyncio.subprocess.DEVNULL)
        if piped:
            assert self.proc.stdin is not None and self.secret is not None
            self.proc.stdin.write(self.secret.hex().encode() + b"\n")
            self.proc.stdin.close()

    async def _supervise(self) -> None:
        while True:
            proc = self.proc
            assert proc is not None
            watcher = asyncio.ensure_future(self._watch_memory(proc))
            code = await proc.wait()
            watcher.cancel()
            if self.stopping or not self.restart or code == 0:
                return
            if code == RESTART_EXIT_CODE:  # asked for a fresh process: not a death
                await self._spawn()
                continue
            now = time.monotonic()
            self.deaths.append(now)
            while self.restarts and now - self.restarts[0] > RESTART_WINDOW:
                self.restarts.popleft()
            if len(self.restarts) >= MAX_RESTARTS:
                logger.error("worker %s died %d times within %.0f s; not restarting it",
                             self.name, len(self.restarts), RESTART_WINDOW)
                self.gave_up = True
                return
            self.restarts.append(now)
            logger.warning("worker %s (pid %s) died with code %s; restarting it", self.name,
                           proc.pid, code)
            await self._spawn()

    async def _watch_memory(self, proc: asyncio.subprocess.Process) -> None:
        if not self.memory_limit:
            return
        import psutil
        try:
            ps = psutil.Process(proc.pid)
            while proc.returncode is None:
                rss = ps.memory_info().rss
                if rss > TERMINATE_FRACTION * self.memory_limit:
                    logger.warning("worker %s uses %d bytes, over %.0f%% of its %d byte limit; "
                                   "restarting it", self.name, rss, TERMINATE_FRACTION * 100,
                                   self.memory_limit)
                    proc.kill()
                    return
                await asyncio.sleep(MEMORY_POLL)
        except psutil.NoSuchProcess:
            return

    async def stop(self, timeout: float = 5.0) -> None:
        """Ask the worker to close (SIGTERM), kill it if it does not within ``timeout``."""
        self.stopping = True
        proc = self.proc
        if proc is not None and proc.returncode is None:
            try:
                proc.send_signal(signal.SIGTERM)
                await asyncio.wait_for(proc.wait(), timeout)
            except (TimeoutError, asyncio.TimeoutError):
                proc.kill()
                await proc.wait()
            except ProcessLookupError:
                pass
        if self._supervisor is not None:
            self._supervisor.cancel()


async def run_nanny(worker_args: Sequence[str], memory_limit: int, name: str,
                    secret: bytes | None = None, stop: asyncio.Event | None = None) -> int:
    """The ``futurelab worker`` command with a nanny: supervise until SIGTERM/SIGINT (or
    ``stop`` is set).  ``secret`` reaches the worker on its stdin, not in a file."""
    loop = asyncio.get_running_loop()
    stop = stop or asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    wp = await WorkerProcess(worker_args, memory_limit=memory_limit, name=name,
                             secret=secret).start()
    assert wp._supervisor is not None
    stopper = asyncio.ensure_future(stop.wait())
    await asyncio.wait([stopper, wp._supervisor], return_when=asyncio.FIRST_COMPLETED)
    await wp.stop()
    code = wp.returncode or 0
    return 0 if stop.is_set() else (1 if wp.gave_up else code)


def _die_with_parent() -> None:
    """In the child, before exec: be sent SIGTERM when the nanny dies, even by SIGKILL (Linux)."""
    if sys.platform.startswith("linux"):
        import ctypes
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
