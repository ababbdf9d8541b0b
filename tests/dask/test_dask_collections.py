"""dask collections on an in-process futurelab cluster: from the client and from inside tasks."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("dask")
pytest.importorskip("pandas")
pytest.importorskip("numpy")

import dask
import dask.array as da
import dask.bag as db
import dask.dataframe as dd
import numpy as np
import pandas as pd

import futurelab
from futurelab import Future
from futurelab.dask_integration import futures_of

pytestmark = pytest.mark.timeout(60)
TIMEOUT = 30


def inc(x: int) -> int:
    return x + 1


def write_people(path: Path) -> str:
    """A small CSV like the spec's: one row per (name, amount)."""
    fn = str(path / "people.csv")
    pd.DataFrame({"name": ["Alice", "Bob", "Alice", "Carol", "Alice", "Bob"],
                  "amount": [1, 2, 3, 4, 5, 6]}).to_csv(fn, index=False)
    return fn


def f(name: str, fn: str) -> Any:
    """The spec's task, as written ("Submit Tasks from Tasks")."""
    df = dd.read_csv(fn)  # note that this is a dask collection
    result = df[df.name == name].count()
    # This calls secede
    # Then runs the computation on the cluster (including this worker)
    # Then blocks on rejoin, and finally delivers the answer
    result = result.compute()
    return result


def delayed_total(n: int) -> int:
    parts = [dask.delayed(inc)(i) for i in range(n)]
    return dask.delayed(sum)(parts).compute()  # type: ignore[no-any-return]


def array_total(n: int) -> float:
    x = da.arange(n, chunks=3)
    return float((x * 2).sum().compute())


def bag_total(n: int) -> int:
    b = db.from_sequence(range(n), npartitions=3)
    return b.map(inc).filter(lambda v: v % 2 == 0).sum().compute()  # type: ignore[no-any-return]


def dask_keys_on_scheduler(client: futurelab.Client) -> set[str]:
    return set(client.cluster.scheduler.state.tasks)


# ------------------------------------------------------------------ from the client
def test_delayed_array_bag_from_the_client(client: futurelab.Client) -> None:
    assert delayed_total(5) == 15
    assert array_total(10) == 90.0
    assert bag_total(10) == 30
    assert isinstance(dask.config.get("scheduler"), futurelab.dask_integration.DaskScheduler)


def test_spec_dataframe_example_from_the_client(client: futurelab.Client,
                                                tmp_path: Path) -> None:
    fn = write_people(tmp_path)
    result = f("Alice", fn)
    assert isinstance(result, pd.Series)
    assert result.to_dict() == {"name": 3, "amount": 3}


def test_graph_nodes_are_tasks_named_like_dask(client: futurelab.Client) -> None:
    x = da.ones(8, chunks=4) + 1
    (y,) = dask.persist(x)
    futs = futures_of(y)
    futurelab.wait(futs, timeout=TIMEOUT)
    names = {fut.key for fut in futs}
    assert names == {repr((y.name, 0)), repr((y.name, 1))}
    assert names <= dask_keys_on_scheduler(client)


# ------------------------------------------------------------------ from inside a task
@pytest.mark.parametrize("func,arg,expected", [(delayed_total, 5, 15), (array_total, 10, 90.0),
                                               (bag_total, 10, 30)])
def test_collections_inside_a_task_on_one_thread(client1: futurelab.Client, func: Any,
                                                  arg: int, expected: Any) -> None:
    assert client1.submit(func, arg).result(timeout=TIMEOUT) == expected


def test_spec_example_inside_a_task_on_one_thread(client1: futurelab.Client,
                                                  tmp_path: Path) -> None:
    fn = write_people(tmp_path)
    future = client1.submit(f, "Alice", fn)
    assert future.result(timeout=TIMEOUT).to_dict() == {"name": 3, "amount": 3}


def test_spec_example_many_tasks_at_once(client: futurelab.Client, tmp_path: Path) -> None:
    fn = write_people(tmp_path)
    futures = client.map(f, ["Alice", "Bob", "Carol"], [fn] * 3)
    counts = [s["name"] for s in client.gather(futures)]
    assert counts == [3, 2, 1]


def test_compute_inside_a_task_rejoins(client1: futurelab.Client) -> None:
    def task() -> tuple[bool, float]:
        from futurelab.worker.executor import thread_state
        value = array_total(10)
        return bool(thread_state.seceded), value

    assert client1.submit(task).result(timeout=TIMEOUT) == (False, 90.0)


