"""Batch-system clusters: each worker is one batch job (``SLURMCluster``, ``PBSCluster``, …).

Theory of operation: :class:`JobQueueCluster` is a kind of
:class:`~futurelab.deploy.cluster.Cluster`, which owns the scheduler (in this process), scaling,
``adapt``, retiring, logs and views.  This kind only knows how to start one worker (submit a job
script, :mod:`.script`, to the batch system) and stop one (cancel its job, then wait until the
system no longer runs it).  The batch system is a :class:`~.script.BatchSystem` class attribute:
SLURM, PBS and SGE are the same code with another dialect.

The batch system can end a job by itself — its walltime runs out, an administrator cancels it,
its node fails — so a watcher task asks the system every ``poll_interval`` for the state of
every job it has not seen end.  A job that ends without being asked to stops counting as a
worker at once (the scheduler, which saw the worker's connection close, has already handed its
tasks to other workers, or will to the next one).  If its worker had registered and no
``adapt`` is running, a replacement job is submitted so the cluster keeps the size it was
scaled to; a job that ends *before* its worker registered is not replaced (it would fail the
same way) and the cluster log says why, with the end of the job's output.

The cluster's secret reaches the jobs in a file readable by its owner only, in a private
directory under ``shared_temp_directory`` (``~/.futurelab/jobqueue`` by default: a home
directory is shared with the compute nodes on the clusters we know).  The job script names the
file (``--auth-file``); neither the script nor any command line holds the secret.
"""
from __future__ import annotations

import asyncio
import atexit
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from ..deploy.cluster import Cluster, ClusterError
from ..utils import parse_bytes, parse_timedelta
from .script import DONE, GRID_ENGINE, PBS_PRO, SLURM, BatchSystem, JobSpec, JobStatus

logger = logging.getLogger("futurelab.jobqueue")

#: seconds a submit, cancel or status command may take before it counts as failed
COMMAND_TIMEOUT = 60.0
#: lines of a job's output quoted when it ended before its worker registered
OUTPUT_TAIL = 20
#: the clusters of this process, for the last-resort cancel at exit
_live: weakref.WeakSet[JobQueueCluster] = weakref.WeakSet()


@dataclass
class Job:
    """One worker's batch job, as the cluster tracks it."""

    name: str
    job_id: str
    #: where the job writes its output
    output: str
    submitted: float
    #: the last state the batch system reported (None: not asked yet)
    status: JobStatus | None = None
    #: the worker registered with the scheduler at least once
    registered: bool = False
    #: we asked for it to end (scale down, close)
    cancelled: bool = False
    #: why it ended by itself (None while it runs or when we ended it)
    end_reason: str | None = None

    @property
    def done(self) -> bool:
        return self.status is not None and self.status.state == DONE


