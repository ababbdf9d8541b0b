"""The SLURM harness itself: a job runs, squeue sees it, and the fixture leaves nothing behind."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from _slurm import Slurm, _poll


def test_a_job_runs_and_ends(slurm: Slurm, tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    job = slurm.run("sbatch", "--parsable", "-o", str(out), "--wrap",
                    "echo ran on $SLURM_JOB_NODELIST").strip()
    assert job.isdigit(), job
    _poll(lambda: out.exists() and "ran on" in out.read_text() and job not in slurm.jobs(),
          30, f"job {job} finished")
    assert out.read_text().strip() == "ran on fl-node1"


def test_a_bad_partition_is_rejected_by_sbatch(slurm: Slurm) -> None:
    with pytest.raises(subprocess.CalledProcessError) as info:
        slurm.run("sbatch", "-p", "nope", "--wrap", "true")
    assert "invalid partition" in info.value.stderr.lower()
