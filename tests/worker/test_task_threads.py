"""Task threads feed the worker's state machine themselves (Worker.handle is thread-safe).

A thread that finishes a task reports it and starts the next one it is handed; these tests
pin down what that must never do: run user code (unpickling a task's function or arguments)
while holding the state machine's lock, or lose order or results under a stream of tasks.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from futurelab import Client, get_worker

pytestmark = pytest.mark.timeout(120)


def _lock_free_in_other_threads() -> bool:
    """True when another thread can take the worker's state lock (so we do not hold it)."""
    lock = get_worker()._state_lock
    got: list[bool] = []

    def probe() -> None:
        ok = lock.acquire(timeout=5)
        if ok:
            lock.release()
        got.append(ok)

    t = threading.Thread(target=probe)
    t.start()
    t.join(10)
    return got == [True]


class ProbesOnUnpickle:
    """Unpickles (on the worker) into whether the worker's state lock was free then."""

    def __reduce__(self) -> Any:
        return (_lock_free_in_other_threads, ())


def identity(x: Any) -> Any:
    return x


def slow_inc(x: int) -> int:
    import time
    time.sleep(0.05)
    return x + 1


@pytest.fixture(scope="module")
def pclient() -> Iterator[Client]:
    with Client(processes=True, n_workers=1, threads_per_worker=1,
                dashboard_address=None) as c:
        yield c


def test_arguments_unpickle_outside_the_state_lock(pclient: Client) -> None:
    # the first task is started by the loop; the second by the task thread that ran the first
    first = pclient.submit(slow_inc, 1, pure=False)
    second = pclient.submit(identity, ProbesOnUnpickle(), pure=False)
    assert first.result(timeout=60) == 2
    assert second.result(timeout=60) is True


def test_a_stream_of_short_tasks_keeps_every_result(pclient: Client) -> None:
    futures = pclient.map(slow_inc, range(20), pure=False) + \
        pclient.map(identity, range(2000), pure=False)
    assert pclient.gather(futures) == [i + 1 for i in range(20)] + list(range(2000))


def test_unpickling_that_starts_the_workers_client_does_not_deadlock(pclient: Client) -> None:
    first = pclient.submit(slow_inc, 1, pure=False)
    second = pclient.submit(identity, StartsClient(), pure=False)
    assert first.result(timeout=60) == 2
    assert second.result(timeout=60) == "running"


class StartsClient:
    def __reduce__(self) -> Any:
        return (_worker_client_status, ())


def _worker_client_status() -> str:
    return str(get_worker().get_client().status)