class JobQueueCluster(Cluster):
    """A scheduler in this process and one batch job per worker.

    Args:
        n_workers: jobs to submit at once.
        cores: threads of each worker, and the cores its job books.
        memory: memory of each worker's job (``"4GB"``); also the worker's memory limit.
        processes: worker processes per job; only 1 is supported (one worker per job; give it
            ``cores`` threads instead).
        walltime: each job's time limit, as the batch system writes it (``"01:00:00"``).
        queue: the queue (SLURM: partition).
        account: the account (project) jobs are charged to.
        job_cpu, job_mem: cores / memory to book when they differ from ``cores`` / ``memory``.
        job_extra_directives: more directives, without their prefix (``["--exclusive"]``).
        job_directives_skip: leave out every generated directive containing one of these.
        job_script_prologue: shell lines run before the worker starts (``module load …``).
        log_directory: where jobs write their output (created; default: the system's default,
            in the current directory).
        local_directory: the workers' scratch directory on the nodes (their ``$TMPDIR``).
        shared_temp_directory: a directory the nodes share with this machine, for the secret
            file (default ``~/.futurelab/jobqueue``).
        name: the cluster's name; jobs and workers are named ``{name}-{i}``.
        python: the Python that runs workers on the nodes (default: this one).
        interface: network interface of the scheduler here and the workers there (``ib0``).
        death_timeout: seconds a worker keeps trying to reach the scheduler.
        worker_extra_args: more ``futurelab worker`` arguments.
        shebang: the job script's first line.
        submit_command_extra, cancel_command_extra: more arguments for the submit / cancel
            commands.
        poll_interval: how often the batch system is asked about the jobs (``"5s"``).
        scheduler_options, dashboard_address, host, protocol: where the scheduler listens
            (default: this host's address, any free port).
        security, asynchronous, loop, timeout: as for every cluster.

    Raises:
        TypeError: an unknown keyword argument (named).
        ValueError: a missing or malformed request (``cores``, ``memory``, ``walltime`` …).
    """

    #: the batch system's dialect (subclasses set it)
    system: ClassVar[BatchSystem]

    def __init__(self, n_workers: int = 0, *, cores: int | None = None,
                 memory: int | float | str | None = None, processes: int | None = None,
                 walltime: str | None = None, queue: str | None = None,
                 account: str | None = None, job_cpu: int | None = None,
                 job_mem: int | float | str | None = None,
                 job_extra_directives: list[str] | None = None,
                 job_directives_skip: list[str] | None = None,
                 job_script_prologue: list[str] | None = None,
                 log_directory: str | None = None, local_directory: str | None = None,
                 shared_temp_directory: str | None = None, name: str | None = None,
                 python: str | None = None, interface: str | None = None,
                 death_timeout: float | str = 60, worker_extra_args: list[str] | None = None,
                 shebang: str = "#!/usr/bin/env bash",
                 submit_command_extra: list[str] | None = None,
                 cancel_command_extra: list[str] | None = None,
                 poll_interval: float | str = "5s",
                 scheduler_options: dict[str, Any] | None = None,
                 dashboard_address: str | None | object = ...,
                 host: str | None = None, protocol: str | None = None,
                 security: Any = None, asynchronous: bool = False,
                 loop: asyncio.AbstractEventLoop | None = None,
                 timeout: float | str = 60, **kwargs: Any) -> None:
        if kwargs:
            raise TypeError(f"{type(self).__name__}() got unexpected keyword argument(s): "
                            f"{', '.join(sorted(kwargs))}")
        if cores is None:
            raise ValueError(f"{type(self).__name__}: give cores= (threads of each worker job)")
        if memory is None:
            raise ValueError(f"{type(self).__name__}: give memory= (memory of each worker "
                             f"job, e.g. '4GB')")
        if processes not in (None, 1):
            raise ValueError(f"processes={processes!r}: futurelab runs one worker per job; "
                             f"give it cores={cores} threads instead")
        options = dict(scheduler_options or {})
        if host is not None:
            options["host"] = host
        if protocol is not None:
            options["protocol"] = protocol
        if dashboard_address is not ...:
            options["dashboard_address"] = dashboard_address
        if "host" not in options:
            from ..netaddr import interface_address, public_host
            options["host"] = interface_address(interface) if interface else public_host()
        self.interface = interface
        self.poll_interval = float(parse_timedelta(poll_interval) or 0)
        if self.poll_interval <= 0:
            raise ValueError(f"poll_interval must be a positive duration, not {poll_interval!r}")
        cluster_name = str(name) if name is not None else f"futurelab-{uuid.uuid4().hex[:6]}"
        self.log_directory = (os.path.abspath(os.path.expanduser(log_directory))
                              if log_directory else None)
        self.shared_temp_directory = os.path.abspath(os.path.expanduser(
            shared_temp_directory or "~/.futurelab/jobqueue"))
        self.submit_command_extra = list(submit_command_extra or [])
        self.cancel_command_extra = list(cancel_command_extra or [])
        memory_bytes = parse_bytes(memory)
        # a template of every job's spec (name and address are filled in per job); it
        # checks cores, walltime, the name and the rest now, before anything starts
        self._template = JobSpec(
            name=f"{cluster_name}-0", scheduler_address="tcp://127.0.0.1:0", cores=int(cores),
            memory=memory_bytes, walltime=walltime, queue=queue, account=account,
            job_cpu=job_cpu, job_mem=parse_bytes(job_mem) if job_mem else None,
            job_extra_directives=tuple(job_extra_directives or ()),
            job_directives_skip=tuple(job_directives_skip or ()),
            job_script_prologue=tuple(job_script_prologue or ()),
            log_directory=self.log_directory, local_directory=local_directory,
            python=python or sys.executable,
            death_timeout=float(parse_timedelta(death_timeout) or 0), interface=interface,
            worker_extra_args=tuple(worker_extra_args or ()), shebang=shebang)
        #: worker name → its job, including jobs that ended (until the name is forgotten)
        self.jobs: dict[str, Job] = {}
        self._secret_dir: str | None = None
        self._poller: asyncio.Task[None] | None = None
        self._listener: str | None = None
        _live.add(self)
        super().__init__(n_workers=n_workers, threads_per_worker=int(cores),
                         memory_limit=memory_bytes,
                         name=cluster_name,
                         asynchronous=asynchronous, loop=loop, timeout=timeout,
                         security=security, scheduler_options=options)

    def scale(self, n: int = 0, jobs: int = 0, memory: int | float | str | None = None,
              cores: int | None = None) -> Any:
        """Grow or shrink to ``n`` workers — or ``jobs`` jobs, the same here (one worker per
        job), as dask-jobqueue's ``scale(jobs=)`` — or enough for ``memory`` / ``cores``.

        Raises:
            ValueError: ``jobs`` (or ``n``) is not a non-negative integer.

        >>> # cluster.scale(jobs=10)
        """
        if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 0:
            raise ValueError(f"scale: jobs must be a non-negative integer, not {jobs!r}")
        if jobs and n:
            raise ValueError(f"scale: give n={n} or jobs={jobs}, not both")
        return super().scale(n or jobs, memory=memory, cores=cores)

    # ------------------------------------------------------------------ the job script
    def _spec(self, name: str) -> JobSpec:
        from dataclasses import replace
        return replace(self._template, name=name, scheduler_address=self.scheduler_address,
                       auth_file=self._auth_file())

    def job_script(self) -> str:
        """The exact script the next worker's job will be submitted with.

        >>> # print(SLURMCluster(cores=2, memory="4GB", walltime="01:00:00").job_script())
        """
        return self.system.render(self._spec(f"{self.name}-{self._counter}"))

    def _new_worker_name(self) -> str:
        name = f"{self.name}-{self._counter}"
        self._counter += 1
        return name

    def _auth_file(self) -> str | None:
        """The secret's file for the jobs: the user's own, or one we write (0600 in 0700)."""
        sec = self.security
        if sec is None or sec.secret is None:
            return None
        if sec.path is not None and self._secret_dir is None and not self._is_temp(sec.path):
            return sec.path
        if self._secret_dir is None:
            os.makedirs(self.shared_temp_directory, mode=0o700, exist_ok=True)
            self._secret_dir = tempfile.mkdtemp(prefix=f"{self.name}-",
                                                dir=self.shared_temp_directory)
            path = os.path.join(self._secret_dir, "secret")
            sec.write(path)
        return os.path.join(self._secret_dir, "secret")

    @staticmethod
    def _is_temp(path: str) -> bool:
        """A secret file another cluster helper put in this machine's temp directory (which
        compute nodes do not see)."""
        return os.path.dirname(os.path.abspath(path)) == tempfile.gettempdir()

    # ------------------------------------------------------------------ start / stop one job
    async def _start_worker(self, name: str) -> Job:
        spec = self._spec(name)
        script = self.system.render(spec)
        if self.log_directory:
            os.makedirs(self.log_directory, exist_ok=True)
        cmd = [*self.system.submit_command, *self.submit_command_extra]
        code, out, err = await _run(cmd, script)
        if code != 0:
            raise ClusterError(f"{cmd[0]} rejected job {name}: "
                               f"{_one_line(err or out) or f'exit code {code}'}")
        try:
            job_id = self.system.parse_job_id(out)
        except ValueError as e:
            raise ClusterError(f"job {name}: {e}") from None
        job = Job(name, job_id, self.system.output_path(spec, job_id, os.getcwd()),
                  time.monotonic())
        self.jobs[name] = job
        self._log(f"submitted job {job_id} for worker {name}")
        if self._listener is None and self.scheduler is not None:
            # registrations as they happen: a job may end a moment after its worker joined
            self._listener = self.scheduler.add_local_listener(["workers"], self._on_workers)
        if self._poller is None or self._poller.done():
            self._poller = asyncio.ensure_future(self._poll())
        return job

    def _on_workers(self, topic: str, payload: dict[str, Any]) -> None:
        for info in payload.get("added", {}).values():
            job = self.jobs.get(str(info.get("name")))
            if job is not None:
                job.registered = True

    async def _stop_worker(self, name: str, handle: Any) -> None:
        job: Job = handle
        job.cancelled = True
        if not job.done:
            cmd = [*self.system.cancel_command, *self.cancel_command_extra, job.job_id]
            code, out, err = await _run(cmd)
            if code != 0:  # e.g. it ended meanwhile; the status below tells
                logger.debug("%s %s: %s", cmd[0], job.job_id, err or out)
        while True:  # return once the system no longer runs it (our caller sets a deadline)
            status = (await self._statuses([job.job_id])).get(job.job_id)
            if status is None or status.state == DONE:
                job.status = status or job.status
                return
            await asyncio.sleep(0.2)

    def _job_ended(self, name: str, handle: Any) -> str | None:
        job: Job = handle
        return job.end_reason

    # ------------------------------------------------------------------ watching the jobs
    async def _statuses(self, job_ids: list[str]) -> dict[str, JobStatus]:
        """The system's view of these jobs (a job it no longer lists is absent)."""
        cmd = self.system.status_command(job_ids)
        code, out, err = await _run(cmd)
        if code != 0 and not out.strip():
            if "invalid job id" in err.lower():  # SLURM: every one of them is long gone
                return {}
            raise ClusterError(f"{cmd[0]} failed: {_one_line(err) or f'exit code {code}'}")
        return {k: v for k, v in self.system.parse_status(out).items() if k in job_ids}

    async def _poll(self) -> None:
        """Every poll_interval: note registrations, and jobs that ended by themselves."""
        while self.status not in ("closing", "closed"):
            watched = [j for j in self.jobs.values() if not j.done]
            if not watched:
                self._poller = None
                return
            registered = self._registered()
            for job in watched:
                job.registered = job.registered or job.name in registered
            try:
                statuses = await self._statuses([j.job_id for j in watched])
            except ClusterError as e:
                self._log(f"could not read the jobs' states: {e}")
                statuses = None
            if statuses is not None:
                for job in watched:
                    status = statuses.get(job.job_id)
                    if status is None:  # gone from the system's list: it ended
                        status = JobStatus(job.job_id, DONE, "GONE", "no longer listed")
                    job.status = status
                    if status.state == DONE and not job.cancelled:
                        self._ended_by_itself(job)
            await asyncio.sleep(self.poll_interval)

    def _ended_by_itself(self, job: Job) -> None:
        assert job.status is not None
        why = f"job {job.job_id} {job.status.raw_state}"
        if job.status.reason:
            why += f" ({job.status.reason})"
        if not job.registered and job.name not in self._registered():
            why += " before its worker registered" + _tail(job.output)
        job.end_reason = why
        if self.workers.pop(job.name, None) is None:
            return  # the base class's watcher saw it first and logged it
        self._log(f"worker {job.name} ended: {why}")
        if (job.registered and job.status.raw_state != "COMPLETED"
                and self._adaptive is None and self.status == "running"):
            asyncio.ensure_future(self._replace(job))

    async def _replace(self, job: Job) -> None:
        """Submit a job in place of one the batch system ended, to keep the scaled size."""
        try:
            await self._scale_up(len(self.workers) + 1)
            self._log(f"replaced worker {job.name} (job {job.job_id})")
        except ClusterError as e:
            self._log(f"could not replace worker {job.name}: {e}")

    # ------------------------------------------------------------------ close
    async def _close(self, timeout: float | str | None = None) -> None:
        if self._listener is not None and self.scheduler is not None:
            self.scheduler.remove_local_listener(self._listener)
            self._listener = None
        try:
            await super()._close(timeout)
        finally:
            if self._poller is not None:
                self._poller.cancel()
                self._poller = None
            if self._secret_dir is not None:
                shutil.rmtree(self._secret_dir, ignore_errors=True)
                self._secret_dir = None


