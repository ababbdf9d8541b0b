"""Surviving faults with real processes and real kills: nothing lost, nothing hung.

Timings printed here (run with ``-s``) are the figures of the reliability note; nothing asserts
on them beyond generous bounds that only catch a hang.
"""
from __future__ import annotations

import concurrent.futures
import os
import signal
import time

import pytest
from _proc import free_port, start, stop
from _util import wait_for

import futurelab
from futurelab import Client, KilledWorker, LostData
from futurelab.errors import SchedulerGone

pytestmark = pytest.mark.timeout(180)


def slow_inc(x: int, delay: float = 0.002) -> int:
    time.sleep(delay)
    return x + 1


def add(*xs: int) -> int:
    return sum(xs)


def pid() -> int:
    return os.getpid()


def worker_pids(client: Client) -> dict[str, int]:
    return {a: w["pid"] for a, w in client.scheduler_info()["workers"].items()}


def suicide() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def test_sigkill_during_a_graph_with_dependencies_loses_nothing() -> None:
    with Client(n_workers=3, threads_per_worker=1) as client:
        # 1,000 tasks: 20 chains of 40 increments, then a tree of sums over their ends
        chains = []
        for c in range(20):
            f = client.submit(slow_inc, c * 1000, pure=False)
            for _ in range(39):
                f = client.submit(slow_inc, f, pure=False)
            chains.append(f)
        level = chains
        total = 20 * 40
        while len(level) > 1:
            level = [client.submit(add, *level[i:i + 2], pure=False)
                     for i in range(0, len(level), 2)]
            total += len(level)
        extra = [client.submit(slow_inc, i, pure=False) for i in range(1000 - total)]
        victim_addr, victim_pid = next(iter(worker_pids(client).items()))
        wait_for(lambda: sum(f.done() for f in extra) > 20, timeout=60, what="progress")
        t0 = time.monotonic()
        os.kill(victim_pid, signal.SIGKILL)
        wait_for(lambda: victim_addr not in client.scheduler_info()["workers"], timeout=10,
                 interval=0.001, what="the scheduler to notice the dead worker")
        detected = time.monotonic() - t0
        wait_for(lambda: len(client.scheduler_info()["workers"]) == 3, timeout=30,
                 what="the nanny to restart the worker")
        restarted = time.monotonic() - t0
        assert level[0].result(timeout=120) == sum(c * 1000 + 40 for c in range(20))
        assert client.gather(extra) == [i + 1 for i in range(len(extra))]
        recovered = time.monotonic() - t0
        assert client.gather(chains) == [c * 1000 + 40 for c in range(20)]
        print(f"\n[faults] dead worker noticed in {detected * 1000:.0f} ms, restarted in "
              f"{restarted:.2f} s, graph complete {recovered:.2f} s after the kill")


def test_task_that_kills_its_workers_fails_with_killed_worker() -> None:
    with Client(n_workers=2, threads_per_worker=1) as client:
        bad = client.submit(suicide, pure=False)
        with pytest.raises(KilledWorker, match="died while running it"):
            bad.result(timeout=120)
        # the cluster is still fine afterwards
        wait_for(lambda: len(client.scheduler_info()["workers"]) == 2, timeout=30,
                 what="workers back")
        assert client.submit(slow_inc, 1).result(timeout=30) == 2


def test_lost_scattered_data_errs_naming_the_key() -> None:
    with Client(n_workers=2, threads_per_worker=1) as client:
        [holder] = list(worker_pids(client))[:1]
        data = client.scatter([41], workers=[holder])[0]
        later = client.submit(slow_inc, data)
        assert later.result(timeout=30) == 42
        t0 = time.monotonic()
        os.kill(worker_pids(client)[holder], signal.SIGKILL)
        with pytest.raises(LostData, match=data.key):
            data.result(timeout=30)
        print(f"\n[faults] scattered data reported lost {1000 * (time.monotonic() - t0):.0f} ms "
              f"after the kill")
        with pytest.raises(LostData, match=data.key):
            client.submit(slow_inc, data, pure=False).result(timeout=30)


