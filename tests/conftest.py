"""Shared fixtures: clients over in-process clusters; test modules shipped to workers by value."""
from __future__ import annotations

import os
from collections.abc import Iterator

# every message futurelab sends in the tests (in worker processes too) is checked against its
# declaration in futurelab.protocol.messages: set before futurelab is imported
os.environ["FUTURELAB_CHECK_MESSAGES"] = "1"

import pytest
from _util import wait_for as wait_for  # re-exported for older imports

import futurelab


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
