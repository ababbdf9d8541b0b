"""The futurelab command: a scheduler and workers as real processes, reached by a Client."""
from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest
from _proc import free_port, start, stop

from futurelab import Client


@pytest.fixture
def scheduler() -> Iterator[tuple[subprocess.Popen[str], str]]:
    port = free_port()
    proc = start("scheduler", "--port", str(port))
    line = proc.next_line()  # "futurelab scheduler at tcp://127.0.0.1:PORT"
    assert f"tcp://127.0.0.1:{port}" in line, line
    yield proc, f"tcp://127.0.0.1:{port}"
    stop(proc)


def inc(x: int) -> int:
    return x + 1


def test_scheduler_and_workers_as_processes(scheduler: tuple[subprocess.Popen[str], str]) -> None:
    sched, address = scheduler
    workers = [start("worker", address, "--nthreads", "2", "--name", f"w{i}") for i in range(2)]
    try:
        with Client(address, timeout=10) as client:
            deadline_ok = client.sync(_wait_workers, client, 2)
            assert deadline_ok
            info = client.scheduler_info()
            assert {w["name"] for w in info["workers"].values()} == {"w0", "w1"}
            assert all(w["nthreads"] == 2 for w in info["workers"].values())
            futures = client.map(inc, range(100))
            assert client.gather(futures) == list(range(1, 101))
            assert len({ws[0] for ws in client.who_has(futures).values()}) == 2
    finally:
        codes = [stop(w) for w in workers]
    assert codes == [0, 0]  # SIGTERM is a clean shutdown
    assert stop(sched) == 0


async def _wait_workers(client: Client, n: int) -> bool:
    import asyncio
    for _ in range(1000):
        info = await client._scheduler_request({"op": "ncores"})
        if len(info) >= n:
            return True
        await asyncio.sleep(0.01)
    return False


def test_worker_exits_when_scheduler_stops(scheduler: tuple[subprocess.Popen[str], str]) -> None:
    sched, address = scheduler
    worker = start("worker", address, "--death-timeout", "1")
    with Client(address, timeout=10) as client:
        assert client.sync(_wait_workers, client, 1)
    assert stop(sched) == 0
    assert worker.wait(timeout=15) == 0


def test_worker_reports_unreachable_scheduler() -> None:
    worker = start("worker", f"tcp://127.0.0.1:{free_port()}", "--death-timeout", "1")
    assert worker.wait(timeout=30) == 1
    assert worker.next_line() is not None
    assert "cannot reach the scheduler" in "".join(worker.output)


def test_client_to_unreachable_address_fails_within_timeout() -> None:
    import time
    t0 = time.monotonic()
    with pytest.raises(OSError, match="Timed out trying to connect"):
        Client(f"tcp://127.0.0.1:{free_port()}", timeout=1)
    assert time.monotonic() - t0 < 10