def test_scheduler_loss_fails_pending_calls_and_workers_rejoin_a_new_one() -> None:
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    sched = start("scheduler", "--port", str(port))
    worker = start("worker", address, "--death-timeout", "60")
    try:
        client = Client(address, timeout=10)
        wait_for(lambda: len(client.scheduler_info()["workers"]) == 1, what="worker")
        pending = client.submit(time.sleep, 30, pure=False)
        wait_for(lambda: pending.status == "pending", what="submitted")
        # a primitive call parked on the scheduler fails too, instead of waiting forever
        waiting = concurrent.futures.ThreadPoolExecutor(1).submit(
            futurelab.Event("never-set", client=client).wait)
        wait_for(lambda: client.primitives_state()["events"].get("never-set", {}).get("waiters"),
                 what="event waiter parked")
        t0 = time.monotonic()
        sched.kill()
        sched.wait(timeout=10)
        with pytest.raises(SchedulerGone, match="lost the connection"):
            pending.result(timeout=30)
        with pytest.raises(SchedulerGone, match="lost the connection"):
            waiting.result(timeout=30)
        print(f"\n[faults] pending call failed {1000 * (time.monotonic() - t0):.0f} ms after "
              f"the scheduler died")
        client.close(timeout=5)
        # a new scheduler on the same address: the worker comes back by itself
        sched = start("scheduler", "--port", str(port))
        t1 = time.monotonic()
        with Client(address, timeout=10) as again:
            wait_for(lambda: len(again.scheduler_info()["workers"]) == 1, timeout=30,
                     what="the worker to rejoin")
            print(f"[faults] worker rejoined the new scheduler in {time.monotonic() - t1:.2f} s")
            assert again.submit(slow_inc, 1).result(timeout=30) == 2
    finally:
        stop(worker)
        stop(sched)


def test_cli_nanny_restarts_a_killed_worker() -> None:
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    sched = start("scheduler", "--port", str(port))
    nanny = start("worker", address, "--name", "steady")
    try:
        with Client(address, timeout=10) as client:
            wait_for(lambda: len(client.scheduler_info()["workers"]) == 1, what="worker")
            [(addr, wpid)] = worker_pids(client).items()
            assert wpid != nanny.pid  # the worker is the nanny's child
            t0 = time.monotonic()
            os.kill(wpid, signal.SIGKILL)
            wait_for(lambda: addr not in client.scheduler_info()["workers"]
                     and len(client.scheduler_info()["workers"]) == 1, timeout=30,
                     what="a new worker")
            print(f"\n[faults] nanny restart to re-registered worker: "
                  f"{time.monotonic() - t0:.2f} s")
            info = client.scheduler_info()["workers"]
            assert [w["name"] for w in info.values()] == ["steady"]
            assert client.submit(slow_inc, 1).result(timeout=30) == 2
    finally:
        assert stop(nanny) == 0
        stop(sched)


def hog(nbytes: int) -> int:
    block = bytearray(nbytes)
    for i in range(0, nbytes, 4096):
        block[i] = 1
    time.sleep(5)
    return len(block)


def test_memory_limit_restarts_the_worker_and_the_task_errs() -> None:
    with Client(n_workers=1, threads_per_worker=1, memory_limit="400MB") as client:
        assert client.submit(slow_inc, 1).result(timeout=30) == 2
        with pytest.raises(KilledWorker):
            client.submit(hog, 600_000_000, pure=False).result(timeout=150)
        wait_for(lambda: len(client.scheduler_info()["workers"]) == 1, timeout=30,
                 what="worker back")
        assert client.submit(slow_inc, 2).result(timeout=30) == 3


def test_worker_dies_with_its_nanny_even_when_the_nanny_is_killed() -> None:
    from futurelab.nanny import pid_alive

    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    sched = start("scheduler", "--port", str(port))
    nanny = start("worker", address)
    try:
        with Client(address, timeout=10) as client:
            wait_for(lambda: len(client.scheduler_info()["workers"]) == 1, what="worker")
            [(addr, wpid)] = worker_pids(client).items()
            nanny.kill()  # SIGKILL: the nanny cannot clean up after itself
            nanny.wait(timeout=10)
            wait_for(lambda: not pid_alive(wpid), timeout=15, what="the orphaned worker to exit")
            wait_for(lambda: addr not in client.scheduler_info()["workers"], timeout=15,
                     what="the scheduler to drop it")
    finally:
        stop(sched)
