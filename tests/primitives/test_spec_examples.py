"""Every example of the spec's "Coordination Primitives" sections, as written, on both backends.

Each test runs over an in-process cluster (2 workers x 2 threads) and over real worker processes
(2 workers x 1 thread).  Where the spec loops forever the loop is bounded; every blocking call
has a timeout.  Task functions are defined at module level, as in the spec; conftest ships this
module to worker processes by value, globals included (a Queue global pickles by name).

Mutual exclusion is checked with a recorder shared by every process: a small file guarded by
``fcntl.flock`` holding "current peak" holder counts.
"""
from __future__ import annotations

import fcntl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _util import wait_for

import futurelab
from futurelab import Client, fire_and_forget, get_client
from futurelab.primitives.event import Event
from futurelab.primitives.introspect import primitives_state
from futurelab.primitives.lock import Lock
from futurelab.primitives.queue import Queue
from futurelab.primitives.semaphore import Semaphore
from futurelab.primitives.variable import Variable

TIMEOUT = 30


@pytest.fixture(params=["inproc", "processes"])
def client(request: pytest.FixtureRequest) -> Iterator[Client]:
    if request.param == "inproc":
        c = futurelab.Client(processes=False, n_workers=2, threads_per_worker=2)
    else:
        c = futurelab.Client(n_workers=2, threads_per_worker=1)
    with c:
        yield c


# ---------------------------------------------------------------------- a cross-process recorder
RECORD = ""


