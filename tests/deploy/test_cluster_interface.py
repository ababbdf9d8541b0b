"""The one cluster interface, on LocalCluster: sync and async, threads and processes, whoever
made the cluster; shapes compared with dask.distributed's where dask has them."""
from __future__ import annotations

import asyncio
import math
import re
from typing import Any

import pytest
from _util import wait_for

from futurelab import Client, LocalCluster
from futurelab.deploy import Cluster, ClusterError, Log, Logs

pytestmark = pytest.mark.timeout(180)

KW = {"dashboard_address": None, "threads_per_worker": 1}


@pytest.fixture(params=[False, True], ids=["threads", "processes"])
def processes(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


def inc(x: int) -> int:
    return x + 1


# ---------------------------------------------------------------------- sync
def test_scale_close_and_context_manager(processes: bool) -> None:
    with LocalCluster(n_workers=1, processes=processes, **KW) as cluster:
        assert isinstance(cluster, Cluster)
        with Client(cluster) as client:
            assert client.submit(inc, 1).result(timeout=30) == 2
            assert cluster.scale(3) is None
            assert len(cluster.workers) == 3
            cluster.wait_for_workers(3, timeout=30)
            assert len(client.scheduler_info()["workers"]) == 3
            cluster.scale(1)
            assert len(cluster.workers) == 1
            wait_for(lambda: len(client.scheduler_info()["workers"]) == 1, timeout=30,
                     what="two workers retired")
            assert client.gather(client.map(inc, range(20))) == list(range(1, 21))
    assert cluster.status == "closed"
    assert cluster.close() is None  # twice: nothing to do


def test_clients_own_cluster_works_from_sync_code(processes: bool) -> None:
    """The class of bug of issue 16: Client()'s own cluster returned un-awaited coroutines."""
    with Client(n_workers=1, processes=processes, **KW) as client:
        cluster = client.cluster
        assert cluster.scale(2) is None
        assert len(client.scheduler_info()["workers"]) == 2
        logs = cluster.get_logs()
        assert isinstance(logs, Logs) and "Scheduler" in logs
        adaptive = cluster.adapt(minimum=1, maximum=2, interval="100ms")
        assert adaptive.minimum == 1 and adaptive.interval == pytest.approx(0.1)
        adaptive.stop()
        assert cluster.wait_for_workers(1, timeout="10s") is None
        assert cluster.close() is None
        assert cluster.status == "closed"


def test_sizes_and_durations_as_dask_accepts_them() -> None:
    with LocalCluster(n_workers=1, processes=True, memory_limit=400e6, timeout="30s",
                      **KW) as cluster:
        assert cluster.memory_limit == 400_000_000
        [ws] = cluster.scheduler.workers.values()
        assert ws.memory_limit == 400_000_000
    with LocalCluster(n_workers=1, processes=False, memory_limit="4GB", **KW) as cluster:
        assert cluster.memory_limit == 4_000_000_000
        [ws] = cluster.scheduler.workers.values()
        assert ws.memory_limit == 4_000_000_000
        cluster.scale(0)
        a = cluster.adapt(minimum_memory="8GB", maximum_memory="40 GB", interval="500ms",
                          target_duration="2s")
        assert (a.minimum, a.maximum, a.interval, a.target_duration) == (2, 10, 0.5, 2.0)
        a.stop()


def test_scheduler_workers_in_process_as_dask(processes: bool) -> None:
    with LocalCluster(n_workers=2, processes=processes, **KW) as cluster:
        workers = cluster.scheduler.workers
        assert len(workers) == 2
        for address, ws in workers.items():
            assert ws.address == address and ws.nthreads == 1
            assert ws.name in cluster.workers
            assert isinstance(ws.pid, int) and ws.pid > 0
            assert isinstance(ws.memory_limit, int)


# ---------------------------------------------------------------------- async
def test_async_cluster_in_its_own_loop(processes: bool) -> None:
    async def main() -> None:
        async with LocalCluster(n_workers=1, processes=processes, asynchronous=True,
                                **KW) as cluster:
            async with Client(cluster, asynchronous=True) as client:
                assert await client.submit(inc, 2) == 3
                await cluster.scale(2)
                assert len(cluster.workers) == 2
                await cluster.wait_for_workers(2, timeout=30)
                logs = await cluster.get_logs()
                assert set(logs) >= {"Cluster", "Scheduler"}
                # not awaited: still carried out (no silent no-op)
                cluster.scale(1)
                await asyncio.wait_for(_until(lambda: len(cluster.workers) == 1), 30)
        assert cluster.status == "closed"
    asyncio.run(main())


async def _until(predicate: Any) -> None:
    while not predicate():
        await asyncio.sleep(0.01)


# ---------------------------------------------------------------------- views and logs
def test_repr_as_dask_shows_workers_threads_memory() -> None:
    with LocalCluster(n_workers=2, processes=True, memory_limit="400MB", **KW) as cluster:
        text = repr(cluster)
        assert re.fullmatch(rf"LocalCluster\({cluster.name}, 'tcp://127\.0\.0\.1:\d+', "
                            r"workers=2, threads=2, memory=762\.94 MiB\)", text), text
        html = cluster._repr_html_()
        assert "LocalCluster-0" in html and "2 workers" in html and "762.94 MiB" in html


def test_repr_of_dask_has_the_same_shape() -> None:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=":0", memory_limit="400MB") as cluster:
        assert re.fullmatch(r"LocalCluster\(\w+, 'inproc://[^']+', workers=2, threads=2, "
                            r"memory=762\.94 MiB\)", repr(cluster)), repr(cluster)


