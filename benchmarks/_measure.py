"""Measuring helpers for the child processes: results, timing, CPU, RSS, socket copy."""
from __future__ import annotations

import contextlib
import os
import socket
import statistics
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

try:
    import psutil
except ImportError:  # CPU and memory figures become n/a
    psutil = None


def reason(exc: BaseException) -> str:
    """A one-line description of why something could not be measured."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text if len(text) <= 90 else text[:87] + "..."


class Recorder:
    """Collects samples, notes and n/a reasons for one workload run.

    A metric's value in the child is the list of its samples; the parent takes
    the median over all samples from all rounds.
    """

    def __init__(self) -> None:
        self.metrics: dict[str, dict[str, Any]] = {}
        self.info: dict[str, Any] = {}

    def _slot(self, key: str) -> dict[str, Any]:
        return self.metrics.setdefault(key, {"samples": [], "na": None, "notes": []})

    def add(self, key: str, value: float) -> None:
        self._slot(key)["samples"].append(float(value))

    def na(self, key: str, why: str) -> None:
        slot = self._slot(key)
        if not slot["samples"] and slot["na"] is None:
            slot["na"] = why

    def note(self, key: str, text: str) -> None:
        notes = self._slot(key)["notes"]
        if text not in notes:
            notes.append(text)

    @contextlib.contextmanager
    def guard(self, *keys: str) -> Iterator[None]:
        """Run a measurement; an exception marks the given metrics n/a instead of failing."""
        try:
            yield
        except Exception as exc:  # noqa: BLE001 - any failure is a result here
            for key in keys:
                self.na(key, reason(exc))

    def as_json(self) -> dict[str, Any]:
        return {"metrics": self.metrics, "info": self.info}


def repeats(count: int, budget_s: float) -> Iterator[int]:
    """Yield 0..count-1, but start another repeat only if it should end within ``budget_s``
    of the first one's start (judged by the average so far); the first always runs."""
    start = time.perf_counter()
    for i in range(count):
        if i:
            spent = time.perf_counter() - start
            if spent + spent / i > budget_s:
                return
        yield i


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def timed_calls(n: int, call: Any) -> float:
    """Median seconds of ``n`` sequential ``call(i)``."""
    times = []
    clock = time.perf_counter
    for i in range(n):
        t0 = clock()
        call(i)
        times.append(clock() - t0)
    return median(times)


# -- processes ----------------------------------------------------------------------------


def have_psutil() -> bool:
    return psutil is not None


def tree_pids(root: int | None = None, extra: Iterable[int] = ()) -> set[int]:
    """The root process (default: this one), all its descendants, and ``extra``."""
    assert psutil is not None
    proc = psutil.Process(root if root is not None else os.getpid())
    pids = {proc.pid, *extra}
    with contextlib.suppress(psutil.Error):
        pids.update(child.pid for child in proc.children(recursive=True))
    return pids


def cpu_snapshot(pids: Iterable[int]) -> dict[int, float]:
    """user+system CPU seconds of each live process in ``pids``."""
    assert psutil is not None
    out = {}
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            times = psutil.Process(pid).cpu_times()
            out[pid] = times.user + times.system
    return out


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds spent between two snapshots; a process gone in ``after`` counts as idle."""
    return sum(after.get(pid, cpu) - cpu for pid, cpu in before.items()) + sum(
        cpu for pid, cpu in after.items() if pid not in before
    )


def rss(pid: int) -> int:
    assert psutil is not None
    return int(psutil.Process(pid).memory_info().rss)


def settle_rss(pid: int, collect: Any, rounds: int = 3) -> int:
    """RSS after garbage collection, the lowest of a few readings a short moment apart."""
    readings = []
    for _ in range(rounds):
        collect()
        readings.append(rss(pid))
        time.sleep(0.1)
    return min(readings)


def _is_helper(proc: Any) -> bool:
    """multiprocessing's own helpers, which live until the interpreter exits."""
    try:
        cmdline = " ".join(proc.cmdline())
    except Exception:  # noqa: BLE001
        return False
    return "multiprocessing.resource_tracker" in cmdline or "multiprocessing.forkserver" in cmdline


