"""Helpers for the spec conformance tests: condition polling, file gates, lookups.

Imported by conftest.py and by the test modules (``from _spec_support import ...``):
a module of its own rather than ``conftest`` so that it cannot be confused with
another ``conftest`` module elsewhere in the test tree.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import futurelab

#: Seconds allowed for any single blocking call in a test (result, gather, wait...).
TIMEOUT = 30
#: Seconds allowed for closing a client/cluster in teardown.
CLOSE_TIMEOUT = 30


def _is_dask_shim() -> bool:
    """True when ``futurelab`` is only a re-export of dask.distributed."""
    location = Path(futurelab.__file__).resolve()
    if Path("/tmp/shim") in location.parents:
        return True
    client_cls = getattr(futurelab, "Client", None)
    return getattr(client_cls, "__module__", "").startswith("distributed")


IS_DASK = _is_dask_shim()


def wait_for(predicate, timeout=TIMEOUT, interval=0.01, message=None):
    """Poll ``predicate()`` until it returns something truthy; return that value.

    Fails the test with ``message`` (or the predicate's source name) and the last
    value seen if ``timeout`` seconds pass first.  Short sleeps here are polling, not
    synchronisation: the test proceeds as soon as the condition holds.
    """
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() > deadline:
            what = message or getattr(predicate, "__name__", "condition")
            pytest.fail(f"timed out after {timeout}s waiting for {what}; last value: {last!r}")
        time.sleep(interval)


def keys_in_cluster(client, keys):
    """The subset of ``keys`` that some worker holds, per ``client.who_has()``."""
    who_has = client.who_has()
    return {k for k in keys if k in who_has and len(who_has[k]) > 0}


def key_known(client, key):
    """True while the cluster still knows ``key`` (held anywhere or listed at all)."""
    return key in client.who_has()


def worker_addresses(client):
    return sorted(client.scheduler_info()["workers"])


def close_client(client):
    client.close(timeout=CLOSE_TIMEOUT)


class Gates:
    """File gates under a test's tmp_path: ``gates.path("a")`` is a file a task can
    wait on (``_spec_tasks.gated``); ``gates.open("a")`` releases it.  Teardown opens
    every gate so no task is left blocking a worker thread."""

    def __init__(self, root: Path):
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self._paths: dict[str, Path] = {}

    def path(self, name: str) -> str:
        p = self._paths.setdefault(name, self.root / f"gate-{name}")
        return str(p)

    def open(self, name: str) -> None:
        Path(self.path(name)).touch()

    def open_all(self) -> None:
        for name in list(self._paths):
            self.open(name)


def _futures_in(obj):
    if isinstance(obj, futurelab.Future):
        yield obj
    elif isinstance(obj, dict):
        for value in obj.values():
            yield from _futures_in(value)
    elif isinstance(obj, (list, tuple, set)):
        for value in obj:
            yield from _futures_in(value)


def gather(client, futures, **kwargs):
    """``client.gather(futures, **kwargs)``, bounded: first wait (at most ``TIMEOUT``)
    until every future in the (nested) structure is done, so that the gather itself
    only moves data that exists."""
    flat = list(_futures_in(futures))
    if flat:
        futurelab.wait(flat, timeout=TIMEOUT)
    return client.gather(futures, **kwargs)
