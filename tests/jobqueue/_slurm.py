"""A real SLURM for the tests: munged, slurmctld and slurmd on loopback, in a temporary directory.

Debian's ``slurm-wlm`` and ``munge`` packages (``.ci/run`` installs them).  Nothing here touches
``/etc``: the munge key, the sockets, ``slurm.conf``, the spool and state directories, pid files
and logs all live in one directory made for the run, and the daemons run in the foreground as
children of the test process (no systemd), so stopping them is killing our own children.

The configuration fits a container: no cgroups (``proctrack/linuxproc``, ``task/none``), one node
named ``fl-node1`` with 4 CPUs declared (``SlurmdParameters=config_overrides``: more than this
2-core machine has, so a test can hold a few one-core jobs at once), and two partitions:

- ``debug`` (default);
- ``restricted``, open to the account ``physics`` only.  There is no ``slurmdbd`` here (it needs
  a MySQL server), so SLURM knows no account at all, and with ``EnforcePartLimits=ALL`` sbatch
  rejects *every* job on that partition with SLURM's own "Invalid account or account/partition
  combination specified" — the error a site with accounting gives for a bad account.

Every wait has a deadline.  Client commands find the configuration through ``$SLURM_CONF``.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

NODE = "fl-node1"
NODE_CPUS = 4
PARTITIONS = ("debug", "restricted")
DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "scancel", "scontrol", "sinfo")


def missing_programs() -> list[str]:
    """The SLURM/munge programs this machine lacks (empty: the harness can run)."""
    paths = os.environ.get("PATH", "") + os.pathsep + "/usr/sbin" + os.pathsep + "/sbin"
    return [p for p in DAEMONS + CLIENTS if shutil.which(p, path=paths) is None]


def _program(name: str) -> str:
    paths = os.environ.get("PATH", "") + os.pathsep + "/usr/sbin" + os.pathsep + "/sbin"
    found = shutil.which(name, path=paths)
    assert found is not None, name
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _poll(predicate: Callable[[], object], timeout: float, what: str,
          interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached within {timeout} s")
        time.sleep(interval)


class Slurm:
    """One private SLURM installation: :meth:`start`, use, :meth:`stop`.

    >>> # slurm = Slurm().start(); slurm.run("sinfo"); slurm.stop()
    """

    def __init__(self) -> None:
        # munged insists that every directory above its socket is searchable by all
        self.root = Path(tempfile.mkdtemp(prefix="futurelab-slurm-"))
        os.chmod(self.root, 0o755)
        self.conf = self.root / "slurm.conf"
        self.socket = self.root / "run" / "munge.socket"
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}

    # ------------------------------------------------------------------ set-up
    def _write_config(self) -> None:
        for d, mode in (("munge", 0o700), ("run", 0o755), ("state", 0o700), ("log", 0o755),
                        (f"spool/{NODE}", 0o755)):
            (self.root / d).mkdir(parents=True, exist_ok=True)
            os.chmod(self.root / d, mode)
        key = self.root / "munge" / "munge.key"
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
        with os.fdopen(fd, "wb") as f:
            f.write(os.urandom(1024))
        r = self.root
        self.conf.write_text(f"""\
