"""``futurelab slurm --jobs N``: a scheduler and N SLURM jobs from the command line."""
from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

from _slurm import Slurm, _poll

from futurelab import Client
from futurelab.security import Security


def start(*args: str) -> tuple[subprocess.Popen[str], queue.Queue[str]]:
    proc = subprocess.Popen([sys.executable, "-m", "futurelab", "slurm", *args],
                            env={**os.environ, "PYTHONUNBUFFERED": "1"}, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines: queue.Queue[str] = queue.Queue()

    def drain() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put("")

    threading.Thread(target=drain, daemon=True).start()
    return proc, lines


def line_with(lines: queue.Queue[str], text: str, timeout: float = 60) -> str:
    seen = []
    while True:
        line = lines.get(timeout=timeout)
        seen.append(line)
        if text in line:
            return line
        assert line, f"the command ended without printing {text!r}:\n{''.join(seen)}"


def inc(x: int) -> int:
    return x + 1


def test_slurm_command_runs_jobs_until_sigterm(slurm: Slurm, tmp_path: Path) -> None:
    secret = tmp_path / "shared" / "secret"
    proc, lines = start("--jobs", "2", "--cores", "1", "--memory", "400MB",
                        "--walltime", "00:10:00", "--host", "127.0.0.1", "--no-dashboard",
                        "--auth-file", str(secret), "--log-directory", str(tmp_path / "logs"),
                        "--poll-interval", "0.2")
    try:
        address = line_with(lines, "futurelab scheduler at").split()[-1]
        assert str(secret) in line_with(lines, "futurelab secret in")
        line_with(lines, "2 job(s) submitted")
        assert len(slurm.jobs()) == 2
        with Client(address, security=Security.from_file(secret), timeout=30) as client:
            client.wait_for_workers(2, timeout=60)
            assert client.gather(client.map(inc, range(10))) == list(range(1, 11))
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    _poll(lambda: not slurm.jobs(), 30, "every job cancelled")


def test_slurm_command_prints_the_job_script(tmp_path: Path) -> None:
    proc, lines = start("--cores", "2", "--memory", "1GB", "--walltime", "00:05:00",
                        "--queue", "debug", "--host", "127.0.0.1", "--no-dashboard",
                        "--shared-temp-directory", str(tmp_path), "--print-job-script")
    assert proc.wait(timeout=60) == 0
    out = []
    while (line := lines.get(timeout=10)) != "":
        out.append(line)
    script = "".join(out)
    assert script.startswith("#!/usr/bin/env bash\n#SBATCH -J ")
    assert "#SBATCH -p debug\n" in script and "#SBATCH -t 00:05:00\n" in script
    assert "-m futurelab worker tcp://127.0.0.1:" in script


def test_slurm_command_names_a_bad_partition(slurm: Slurm, tmp_path: Path) -> None:
    proc, lines = start("--cores", "1", "--memory", "400MB", "--queue", "nope",
                        "--host", "127.0.0.1", "--no-dashboard",
                        "--shared-temp-directory", str(tmp_path))
    assert proc.wait(timeout=60) == 1
    line = line_with(lines, "futurelab slurm:")
    assert "sbatch rejected job" in line and "Invalid partition name" in line, line
