"""Spec section "Start Dask Client" (issue 2): making clients and clusters.

These tests build their own clusters, so they live apart from the modules that share a
module-scoped ``client`` fixture (their checks on leftover threads and processes must
not see another cluster's).
"""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest
from _spec_support import TIMEOUT, close_client, gather, wait_for, worker_addresses
from _spec_tasks import add, inc

import futurelab
from futurelab import Client, LocalCluster


def _child_pids() -> set[int]:
    """Live child processes of this process (Linux /proc), except multiprocessing's
    resource tracker, which Python keeps for the life of the interpreter."""
    me = os.getpid()
    children = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        state, ppid = fields[0], int(fields[1])
        if ppid == me and state != "Z" and b"resource_tracker" not in cmdline:
            children.add(int(entry))
    return children


def _closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_spec_client_default_starts_worker_processes():
    # From the spec:  client = Client()  # start local workers as processes
    client = Client()
    try:
        workers = client.scheduler_info()["workers"]
        assert workers
        nthreads = sum(w["nthreads"] for w in workers.values())
        assert 1 <= nthreads <= (os.cpu_count() or 1)  # defaults sized to the machine
        assert client.submit(inc, 10).result(timeout=TIMEOUT) == 11
        assert client.submit(os.getpid, pure=False).result(timeout=TIMEOUT) != os.getpid()
    finally:
        close_client(client)


def test_spec_client_processes_false_starts_worker_threads():
    # From the spec:  client = Client(processes=False)  # start local workers as threads
    client = Client(processes=False)
    try:
        assert client.scheduler_info()["workers"]
        assert client.submit(inc, 10).result(timeout=TIMEOUT) == 11
        assert client.submit(os.getpid, pure=False).result(timeout=TIMEOUT) == os.getpid()
    finally:
        close_client(client)


@pytest.mark.parametrize("processes", [False, True], ids=["threads", "processes"])
def test_client_shape_arguments(processes):
    threads = 2 if not processes else 1
    with Client(n_workers=2, threads_per_worker=threads, processes=processes) as client:
        workers = client.scheduler_info()["workers"]
        assert len(workers) == 2
        assert [w["nthreads"] for w in workers.values()] == [threads, threads]
        assert client.submit(add, 1, 2).result(timeout=TIMEOUT) == 3


def test_client_context_manager_closes():
    with Client(processes=False, n_workers=1, threads_per_worker=1) as client:
        assert client.submit(inc, 1).result(timeout=TIMEOUT) == 2
        assert client.status == "running"
    assert client.status == "closed"


def test_local_cluster_threads_context_manager():
    with (
        LocalCluster(n_workers=2, processes=False, threads_per_worker=1) as cluster,
        Client(cluster) as client,
    ):
        assert len(client.scheduler_info()["workers"]) == 2
        a = client.submit(inc, 10)
        b = client.submit(inc, 20)
        assert client.submit(add, a, b).result(timeout=TIMEOUT) == 32


def test_local_cluster_processes_and_tcp_address():
    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1) as cluster:
        address = cluster.scheduler_address
        assert address.startswith("tcp://")
        with Client(cluster) as c1, Client(address, timeout=TIMEOUT) as c2:
            assert worker_addresses(c1) == worker_addresses(c2)
            assert len(worker_addresses(c2)) == 2
            assert c1.submit(inc, 1).result(timeout=TIMEOUT) == 2
            assert c2.submit(inc, 2).result(timeout=TIMEOUT) == 3
            pids = gather(
                c2, [c2.submit(os.getpid, pure=False, workers=[w]) for w in worker_addresses(c2)]
            )
            assert os.getpid() not in pids and len(set(pids)) == 2


def test_close_leaves_no_thread_behind():
    before = set(threading.enumerate())
    with Client(processes=False, n_workers=2, threads_per_worker=2) as client:
        assert sum(gather(client, client.map(inc, range(20)))) == sum(range(1, 21))
    wait_for(
        lambda: not {t for t in threading.enumerate() if t.is_alive()} - before,
        message="threads started by the client to end",
    )


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs Linux /proc")
def test_close_leaves_no_process_behind():
    before = _child_pids()
    with Client(n_workers=2, threads_per_worker=1) as client:
        assert client.submit(inc, 1).result(timeout=TIMEOUT) == 2
        assert _child_pids() - before  # the workers really are processes of ours
    wait_for(lambda: not (_child_pids() - before), message="worker processes to exit")


def test_unreachable_address_fails_within_timeout():
    address = f"tcp://127.0.0.1:{_closed_port()}"
    start = time.monotonic()
    with pytest.raises((OSError, TimeoutError)):
        Client(address, timeout=2)
    assert time.monotonic() - start < 10


def test_public_names_exist():
    for name in [
        "Client", "Future", "LocalCluster", "wait", "as_completed", "fire_and_forget",
        "get_client", "get_worker", "secede", "rejoin", "worker_client",
        "CancelledError", "TimeoutError",
    ]:  # fmt: skip
        assert hasattr(futurelab, name), name
