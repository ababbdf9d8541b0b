"""SLURMCluster on a real SLURM (munged + slurmctld + slurmd started by the ``slurm`` fixture).

Every test ends with the fixture's check that no job is left in ``squeue``, no job step runs and
no worker started by a job is alive.  Tasks that must be running at a given moment wait on a
futurelab Event (with a deadline), so the tests synchronise on conditions, never on sleeps.
"""
from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from _slurm import Slurm, _poll

import futurelab
from futurelab import Client, as_completed
from futurelab.deploy import ClusterError
from futurelab.jobqueue.cluster import JobQueueCluster, PBSCluster, SGECluster, SLURMCluster


def make_cluster(tmp_path: Path, **kw: Any) -> SLURMCluster:
    options: dict[str, Any] = dict(
        cores=1, memory="400MB", walltime="00:10:00", host="127.0.0.1",
        dashboard_address=None, poll_interval="200ms", timeout=60,
        shared_temp_directory=str(tmp_path / "shared"), log_directory=str(tmp_path / "logs"))
    options.update(kw)
    return SLURMCluster(**options)


def job_names(slurm: Slurm) -> dict[str, str]:
    """``{job id: job name}`` of the jobs in squeue."""
    out = slurm.run("squeue", "-h", "-o", "%i %j")
    return dict(line.split() for line in out.splitlines() if line.strip())


def inc(x: int) -> int:
    return x + 1


def add(x: int, y: int) -> int:
    return x + y


def job_of_this_worker() -> str:
    return os.environ["SLURM_JOB_ID"]


def hold(tag: str) -> tuple[str, str]:
    """Say which job runs it, then wait for the test's go (bounded)."""
    job = os.environ["SLURM_JOB_ID"]
    futurelab.Variable(f"{tag}-started").set(job)
    if not futurelab.Event(f"{tag}-go").wait(timeout=150):
        raise TimeoutError(f"{tag}: no go within 150 s")
    return tag, job


def fail(x: int) -> int:
    raise ValueError(f"bad input {x}")


def test_scale_submits_jobs_that_become_workers(slurm: Slurm, tmp_path: Path) -> None:
    scratch = tmp_path / "scratch"
    with make_cluster(tmp_path, local_directory=str(scratch)) as cluster:
        cluster.scale(2)
        names = job_names(slurm)
        assert sorted(names.values()) == sorted(cluster.workers)  # two jobs, one per worker
        cluster.wait_for_workers(2, timeout=60)
        with Client(cluster) as client:
            # the spec's examples, across the two jobs
            a = client.submit(inc, 10)
            b = client.submit(inc, 20)
            assert client.submit(add, a, b).result(timeout=30) == 32
            assert client.gather(client.map(inc, range(100))) == list(range(1, 101))
            assert sorted(f.result() for f in as_completed(client.map(inc, range(5)))) == \
                [1, 2, 3, 4, 5]
            [data] = client.scatter([list(range(10))])
            assert client.submit(sum, data).result(timeout=30) == 45
            with pytest.raises(ValueError, match="bad input 3"):
                client.submit(fail, 3).result(timeout=30)
            # every worker is one of the jobs squeue showed; scratch is local_directory
            assert sorted(client.run(job_of_this_worker).values()) == sorted(names)
            dirs = client.run(lambda dask_worker: dask_worker.local_directory)
            assert all(d.startswith(str(scratch)) for d in dirs.values()), dirs
            cluster.scale(jobs=1)  # shrinking cancels a job: squeue shows one
            _poll(lambda: len(slurm.jobs()) == 1, 30, "one job left")
            assert len(client.scheduler_info()["workers"]) == 1
        assert len(cluster.workers) == 1
    assert slurm.jobs() == {}


def test_job_script_is_what_sbatch_gets_and_holds_no_secret(slurm: Slurm,
                                                             tmp_path: Path) -> None:
    with make_cluster(tmp_path, queue="debug", job_extra_directives=["--comment=fl-test"],
                      job_script_prologue=["export FL_PROLOGUE=yes"]) as cluster:
        script = cluster.job_script()
        secret = cluster.security.secret.hex()
        assert secret not in script
        assert "#SBATCH -p debug" in script and "#SBATCH --comment=fl-test" in script
        cluster.scale(1)
        [job] = cluster.jobs.values()
        stored = slurm.run("scontrol", "write", "batch_script", job.job_id, "-")
        # the same script, but for the worker name and the names depending on it
        assert stored.replace(job.name, "NAME") == script.replace(
            f"{cluster.name}-0", "NAME")
        # the secret travels in a file only its owner can read, in a private directory
        auth = Path(script.split("--auth-file ")[1].split()[0])
        assert auth.read_text().strip() == secret
        assert stat.S_IMODE(auth.stat().st_mode) == 0o600
        assert stat.S_IMODE(auth.parent.stat().st_mode) == 0o700
        cluster.wait_for_workers(1, timeout=60)
        with Client(cluster) as client:
            assert client.run(lambda: os.environ.get("FL_PROLOGUE")) != {}
            assert set(client.run(lambda: os.environ.get("FL_PROLOGUE")).values()) == {"yes"}
        ps = subprocess.run(["ps", "-ww", "-eo", "args"], capture_output=True, text=True,
                            timeout=10).stdout
        assert secret not in ps
        assert f"--auth-file {auth}" in ps  # the worker got the file, not the secret
    assert not auth.parent.exists()  # removed at close


