"""Job scripts for batch systems: what one worker job asks for, rendered per system (pure).

Theory of operation: a batch cluster runs each worker (or a few, ``processes``) as one batch
job.  :class:`JobSpec` says what that job needs — cores, memory, walltime, queue, account, the
worker command line — independent of the batch system.  A :class:`BatchSystem` knows one
system's dialect: how to spell those requests as directives (``#SBATCH``, ``#PBS``, ``#$``),
which commands submit, cancel and list jobs, and how to read their answers.  SLURM, PBS and SGE
are three small subclasses; everything else (submitting, watching, scaling) is shared code in
:mod:`futurelab.jobqueue.cluster` that only talks to a ``BatchSystem``.

Nothing here runs a process or reads the clock, so every rendering and every parser is tested
without a batch system (``tests/jobqueue/test_script.py``).

The script carries no secret: the worker reads the cluster's secret from ``--auth-file``, a
file only its owner can read, on a filesystem the nodes share.

>>> spec = JobSpec(name="fl-0", scheduler_address="tcp://10.0.0.1:8786", cores=2,
...                memory=4 * 2**30, walltime="00:30:00", queue="debug")
>>> print(SLURM.render(spec))  # doctest: +ELLIPSIS
#!/usr/bin/env bash
#SBATCH -J fl-0
#SBATCH -p debug
#SBATCH -n 1
#SBATCH --cpus-per-task=2
#SBATCH --mem=4096M
#SBATCH -t 00:30:00
exec ... -m futurelab worker tcp://10.0.0.1:8786 --nthreads 2 --name fl-0 ...
"""
from __future__ import annotations

import math
import re
import shlex
import sys
from dataclasses import dataclass, field

#: states of a job as the shared code sees them
PENDING, RUNNING, DONE = "pending", "running", "done"


