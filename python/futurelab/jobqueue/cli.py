"""``futurelab slurm --jobs N ...``: a scheduler here and N workers as SLURM jobs, until Ctrl-C.

For people outside Python: the command prints the scheduler's address (and the file holding
the cluster's secret), keeps the jobs running, and cancels every one of them on Ctrl-C or
SIGTERM.  ``--print-job-script`` shows the script it would submit, and submits nothing.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from typing import Any


def add_slurm_parser(sub: Any) -> argparse.ArgumentParser:
    """Add the ``slurm`` subcommand to the ``futurelab`` parser's subparsers."""
    p: argparse.ArgumentParser = sub.add_parser(
        "slurm", help="run a scheduler here and workers as SLURM jobs",
        description="Run a scheduler here and --jobs workers as SLURM jobs until Ctrl-C or "
                    "SIGTERM, which cancel every job.")
    p.add_argument("--jobs", type=int, default=1, help="worker jobs to submit (default 1)")
    p.add_argument("--cores", type=int, required=True, help="threads of each worker job")
    p.add_argument("--memory", required=True, help="memory of each worker job (e.g. 4GB)")
    p.add_argument("--walltime", default=None, help="time limit of each job (e.g. 01:00:00)")
    p.add_argument("--queue", "--partition", dest="queue", default=None, help="partition")
    p.add_argument("--account", default=None, help="account the jobs are charged to")
    p.add_argument("--job-extra-directive", action="append", default=[], metavar="DIRECTIVE",
                   help="another #SBATCH directive, without the prefix (repeatable)")
    p.add_argument("--prologue", action="append", default=[], metavar="LINE",
                   help="a shell line run in the job before the worker (repeatable)")
    p.add_argument("--log-directory", default=None, help="where jobs write their output")
    p.add_argument("--local-directory", default=None, help="workers' scratch on the nodes")
    p.add_argument("--shared-temp-directory", default=None,
                   help="a directory the nodes share, for the secret's file "
                        "(default ~/.futurelab/jobqueue)")
    p.add_argument("--python", default=None, help="Python on the nodes (default: this one)")
    p.add_argument("--interface", default=None,
                   help="network interface of the scheduler and workers (e.g. ib0)")
    p.add_argument("--host", default=None,
                   help="address the scheduler binds (default: this host's address)")
    p.add_argument("--port", type=int, default=0, help="scheduler port (default: a free one)")
    p.add_argument("--dashboard-address", default="127.0.0.1:8787",
                   help="HOST:PORT of the web dashboard (default 127.0.0.1:8787)")
    p.add_argument("--no-dashboard", action="store_true", help="serve no web dashboard")
    p.add_argument("--adapt-maximum", type=int, default=None,
                   help="grow and shrink with the work up to this many jobs (--jobs: minimum)")
    p.add_argument("--poll-interval", default="5s",
                   help="how often squeue is asked about the jobs (default 5s)")
    p.add_argument("--print-job-script", action="store_true",
                   help="print the job script and exit without submitting")
    return p


async def run_slurm(args: argparse.Namespace) -> int:
    """Run the ``slurm`` subcommand until SIGINT/SIGTERM; the exit code."""
    from ..deploy.cluster import ClusterError
    from ..security import ENV_AUTH_FILE, Security
    from .cluster import SLURMCluster

    # --auth-file (or $FUTURELAB_AUTH_FILE): that secret, for the jobs and for clients; on a
    # filesystem the nodes share.  Else a new one in a private directory of the cluster's.
    auth_file = args.auth_file or os.environ.get(ENV_AUTH_FILE)
    security = Security.from_file(auth_file, create=True) if auth_file else None
    dashboard = None if args.no_dashboard else args.dashboard_address
    options: dict[str, Any] = {"port": args.port}
    if args.host:
        options["host"] = args.host
    try:
        cluster = await SLURMCluster(
            cores=args.cores, memory=args.memory, walltime=args.walltime, queue=args.queue,
            account=args.account, job_extra_directives=args.job_extra_directive,
            job_script_prologue=args.prologue, log_directory=args.log_directory,
            local_directory=args.local_directory,
            shared_temp_directory=args.shared_temp_directory, python=args.python,
            interface=args.interface, scheduler_options=options,
            dashboard_address=dashboard, security=security,
            poll_interval=args.poll_interval, asynchronous=True)
    except (ValueError, TypeError, OSError, ClusterError) as e:
        print(f"futurelab slurm: {e}", file=sys.stderr)
        return 2
    try:
        if args.print_job_script:
            print(cluster.job_script(), end="", flush=True)
            return 0
        print(f"futurelab scheduler at {cluster.scheduler_address}", flush=True)
        if cluster.dashboard_link:
            print(f"futurelab dashboard at {cluster.dashboard_link}", flush=True)
        auth = cluster._auth_file()
        if auth:
            print(f"futurelab secret in {auth} (--auth-file / Security.from_file)", flush=True)
        try:
            if args.adapt_maximum is not None:
                cluster.adapt(minimum=args.jobs, maximum=args.adapt_maximum)
            else:
                await cluster.scale(args.jobs)
        except (ValueError, ClusterError) as e:
            print(f"futurelab slurm: {e}", file=sys.stderr)
            return 1
        print(f"futurelab slurm: {len(cluster.workers)} job(s) submitted: "
              + ", ".join(f"{j.job_id} ({n})" for n, j in cluster.jobs.items()), flush=True)
        await _until_signalled()
        return 0
    finally:
        await cluster._close()


async def _until_signalled() -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