def test_a_job_cancelled_mid_run_is_a_lost_worker_whose_work_is_recomputed(
        slurm: Slurm, tmp_path: Path) -> None:
    with make_cluster(tmp_path, n_workers=2) as cluster, Client(cluster) as client:
        future = client.submit(hold, "cancel", pure=False)
        first = futurelab.Variable("cancel-started").get(timeout=60)
        victim = next(j for j in cluster.jobs.values() if j.job_id == first)
        slurm.run("scancel", first)
        # the cluster notices: that worker no longer counts, and a job replaces it
        _poll(lambda: victim.end_reason is not None, 30, "the cluster noticing the job's end")
        assert victim.name not in cluster.workers
        assert f"job {first} CANCELLED" in victim.end_reason
        assert f"worker {victim.name} ended: job {first} CANCELLED" in \
            cluster.get_logs(scheduler=False, workers=False)["Cluster"]
        _poll(lambda: len(cluster.workers) == 2, 30, "a replacement job")
        futurelab.Event("cancel-go").set()
        tag, ran_on = future.result(timeout=60)
        assert (tag, ran_on != first) == ("cancel", True)
        assert client.submit(inc, 1).result(timeout=30) == 2


@pytest.mark.timeout(300)
def test_walltime_ends_the_job_and_the_work_moves_to_a_new_one(slurm: Slurm,
                                                              tmp_path: Path) -> None:
    # SLURM counts time limits in minutes and checks them about every 30 s: 1-2 minutes here
    with make_cluster(tmp_path, walltime="1", n_workers=1) as cluster, \
            Client(cluster) as client:
        future = client.submit(hold, "walltime", pure=False)
        first = futurelab.Variable("walltime-started").get(timeout=60)
        victim = cluster.jobs[next(iter(cluster.workers))]
        assert victim.job_id == first
        _poll(lambda: victim.end_reason is not None, 150, "the walltime to end the job")
        assert f"job {first} TIMEOUT (TimeLimit)" in victim.end_reason
        # the replacement picks the task up; let it finish there
        futurelab.Event("walltime-go").set()
        tag, ran_on = future.result(timeout=90)
        assert tag == "walltime" and ran_on != first


def test_adapt_grows_on_a_burst_and_shrinks_to_zero(slurm: Slurm, tmp_path: Path) -> None:
    with make_cluster(tmp_path) as cluster, Client(cluster) as client:
        cluster.adapt(minimum=0, maximum=2, interval="200ms", wait_count=3,
                      target_duration="1s")
        assert slurm.jobs() == {}
        futures = client.map(hold, [f"burst-{i}" for i in range(6)], pure=False)
        _poll(lambda: len(slurm.jobs()) == 2, 60, "adapt submitting 2 jobs")
        cluster.wait_for_workers(2, timeout=60)
        for i in range(6):
            futurelab.Event(f"burst-{i}-go").set()
        assert sorted(f.result(timeout=60)[0] for f in futures) == \
            sorted(f"burst-{i}" for i in range(6))
        del futures
        _poll(lambda: not slurm.jobs() and not cluster.workers, 60,
              "adapt cancelling every job once idle")
        assert client.scheduler_info()["workers"] == {}
        assert len(job_names(slurm)) == 0


def test_a_bad_partition_is_a_clear_error_naming_the_job(slurm: Slurm,
                                                         tmp_path: Path) -> None:
    with make_cluster(tmp_path, queue="no-such-partition") as cluster:
        t0 = time.monotonic()
        with pytest.raises(ClusterError,
                           match=rf"sbatch rejected job {cluster.name}-0: .*[Ii]nvalid "
                                 r"partition name"):
            cluster.scale(1)
        assert time.monotonic() - t0 < 60
        assert cluster.workers == {}


