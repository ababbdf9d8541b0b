"""Job scripts and batch-system output parsers (pure: no batch system needed)."""
from __future__ import annotations

import subprocess

import pytest

from futurelab.jobqueue.script import (
    DONE,
    GRID_ENGINE,
    PBS_PRO,
    PENDING,
    RUNNING,
    SLURM,
    JobSpec,
    walltime_seconds,
)

ADDR = "tcp://127.0.0.1:8786"


def spec(**kw: object) -> JobSpec:
    base: dict[str, object] = dict(name="fl-3", scheduler_address=ADDR, cores=4,
                                   memory=8 * 2**30, python="/opt/py/bin/python")
    base.update(kw)
    return JobSpec(**base)  # type: ignore[arg-type]


def test_slurm_script_has_every_request_and_one_exec() -> None:
    script = SLURM.render(spec(walltime="01:00:00", queue="gpu", account="physics",
                               log_directory="/home/u/logs", auth_file="/home/u/.fl/secret",
                               job_extra_directives=("--exclusive",),
                               job_script_prologue=("module load python",)))
    assert script.splitlines() == [
        "#!/usr/bin/env bash",
        "#SBATCH -J fl-3",
        "#SBATCH -o /home/u/logs/fl-3-%j.out",
        "#SBATCH -p gpu",
        "#SBATCH -A physics",
        "#SBATCH -n 1",
        "#SBATCH --cpus-per-task=4",
        "#SBATCH --mem=8192M",
        "#SBATCH -t 01:00:00",
        "#SBATCH --exclusive",
        "module load python",
        "exec /opt/py/bin/python -m futurelab worker tcp://127.0.0.1:8786 --nthreads 4 "
        "--name fl-3 --death-timeout 60 --memory-limit 8589934592 "
        "--auth-file /home/u/.fl/secret",
    ]


def test_directives_can_be_skipped_and_resources_overridden() -> None:
    script = SLURM.render(spec(job_directives_skip=("--mem", "-J"), job_cpu=8,
                               job_mem=2**30))
    directives = [line for line in script.splitlines() if line.startswith("#SBATCH")]
    assert not [d for d in directives if "--mem" in d or "-J" in d], directives
    assert "#SBATCH --cpus-per-task=8" in script


def test_several_processes_share_the_job_and_stop_together() -> None:
    s = spec(processes=2)
    assert s.worker_names == ["fl-3-0", "fl-3-1"]
    script = SLURM.render(s)
    lines = script.splitlines()
    assert lines[-1] == "wait"
    assert lines[-2].endswith("--name fl-3-1 --death-timeout 60 --memory-limit 4294967296 &")
    assert "--nthreads 2" in lines[-2]
    assert lines[-4].startswith("trap ")
    subprocess.run(["bash", "-n"], input=script, text=True, check=True)  # valid shell


def test_local_directory_becomes_the_workers_tmpdir_and_odd_paths_are_quoted() -> None:
    script = SLURM.render(spec(local_directory="/scratch/my dir", auth_file="/h/a b/secret"))
    assert 'mkdir -p "/scratch/my dir"\nexport TMPDIR="/scratch/my dir"\n' in script
    assert "--auth-file '/h/a b/secret'" in script
    subprocess.run(["bash", "-n"], input=script, text=True, check=True)


def test_local_directory_expands_variables_on_the_node(tmp_path: object) -> None:
    script = SLURM.render(spec(local_directory="$FL_BASE/x `y` \\ \"z\""))
    line = next(x for x in script.splitlines() if x.startswith("export TMPDIR="))
    out = subprocess.run(["bash", "-c", f"{line}; printf %s \"$TMPDIR\""], text=True,
                         capture_output=True, env={"FL_BASE": "/base"}, check=True, timeout=10)
    assert out.stdout == '/base/x `y` \\ "z"'


def test_workers_of_a_remote_scheduler_listen_on_a_reachable_address() -> None:
    assert "--host auto" in SLURM.render(spec(scheduler_address="tcp://10.1.2.3:8786"))
    assert "--host" not in SLURM.render(spec())
    assert "--interface ib0" in SLURM.render(spec(interface="ib0"))