@dataclass(frozen=True)
class JobSpec:
    """What one worker job runs and asks for, in no batch system's dialect.

    Args:
        name: the job's name; its workers are named ``name`` (one process) or ``name-i``.
        scheduler_address: where the workers connect.
        cores: threads in all the job's workers together (and the cores it books).
        memory: bytes for all the job's workers together (0: ask for nothing, no limit).
        processes: worker processes in the job; each gets ``cores // processes`` threads and
            ``memory // processes`` as its memory limit.
        walltime: the job's time limit in the system's own format (``"01:00:00"``).
        queue: the queue / partition.
        account: the account (project) the job is charged to.
        job_cpu: cores to book when it differs from ``cores``.
        job_mem: bytes to book when it differs from ``memory``.
        job_extra_directives: more directives, without the prefix (``"--exclusive"``).
        job_directives_skip: drop every generated directive containing one of these strings.
        job_script_prologue: shell lines run before the workers start (``module load …``).
        log_directory: where the job writes its output (None: the system's default).
        local_directory: the workers' scratch directory on the node (``$TMPDIR`` there).
        auth_file: the file holding the cluster's secret (a path; never the secret itself).
        python: the Python that runs the worker on the node.
        death_timeout: seconds a worker keeps trying to reach the scheduler.
        worker_extra_args: more ``futurelab worker`` arguments.
        interface: the network interface the workers listen on (``ib0``); None: loopback when
            the scheduler is on loopback, else the node's address towards the scheduler.
        shebang: the script's first line.
    """

    name: str
    scheduler_address: str
    cores: int = 1
    memory: int = 0
    processes: int = 1
    walltime: str | None = None
    queue: str | None = None
    account: str | None = None
    job_cpu: int | None = None
    job_mem: int | None = None
    job_extra_directives: tuple[str, ...] = ()
    job_directives_skip: tuple[str, ...] = ()
    job_script_prologue: tuple[str, ...] = ()
    log_directory: str | None = None
    local_directory: str | None = None
    auth_file: str | None = None
    python: str = field(default=sys.executable)
    death_timeout: float = 60.0
    worker_extra_args: tuple[str, ...] = ()
    interface: str | None = None
    shebang: str = "#!/usr/bin/env bash"

    def __post_init__(self) -> None:
        if self.cores < 1:
            raise ValueError(f"cores must be at least 1, not {self.cores!r}")
        if self.processes < 1 or self.processes > self.cores:
            raise ValueError(f"processes must be between 1 and cores ({self.cores}), "
                             f"not {self.processes!r}")
        if self.memory < 0:
            raise ValueError(f"memory must not be negative, not {self.memory!r}")
        if not re.fullmatch(r"[A-Za-z0-9_.\-]+", self.name):
            raise ValueError(f"job name {self.name!r}: use letters, digits, '.', '_', '-'")
        if self.walltime is not None:
            walltime_seconds(self.walltime)  # raises on a malformed walltime

    @property
    def worker_names(self) -> list[str]:
        """The names of this job's workers."""
        if self.processes == 1:
            return [self.name]
        return [f"{self.name}-{i}" for i in range(self.processes)]

    @property
    def threads_per_worker(self) -> int:
        return max(1, self.cores // self.processes)

    def worker_command(self, name: str) -> list[str]:
        """The ``futurelab worker`` command line of one of the job's workers."""
        cmd = [self.python, "-m", "futurelab", "worker", self.scheduler_address,
               "--nthreads", str(self.threads_per_worker), "--name", name,
               "--death-timeout", _number(self.death_timeout)]
        if self.memory:
            cmd += ["--memory-limit", str(self.memory // self.processes)]
        if self.interface:
            cmd += ["--interface", self.interface]
        elif not _is_loopback_address(self.scheduler_address):
            cmd += ["--host", "auto"]
        if self.auth_file:
            cmd += ["--auth-file", self.auth_file]
        return cmd + list(self.worker_extra_args)


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _is_loopback_address(address: str) -> bool:
    host = address.split("://", 1)[-1].rsplit(":", 1)[0].strip("[]")
    return host in ("localhost", "::1") or host.startswith("127.")


def walltime_seconds(walltime: str) -> int:
    """Seconds in a walltime: ``"MM"``, ``"MM:SS"``, ``"HH:MM:SS"``, ``"D-HH[:MM[:SS]]"``.

    The formats SLURM's ``--time`` accepts (PBS and SGE take ``HH:MM:SS``).

    Raises:
        ValueError: naming the walltime when it is none of those.

    >>> walltime_seconds("01:30:00"), walltime_seconds("2-00"), walltime_seconds("90")
    (5400, 172800, 5400)
    """
    m = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", walltime.strip())
    if m is None:
        raise ValueError(f"walltime {walltime!r}: expected MM, MM:SS, HH:MM:SS or D-HH:MM:SS")
    days, a, b, c = m.groups()
    if days is not None:  # D-HH, D-HH:MM, D-HH:MM:SS
        hours, minutes, seconds = int(a), int(b or 0), int(c or 0)
        return ((int(days) * 24 + hours) * 60 + minutes) * 60 + seconds
    if c is not None:
        return (int(a) * 60 + int(b)) * 60 + int(c)
    if b is not None:
        return int(a) * 60 + int(b)
    return int(a) * 60


def hms(seconds: int) -> str:
    """``HH:MM:SS`` (hours may exceed 24), the walltime format every system reads."""
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


@dataclass(frozen=True)
class JobStatus:
    """One job as the batch system reports it."""

    job_id: str
    #: :data:`PENDING`, :data:`RUNNING` or :data:`DONE`
    state: str
    #: the system's own state word (``PENDING``, ``TIMEOUT``, ``R``, ``qw`` …)
    raw_state: str
    #: why it waits or why it ended, in the system's words ("" if none given)
    reason: str = ""


class BatchSystem:
    """One batch system's dialect: directives, commands, and reading their output.

    Subclasses set the class attributes and implement :meth:`directives` and the parsers.
    """

    #: the name in messages and the CLI
    name = ""
    #: how a directive line starts
    prefix = ""
    #: submit a script read from stdin; prints the job id (see :meth:`parse_job_id`)
    submit_command: tuple[str, ...] = ()
    cancel_command: tuple[str, ...] = ()
    #: the job's output file in log_directory, or else in the submit directory
    #: (``{id}``: the job id's number, ``{name}``: the job's name)
    output_in_log_directory = ""
    default_output = ""

    def directives(self, spec: JobSpec) -> list[str]:
        """The directive lines (with the prefix) asking for what ``spec`` needs."""
        raise NotImplementedError

    def status_command(self, job_ids: list[str]) -> list[str]:
        """A command listing the given jobs (read by :meth:`parse_status`)."""
        raise NotImplementedError

    def parse_status(self, output: str) -> dict[str, JobStatus]:
        """``{job id: JobStatus}`` from :meth:`status_command`'s output."""
        raise NotImplementedError

    def parse_job_id(self, output: str) -> str:
        """The job id in the submit command's output.

        Raises:
            ValueError: quoting the output when it holds no job id.
        """
        text = output.strip().splitlines()[-1].strip() if output.strip() else ""
        m = re.match(r"(\d+(?:\.[\w.\-]+)?)(?:;\S+)?$", text)
        if m is None:
            raise ValueError(f"{self.submit_command[0]} printed no job id: {output.strip()!r}")
        return m.group(1)

    def output_path(self, spec: JobSpec, job_id: str, submit_directory: str) -> str:
        """Where the job ``job_id`` writes its output."""
        number = job_id.split(".", 1)[0]
        if spec.log_directory:
            return f"{spec.log_directory}/" + self.output_in_log_directory.format(
                id=number, name=spec.name)
        return f"{submit_directory}/" + self.default_output.format(id=number, name=spec.name)

    def render(self, spec: JobSpec) -> str:
        """The whole job script for ``spec``."""
        lines = [spec.shebang]
        lines += [d for d in self.directives(spec)
                  if not any(skip in d for skip in spec.job_directives_skip)]
        lines += [f"{self.prefix} {extra}" for extra in spec.job_extra_directives]
        lines += list(spec.job_script_prologue)
        if spec.local_directory:
            d = shell_path(spec.local_directory)
            lines += [f"mkdir -p {d}", f"export TMPDIR={d}"]
        commands = [shlex.join(spec.worker_command(n)) for n in spec.worker_names]
        if len(commands) == 1:
            lines.append(f"exec {commands[0]}")
        else:  # several workers: stop them all when the job is told to stop
            lines.append("trap 'kill -TERM $(jobs -p) 2>/dev/null; wait' TERM INT")
            lines += [f"{c} &" for c in commands]
            lines.append("wait")
        return "\n".join(lines) + "\n"


def shell_path(path: str) -> str:
    """A path on the node, double-quoted for the job's shell: spaces are safe, and ``$VAR`` and
    a leading ``~/`` expand there (``"$TMPDIR/futurelab"``, ``"/scratch/$USER"``).

    >>> print(shell_path("~/scratch dir/$SLURM_JOB_ID"))
    "$HOME/scratch dir/$SLURM_JOB_ID"
    """
    if path == "~" or path.startswith("~/"):
        path = "$HOME" + path[1:]
    escaped = path.replace("\\", "\\\\").replace('"', '\\"').replace("`", "\\`")
    return f'"{escaped}"'


def _mebibytes(n: int) -> int:
    return max(1, math.ceil(n / 2**20))


class Slurm(BatchSystem):
    """SLURM: ``sbatch``, ``scancel``, ``squeue``."""

    name = "slurm"
    prefix = "#SBATCH"
    submit_command = ("sbatch", "--parsable")
    cancel_command = ("scancel",)
    output_in_log_directory = "{name}-{id}.out"
    default_output = "slurm-{id}.out"

    def directives(self, spec: JobSpec) -> list[str]:
        d = [f"-J {spec.name}"]
        if spec.log_directory:
            d += [f"-o {spec.log_directory}/{spec.name}-%j.out"]
        if spec.queue:
            d.append(f"-p {spec.queue}")
        if spec.account:
            d.append(f"-A {spec.account}")
        d += ["-n 1", f"--cpus-per-task={spec.job_cpu or spec.cores}"]
        mem = spec.job_mem or spec.memory
        if mem:
            d.append(f"--mem={_mebibytes(mem)}M")
        if spec.walltime:
            d.append(f"-t {spec.walltime}")
        return [f"{self.prefix} {x}" for x in d]

    def status_command(self, job_ids: list[str]) -> list[str]:
        # every state, so that jobs that just ended show with their end state too
        return ["squeue", "-h", "--states=all", "-o", "%i|%T|%r", "-j", ",".join(job_ids)]

    def parse_status(self, output: str) -> dict[str, JobStatus]:
        out = {}
        for line in output.splitlines():
            parts = line.strip().split("|", 2)
            if len(parts) < 2:
                continue
            job_id, raw = parts[0], parts[1].upper()
            reason = parts[2].strip() if len(parts) > 2 else ""
            if reason in ("None", "(null)"):
                reason = ""
            out[job_id] = JobStatus(job_id, _SLURM_STATES.get(raw, DONE), raw, reason)
        return out


_SLURM_STATES = {
    "PENDING": PENDING, "CONFIGURING": PENDING, "REQUEUED": PENDING, "REQUEUE_HOLD": PENDING,
    "REQUEUE_FED": PENDING, "RESV_DEL_HOLD": PENDING, "SUSPENDED": PENDING,
    "RUNNING": RUNNING, "COMPLETING": RUNNING, "STAGE_OUT": RUNNING, "SIGNALING": RUNNING,
    "RESIZING": RUNNING,
}


class PBS(BatchSystem):
    """PBS Pro / OpenPBS: ``qsub``, ``qdel``, ``qstat -x -f``."""

    name = "pbs"
    prefix = "#PBS"
    submit_command = ("qsub",)
    cancel_command = ("qdel",)
    output_in_log_directory = default_output = "{name}.o{id}"

    def directives(self, spec: JobSpec) -> list[str]:
        d = [f"-N {spec.name}"]
        if spec.queue:
            d.append(f"-q {spec.queue}")
        if spec.account:
            d.append(f"-A {spec.account}")
        select = f"select=1:ncpus={spec.job_cpu or spec.cores}"
        mem = spec.job_mem or spec.memory
        if mem:
            select += f":mem={_mebibytes(mem)}MB"
        d.append(f"-l {select}")
        if spec.walltime:
            d.append(f"-l walltime={hms(walltime_seconds(spec.walltime))}")
        if spec.log_directory:
            d += [f"-o {spec.log_directory}/", "-j oe"]
        return [f"{self.prefix} {x}" for x in d]

    def status_command(self, job_ids: list[str]) -> list[str]:
        return ["qstat", "-x", "-f", *job_ids]

    def parse_status(self, output: str) -> dict[str, JobStatus]:
        out: dict[str, JobStatus] = {}
        job_id, fields = "", dict[str, str]()
        for line in [*output.splitlines(), "Job Id: "]:
            if line.startswith("Job Id:"):
                if job_id:
                    raw = fields.get("job_state", "")
                    state = {"Q": PENDING, "H": PENDING, "W": PENDING, "T": PENDING,
                             "S": PENDING, "R": RUNNING, "E": RUNNING, "B": RUNNING}.get(raw, DONE)
                    reason = fields.get("comment", "")
                    if state == DONE and fields.get("Exit_status"):
                        reason = f"exit status {fields['Exit_status']}; {reason}".strip("; ")
                    out[job_id] = JobStatus(job_id, state, raw, reason)
                job_id, fields = line.split(":", 1)[1].strip(), {}
            elif " = " in line:
                key, _, value = line.strip().partition(" = ")
                fields[key] = value
        return out


class SGE(BatchSystem):
    """Grid Engine (SGE, Son of Grid Engine, UGE): ``qsub -terse``, ``qdel``, ``qstat``."""

    name = "sge"
    prefix = "#$"
    submit_command = ("qsub", "-terse")
    cancel_command = ("qdel",)
    output_in_log_directory = default_output = "{name}.o{id}"

    def directives(self, spec: JobSpec) -> list[str]:
        d = [f"-N {spec.name}", "-S /bin/bash", "-cwd"]
        if spec.queue:
            d.append(f"-q {spec.queue}")
        if spec.account:
            d.append(f"-P {spec.account}")
        cores = spec.job_cpu or spec.cores
        if cores > 1:
            d.append(f"-pe smp {cores}")
        mem = spec.job_mem or spec.memory
        if mem:  # SGE's memory requests are per slot
            d.append(f"-l h_vmem={_mebibytes(mem // cores)}M")
        if spec.walltime:
            d.append(f"-l h_rt={hms(walltime_seconds(spec.walltime))}")
        if spec.log_directory:
            d += [f"-o {spec.log_directory}/", "-j y"]
        return [f"{self.prefix} {x}" for x in d]

    def status_command(self, job_ids: list[str]) -> list[str]:
        return ["qstat"]  # lists the user's pending and running jobs; absent ones have ended

    def parse_status(self, output: str) -> dict[str, JobStatus]:
        out = {}
        for line in output.splitlines():
            parts = line.split()
            if len(parts) < 5 or not parts[0].isdigit():
                continue
            raw = parts[4]
            state = RUNNING if "r" in raw or "t" in raw else PENDING
            if "E" in raw:  # an error state: the job will not run as it is
                state = DONE
            out[parts[0]] = JobStatus(parts[0], state, raw,
                                      "error state (qstat -j shows why)" if "E" in raw else "")
        return out


SLURM = Slurm()
PBS_PRO = PBS()
GRID_ENGINE = SGE()