# written by tests/jobqueue/_slurm.py for one test session
ClusterName=futurelab
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
SlurmUser={_user()}
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={self.socket}
StateSaveLocation={r}/state
SlurmdSpoolDir={r}/spool/%n
SlurmctldPidFile={r}/run/slurmctld.pid
SlurmdPidFile={r}/run/slurmd-%n.pid
SlurmctldLogFile={r}/log/slurmctld.log
SlurmdLogFile={r}/log/slurmd-%n.log
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SwitchType=switch/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
EnforcePartLimits=ALL
ReturnToService=2
SchedulerType=sched/backfill
KillWait=5
InactiveLimit=0
NodeName={NODE} NodeHostname={socket.gethostname()} NodeAddr=127.0.0.1 CPUs={NODE_CPUS} \
RealMemory=4000 State=UNKNOWN
PartitionName=debug Nodes={NODE} Default=YES MaxTime=INFINITE State=UP
PartitionName=restricted Nodes={NODE} AllowAccounts=physics MaxTime=INFINITE State=UP
""")

    def _spawn(self, name: str, args: list[str]) -> None:
        log = open(self.root / "log" / f"{name}.out", "wb")
        try:
            self.procs[name] = subprocess.Popen(args, env=self.env, stdin=subprocess.DEVNULL,
                                                stdout=log, stderr=subprocess.STDOUT,
                                                start_new_session=True)
        finally:
            log.close()

    def _check_alive(self) -> bool:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with code {proc.returncode}:\n"
                                   f"{self.log(name)[-3000:]}")
        return True

    def start(self, timeout: float = 60.0) -> Slurm:
        """Start munged, slurmctld and slurmd; return once the node takes jobs.

        Raises:
            RuntimeError: a daemon exited (its log is in the message).
            TimeoutError: the node was not idle within ``timeout``.
        """
        self._write_config()
        r = self.root
        try:
            self._spawn("munged", [_program("munged"), "--foreground",
                                   f"--key-file={r}/munge/munge.key", f"--socket={self.socket}",
                                   f"--pid-file={r}/run/munged.pid",
                                   f"--log-file={r}/log/munged.log",
                                   f"--seed-file={r}/munge/munged.seed"])
            _poll(lambda: self._check_alive() and self.socket.exists(), timeout,
                  "munged's socket")
            self._spawn("slurmctld", [_program("slurmctld"), "-D", "-f", str(self.conf)])
            self._spawn("slurmd", [_program("slurmd"), "-D", "-f", str(self.conf), "-N", NODE])
            _poll(lambda: self._check_alive() and self._node_state() in ("idle", "mixed"),
                  timeout, f"SLURM node {NODE} idle", interval=0.2)
        except BaseException:
            self.stop()
            raise
        return self

    def _node_state(self) -> str:
        out = subprocess.run([_program("sinfo"), "-h", "-n", NODE, "-o", "%T"], env=self.env,
                             capture_output=True, text=True, timeout=10)
        return out.stdout.strip().split("\n")[0].rstrip("*") if out.returncode == 0 else ""

    # ------------------------------------------------------------------ use
    def run(self, *args: str, timeout: float = 30.0) -> str:
        """Run a SLURM client command (``squeue``, ``scontrol`` …); its stdout.

        Raises:
            subprocess.CalledProcessError: the command failed.
        """
        out = subprocess.run([_program(args[0]), *args[1:]], env=self.env, capture_output=True,
                             text=True, timeout=timeout, check=True)
        return out.stdout

    def jobs(self) -> dict[str, str]:
        """``{job id: state}`` of every job squeue shows (pending, running, completing…)."""
        out = self.run("squeue", "-h", "-o", "%i %T")
        return dict(line.split() for line in out.splitlines() if line.strip())

    def steps(self) -> list[str]:
        """``ps`` lines of the job step daemons still running (one per live job; zombies, which
        this container's init reaps late, do not count)."""
        out = subprocess.run(["ps", "-ww", "-eo", "pid,stat,args"], capture_output=True, text=True,
                             timeout=10).stdout
        return [line for line in out.splitlines()
                if "slurmstepd" in line and line.split()[1][:1] != "Z"]

    def log(self, name: str) -> str:
        """A daemon's log: ``slurmctld``, ``slurmd``, ``munged``."""
        path = {"slurmctld": self.root / "log" / "slurmctld.log",
                "slurmd": self.root / "log" / f"slurmd-{NODE}.log",
                "munged": self.root / "log" / "munged.log"}[name]
        try:
            return path.read_text(errors="replace")
        except FileNotFoundError:
            return (self.root / "log" / f"{name}.out").read_text(errors="replace")

    def cancel_all(self, timeout: float = 30.0) -> None:
        """Cancel every job and wait until none is left and no step daemon runs."""
        if self.procs.get("slurmctld") is None or self.procs["slurmctld"].poll() is not None:
            return
        subprocess.run([_program("scancel"), "--user", _user()], env=self.env,
                       capture_output=True, timeout=30)
        _poll(lambda: not self.jobs() and not self.steps(), timeout, "every job ended")

    def stop(self, timeout: float = 20.0) -> None:
        """Cancel what still runs, stop the daemons (SIGTERM, then SIGKILL), remove the files."""
        try:
            if self.procs:
                self.cancel_all()
        except (TimeoutError, subprocess.SubprocessError, OSError):
            pass
        finally:
            for name in reversed(list(self.procs)):
                proc = self.procs[name]
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
                    try:
                        proc.wait(timeout)
                    except subprocess.TimeoutExpired:
                        os.killpg(proc.pid, signal.SIGKILL)
                        proc.wait(timeout)
            self.procs.clear()
            shutil.rmtree(self.root, ignore_errors=True)


def _user() -> str:
    import pwd
    return pwd.getpwuid(os.getuid()).pw_name