async def _run(cmd: list[str], stdin: str | None = None,
               timeout: float = COMMAND_TIMEOUT) -> tuple[int, str, str]:
    """Run a batch-system command; ``(exit code, stdout, stderr)``.

    Raises:
        ClusterError: the command is missing, or did not finish within ``timeout``.
    """
    try:
        proc = await asyncio.create_subprocess_exec(
            *cmd, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except FileNotFoundError:
        raise ClusterError(f"{cmd[0]} not found: is this a login node of the batch "
                           f"system? (PATH={os.environ.get('PATH', '')})") from None
    try:
        out, err = await asyncio.wait_for(
            proc.communicate(stdin.encode() if stdin is not None else None), timeout)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        raise ClusterError(f"{' '.join(cmd[:2])} did not answer within {timeout:.0f} s") \
            from None
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")


def _one_line(text: str) -> str:
    return " ".join(line.strip() for line in text.strip().splitlines() if line.strip())


def _tail(path: str) -> str:
    try:
        lines = Path(path).read_text(errors="replace").splitlines()[-OUTPUT_TAIL:]
    except OSError:
        return f"; no output at {path}"
    return f"; the end of its output ({path}):\n" + "\n".join(lines) if lines else \
        f"; its output ({path}) is empty"


@atexit.register
def _cancel_leftovers() -> None:
    """Last resort when a cluster was never closed: cancel its jobs (bounded in time)."""
    for cluster in list(_live):
        ids = [j.job_id for j in cluster.jobs.values() if not j.done and not j.cancelled]
        if ids:
            try:
                subprocess.run([*cluster.system.cancel_command, *ids], timeout=10,
                               capture_output=True)
            except (OSError, subprocess.SubprocessError):
                pass


class SLURMCluster(JobQueueCluster):
    """Workers as SLURM jobs (``sbatch``, ``scancel``, ``squeue``).

    >>> # cluster = SLURMCluster(cores=4, memory="8GB", walltime="01:00:00", queue="debug")
    >>> # print(cluster.job_script()); cluster.scale(10); client = Client(cluster)
    """

    system = SLURM


class PBSCluster(JobQueueCluster):
    """Workers as PBS Pro / OpenPBS jobs (``qsub``, ``qdel``, ``qstat -x -f``).

    The same code as :class:`SLURMCluster` with PBS's directives; futurelab's tests render
    its scripts but run no PBS server.

    >>> # cluster = PBSCluster(cores=4, memory="8GB", walltime="01:00:00", queue="workq")
    """

    system = PBS_PRO


class SGECluster(JobQueueCluster):
    """Workers as Grid Engine jobs (``qsub -terse``, ``qdel``, ``qstat``).

    The same code as :class:`SLURMCluster` with SGE's directives; futurelab's tests render its
    scripts but run no Grid Engine.

    >>> # cluster = SGECluster(cores=4, memory="8GB", walltime="01:00:00", queue="all.q")
    """

    system = GRID_ENGINE
