"""Shared fixtures: clients over in-process clusters, and condition waiting with deadlines."""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

import futurelab


def wait_for(predicate: Callable[[], object], timeout: float = 10.0, interval: float = 0.005,
             what: str = "condition") -> None:
    """Poll ``predicate`` until it is true; fail the test if ``timeout`` passes first."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not reached within {timeout} s")
        time.sleep(interval)


@pytest.fixture
def client() -> Iterator[futurelab.Client]:
    """A Client over an in-process cluster: 2 workers × 2 threads."""
    with futurelab.Client(processes=False, n_workers=2, threads_per_worker=2) as c:
        yield c


@pytest.fixture
def client1() -> Iterator[futurelab.Client]:
    """A Client over one in-process worker with one thread."""
    with futurelab.Client(processes=False, n_workers=1, threads_per_worker=1) as c:
        yield c


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Ship test modules' functions to worker processes by value (they cannot import tests/)."""
    import cloudpickle

    module = getattr(item, "module", None)
    if module is not None and module.__name__ not in cloudpickle.list_registry_pickle_by_value():
        cloudpickle.register_pickle_by_value(module)
