"""Client's administration methods that need real worker processes: run, restart, upload_file."""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _proc import free_port, start, stop
from _util import wait_for

from futurelab import Client

pytestmark = pytest.mark.timeout(180)


class Unpicklable:
    def __reduce__(self) -> Any:
        raise TypeError("no pickling")


def inc(x: int) -> int:
    return x + 1


@pytest.fixture(scope="module")
def pclient() -> Iterator[Client]:
    """Two worker processes, one thread each."""
    with Client(processes=True, n_workers=2, threads_per_worker=1,
                dashboard_address=None) as c:
        c.wait_for_workers(2, timeout=60)
        yield c


def test_run_in_worker_processes(pclient: Client) -> None:
    pids = pclient.run(os.getpid)
    assert len(pids) == 2 and os.getpid() not in pids.values()
    assert len(set(pids.values())) == 2
    assert pclient.run(lambda dask_worker: dask_worker.address) == {a: a for a in pids}

    def fails() -> None:
        raise KeyError("remote")

    with pytest.raises(KeyError, match="remote"):
        pclient.run(fails)
    errors = pclient.run(lambda: Unpicklable(), on_error="return")
    assert all(isinstance(e, TypeError) and "could not be serialized" in str(e)
               for e in errors.values())
    with pytest.raises(TypeError, match="Could not serialize"):
        pclient.run(inc, Unpicklable())
    assert pclient.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.state.workers)) == 2


def test_upload_file(pclient: Client, tmp_path: Path) -> None:
    name = f"uploaded_{uuid.uuid4().hex[:8]}"
    path = tmp_path / f"{name}.py"
    path.write_text("def f():\n    return 42\n")
    result = pclient.upload_file(str(path))
    assert len(result) == 2 and {r["status"] for r in result.values()} == {"OK"}
    assert pclient.submit(lambda: __import__(name).f(), pure=False).result(timeout=30) == 42
    # a second upload replaces (reloads) the module
    path.write_text("def f():\n    return 'v2, longer than before'\n")
    pclient.upload_file(str(path))
    assert set(pclient.run(lambda: __import__(name).f()).values()) == \
        {"v2, longer than before"}
    listed = pclient.run(lambda dask_worker: os.listdir(dask_worker.local_directory))
    assert all(f"{name}.py" in files for files in listed.values())


def test_restart_replaces_worker_processes(pclient: Client) -> None:
    before = pclient.run(os.getpid)
    futures = pclient.map(inc, range(10))
    assert pclient.gather(futures) == list(range(1, 11))
    pclient.restart(timeout=60)
    assert {f.status for f in futures} == {"cancelled"}
    after = pclient.run(os.getpid)
    assert len(after) == 2 and not set(after.values()) & set(before.values())
    assert pclient.gather(pclient.map(inc, range(10))) == list(range(1, 11))
    # the nanny counts a requested restart as no death
    assert all(not wp.deaths for wp in pclient.cluster.workers.values())


def test_restart_without_waiting(pclient: Client) -> None:
    before = set(pclient.run(os.getpid).values())
    pclient.restart(timeout=60, wait_for_workers=False)
    pclient.wait_for_workers(2, timeout=60)
    assert not set(pclient.run(os.getpid).values()) & before


def test_cli_cluster_restart_and_shutdown_by_address() -> None:
    """Over TCP, with `futurelab worker`'s nanny process: restart, then terminate remotely."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    sched = start("scheduler", "--port", str(port), "--no-dashboard")
    nanny = start("worker", address, "--name", "steady")
    try:
        with Client(address, timeout=10) as client:
            client.wait_for_workers(1, timeout=60)
            [before] = client.run(os.getpid).values()
            assert client.run_on_scheduler(lambda dask_scheduler: os.getpid()) == sched.pid
            assert client.submit(inc, 1).result(timeout=30) == 2
            client.restart(timeout=60)
            [after] = client.run(os.getpid).values()
            assert after != before
            assert [w["name"] for w in client.scheduler_info()["workers"].values()] == ["steady"]
            client.shutdown()
            assert client.status == "closed"
        wait_for(lambda: sched.poll() is not None and nanny.poll() is not None, timeout=30,
                 what="scheduler and worker processes exit")
        assert sched.returncode == 0 and nanny.returncode == 0
    finally:
        stop(nanny)
        stop(sched)