def test_get_logs_shapes_as_dask(processes: bool) -> None:
    with LocalCluster(n_workers=2, processes=processes, **KW) as cluster, \
            Client(cluster) as client:
        logs = cluster.get_logs()
        assert isinstance(logs, dict) and all(isinstance(v, Log) and isinstance(v, str)
                                              for v in logs.values())
        assert set(logs) == {"Cluster", "Scheduler", *client.scheduler_info()["workers"]}
        assert "starting 2 worker(s)" in logs["Cluster"]
        if processes:  # each worker process logs its registration
            assert all("registered with" in logs[a] for a in cluster.scheduler.workers)
        assert set(cluster.get_logs(cluster=False, workers=False)) == {"Scheduler"}
        one = next(iter(cluster.scheduler.workers))
        assert set(cluster.get_logs(cluster=False, scheduler=False, workers=[one])) == {one}


# ---------------------------------------------------------------------- bad input
@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"minimum": 3, "maximum": 1}, ValueError, "larger than maximum"),
    ({"minimum": -1}, ValueError, "minimum must not be negative"),
    ({"maximum": "many"}, TypeError, "maximum must be a whole number"),
    ({"interval": "soon"}, ValueError, "duration"),
    ({"interval": 0}, ValueError, "interval must be a positive"),
    ({"wait_count": 0}, ValueError, "wait_count"),
    ({"target_duration": -1}, ValueError, "target_duration"),
    ({"minimum_memory": "1GB"}, ValueError, "memory limit"),
    ({"minimum_cores": 4, "maximum_cores": 2}, ValueError, "larger than maximum"),
    ({"bogus": 1}, TypeError, "bogus"),
])
def test_adapt_bad_input_changes_nothing(kwargs: dict[str, Any], error: type[Exception],
                                         match: str) -> None:
    with LocalCluster(n_workers=1, processes=False, **KW) as cluster:
        before = cluster.adapt(minimum=1, maximum=1, interval="50ms")
        with pytest.raises(error, match=match):
            cluster.adapt(**kwargs)
        assert cluster._adaptive is before and before.running  # the old one still runs
        before.stop()


@pytest.mark.parametrize("n", [-1, 1.5, "2", None])
def test_scale_bad_input(n: Any) -> None:
    with LocalCluster(n_workers=1, processes=False, **KW) as cluster:
        with pytest.raises(ValueError, match="non-negative integer"):
            cluster.scale(n)
        assert len(cluster.workers) == 1


def test_unknown_and_unsupported_arguments_are_named() -> None:
    with pytest.raises(TypeError, match="unexpected keyword argument.*'nworkers'"):
        LocalCluster(nworkers=2)
    with pytest.raises(TypeError, match="'worker_class'"):
        LocalCluster(worker_class=object)
    with pytest.raises(ValueError, match="inproc"):
        LocalCluster(processes=True, protocol="inproc")


def test_a_worker_that_cannot_start_is_named() -> None:
    with LocalCluster(n_workers=0, processes=True, memory_limit="1kB", **KW) as cluster:
        # 1 kB: the nanny kills the process over and over until it gives up
        with pytest.raises(ClusterError, match="LocalCluster-0"):
            cluster.scale(1)
        assert cluster.workers == {}


def test_adaptive_bounds_from_cores() -> None:
    with LocalCluster(n_workers=0, processes=False, threads_per_worker=2,
                      dashboard_address=None) as cluster:
        a = cluster.adapt(minimum_cores=3, maximum_cores=9)
        assert (a.minimum, a.maximum) == (2, 4)
        a.stop()
        b = cluster.adapt(maximum=math.inf)
        assert b.maximum == math.inf
        b.stop()
