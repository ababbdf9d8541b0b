"""Log shapes, the same test against dask.distributed and futurelab (differential): the
cluster's ``get_logs()`` and the client's ``get_scheduler_logs`` / ``get_worker_logs``."""
from __future__ import annotations

import importlib
import logging

import pytest

pytestmark = pytest.mark.timeout(180)
LEVELS = {logging.getLevelName(n) for n in (10, 20, 30, 40, 50)}


def is_lines(value: object) -> bool:
    return isinstance(value, tuple) and all(
        isinstance(e, tuple) and len(e) == 2 and e[0] in LEVELS and isinstance(e[1], str)
        for e in value)


@pytest.mark.parametrize("lib", ["futurelab", "distributed"])
def test_log_shapes(lib: str) -> None:
    mod = pytest.importorskip(lib)
    dashboard = None if lib == "futurelab" else ":0"  # dask starts one even for None
    with mod.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                          dashboard_address=dashboard) as cluster, \
            mod.Client(cluster) as client:
        workers = set(client.scheduler_info()["workers"])
        sched = client.get_scheduler_logs()
        assert is_lines(sched)
        assert len(client.get_scheduler_logs(n=1)) <= 1
        per_worker = client.get_worker_logs()
        assert set(per_worker) == workers
        assert all(is_lines(v) and v for v in per_worker.values())  # processes log at INFO
        assert all(len(v) <= 1 for v in client.get_worker_logs(n=1).values())
        one = sorted(workers)[0]
        assert set(client.get_worker_logs(workers=[one])) == {one}
        logs = cluster.get_logs()
        assert isinstance(logs, dict) and set(logs) == {"Cluster", "Scheduler", *workers}
        assert all(isinstance(v, str) for v in logs.values())
        assert set(cluster.get_logs(cluster=False, scheduler=False)) == workers
        # newest first, in both shapes (lines start with their time stamp)
        stamps = [line[:23] for _, line in per_worker[one]]
        assert stamps == sorted(stamps, reverse=True)
        joined = logs[one].split("\n")
        both = set(joined) & {line for _, line in per_worker[one]}
        assert both
        assert [line for line in joined if line in both] == \
            [line for _, line in per_worker[one] if line in both][:len(
                [line for line in joined if line in both])]


def test_nanny_logs_are_refused_clearly() -> None:
    futurelab = importlib.import_module("futurelab")
    with futurelab.Client(processes=False, n_workers=1, dashboard_address=None) as client:
        with pytest.raises(NotImplementedError, match="nanny"):
            client.get_worker_logs(nanny=True)
        with pytest.raises(ValueError, match="non-negative"):
            client.get_scheduler_logs(n=-1)
