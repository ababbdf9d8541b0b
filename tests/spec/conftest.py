"""Fixtures for the futures-API conformance suite (tests/spec).

The suite runs the examples of ``shared/spec/futures-api.txt`` against whatever
``import futurelab`` resolves to.  It is written to pass against dask.distributed
itself, through a shim package that re-exports dask's names as ``futurelab``::

    PYTHONPATH=/tmp/shim python -m pytest tests/spec -p no:cacheprovider --timeout 120

Where futurelab deliberately goes further than dask (an issue requirement dask does
not meet), the test is marked ``@pytest.mark.futurelab_only`` and skipped when the
``futurelab`` under test is such a shim.

How task functions reach worker processes
-----------------------------------------
Task functions live in ``_spec_tasks.py`` beside this file.  A worker process does
not necessarily have ``tests/spec`` on its ``sys.path``, so a function pickled *by
reference* (module + name, cloudpickle's default for importable modules) could fail
to import there.  We therefore:

1. register ``_spec_tasks`` with ``cloudpickle.register_pickle_by_value`` so any
   cloudpickle-based serialiser ships the functions' code itself, and
2. as a belt-and-braces for serialisers that try stdlib pickle first, put this folder
   on ``sys.path`` and prepend it to ``PYTHONPATH`` *before any cluster starts*, so
   worker processes started later inherit it and can import ``_spec_tasks`` too.

Test modules themselves define no task functions at module level (closures defined
inside a test are pickled by value by cloudpickle anyway).

Synchronisation
---------------
Tests never sleep to synchronise: they wait on conditions with ``wait_for`` (a
poll-with-deadline in ``_spec_support.py``), hold tasks pending with file gates (the
``gates`` fixture; files rather than futurelab primitives, so these tests depend only
on the futures API), and bound every blocking call with a timeout.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import cloudpickle
import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(HERE)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
)

import _spec_tasks  # noqa: E402 - needs the path set up above
from _spec_support import IS_DASK, Gates, close_client, wait_for  # noqa: E402

import futurelab  # noqa: E402

cloudpickle.register_pickle_by_value(_spec_tasks)


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "futurelab_only: a futurelab requirement (from an issue) that dask.distributed "
        "does not meet; skipped when futurelab is the dask shim",
    )


def pytest_collection_modifyitems(config, items):
    if not IS_DASK:
        return
    skip = pytest.mark.skip(reason="futurelab_only: dask.distributed does not meet this")
    for item in items:
        if "futurelab_only" in item.keywords:
            item.add_marker(skip)


# --- fixtures ---------------------------------------------------------------------


@pytest.fixture
def gates(tmp_path):
    g = Gates(tmp_path / "gates")
    yield g
    g.open_all()


@pytest.fixture(scope="module", params=["threads", "processes"])
def mode(request):
    return request.param


@pytest.fixture(scope="module")
def client(mode):
    """One client per module and mode: 2 workers either way.

    threads:   ``Client(processes=False, n_workers=2, threads_per_worker=2)``
    processes: ``Client(n_workers=2, threads_per_worker=1)``

    Shared by the tests of a module, so tests use keys of their own (unique
    arguments or ``pure=False``) and never assert cluster-wide totals.
    """
    if mode == "threads":
        c = futurelab.Client(processes=False, n_workers=2, threads_per_worker=2)
    else:
        c = futurelab.Client(n_workers=2, threads_per_worker=1)
    try:
        wait_for(lambda: len(c.scheduler_info()["workers"]) == 2, message="2 workers")
        yield c
    finally:
        close_client(c)


@pytest.fixture
def single_thread_client():
    """A fresh in-process cluster with one worker of one thread."""
    c = futurelab.Client(n_workers=1, threads_per_worker=1, processes=False)
    try:
        wait_for(lambda: len(c.scheduler_info()["workers"]) == 1, message="1 worker")
        yield c
    finally:
        close_client(c)
