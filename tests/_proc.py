"""Helpers for tests that run futurelab's command line as real processes."""
from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading

ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


class Proc(subprocess.Popen[str]):
    """A futurelab process whose output is drained by a thread (a full pipe would block it)."""

    lines: queue.Queue[str]
    output: list[str]

    def next_line(self, timeout: float = 30.0) -> str:
        """The next line the process printed (empty string if it ended)."""
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"no output from {self.args} within {timeout} s") from None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(*args: str) -> Proc:
    proc = Proc([sys.executable, "-m", "futurelab", *args], env=ENV, text=True,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    proc.lines = queue.Queue()
    proc.output = []

    def drain() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            proc.output.append(line)
            proc.lines.put(line)
        proc.lines.put("")

    threading.Thread(target=drain, daemon=True).start()
    return proc


def stop(proc: subprocess.Popen[str]) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
        raise