# ------------------------------------------------------------------ compute / persist / get
def test_compute_returns_futures(client: futurelab.Client) -> None:
    x = da.arange(10, chunks=4).sum()
    fut = client.compute(x)
    assert isinstance(fut, Future)
    assert fut.result(timeout=TIMEOUT) == 45
    futs = client.compute([x, dask.delayed(inc)(1), "not dask"])
    assert isinstance(futs, list) and isinstance(futs[0], Future) and futs[2] == "not dask"
    assert client.gather(futs[:2]) == [45, 2]
    assert client.compute([x, dask.delayed(inc)(2)], sync=True) == [45, 3]
    df = dd.from_pandas(pd.DataFrame({"a": range(6)}), npartitions=3)
    out = client.compute(df).result(timeout=TIMEOUT)
    pd.testing.assert_frame_equal(out, pd.DataFrame({"a": range(6)}))


def test_persist_returns_a_futures_backed_collection(client: futurelab.Client) -> None:
    x = da.arange(12, chunks=4) + 1
    y = client.persist(x)
    assert type(y) is type(x) and y.chunks == x.chunks
    futs = futures_of(y)
    assert len(futs) == 3 and all(isinstance(fut, Future) for fut in futs)
    futurelab.wait(futs, timeout=TIMEOUT)
    np.testing.assert_array_equal(y.compute(), np.arange(12) + 1)
    assert float(y.sum().compute()) == 78.0
    # several, mixed with other objects; the dask.persist entry point goes through the client
    b, d, other = client.persist([db.from_sequence([1, 2, 3], npartitions=2),
                                  dask.delayed(inc)(41), 7])
    assert futures_of(b) and futures_of(d) and other == 7
    assert b.sum().compute() == 6 and d.compute() == 42
    (df,) = dask.persist(dd.from_pandas(pd.DataFrame({"a": range(6)}), npartitions=2))
    assert len(futures_of(df)) == 2
    assert int(df.a.sum().compute()) == 15


def test_persisted_results_are_reused_not_recomputed(client: futurelab.Client) -> None:
    calls: list[int] = []

    def record(x: int) -> int:
        calls.append(x)
        return x

    y = client.persist(dask.delayed(record)(5, dask_key_name="record-once"))
    futurelab.wait(futures_of(y), timeout=TIMEOUT)
    assert (y + 1).compute() == 6
    assert y.compute() == 5
    assert calls == [5]


def test_get_takes_legacy_graphs_tuple_keys_and_nested_keys(client: futurelab.Client) -> None:
    dsk = {("x", 0): 1, ("x", 1): (inc, ("x", 0)), "total": (sum, [("x", 0), ("x", 1)])}
    assert client.get(dsk, "total") == 3
    assert client.get(dsk, [[("x", 1)], "total"]) == [[2], 3]
    futs = client.get(dsk, [("x", 1), "total"], sync=False)
    assert [fut.key for fut in futs] == ["('x', 1)", "total"]
    assert client.gather(futs) == [2, 3]


def test_get_uses_futures_in_graphs(client: futurelab.Client) -> None:
    held = client.submit(inc, 10)
    assert client.get({"a": held, "b": (inc, "a")}, "b") == 12


def test_task_errors_reach_the_caller(client: futurelab.Client) -> None:
    def boom(x: int) -> int:
        raise ZeroDivisionError("no")

    with pytest.raises(ZeroDivisionError, match="no"):
        dask.delayed(boom)(1).compute()
    with pytest.raises(ZeroDivisionError):
        client.compute(dask.delayed(boom)(2)).result(timeout=TIMEOUT)


# ------------------------------------------------------------------ registration
def test_client_registers_and_unregisters_as_dask_scheduler() -> None:
    scheduler = futurelab.dask_integration.install_scheduler()
    with futurelab.Client(processes=False, n_workers=1, threads_per_worker=1) as c:
        assert dask.config.get("scheduler") is scheduler and bool(scheduler)
        assert futurelab.dask_integration.current_client() is c
        side = futurelab.Client(c.cluster, set_as_default=False)
        try:
            assert futurelab.dask_integration.current_client() is c
        finally:
            side.close()
        x = dask.delayed(inc)(1, dask_key_name=("registered", 0))
        assert x.compute() == 2
        assert ("('registered', 0)", "processing", "memory") in [
            t[:3] for t in c.cluster.scheduler.state.story("('registered', 0)")]
    assert futurelab.dask_integration.current_client() is None
    assert not scheduler  # falsy: dask skips it and uses its own schedulers again
    assert dask.delayed(inc)(1).compute() == 2
    assert float(da.ones(4, chunks=2).sum().compute()) == 4.0


def test_most_recent_default_client_wins(client: futurelab.Client) -> None:
    with futurelab.Client(client.cluster) as second:
        assert futurelab.dask_integration.current_client() is second
    assert futurelab.dask_integration.current_client() is client
