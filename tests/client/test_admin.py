"""Client's administration methods (dask.distributed's names) over in-process clusters."""
from __future__ import annotations

import asyncio
import concurrent.futures as cf
import pickle
import threading
import warnings
from typing import Any

import pytest
from _util import wait_for

import futurelab
from futurelab import Client, LocalCluster, get_worker
from futurelab.versions import get_versions, mismatches

pytestmark = pytest.mark.timeout(120)


def inc(x: int) -> int:
    return x + 1


def boom() -> None:
    raise ZeroDivisionError("boom")


# ---------------------------------------------------------------------- wait_for_workers
def test_wait_for_workers() -> None:
    with LocalCluster(n_workers=2, processes=False, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        client.wait_for_workers(2, timeout=10)
        with pytest.raises(TimeoutError, match="2/3 workers"):
            client.wait_for_workers(3, timeout=0.1)
        done = threading.Event()

        def waiter() -> None:
            client.wait_for_workers(3, timeout=30)
            done.set()

        t = threading.Thread(target=waiter)
        t.start()
        cluster.scale(3)
        t.join(30)
        assert done.is_set()


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", None, True])
def test_wait_for_workers_bad_input(client: Client, bad: Any) -> None:
    with pytest.raises(ValueError, match="positive integer"):
        client.wait_for_workers(bad)
    with pytest.raises(TypeError, match="timeout"):
        client.wait_for_workers(1, timeout="soon")  # type: ignore[arg-type]


# ---------------------------------------------------------------------- run
def test_run_on_every_worker(client: Client) -> None:
    workers = sorted(client.scheduler_info()["workers"])
    assert client.run(lambda x, y=0: x + y, 1, y=2) == dict.fromkeys(workers, 3)
    names = client.run(lambda dask_worker: dask_worker.name)
    assert sorted(names) == workers and all(n.startswith("LocalCluster") for n in names.values())
    assert client.run(lambda: get_worker().address) == {w: w for w in workers}
    assert client.run(lambda dask_worker: dask_worker.address, workers=workers[:1]) == \
        {workers[0]: workers[0]}
    # by name, as a single string too
    name = names[workers[1]]
    assert client.run(lambda dask_worker: dask_worker.name, workers=name) == {workers[1]: name}


def test_run_coroutine_function_and_no_wait(client: Client) -> None:
    async def held(dask_worker: Any) -> int:
        await asyncio.sleep(0)
        return len(dask_worker.data)

    assert set(client.run(held).values()) == {0}
    started = threading.Event()

    async def background() -> None:
        started.set()

    assert client.run(background, wait=False) is None
    assert started.wait(10)


def test_run_on_error(client: Client) -> None:
    with pytest.raises(ZeroDivisionError, match="boom") as info:
        client.run(boom)
    assert any(f.name == "boom" for f in __import__("traceback").extract_tb(info.tb))
    returned = client.run(boom, on_error="return")
    assert len(returned) == 2 and all(isinstance(e, ZeroDivisionError)
                                      for e in returned.values())
    assert client.run(boom, on_error="ignore") == {}


def test_run_bad_input(client: Client) -> None:
    with pytest.raises(ValueError, match="on_error must be"):
        client.run(inc, 1, on_error="skip")
    with pytest.raises(TypeError, match="callable"):
        client.run(42)
    with pytest.raises(NotImplementedError, match="nanny=True"):
        client.run(inc, 1, nanny=True)
    unreachable = client.run(inc, 1, workers=["inproc://nowhere/1"], on_error="return")
    assert isinstance(unreachable["inproc://nowhere/1"], Exception)


def test_run_on_scheduler(client: Client) -> None:
    assert client.run_on_scheduler(
        lambda dask_scheduler: dask_scheduler.address) == client.scheduler_address
    assert client.run_on_scheduler(lambda a, b=1: a * b, 3, b=4) == 12

    async def workers(dask_scheduler: Any) -> int:
        await asyncio.sleep(0)
        return len(dask_scheduler.state.workers)

    assert client.run_on_scheduler(workers) == 2
    with pytest.raises(ZeroDivisionError, match="boom"):
        client.run_on_scheduler(boom)
    with pytest.raises(TypeError, match="callable"):
        client.run_on_scheduler("not a function")


# ---------------------------------------------------------------------- restart
def test_restart_cancels_everything_and_clears_workers(client: Client) -> None:
    futures = client.map(inc, range(20))
    client.gather(futures)
    [scattered] = client.scatter([123])
    client.publish_dataset(scattered, name="before-restart")
    client.restart(timeout=30)
    assert {f.status for f in [*futures, scattered]} == {"cancelled"}
    assert client.futures == {}
    assert client.list_datasets() == []
    wait_for(lambda: client.run_on_scheduler(
        lambda dask_scheduler: len(dask_scheduler.state.tasks)) == 0, what="no tasks")
    assert set(client.run(lambda dask_worker: len(dask_worker.data)).values()) == {0}
    assert len(client.scheduler_info()["workers"]) == 2
    # the same keys compute again
    assert client.gather(client.map(inc, range(20))) == list(range(1, 21))


def test_restart_bad_timeout(client: Client) -> None:
    with pytest.raises(TypeError, match="timeout"):
        client.restart(timeout="long")  # type: ignore[arg-type]


# ---------------------------------------------------------------------- executor
def test_executor(client: Client) -> None:
    with client.get_executor(pure=False) as ex:
        fut = ex.submit(inc, 1)
        assert isinstance(fut, cf.Future) and fut.result(timeout=10) == 2
        assert list(ex.map(inc, range(5), timeout=10)) == [1, 2, 3, 4, 5]
        assert list(ex.map(pow, [2, 3], [5, 2])) == [32, 9]
        assert list(ex.map(inc, [])) == []
        failing = ex.submit(boom)
        with pytest.raises(ZeroDivisionError):
            failing.result(timeout=10)
        many = [ex.submit(inc, i) for i in range(10)]
        done, not_done = cf.wait(many, timeout=10)
        assert not not_done and sorted(f.result() for f in done) == list(range(1, 11))
        assert sorted(f.result() for f in cf.as_completed(many, timeout=10)) == \
            list(range(1, 11))
    with pytest.raises(RuntimeError, match="after shutdown"):
        ex.submit(inc, 1)


def test_executor_cancel(client: Client) -> None:
    gate = threading.Event()
    ex = client.get_executor()
    blocked = ex.submit(gate.wait, 30)
    assert blocked.cancel()
    done, _ = cf.wait([blocked], timeout=10)
    assert done == {blocked} and blocked.cancelled()
    gate.set()
    ex.shutdown(wait=False)


def test_executor_bad_kwargs(client: Client) -> None:
    with pytest.raises(TypeError, match="unsupported arguments"):
        client.get_executor(priority=1)


# ---------------------------------------------------------------------- current client
def test_current_and_as_current(client: Client) -> None:
    assert Client.current() is client
    assert futurelab.default_client() is client
    with pytest.raises(ValueError, match="No clients found"):
        Client.current(allow_global=False)
    other = Client(client.cluster, set_as_default=False)
    try:
        with other.as_current():
            assert Client.current() is other
            assert Client.current(allow_global=False) is other
            assert futurelab.get_client() is other
            with client.as_current():
                assert Client.current() is client
            assert Client.current() is other
            # futures unpickled here belong to the current client
            original = client.submit(inc, 1)
            fut = pickle.loads(pickle.dumps(original))
            assert fut.client is other and fut.result(timeout=10) == 2
        assert Client.current() is client
    finally:
        other.close()


def test_current_without_clients() -> None:
    with pytest.raises(ValueError, match="No clients found"):
        Client.current()


# ---------------------------------------------------------------------- shutdown
def test_shutdown_closes_own_cluster() -> None:
    client = Client(processes=False, n_workers=1, dashboard_address=None)
    cluster = client.cluster
    client.shutdown()
    assert client.status == "closed" and cluster.status == "closed"


def test_shutdown_by_address_terminates_scheduler() -> None:
    with LocalCluster(n_workers=2, processes=False, dashboard_address=None) as cluster:
        assert cluster.scheduler is not None
        client = Client(cluster.scheduler_address)
        client.shutdown()
        assert client.status == "closed"
        wait_for(lambda: cluster.scheduler.closed.is_set(), what="scheduler closed")
        wait_for(lambda: all(w.closed.is_set() for w in cluster.workers.values()),
                 what="workers closed")


# ---------------------------------------------------------------------- retire_workers
def test_retire_workers_moves_data(client: Client) -> None:
    a, b = sorted(client.scheduler_info()["workers"])
    [x] = client.scatter([41], workers=[a])
    y = client.submit(inc, x, workers=[a])
    assert y.result(timeout=10) == 42
    retired = client.retire_workers(workers=[a])
    assert list(retired) == [a] and retired[a]["name"]
    assert list(client.scheduler_info()["workers"]) == [b]
    assert client.who_has([x, y]) == {x.key: [b], y.key: [b]}
    assert client.gather([x, y]) == [41, 42]


def test_retire_last_worker_with_data_stays(client1: Client) -> None:
    [only] = client1.scheduler_info()["workers"]
    [x] = client1.scatter([1])
    assert client1.retire_workers(workers=[only]) == {}
    assert client1.retire_workers() == {}  # idle, but the only home of x
    assert list(client1.scheduler_info()["workers"]) == [only] and x.result(timeout=10) == 1


def test_retire_workers_by_name_and_bad_input(client: Client) -> None:
    info = client.scheduler_info()["workers"]
    address, worker = sorted(info.items())[1]
    assert list(client.retire_workers(names=[worker["name"]])) == [address]
    with pytest.raises(TypeError, match="mutually exclusive"):
        client.retire_workers(workers=[address], names=["x"])
    with pytest.raises(TypeError, match="unexpected arguments"):
        client.retire_workers(n=1)
    assert client.retire_workers(workers=["inproc://nowhere/1"]) == {}


# ---------------------------------------------------------------------- datasets
def test_datasets_shared_between_clients(client: Client) -> None:
    futures = client.map(inc, range(3))
    client.publish_dataset(futures, name="incs")
    client.publish_dataset(one=futures[0])
    client.publish_dataset({"two": futures[1]})
    assert client.list_datasets() == ["incs", "one", "two"]
    keys = [f.key for f in futures]
    del futures
    other = Client(client.cluster, set_as_default=False)
    try:
        got = other.get_dataset("incs")
        assert [f.key for f in got] == keys and all(f.client is other for f in got)
        assert other.gather(got) == [1, 2, 3]
        assert other.get_dataset(["one", "two"])[1].result(timeout=10) == 2
        other.unpublish_dataset(["incs", "one"])
        assert other.list_datasets() == ["two"]
        # `other` still holds the data it took
        assert other.gather(got) == [1, 2, 3]
    finally:
        other.close()


def test_publish_errors_and_override(client: Client) -> None:
    a, b = client.submit(inc, 1), client.submit(inc, 2)
    client.publish_dataset(a, name="x")
    with pytest.raises(KeyError, match="Dataset x already exists"):
        client.publish_dataset(b, name="x")
    assert client.get_dataset("x").key == a.key
    client.publish_dataset(b, name="x", override=True)
    assert client.get_dataset("x").key == b.key
    with pytest.raises(KeyError, match="'missing' not found"):
        client.get_dataset("missing")
    assert client.get_dataset("missing", default=None) is None
    with pytest.raises(ValueError, match="name='ds'"):
        client.publish_dataset(name="x")
    with pytest.raises(ValueError, match=r"\{name: value\} dict"):
        client.publish_dataset(a)
    with pytest.raises(ValueError, match="needs something to publish"):
        client.publish_dataset()
    with pytest.raises(TypeError, match="Could not serialize dataset 'lock'"):
        client.publish_dataset(lock=threading.Lock())
    with pytest.raises(TypeError, match="string or a number"):
        client.publish_dataset(a, name=object())
    client.unpublish_dataset("never-published")  # ignored, as dask does


def test_dataset_pins_its_futures(client: Client) -> None:
    x = client.submit(inc, 10)
    key = x.key
    client.publish_dataset(x, name="pinned")
    x.result(timeout=10)
    del x
    wait_for(lambda: key not in client.futures, what="local release")
    assert client.get_dataset("pinned").result(timeout=10) == 11
    client.unpublish_dataset("pinned")
    wait_for(lambda: client.run_on_scheduler(
        lambda dask_scheduler: key not in dask_scheduler.state.tasks), what="key forgotten")


def test_datasets_mapping(client: Client) -> None:
    client.datasets["a"] = client.submit(inc, 1)
    assert "a" in client.datasets and len(client.datasets) == 1 and list(client.datasets) == ["a"]
    assert client.datasets["a"].result(timeout=10) == 2
    with pytest.raises(KeyError):
        client.datasets["b"]
    del client.datasets["a"]
    assert len(client.datasets) == 0 and dict(client.datasets) == {}


def test_plain_data_dataset(client: Client) -> None:
    client.publish_dataset({"x": 1, "nested": [client.submit(inc, 2)]}, name="plain")
    got = client.get_dataset("plain")
    assert got["x"] == 1 and got["nested"][0].result(timeout=10) == 3


# ---------------------------------------------------------------------- introspection
def test_nbytes_and_processing(client: Client) -> None:
    futures = client.map(inc, range(3))
    client.gather(futures)
    sizes = client.nbytes(summary=False)
    assert set(sizes) == {f.key for f in futures} and all(n > 0 for n in sizes.values())
    assert client.nbytes() == {"inc": sum(sizes.values())}
    first = futures[0].key
    assert client.nbytes(keys=[futures[0]], summary=False) == {first: sizes[first]}
    gate = threading.Event()
    blocked = client.submit(gate.wait, 30)
    wait_for(lambda: any(blocked.key in keys for keys in client.processing().values()),
             what="task processing")
    [where] = [w for w, keys in client.processing().items() if blocked.key in keys]
    assert client.processing(where) == {where: [blocked.key]}
    assert client.processing(["inproc://nowhere/1"]) == {"inproc://nowhere/1": []}
    gate.set()
    assert blocked.result(timeout=10) is True


def test_get_versions(client: Client) -> None:
    versions = client.get_versions()
    assert set(versions) == {"scheduler", "workers", "client"}
    assert len(versions["workers"]) == 2
    for info in [versions["scheduler"], versions["client"], *versions["workers"].values()]:
        assert info["packages"]["futurelab"] == futurelab.__version__
        assert info["host"]["python"].startswith(
            ".".join(map(str, __import__("sys").version_info[:2])))
    assert "msgpack" in client.get_versions(packages=["msgpack"])["client"]["packages"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        client.get_versions(check=True)


def test_version_mismatch_table() -> None:
    ours = get_versions()
    theirs = {"host": ours["host"], "packages": {**ours["packages"], "cloudpickle": "0.0"}}
    text = mismatches(ours, ours, {"tcp://a:1": theirs, "tcp://b:1": None})
    assert text.startswith("Mismatched versions found")
    assert "cloudpickle" in text and "0.0" in text and "UNKNOWN" in text
    assert mismatches(ours, ours, {"tcp://a:1": ours}) == ""


def test_metadata(client: Client) -> None:
    client.set_metadata("x", 123)
    assert client.get_metadata("x") == 123
    client.set_metadata(["x", "y"], 1)  # x was not a dict: replaced by one
    client.set_metadata(["x", "w", "z"], [1, "two"])
    assert client.get_metadata("x") == {"y": 1, "w": {"z": [1, "two"]}}
    assert client.get_metadata(["x", "w"]) == {"z": [1, "two"]}
    with pytest.raises(KeyError):
        client.get_metadata("missing")
    with pytest.raises(KeyError):
        client.get_metadata(["x", "nope", "deeper"])
    assert client.get_metadata(["x", "nope"], default=0) == 0
    with pytest.raises(TypeError, match="msgpack-encodable"):
        client.set_metadata("bad", object())


def test_upload_file_errors(client: Client, tmp_path: Any) -> None:
    with pytest.raises(FileNotFoundError):
        client.upload_file(str(tmp_path / "missing.py"))
    broken = tmp_path / "broken_module_for_upload.py"
    broken.write_text("raise ImportError('cannot load me')\n")
    with pytest.raises(ImportError, match="cannot load me"):
        client.upload_file(str(broken))
    plain = tmp_path / "notes.txt"
    plain.write_text("hello")
    result = client.upload_file(str(plain))
    assert len(result) == 2 and {r["nbytes"] for r in result.values()} == {5}
    assert set(client.run(lambda dask_worker: (__import__("pathlib").Path(
        dask_worker.local_directory) / "notes.txt").read_text()).values()) == {"hello"}


def test_async_client_admin() -> None:
    async def main() -> None:
        async with Client(asynchronous=True, processes=False, n_workers=2,
                          dashboard_address=None) as client:
            await client.wait_for_workers(2, timeout=10)
            assert len(await client.run(inc, 1)) == 2
            assert await client.run_on_scheduler(inc, 1) == 2
            await client.publish_dataset(client.submit(inc, 1), name="f")
            assert await client.list_datasets() == ["f"]
            assert await (await client.get_dataset("f")) == 2
            await client.set_metadata("k", "v")
            assert await client.get_metadata("k") == "v"
            await client.restart()
            assert await client.list_datasets() == []

    asyncio.run(asyncio.wait_for(main(), 60))
