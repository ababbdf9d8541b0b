"""Helpers for tests that run futurelab's command line as real processes."""
from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time

ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


class Proc(subprocess.Popen[str]):
    """A process whose output is drained by a thread (a full pipe would block it)."""

    lines: queue.Queue[str]
    output: list[str]

    def next_line(self, timeout: float = 30.0) -> str:
        """The next line the process printed (empty string if it ended).

        Raises:
            TimeoutError: naming the process and what it printed so far.
        """
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"no output from {self.args} within {timeout} s; it printed: "
                               f"{''.join(self.output)!r}") from None

    def line_starting(self, prefix: str, timeout: float = 30.0) -> str:
        """The next line that starts with ``prefix`` (others, like log lines, are skipped).

        Raises:
            TimeoutError: naming the process and what it printed so far.
        """
        deadline = time.monotonic() + timeout
        while True:
            line = self.next_line(max(0.0, deadline - time.monotonic()))
            if line.startswith(prefix) or not line:
                return line

    def rest(self, timeout: float = 10.0) -> str:
        """Everything it printed so far and until it ends (bounded by ``timeout``)."""
        try:
            self.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
        return "".join(self.output)


def drain(proc: Proc) -> Proc:
    """Read ``proc``'s output in a thread into ``proc.lines`` / ``proc.output``."""
    proc.lines = queue.Queue()
    proc.output = []

    def run() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            proc.output.append(line)
            proc.lines.put(line)
        proc.lines.put("")

    threading.Thread(target=run, daemon=True).start()
    return proc


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(*args: str) -> Proc:
    return drain(Proc([sys.executable, "-m", "futurelab", *args], env=ENV, text=True,
                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT))


def stop(proc: subprocess.Popen[str]) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
        raise
