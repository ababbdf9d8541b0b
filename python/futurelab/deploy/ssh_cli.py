"""``futurelab ssh HOST [HOST ...]``: an SSHCluster from the command line, until Ctrl-C.

The first host runs the scheduler, the others the workers (as :class:`~.ssh.SSHCluster`).
The cluster's secret is written to ``--auth-file`` (mode 0600; created when missing, else its
secret is used) so that clients can connect::

    futurelab ssh 10.0.0.1 10.0.0.2 10.0.0.3 --nthreads 4 --auth-file ~/.futurelab/secret
    # then, in Python: Client("tcp://10.0.0.1:PORT", security=Security.from_file(...))
"""
from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any


def add_ssh_parser(sub: Any) -> None:
    """Add the ``ssh`` subcommand to the ``futurelab`` parser."""
    p = sub.add_parser("ssh", help="start a scheduler and workers on hosts over SSH",
                       description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("hosts", nargs="+", metavar="HOST",
                   help="the scheduler's host, then the workers' hosts")
    p.add_argument("--nthreads", type=int, default=1, help="threads per worker (default 1)")
    p.add_argument("--n-workers", type=int, default=1,
                   help="workers per worker host (default 1)")
    p.add_argument("--memory-limit", default=None, help="per worker, e.g. 4GB (default none)")
    p.add_argument("--scheduler-port", type=int, default=8786,
                   help="the scheduler's port (default 8786; 0: any free port)")
    p.add_argument("--dashboard-address", default=None,
                   help="the dashboard's HOST:PORT (default SCHEDULER_HOST:8787; 'none': off)")
    p.add_argument("--remote-python", default=None,
                   help="the Python with futurelab on the hosts (default: this one's path)")
    p.add_argument("--ssh-username", default=None, help="user to log in as")
    p.add_argument("--ssh-port", type=int, default=None, help="sshd's port (default 22)")
    p.add_argument("--ssh-private-key", action="append", default=None,
                   help="private key file (repeatable; default: the agent and ~/.ssh keys)")
    p.add_argument("--no-host-key-check", action="store_true",
                   help="do not check the hosts' keys against known_hosts (insecure)")
    p.add_argument("--auth-file", default=None,
                   help="where the cluster secret is kept for clients (mode 0600)")
    p.add_argument("--timeout", default="30s", help="per connection and start (default 30s)")
    p.add_argument("--log-level", default="info", help="logging level (default info)")


def connect_options(args: argparse.Namespace) -> dict[str, Any]:
    """asyncssh options from the command line's SSH flags.

    >>> ns = argparse.Namespace(ssh_username="me", ssh_port=None, ssh_private_key=None,
    ...                         no_host_key_check=True)
    >>> connect_options(ns)
    {'username': 'me', 'known_hosts': None}
    """
    options: dict[str, Any] = {}
    if args.ssh_username:
        options["username"] = args.ssh_username
    if args.ssh_port:
        options["port"] = args.ssh_port
    if args.ssh_private_key:
        options["client_keys"] = list(args.ssh_private_key)
    if args.no_host_key_check:
        options["known_hosts"] = None
    return options


async def run_ssh(args: argparse.Namespace, stop: asyncio.Event) -> int:
    """Run the cluster until ``stop`` is set; 1 (with the reason) if it cannot start."""
    from ..security import Security
    from .cluster import ClusterError
    from .ssh import SSHCluster
    if args.auth_file == "-":  # read from stdin by the command's main()
        security: Security | None = Security(secret=args.stdin_secret)
    else:
        security = Security.from_file(args.auth_file, create=True) if args.auth_file else None
    dashboard = args.dashboard_address
    scheduler_options: dict[str, Any] = {"port": args.scheduler_port}
    if dashboard is not None:
        scheduler_options["dashboard_address"] = (
            None if dashboard.strip().lower() in ("none", "off", "") else dashboard)
    worker_options: dict[str, Any] = {"nthreads": args.nthreads, "n_workers": args.n_workers}
    if args.memory_limit:
        worker_options["memory_limit"] = args.memory_limit
    try:
        cluster = await SSHCluster(
            args.hosts, connect_options=connect_options(args), worker_options=worker_options,
            scheduler_options=scheduler_options, remote_python=args.remote_python,
            security=security, timeout=args.timeout, asynchronous=True)
    except (ClusterError, ValueError, TypeError, OSError) as e:
        print(f"futurelab ssh: {e}", file=sys.stderr)
        return 1
    print(f"futurelab scheduler at {cluster.scheduler_address}", flush=True)
    print(f"futurelab ssh: {len(cluster.workers)} workers on {len(args.hosts) - 1} hosts"
          + (f"; secret in {args.auth_file}" if args.auth_file else
             " (no --auth-file: clients outside this process cannot connect)"), flush=True)
    if cluster.dashboard_link:
        print(f"futurelab dashboard at {cluster.dashboard_link}", flush=True)
    try:
        await stop.wait()
    finally:
        await cluster._close()
    return 0