def wait_descendants_gone(timeout: float, ignore: Iterable[int] = ()) -> list[int]:
    """Wait for this process's descendants (but ``ignore`` and multiprocessing's helpers)
    to exit; return the pids still alive after ``timeout`` seconds."""
    if psutil is None:
        return []
    skip = set(ignore)
    deadline = time.monotonic() + timeout
    while True:
        alive = []
        for proc in psutil.Process().children(recursive=True):
            with contextlib.suppress(psutil.Error):
                if (proc.pid not in skip and proc.status() != psutil.STATUS_ZOMBIE
                        and not _is_helper(proc)):
                    alive.append(proc.pid)
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)


# -- raw loopback socket copy (the physical limit of a socket path) -----------------------


def handoff_round_trips_us(n: int = 500) -> tuple[float, float | None]:
    """Median µs of the two round trips every remote call is made of, measured here and now.

    A byte bounced between two threads (``threading.Event`` ping-pong) and between two
    processes (a socketpair, the child forked for it; None where there is no fork). A
    synchronous submit -> result crosses at least two thread and two process hand-offs, so
    these show what the machine itself charges for them at the time of the run.
    """
    ping, pong = threading.Event(), threading.Event()

    def echo() -> None:
        for _ in range(n):
            if not ping.wait(10):
                return
            ping.clear()
            pong.set()

    thread = threading.Thread(target=echo, daemon=True)
    thread.start()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        ping.set()
        pong.wait(10)
        pong.clear()
        times.append(time.perf_counter() - t0)
    thread.join(10)
    threads_us = 1e6 * median(times)
    if not hasattr(os, "fork"):
        return threads_us, None
    ours, theirs = socket.socketpair()
    pid = os.fork()
    if pid == 0:  # the child only echoes bytes, then leaves without any cleanup
        try:
            ours.close()
            for _ in range(n):
                if not theirs.recv(1):
                    break
                theirs.sendall(b"x")
        finally:
            os._exit(0)
    theirs.close()
    times = []
    try:
        for _ in range(n):
            t0 = time.perf_counter()
            ours.sendall(b"x")
            ours.recv(1)
            times.append(time.perf_counter() - t0)
    finally:
        ours.close()
        os.waitpid(pid, 0)
    return threads_us, 1e6 * median(times)


def record_handoffs(rec: Any, n: int) -> None:
    """Record the machine's thread and process round trips next to a latency workload."""
    threads_us, processes_us = handoff_round_trips_us(n)
    rec.add("thread_handoff_us", threads_us)
    if processes_us is None:
        rec.na("process_handoff_us", "no os.fork here")
    else:
        rec.add("process_handoff_us", processes_us)


def loopback_copy_s(data: memoryview) -> float:
    """Seconds to move ``data`` through one loopback TCP connection, sender to receiver.

    The receiver reads into a preallocated, pre-touched buffer in another thread,
    so this is the copy into the kernel, the copy out of it, and nothing else.
    """
    nbytes = data.nbytes
    sink = bytearray(nbytes)
    sink[::4096] = b"\1" * len(range(0, nbytes, 4096))  # touch every page before timing
    done = threading.Event()
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]

        def receive() -> None:
            conn, _ = server.accept()
            with conn:
                view = memoryview(sink)
                got = 0
                while got < nbytes:
                    n = conn.recv_into(view[got:])
                    if not n:
                        break
                    got += n
            done.set()

        thread = threading.Thread(target=receive, daemon=True)
        thread.start()
        with socket.create_connection(("127.0.0.1", port)) as conn:
            start = time.perf_counter()
            conn.sendall(data)
            done.wait(60)
            elapsed = time.perf_counter() - start
        thread.join(5)
    if sink[:16] != bytes(data[:16]) or sink[-16:] != bytes(data[-16:]):
        raise RuntimeError("loopback copy corrupted the data")
    return elapsed