def _update(path: str, delta: int) -> None:
    with open(path, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        parts = f.read().split()
        cur, peak, total = (int(p) for p in parts) if parts else (0, 0, 0)
        cur += delta
        peak = max(peak, cur)
        total += delta > 0
        f.seek(0)
        f.truncate()
        f.write(f"{cur} {peak} {total}")


def enter_resource() -> None:
    """Count one more holder of the protected resource; stay a moment to overlap with others."""
    _update(RECORD, +1)
    time.sleep(0.02)  # the "work" in the critical section (widens any overlap), not a sync


def leave_resource() -> None:
    _update(RECORD, -1)


def read_record(path: str) -> tuple[int, int, int]:
    cur, peak, total = (int(p) for p in Path(path).read_text().split())
    return cur, peak, total


@pytest.fixture
def record(tmp_path: Path) -> Iterator[str]:
    global RECORD
    RECORD = str(tmp_path / "record")
    yield RECORD
    RECORD = ""


def state(client: Client) -> dict[str, Any]:
    return client.sync(primitives_state, client)  # type: ignore[no-any-return]


# ---------------------------------------------------------------------- Queues
filenames = [f"file-{i}.csv" for i in range(6)]


def load(filename: str) -> str:
    return filename.upper()


def process(data: str) -> str:
    return f"processed {data}"


queue: Queue


def load_and_submit(filename):  # type: ignore[no-untyped-def]
    data = load(filename)
    client = get_client()
    future = client.submit(process, data)
    queue.put(future)


def test_queue_load_and_submit(client: Client) -> None:
    global queue
    queue = Queue()
    for filename in filenames:
        future = client.submit(load_and_submit, filename)
        fire_and_forget(future)
    results = []
    for _ in filenames:  # the spec's `while True`, bounded
        future = queue.get(timeout=TIMEOUT)
        results.append(future.result(timeout=TIMEOUT))
    assert sorted(results) == sorted(f"processed {f.upper()}" for f in filenames)
    assert queue.qsize() == 0


def func(x):  # type: ignore[no-untyped-def]
    try:
        1 / x
    except Exception as e:  # noqa: BLE001 - the spec example, as written
        error_queue.put(str(e))


error_queue: Queue


def test_queue_error_messages(client: Client) -> None:
    global error_queue
    error_queue = Queue()
    futures = client.map(func, [1, 0, 2, 0], pure=False)
    client.gather(futures)
    assert [error_queue.get(timeout=TIMEOUT) for _ in range(2)] == ["division by zero"] * 2
    with pytest.raises(TimeoutError):
        error_queue.get(timeout=0.1)


def test_queue_large_data_via_scatter(client: Client) -> None:
    q = Queue()
    x = np.arange(100_000)  # my large numpy array
    with pytest.raises(TypeError, match="msgpack"):
        q.put(x)  # Don't do this!
    future = client.scatter(x)  # Do this instead
    q.put(future)
    q.put({'status': 'OK', 'stage=': 1234})  # Or use futures for metadata
    del future
    got = q.get(timeout=TIMEOUT)
    assert got.result(timeout=TIMEOUT).sum() == x.sum()
    assert q.get(timeout=TIMEOUT) == {'status': 'OK', 'stage=': 1234}


# ---------------------------------------------------------------------- Global Variables
def test_variable_stopping_criterion(client: Client) -> None:
    var = Variable('stopping-criterion')
    var.set(False)
    assert var.get() is False
    assert client.submit(lambda: Variable('stopping-criterion').get(timeout=TIMEOUT)).result(
        timeout=TIMEOUT) is False


def test_variable_scattered_parameters(client: Client) -> None:
    var = Variable('parameters')
    parameters = np.linspace(0, 1, 1000)
    future = client.scatter(parameters)
    var.set(future)
    del future

    def use_parameters() -> float:
        return float(Variable('parameters').get(timeout=TIMEOUT).result(timeout=TIMEOUT).sum())

    assert client.submit(use_parameters).result(timeout=TIMEOUT) == pytest.approx(
        parameters.sum())


# ---------------------------------------------------------------------- Locks
def test_lock_with_statement(client: Client) -> None:
    lock = Lock()
    with lock:
        assert lock.locked()  # access protected resource
    assert not lock.locked()


def load_db(fn):  # type: ignore[no-untyped-def]
    with Lock('the-production-database'):
        enter_resource()  # read data from filename using some sensitive source
        leave_resource()
        return fn


def test_lock_by_name_in_tasks(client: Client, record: str) -> None:
    futures = client.map(load_db, filenames)
    futurelab.wait(futures, timeout=TIMEOUT)
    assert client.gather(futures) == filenames
    assert read_record(record) == (0, 1, len(filenames))  # never two holders


def load_passed(fn, lock=None):  # type: ignore[no-untyped-def]
    with lock:
        enter_resource()
        leave_resource()
        return fn


def test_lock_passed_to_tasks(client: Client, record: str) -> None:
    lock = Lock()
    futures = client.map(load_passed, filenames, lock=lock)
    futurelab.wait(futures, timeout=TIMEOUT)
    assert client.gather(futures) == filenames
    assert read_record(record) == (0, 1, len(filenames))
    assert not lock.locked()


# ---------------------------------------------------------------------- Events
def waiting_client() -> bool:
    event = Event("my-event-1")
    return event.wait(timeout=TIMEOUT)  # type: ignore[no-any-return]


def test_event_between_clients(client: Client) -> None:
    # "One one client": a task's client waits ...
    waiter = client.submit(waiting_client, pure=False)
    wait_for(lambda: state(client)["events"].get("my-event-1", {}).get("waiters"),
             TIMEOUT, what="the waiter")
    assert not waiter.done()
    # ... "In another client": a second Client sets it
    with Client(client.scheduler_address, set_as_default=False) as other:
        event = Event("my-event-1", client=other)
        event.set()
    assert waiter.result(timeout=TIMEOUT) is True
    Event("my-event-1").clear()


def wait_for_event(x):  # type: ignore[no-untyped-def]
    event = Event("my-event")
    assert event.wait(timeout=TIMEOUT)
    # at this point, all function calls
    # are in sync once the event is set
    return x


def test_event_every_waiter_wakes(client: Client) -> None:
    futures = client.map(wait_for_event, range(10))
    nthreads = sum(client.nthreads().values())
    wait_for(lambda: len(state(client)["events"].get("my-event", {}).get("waiters", []))
             == nthreads, TIMEOUT, what="every running task waiting")
    Event("my-event").set()
    futurelab.wait(futures, timeout=TIMEOUT)
    assert client.gather(futures) == list(range(10))
    assert Event("my-event").is_set()
    Event("my-event").clear()
    assert not Event("my-event").is_set()


# ---------------------------------------------------------------------- Semaphore
def access_limited(val, sem):  # type: ignore[no-untyped-def]
    with sem:
        # Interact with the DB
        enter_resource()
        leave_resource()
        return


def test_semaphore_access_limited(client: Client, record: str) -> None:
    sem = Semaphore(max_leases=2, name="database")
    futures = client.map(access_limited, range(10), sem=sem)
    futurelab.wait(futures, timeout=TIMEOUT)
    client.gather(futures)
    sem.close()
    cur, peak, total = read_record(record)
    assert cur == 0 and total == 10
    assert 1 <= peak <= 2  # never more than max_leases holders at once


def test_semaphore_access_limited_many_threads(record: str) -> None:
    """The same with more threads than leases, so the limit is what holds them back."""
    with Client(processes=False, n_workers=2, threads_per_worker=4) as client:
        sem = Semaphore(max_leases=2, name="database")
        futures = client.map(access_limited, range(24), sem=sem)
        futurelab.wait(futures, timeout=TIMEOUT)
        client.gather(futures)
        sem.close()
    cur, peak, total = read_record(record)
    assert (cur, total) == (0, 24) and peak == 2


def test_lock_contended_by_threads(record: str) -> None:
    """Eight threads in one process contend for one Lock object: one holder at a time."""
    with Client(processes=False, n_workers=1, threads_per_worker=1):
        lock = Lock()
        errors: list[BaseException] = []

        def worker() -> None:
            try:
                for _ in range(5):
                    assert lock.acquire(timeout=TIMEOUT)
                    enter_resource()
                    leave_resource()
                    lock.release()
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(TIMEOUT)
        assert not errors
    assert read_record(record) == (0, 1, 40)

