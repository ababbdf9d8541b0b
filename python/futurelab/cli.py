"""The ``futurelab`` command: ``futurelab scheduler``, ``futurelab worker ADDRESS`` and
``futurelab ssh HOST [HOST ...]``.

Argument parsing only; the work is done by :mod:`futurelab.scheduler.server`,
:mod:`futurelab.worker.server` and :mod:`futurelab.deploy.ssh`.  Ctrl-C and SIGTERM shut each
down cleanly.  ``--auth-file -`` reads the cluster secret from the first line of stdin (how
SSHCluster hands it over: never on a command line, never in a file), and
``--exit-on-stdin-close`` shuts the process down when its stdin closes (the SSH session that
started it ended).
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any

from . import _loop


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="futurelab", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("scheduler", help="run a scheduler")
    s.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    s.add_argument("--port", type=int, default=8786, help="TCP port (default 8786)")
    s.add_argument("--dashboard-address", default="127.0.0.1:8787",
                   help="HOST:PORT of the web dashboard, the next free port when taken "
                        "(default 127.0.0.1:8787; ':PORT' = every interface, which needs "
                        "--auth-file; 'none' disables it)")
    s.add_argument("--no-dashboard", action="store_true", help="serve no web dashboard")
    w = sub.add_parser("worker", help="run a worker connected to a scheduler")
    w.add_argument("scheduler", help="scheduler address, e.g. tcp://127.0.0.1:8786")
    w.add_argument("--nthreads", type=int, default=1, help="threads running tasks (default 1)")
    w.add_argument("--name", default=None, help="worker name")
    w.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1); 'auto': the address this host "
                        "uses to reach the scheduler (for workers started by batch jobs)")
    w.add_argument("--interface", default=None,
                   help="bind to this network interface's address instead (e.g. ib0)")
    w.add_argument("--port", type=int, default=0, help="TCP port (default: any free port)")
    w.add_argument("--no-nanny", action="store_true",
                   help="run the worker in this process, without a nanny restarting it")
    w.add_argument("--memory-limit", default="0",
                   help="pause new work at 80%% and restart the worker at 95%% of this "
                        "(e.g. 4GB; default: no limit)")
    w.add_argument("--death-timeout", type=float, default=60.0,
                   help="seconds to keep trying to reach the scheduler (default 60)")
    from .jobqueue.cli import add_slurm_parser
    slurm = add_slurm_parser(sub)
    for p in (s, w, slurm):
        p.add_argument("--log-level", default="info", help="logging level (default info)")
        p.add_argument("--auth-file", default=None,
                       help="file holding the cluster's shared secret (the scheduler creates "
                            "it, mode 0600, if missing); '-': read it from the first line of "
                            "stdin; default: $FUTURELAB_AUTH_FILE")
        p.add_argument("--exit-on-stdin-close", action="store_true",
                       help="shut down when stdin closes (for processes started over SSH)")
    for p, scheme in ((s, "tcp"), (w, "tcp")):
        p.add_argument("--protocol", default=scheme, choices=["tcp", "tls"],
                       help="transport (tls needs --tls-cert/--tls-key)")
        p.add_argument("--tls-ca-file", default=None, help="CA bundle for peers' certificates")
        p.add_argument("--tls-cert", default=None, help="this process's certificate (PEM)")
        p.add_argument("--tls-key", default=None, help="this process's private key (PEM)")
    from .deploy.ssh_cli import add_ssh_parser
    add_ssh_parser(sub)
    return parser


def _read_stdin_secret() -> bytes:
    """The secret's hex text from the first line of stdin (``--auth-file -``)."""
    line = sys.stdin.buffer.readline().strip()
    try:
        secret = bytes.fromhex(line.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise ValueError("--auth-file -: the first line of stdin is not a hex secret") from None
    if len(secret) < 16:
        raise ValueError("--auth-file -: the secret on stdin is too short (need 16 bytes)")
    return secret


def _watch_stdin(stop: asyncio.Event) -> None:
    """Set ``stop`` when stdin reaches its end (the SSH session went away)."""
    loop = asyncio.get_running_loop()
    fd = sys.stdin.fileno()

    def readable() -> None:
        try:
            data = os.read(fd, 4096)
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(fd)
            stop.set()
    loop.add_reader(fd, readable)


def _security(args: argparse.Namespace, create: bool) -> Any:
    from .security import ENV_AUTH_FILE, Security
    path = args.auth_file or os.environ.get(ENV_AUTH_FILE)
    if path == "-":
        secret: bytes | None = args.stdin_secret
        path = None
    else:
        secret = Security.from_file(path, create=create).secret if path else None
    if secret is None and not (args.tls_cert or args.tls_ca_file):
        return None
    return Security(secret=secret, tls_ca_file=args.tls_ca_file, tls_cert=args.tls_cert,
                    tls_key=args.tls_key, path=path)


async def _serve(args: argparse.Namespace) -> int:
    if args.command == "slurm":
        from .jobqueue.cli import run_slurm
        return await run_slurm(args)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if args.command == "ssh":
        from .deploy.ssh_cli import run_ssh
        return await run_ssh(args, stop)
    if args.exit_on_stdin_close:
        _watch_stdin(stop)
    if args.command == "scheduler":
        from .scheduler.server import Scheduler
        dashboard = args.dashboard_address
        if args.no_dashboard or str(dashboard).strip().lower() in ("", "none", "off", "false"):
            dashboard = None
        try:
            sched = await Scheduler(f"{args.protocol}://{args.host}:{args.port}",
                                    security=_security(args, create=True),
                                    dashboard_address=dashboard).start()
        except (PermissionError, ValueError) as e:
            print(f"futurelab scheduler: {e}", file=sys.stderr)
            return 2
        print(f"futurelab scheduler at {sched.address}", flush=True)
        if sched.dashboard is not None:
            link = sched.dashboard.link
            if sched.dashboard.required_token:  # like Jupyter: the terminal shows the token
                link += f"?token={sched.dashboard.required_token}"
            print(f"futurelab dashboard at {link}", flush=True)
        waiter = asyncio.ensure_future(stop.wait())
        await asyncio.wait([waiter, asyncio.ensure_future(sched.closed.wait())],
                           return_when=asyncio.FIRST_COMPLETED)
        await sched.close()
        return 0
    from .nanny import run_nanny
    from .utils import parse_bytes
    from .worker.server import Worker
    address = args.scheduler if "://" in args.scheduler else f"tcp://{args.scheduler}"
    try:
        from .netaddr import address_towards, interface_address
        if args.interface:
            args.host = interface_address(args.interface)
        elif args.host == "auto":
            args.host = address_towards(address)
    except (OSError, ValueError) as e:
        print(f"futurelab worker: --host/--interface: {e}", file=sys.stderr)
        return 2
    try:
        memory_limit = parse_bytes(args.memory_limit) if args.memory_limit else 0
    except ValueError as e:
        print(f"futurelab worker: --memory-limit: {e}", file=sys.stderr)
        return 2
    if not args.no_nanny:
        import uuid
        name = args.name or f"worker-{uuid.uuid4().hex[:8]}"
        forwarded = [address, "--nthreads", str(args.nthreads), "--name", name,
                     "--host", args.host, "--port", str(args.port), "--log-level",
                     args.log_level, "--death-timeout", str(args.death_timeout),
                     "--protocol", args.protocol]
        for flag in ("auth_file", "tls_ca_file", "tls_cert", "tls_key"):
            value = getattr(args, flag)
            if value and value != "-":  # a secret from stdin is handed on by the nanny
                forwarded += ["--" + flag.replace("_", "-"), value]
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        return await run_nanny(forwarded, memory_limit, name, secret=args.stdin_secret,
                               stop=stop)
    try:
        worker = await Worker(address, nthreads=args.nthreads, name=args.name,
                              listen_address=f"{args.protocol}://{args.host}:{args.port}",
                              security=_security(args, create=False),
                              death_timeout=args.death_timeout,
                              memory_limit=memory_limit).start()
    except PermissionError as e:
        print(f"futurelab worker: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"futurelab worker: cannot reach the scheduler at {address}: {e}", file=sys.stderr)
        return 1
    waiter = asyncio.ensure_future(stop.wait())
    await asyncio.wait([waiter, asyncio.ensure_future(worker.closed.wait())],
                       return_when=asyncio.FIRST_COMPLETED)
    await worker.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _setup_logging(args.log_level)
    args.stdin_secret = None
    if getattr(args, "auth_file", None) == "-":
        try:
            args.stdin_secret = _read_stdin_secret()
        except ValueError as e:
            print(f"futurelab {args.command}: {e}", file=sys.stderr)
            return 2
    return _loop.run(_serve(args))


def _setup_logging(level: str) -> None:
    """Print lines at ``level`` and up; keep futurelab's INFO lines too, in memory only, for
    ``get_logs`` (:mod:`futurelab.logbuffer`)."""
    logging.basicConfig(level=level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    for handler in logging.getLogger().handlers:
        handler.setLevel(level.upper())
    ours = logging.getLogger("futurelab")
    ours.setLevel(min(logging.INFO, logging.getLogger().getEffectiveLevel()))


if __name__ == "__main__":
    sys.exit(main())