@pytest.mark.parametrize("kw, message", [
    (dict(cores=0), "cores must be at least 1"),
    (dict(processes=5), "processes must be between 1 and cores"),
    (dict(memory=-1), "memory must not be negative"),
    (dict(walltime="soon"), "walltime 'soon'"),
    (dict(name="a b"), "job name 'a b'"),
])
def test_bad_requests_are_refused_by_name(kw: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        spec(**kw)


def test_walltime_formats() -> None:
    assert walltime_seconds("5") == 300
    assert walltime_seconds("5:30") == 330
    assert walltime_seconds("1:00:05") == 3605
    assert walltime_seconds("1-2") == 26 * 3600
    assert walltime_seconds("1-2:03") == 26 * 3600 + 180
    assert walltime_seconds("1-2:03:04") == 26 * 3600 + 184


def test_pbs_script() -> None:
    script = PBS_PRO.render(spec(walltime="90", queue="workq", account="proj",
                                 log_directory="/logs"))
    assert script.splitlines()[:8] == [
        "#!/usr/bin/env bash",
        "#PBS -N fl-3",
        "#PBS -q workq",
        "#PBS -A proj",
        "#PBS -l select=1:ncpus=4:mem=8192MB",
        "#PBS -l walltime=01:30:00",
        "#PBS -o /logs/",
        "#PBS -j oe",
    ]
    assert script.splitlines()[-1].startswith("exec /opt/py/bin/python -m futurelab worker")


def test_sge_script_asks_memory_per_slot() -> None:
    script = GRID_ENGINE.render(spec(walltime="00:10:00", queue="all.q"))
    assert "#$ -pe smp 4" in script and "#$ -l h_vmem=2048M" in script
    assert "#$ -l h_rt=00:10:00" in script and "#$ -q all.q" in script


def test_job_ids_from_submit_output() -> None:
    assert SLURM.parse_job_id("1234\n") == "1234"
    assert SLURM.parse_job_id("1234;cluster2\n") == "1234"
    assert PBS_PRO.parse_job_id("5678.pbs-server\n") == "5678.pbs-server"
    assert GRID_ENGINE.parse_job_id("91\n") == "91"
    with pytest.raises(ValueError, match="sbatch printed no job id: 'oops'"):
        SLURM.parse_job_id("oops")


def test_slurm_states() -> None:
    out = ("11|PENDING|Resources\n12|RUNNING|None\n13|TIMEOUT|TimeLimit\n"
           "14|CANCELLED|None\n15|COMPLETING|None\n")
    st = SLURM.parse_status(out)
    assert [st[j].state for j in "11 12 13 14 15".split()] == [
        PENDING, RUNNING, DONE, DONE, RUNNING]
    assert st["11"].reason == "Resources" and st["12"].reason == ""
    assert st["13"].raw_state == "TIMEOUT" and st["13"].reason == "TimeLimit"
    assert SLURM.status_command(["1", "2"])[-2:] == ["-j", "1,2"]


def test_pbs_states() -> None:
    out = ("Job Id: 7.srv\n    Job_Name = fl-0\n    job_state = R\n\n"
           "Job Id: 8.srv\n    job_state = F\n    Exit_status = 271\n"
           "    comment = Job run at Mon and terminated\n")
    st = PBS_PRO.parse_status(out)
    assert st["7.srv"].state == RUNNING
    assert st["8.srv"].state == DONE
    assert st["8.srv"].reason == "exit status 271; Job run at Mon and terminated"


def test_sge_states() -> None:
    out = ("job-ID  prior   name       user         state submit/start at     queue\n"
           "-----------------------------------------------------------------------\n"
           "     21 0.55500 fl-0       u            r     01/01/2026 10:00:00 all.q@n1\n"
           "     22 0.00000 fl-1       u            qw    01/01/2026 10:00:01\n"
           "     23 0.00000 fl-2       u            Eqw   01/01/2026 10:00:02\n")
    st = GRID_ENGINE.parse_status(out)
    assert (st["21"].state, st["22"].state, st["23"].state) == (RUNNING, PENDING, DONE)
