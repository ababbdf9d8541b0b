"""dask collections on worker processes, and how a fresh process picks futurelab up."""
from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("dask")
pytest.importorskip("pandas")

import dask
import dask.array as da
import dask.bag as db
import dask.dataframe as dd
import pandas as pd

import futurelab
from futurelab.dask_integration import futures_of

pytestmark = pytest.mark.timeout(90)
TIMEOUT = 30


@pytest.fixture(scope="module")
def pclient() -> Iterator[futurelab.Client]:
    """Two worker processes with one thread each."""
    with futurelab.Client(n_workers=2, threads_per_worker=1, processes=True) as c:
        yield c


def f(name: str, fn: str) -> object:
    """The spec's task, as written ("Submit Tasks from Tasks")."""
    df = dd.read_csv(fn)
    result = df[df.name == name].count()
    result = result.compute()
    return result


def test_collections_from_the_client(pclient: futurelab.Client) -> None:
    assert dask.delayed(sum)([dask.delayed(abs)(-i) for i in range(4)]).compute() == 6
    assert float(da.arange(10, chunks=3).sum().compute()) == 45.0
    assert db.from_sequence(range(6), npartitions=3).map(lambda v: v * 2).sum().compute() == 30
    fut = pclient.compute(da.ones(6, chunks=2).sum())
    assert fut.result(timeout=TIMEOUT) == 6.0
    y = pclient.persist(da.arange(6, chunks=2) + 1)
    futs = futures_of(y)
    assert len(futs) == 3
    futurelab.wait(futs, timeout=TIMEOUT)
    assert float(y.sum().compute()) == 21.0
    assert pclient.get({("a", 0): 1, "b": (sum, [("a", 0), ("a", 0)])}, "b") == 2


def test_spec_example_inside_tasks_on_worker_processes(pclient: futurelab.Client,
                                                       tmp_path: Path) -> None:
    fn = str(tmp_path / "people.csv")
    pd.DataFrame({"name": ["Alice", "Bob", "Alice"], "amount": [1, 2, 3]}).to_csv(fn,
                                                                                   index=False)
    futures = pclient.map(f, ["Alice", "Bob"], [fn, fn])
    alice, bob = pclient.gather(futures)
    assert alice.to_dict() == {"name": 2, "amount": 2}
    assert bob.to_dict() == {"name": 1, "amount": 1}


def run_python(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True)
    return out.stdout.strip()


@pytest.mark.parametrize("imports", ["import futurelab; import dask",
                                     "import dask; import futurelab"])
def test_a_fresh_process_gets_an_inert_scheduler_either_import_order(imports: str) -> None:
    out = run_python(f"{imports}; import sys\n"
                     "from futurelab.dask_integration import DaskScheduler, _AfterDaskImport\n"
                     "s = dask.config.get('scheduler')\n"
                     "print(type(s).__name__, bool(s),"
                     " any(isinstance(h, _AfterDaskImport) for h in sys.meta_path))")
    assert out == "DaskScheduler False False"


def test_futurelab_alone_does_not_import_dask() -> None:
    out = run_python("import sys, futurelab; print('dask' in sys.modules)")
    assert out == "False"
