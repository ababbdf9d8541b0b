"""A focused set over real worker processes (2 workers x 1 thread), including holder death.

Holder death: a task in a worker process takes a lock (or lease) and blocks; a waiter queues up
behind it; the test SIGKILLs that worker process and the waiter must get the lock.  The waiter is
queued *before* the kill so that, FIFO, it is served before the killed task's rerun.
"""
from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from _util import wait_for

import futurelab
from futurelab import Client, get_worker
from futurelab.primitives.event import Event
from futurelab.primitives.introspect import primitives_state
from futurelab.primitives.lock import Lock
from futurelab.primitives.pubsub import Pub, Sub
from futurelab.primitives.queue import Queue
from futurelab.primitives.semaphore import Semaphore
from futurelab.primitives.variable import Variable

TIMEOUT = 30
#: measured holder-death release latencies (seconds), printed with -s; not asserted
LATENCIES: dict[str, float] = {}


@pytest.fixture
def pclient() -> Iterator[Client]:
    with futurelab.Client(n_workers=2, threads_per_worker=1) as c:
        yield c


def state(client: Client) -> dict[str, Any]:
    return client.sync(primitives_state, client)  # type: ignore[no-any-return]


def hold_lock(name: str) -> None:
    lock = Lock(name)
    if not lock.acquire(timeout=0.5):
        return  # a rerun after the kill: the lock went to the waiter, as it should
    Variable(f"{name}-holder").set(get_worker().address)
    Event(f"{name}-never").wait(timeout=TIMEOUT)  # hold it until killed


def hold_lease(name: str) -> None:
    sem = Semaphore(max_leases=1, name=name)
    if not sem.acquire(timeout=0.5):
        return
    Variable(f"{name}-holder").set(get_worker().address)
    Event(f"{name}-never").wait(timeout=TIMEOUT)


def kill_holder_and_wait(client: Client, name: str, kind: str, acquire: Any) -> None:
    addr = Variable(f"{name}-holder").get(timeout=TIMEOUT)
    pid = client.scheduler_info()["workers"][addr]["pid"]
    assert pid != os.getpid()
    got: list[float] = []

    def waiter() -> None:
        if acquire(timeout=TIMEOUT):
            got.append(time.monotonic())

    t = threading.Thread(target=waiter)
    t.start()
    wait_for(lambda: state(client)[kind][name]["waiters"], TIMEOUT, what="waiter queued")
    killed = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    t.join(TIMEOUT)
    assert got, f"{kind} {name!r} not released after its holder's process was killed"
    LATENCIES[name] = got[0] - killed
    print(f"{kind} released {got[0] - killed:.3f} s after SIGKILL")


def test_lock_released_when_holding_worker_process_dies(pclient: Client) -> None:
    holder = pclient.submit(hold_lock, "db-lock", pure=False)
    lock = Lock("db-lock")
    kill_holder_and_wait(pclient, "db-lock", "locks", lock.acquire)
    assert state(pclient)["locks"]["db-lock"]["holder"] == pclient.id
    lock.release()
    del holder


def test_lease_released_when_holding_worker_process_dies(pclient: Client) -> None:
    holder = pclient.submit(hold_lease, "db-sem", pure=False)
    sem = Semaphore(max_leases=1, name="db-sem")
    kill_holder_and_wait(pclient, "db-sem", "semaphores", sem.acquire)
    snap = state(pclient)["semaphores"]["db-sem"]
    assert snap["leases"] == 1 and snap["holders"][0]["client"] == pclient.id
    sem.release()
    sem.close()
    del holder


def test_task_in_other_process_acquires_after_kill(pclient: Client) -> None:
    """The waiter is a task on the other worker process rather than the client."""
    holder = pclient.submit(hold_lock, "x-lock", pure=False)
    addr = Variable("x-lock-holder").get(timeout=TIMEOUT)
    other = next(a for a in pclient.scheduler_info()["workers"] if a != addr)
    pid = pclient.scheduler_info()["workers"][addr]["pid"]

    def take(name: str) -> bool:
        lock = Lock(name)
        ok = lock.acquire(timeout=TIMEOUT)
        if ok:
            lock.release()
        return ok

    waiter = pclient.submit(take, "x-lock", workers=[other], pure=False)
    wait_for(lambda: state(pclient)["locks"]["x-lock"]["waiters"], TIMEOUT)
    os.kill(pid, signal.SIGKILL)
    assert waiter.result(timeout=TIMEOUT) is True
    del holder


def test_queue_and_variable_between_processes(pclient: Client) -> None:
    q = Queue("work")

    def produce(n: int) -> None:
        client = futurelab.get_client()
        for i in range(n):
            Queue("work").put(client.submit(lambda x: x * 10, i, pure=False))
        Variable("done").set(n)

    pclient.submit(produce, 5).result(timeout=TIMEOUT)
    assert Variable("done").get(timeout=TIMEOUT) == 5
    futures = [q.get(timeout=TIMEOUT) for _ in range(5)]
    assert sorted(pclient.gather(futures)) == [0, 10, 20, 30, 40]


def test_pubsub_between_processes(pclient: Client) -> None:
    def listen(n: int) -> list[Any]:
        sub = Sub("p-topic")  # acknowledged before it returns
        Event("p-listening").set()
        return [sub.get(timeout=TIMEOUT) for _ in range(n)]

    listener = pclient.submit(listen, 10)
    assert Event("p-listening").wait(timeout=TIMEOUT)
    sub_here = Sub("p-topic")
    pub = Pub("p-topic")
    for i in range(10):
        pub.put({"i": i})
    expected = [{"i": i} for i in range(10)]
    assert listener.result(timeout=TIMEOUT) == expected
    assert [sub_here.get(timeout=TIMEOUT) for _ in range(10)] == expected


def test_bad_input_from_a_task_is_an_error_there(pclient: Client) -> None:
    def bad() -> None:
        Queue("bad").put(object())

    with pytest.raises(TypeError, match="msgpack"):
        pclient.submit(bad).result(timeout=TIMEOUT)

    def not_holder() -> None:
        Lock("nobody").release()

    with pytest.raises(RuntimeError, match="not locked"):
        pclient.submit(not_holder).result(timeout=TIMEOUT)
    Queue("bad").put("fine")
    assert Queue("bad").get(timeout=TIMEOUT) == "fine"
