"""Listening addresses for workers whose node is not known in advance."""
from __future__ import annotations

import pytest
from _proc import free_port, start, stop

from futurelab import Client
from futurelab.netaddr import address_towards, interface_address, public_host


def test_addresses_of_this_host() -> None:
    assert interface_address("lo") == "127.0.0.1"
    assert address_towards("tcp://127.0.0.1:8786") == "127.0.0.1"
    assert public_host().count(".") == 3
    with pytest.raises(ValueError, match="network interface 'no-such-if' not found"):
        interface_address("no-such-if")


def test_worker_host_auto_listens_where_it_reaches_the_scheduler() -> None:
    port = free_port()
    sched = start("scheduler", "--port", str(port), "--no-dashboard")
    try:
        assert f"127.0.0.1:{port}" in sched.next_line()
        worker = start("worker", f"tcp://127.0.0.1:{port}", "--host", "auto", "--name", "w")
        try:
            with Client(f"tcp://127.0.0.1:{port}", timeout=10) as client:
                client.wait_for_workers(1, timeout=30)
                (address,) = client.scheduler_info()["workers"]
                assert address.startswith("tcp://127.0.0.1:")
        finally:
            assert stop(worker) == 0
    finally:
        assert stop(sched) == 0


def test_worker_with_an_unknown_interface_says_so() -> None:
    worker = start("worker", "tcp://127.0.0.1:1", "--interface", "no-such-if")
    assert worker.wait(timeout=30) == 2
    assert "network interface 'no-such-if' not found" in worker.next_line()
