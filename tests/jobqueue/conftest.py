"""Fixtures for the batch-system tests: one real SLURM per test session (see ``_slurm.py``)."""
from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest
from _slurm import Slurm, missing_programs


@pytest.fixture(scope="session")
def slurm_daemons() -> Iterator[Slurm]:
    """munged + slurmctld + slurmd on loopback for the session; ``$SLURM_CONF`` points at it."""
    missing = missing_programs()
    if missing:
        pytest.skip(f"SLURM is not installed here (missing {', '.join(missing)}): "
                    f"`apt-get install slurm-wlm munge` (.ci/run does)")
    if os.geteuid() != 0:
        pytest.skip("slurmd must run as root to start jobs, and these tests do not run as root")
    slurm = Slurm().start()
    old = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(slurm.conf)
    try:
        yield slurm
    finally:
        if old is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = old
        slurm.stop()


@pytest.fixture
def slurm(slurm_daemons: Slurm) -> Iterator[Slurm]:
    """The session's SLURM, checked empty after the test: no job in squeue, no job step left
    running, no worker process of a job left behind."""
    slurm_daemons.cancel_all()
    yield slurm_daemons
    leftovers = slurm_daemons.jobs()
    steps = slurm_daemons.steps()
    workers = _job_workers()
    slurm_daemons.cancel_all()  # leave the next test a clean queue either way
    assert not leftovers, f"jobs left in squeue after the test: {leftovers}"
    assert not steps, f"job step daemons left running after the test: {steps}"
    assert not workers, f"worker processes left running after the test: {workers}"


def _job_workers() -> list[str]:
    """``ps`` lines of futurelab workers started by a batch job (their environment names it)."""
    out = subprocess.run(["ps", "-ww", "-eo", "pid,args"], capture_output=True, text=True,
                         timeout=10).stdout
    found = []
    for line in out.splitlines()[1:]:
        pid, _, args = line.strip().partition(" ")
        if "futurelab" not in args or " worker" not in args:
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if b"SLURM_JOB_ID=" in f.read():
                    found.append(line)
        except OSError:
            continue
    return found