def test_a_bad_account_is_a_clear_error_naming_the_job(slurm: Slurm, tmp_path: Path) -> None:
    with make_cluster(tmp_path, queue="restricted", account="nobody") as cluster:
        with pytest.raises(ClusterError,
                           match=rf"sbatch rejected job {cluster.name}-0: .*Invalid account"):
            cluster.scale(1)
        assert cluster.workers == {}


def test_a_job_whose_worker_cannot_start_is_reported_with_its_output(
        slurm: Slurm, tmp_path: Path) -> None:
    with make_cluster(tmp_path, python="/nonexistent/python") as cluster:
        cluster.scale(1)
        [job] = cluster.jobs.values()
        _poll(lambda: job.end_reason is not None, 60, "the job's end")
        assert "before its worker registered" in job.end_reason
        assert "/nonexistent/python" in job.end_reason  # the shell's complaint, quoted
        assert cluster.workers == {}  # not replaced: it would fail the same way
        assert len(cluster.jobs) == 1


def test_bad_arguments_are_named(slurm: Slurm, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="give cores="):
        SLURMCluster(memory="1GB")
    with pytest.raises(ValueError, match="give memory="):
        SLURMCluster(cores=1)
    with pytest.raises(ValueError, match="walltime 'tomorrow'"):
        make_cluster(tmp_path, walltime="tomorrow")
    with pytest.raises(ValueError, match="job name 'my cluster-0'"):
        make_cluster(tmp_path, name="my cluster")
    with pytest.raises(ValueError, match="poll_interval must be a positive duration"):
        make_cluster(tmp_path, poll_interval=0)
    with pytest.raises(TypeError, match="unexpected keyword argument.*job_extra"):
        make_cluster(tmp_path, job_extra=["--x"])
    with pytest.raises(ValueError, match="processes=2: futurelab runs one worker per job"):
        make_cluster(tmp_path, processes=2, cores=2)
    with make_cluster(tmp_path) as cluster:
        with pytest.raises(ValueError, match="jobs must be a non-negative integer"):
            cluster.scale(jobs=-1)
        with pytest.raises(ValueError, match="give n=2 or jobs=3, not both"):
            cluster.scale(2, jobs=3)
        assert cluster.workers == {} and slurm.jobs() == {}


@pytest.mark.parametrize("kind, submit, lines", [
    (PBSCluster, "qsub", ["#PBS -l select=1:ncpus=2:mem=1908MB", "#PBS -l walltime=00:30:00",
                          "#PBS -q workq", "#PBS -A proj"]),
    (SGECluster, "qsub", ["#$ -pe smp 2", "#$ -l h_vmem=954M", "#$ -l h_rt=00:30:00",
                          "#$ -q workq", "#$ -P proj"]),
])
def test_pbs_and_sge_clusters_render_their_scripts_and_name_a_missing_qsub(
        kind: type[JobQueueCluster], submit: str, lines: list[str], tmp_path: Path) -> None:
    """No PBS or Grid Engine server can run here (Debian packages neither OpenPBS nor a
    Grid Engine that starts in a container): the scripts are checked, and submitting fails
    clearly."""
    with kind(cores=2, memory="2GB", walltime="00:30:00", queue="workq", account="proj",
              host="127.0.0.1", dashboard_address=None,
              shared_temp_directory=str(tmp_path)) as cluster:
        script = cluster.job_script()
        for line in lines:
            assert line in script.splitlines(), (line, script)
        assert f"--name {cluster.name}-0" in script and "--nthreads 2" in script
        subprocess.run(["bash", "-n"], input=script, text=True, check=True, timeout=10)
        env_path = os.environ.get("PATH", "")
        try:
            os.environ["PATH"] = str(tmp_path)  # no qsub here, whatever the machine has
            with pytest.raises(ClusterError, match=f"{submit} not found"):
                cluster.scale(1)
        finally:
            os.environ["PATH"] = env_path
        assert cluster.workers == {}


def test_a_process_that_forgets_to_close_its_cluster_cancels_its_jobs(
        slurm: Slurm, tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from futurelab import SLURMCluster\n"
        f"c = SLURMCluster(cores=1, memory='400MB', host='127.0.0.1', dashboard_address=None,"
        f" shared_temp_directory={str(tmp_path)!r}, log_directory={str(tmp_path)!r})\n"
        "c.scale(1)\n"
        "print('job', c.jobs[next(iter(c.jobs))].job_id, flush=True)\n"
        "sys.exit(0)  # no close()\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    job = out.stdout.split()[-1]
    _poll(lambda: job not in slurm.jobs() and not slurm.steps(), 30,
          f"job {job} cancelled at exit")
