"""Imports point down the message path only (DESIGN.md): what a running scheduler process and a
running worker process actually loaded, asked of the processes themselves.

A scheduler never loads client-side code (the client library, primitive proxies, the actor
proxy), a worker loads the client library only when a task asks for it (``get_client()``), and
neither loads Jupyter.
"""
from __future__ import annotations

import sys

import pytest
from _proc import free_port, start, stop

from futurelab import Client

pytestmark = pytest.mark.timeout(120)

#: modules of the client side: no scheduler may load them
CLIENT_SIDE = ("futurelab.client", "futurelab.primitives", "futurelab.actor",
               "futurelab.jupyter", "futurelab.deploy")
#: modules of the scheduler side: no worker may load them
SCHEDULER_SIDE = ("futurelab.scheduler", "futurelab.dashboard")
#: nobody but a kernel loads these
JUPYTER = ("IPython", "ipykernel", "ipywidgets", "jupyter_client", "futurelab.jupyter")
#: the command line's parsers of every subcommand, and the lazy package stubs they sit in
CLI = {"futurelab.deploy", "futurelab.deploy.ssh_cli", "futurelab.jobqueue",
       "futurelab.jobqueue.cli"}


def loaded_modules() -> list[str]:
    return sorted(name for name in sys.modules if name.split(".")[0] in
                  {"futurelab", "IPython", "ipykernel", "ipywidgets", "jupyter_client"})


def uses_the_client() -> int:
    from futurelab import get_client
    return len(get_client().scheduler_info()["workers"])


def offenders(modules: list[str], forbidden: tuple[str, ...]) -> list[str]:
    return [m for m in modules if m not in CLI
            and any(m == f or m.startswith(f + ".") for f in forbidden)]


def test_a_scheduler_and_a_worker_load_only_their_side() -> None:
    port = free_port()
    sched = start("scheduler", "--port", str(port), "--no-dashboard", "--log-level", "warning")
    worker = start("worker", f"tcp://127.0.0.1:{port}", "--nthreads", "1", "--no-nanny",
                   "--log-level", "warning")
    try:
        with Client(f"tcp://127.0.0.1:{port}", timeout=30) as client:
            client.wait_for_workers(1, timeout=30)
            assert client.submit(sum, [1, 2]).result(timeout=30) == 3  # a task has run
            on_scheduler = client.run_on_scheduler(loaded_modules)
            (on_worker,) = client.run(loaded_modules).values()
            assert offenders(on_scheduler, CLIENT_SIDE + JUPYTER) == []
            assert offenders(on_worker, SCHEDULER_SIDE + CLIENT_SIDE + JUPYTER) == []
            # a task that asks for its client loads the client library there, and only then
            assert client.submit(uses_the_client, pure=False).result(timeout=30) == 1
            (after,) = client.run(loaded_modules).values()
            assert "futurelab.client.client" in after
            assert offenders(after, SCHEDULER_SIDE + JUPYTER) == []
    finally:
        stop(worker)
        stop(sched)
