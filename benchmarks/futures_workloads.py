"""Workloads through the dask.distributed futures API: futurelab and dask run this same code.

``api`` is the imported module, ``futurelab`` or ``distributed``. Each workload
starts its own cluster with :func:`make_client`, measures, records samples into a
:class:`~benchmarks._measure.Recorder`, and closes the cluster. A part that the
framework cannot run yet (say ``api.Queue`` is missing) is recorded as n/a with
the reason, and the other parts still run.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

from . import _measure as m
from ._spec import size
from ._tasks import Counter, add, collect_garbage, inc, pid, scheduler_task_count

Run = Callable[[ModuleType, str, bool, int, m.Recorder], None]

WARMUP = 20


def make_client(api: ModuleType, mode: str, asynchronous: bool = False) -> Any:
    """A Client on a new local cluster of the benchmark's shape.

    Args:
        api: ``futurelab`` or ``distributed``.
        mode: "processes" (2 worker processes x 1 thread) or "threads" (1 worker x 2
            threads in this process).
        asynchronous: return an awaitable asynchronous client.

    Returns:
        The client (to be awaited first when ``asynchronous``).

    Both run without their web dashboard (``dashboard_address=None``): the benchmark
    measures the task system, and dask's dashboard needs bokeh.
    """
    if mode == "processes":
        kwargs: dict[str, Any] = {"n_workers": 2, "threads_per_worker": 1, "processes": True}
    elif mode == "threads":
        kwargs = {"n_workers": 1, "threads_per_worker": 2, "processes": False}
    else:
        raise ValueError(f"unknown mode {mode!r}")
    kwargs["dashboard_address"] = None
    if asynchronous:
        kwargs["asynchronous"] = True
    return api.Client(**kwargs)


@contextlib.contextmanager
def cluster(api: ModuleType, mode: str) -> Iterator[Any]:
    client = make_client(api, mode)
    try:
        yield client
    finally:
        client.close()


def cluster_pids(client: Any) -> set[int]:
    """This process, its descendants, and whatever pids the workers report."""
    extra: set[int] = set()
    with contextlib.suppress(Exception):
        extra.update(client.run(pid).values())
    return m.tree_pids(extra=extra)


def _check(ok: bool, what: str) -> None:
    if not ok:
        raise RuntimeError(f"wrong result: {what}")


# -- 1. map ---------------------------------------------------------------------------------


def run_map(api: ModuleType, mode: str, quick: bool, repeat: int, rec: m.Recorder) -> None:
    n = size("map_tasks", quick)
    with cluster(api, mode) as client:
        client.gather(client.map(inc, range(-size("warmup_tasks", quick), 0)))
        pids = cluster_pids(client) if m.have_psutil() else set()
        for i in m.repeats(repeat, size("repeat_budget_s", quick)):
            lo = (i + 1) * n  # fresh inputs, so fresh keys, every repeat
            before = m.cpu_snapshot(pids) if pids else {}
            t0 = time.perf_counter()
            futures = client.map(inc, range(lo, lo + n))
            results = client.gather(futures)
            elapsed = time.perf_counter() - t0
            after = m.cpu_snapshot(m.tree_pids(extra=pids)) if pids else {}
            _check(len(results) == n and results[0] == lo + 1 and results[-1] == lo + n, "map")
            rec.add("map_tasks_per_s", n / elapsed)
            if pids:
                rec.add("map_cpu_us_per_task", m.cpu_delta(before, after) / n * 1e6)
            del futures, results
            time.sleep(0.2)  # let releases settle between repeats
    if pids:
        rec.note("map_cpu_us_per_task", f"{mode}: client + {len(pids) - 1} other cluster processes")
    else:
        rec.na("map_cpu_us_per_task", "psutil is not installed")


# -- 2. sequential round trips ----------------------------------------------------------------


def run_roundtrip(api: ModuleType, mode: str, quick: bool, repeat: int, rec: m.Recorder) -> None:
    n = size("roundtrips", quick)
    budget = size("repeat_budget_s", quick)
    m.record_handoffs(rec, n)
    with rec.guard("rt_sync_us"), cluster(api, mode) as client:
        for k in range(WARMUP):
            client.submit(inc, -k - 1).result()
        for i in m.repeats(repeat, budget):
            base = (i + 1) * 1_000_000
            rec.add("rt_sync_us", 1e6 * m.timed_calls(n, lambda k, base=base: _check(
                client.submit(inc, base + k).result() == base + k + 1, "rt")))
    with rec.guard("rt_async_us"):
        asyncio.run(_async_roundtrips(api, mode, n, repeat, budget, rec))


async def _async_roundtrips(api: ModuleType, mode: str, n: int, repeat: int, budget: float,
                            rec: m.Recorder) -> None:
    client = await make_client(api, mode, asynchronous=True)
    try:
        for k in range(WARMUP):
            await client.submit(inc, -k - 1)
        clock = time.perf_counter
        for i in m.repeats(repeat, budget):
            base = (i + 1) * 1_000_000
            times = []
            for k in range(n):
                t0 = clock()
                result = await client.submit(inc, base + k)
                times.append(clock() - t0)
                _check(result == base + k + 1, "async rt")
            rec.add("rt_async_us", 1e6 * m.median(times))
    finally:
        await client.close()


# -- 3. chain and tree ----------------------------------------------------------------------


def _chain(client: Any, base: int, n: int) -> None:
    future = client.submit(inc, base)
    for _ in range(n - 1):
        future = client.submit(inc, future)
    _check(future.result() == base + n, "chain")


def _tree(client: Any, base: int, leaves: int) -> int:
    level = client.map(inc, range(base, base + leaves))
    tasks = len(level)
    while len(level) > 1:
        level = [client.submit(add, level[j], level[j + 1]) for j in range(0, len(level), 2)]
        tasks += len(level)
    _check(level[0].result() == sum(range(base + 1, base + leaves + 1)), "tree")
    return tasks


def run_graph(api: ModuleType, mode: str, quick: bool, repeat: int, rec: m.Recorder) -> None:
    n_chain = size("chain_tasks", quick)
    leaves = size("tree_leaves", quick)
    budget = size("repeat_budget_s", quick)
    with cluster(api, mode) as client:
        with rec.guard("chain_tasks_per_s"):
            _chain(client, -1_000_000, WARMUP)
            for i in m.repeats(repeat, budget):
                t0 = time.perf_counter()
                _chain(client, (i + 1) * 1_000_000, n_chain)
                rec.add("chain_tasks_per_s", n_chain / (time.perf_counter() - t0))
        with rec.guard("tree_tasks_per_s"):
            _tree(client, -1_000_000, 16)
            for i in m.repeats(repeat, budget):
                t0 = time.perf_counter()
                tasks = _tree(client, (i + 1) * 1_000_000, leaves)
                rec.add("tree_tasks_per_s", tasks / (time.perf_counter() - t0))
            rec.note("tree_tasks_per_s", f"{leaves} leaf tasks + {leaves - 1} add tasks")


# -- 4. scatter / gather of a large array ----------------------------------------------------


def run_transfer(api: ModuleType, mode: str, quick: bool, repeat: int, rec: m.Recorder) -> None:
    from ._tasks import make_array

    nbytes = size("transfer_bytes", quick)
    array = make_array(nbytes, seed=0)  # random bytes: nothing for compression to gain
    mb = nbytes / 1e6
    with cluster(api, mode) as client:
        client.gather(client.scatter(make_array(1_000_000, seed=1)))
        for i in m.repeats(repeat, size("repeat_budget_s", quick)):
            array[0], array[-1] = i % 256, (i + 7) % 256  # a new token every repeat
            socket_s = min(m.loopback_copy_s(memoryview(array)) for _ in range(2))
            rec.add("socket_MBps", mb / socket_s)
            t0 = time.perf_counter()
            future = client.scatter(array)
            scatter_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            out = client.gather(future)
            gather_s = time.perf_counter() - t0
            _check(out.nbytes == nbytes and out[0] == array[0] and out[-1] == array[-1], "gather")
            rec.add("scatter_MBps", mb / scatter_s)
            rec.add("gather_MBps", mb / gather_s)
            rec.add("scatter_pct_socket", 100 * socket_s / scatter_s)
            rec.add("gather_pct_socket", 100 * socket_s / gather_s)
            del out, future
            time.sleep(0.2)
    rec.note("scatter_MBps", f"{mb:.0f} MB = {nbytes:,} bytes, MB = 10^6 bytes")
    if mode == "threads":
        rec.note("gather_MBps", "threads: gather may hand back the scattered object without a copy")


# -- 5. actor ---------------------------------------------------------------------------------


def run_actor(api: ModuleType, mode: str, quick: bool, repeat: int, rec: m.Recorder) -> None:
    n = size("actor_calls", quick)
    with cluster(api, mode) as client:
        counter = client.submit(Counter, actor=True).result()
        last = [0]

        def call(_: int) -> None:
            value = counter.increment().result()
            _check(value == last[0] + 1, "actor")
            last[0] = value

        for k in range(WARMUP):
            call(k)
        for _ in m.repeats(repeat, size("repeat_budget_s", quick)):
            rec.add("actor_us", 1e6 * m.timed_calls(n, call))


# -- 6. coordination primitives -------------------------------------------------------------


def _pairs(api: ModuleType) -> dict[str, Callable[[], Callable[[int], None]]]:
    """metric -> factory building the primitive and returning one 'pair' call."""

    def queue() -> Callable[[int], None]:
        q = api.Queue("bench-queue")

        def pair(k: int) -> None:
            q.put(k)
            _check(q.get() == k, "queue")
        return pair

    def variable() -> Callable[[int], None]:
        v = api.Variable("bench-variable")

        def pair(k: int) -> None:
            v.set(k)
            _check(v.get() == k, "variable")
        return pair

    def lock() -> Callable[[int], None]:
        lk = api.Lock("bench-lock")

        def pair(k: int) -> None:
            _check(lk.acquire() is not False, "lock")
            lk.release()
        return pair

    def event() -> Callable[[int], None]:
        ev = api.Event("bench-event")

        def pair(k: int) -> None:
            ev.set()
            _check(ev.wait() is not False, "event")
        return pair

    def semaphore() -> Callable[[int], None]:
        sem = api.Semaphore(max_leases=1, name="bench-semaphore")

        def pair(k: int) -> None:
            _check(sem.acquire() is not False, "semaphore")
            sem.release()
        return pair

    return {"queue_us": queue, "variable_us": variable, "lock_us": lock, "event_us": event,
            "semaphore_us": semaphore}


def run_primitives(api: ModuleType, mode: str, quick: bool, repeat: int,
                   rec: m.Recorder) -> None:
    n = size("primitive_pairs", quick)
    budget = size("repeat_budget_s", quick) / 5
    with cluster(api, mode):
        for key, factory in _pairs(api).items():
            with rec.guard(key):
                pair = factory()
                for k in range(WARMUP):
                    pair(k)
                for _ in m.repeats(repeat, budget):
                    rec.add(key, 1e6 * m.timed_calls(n, pair))
    rec.note("event_us", "set() then wait() on the set event")


# -- 7. client lifecycle ----------------------------------------------------------------------


def run_startup(api: ModuleType, mode: str, quick: bool, repeat: int, rec: m.Recorder) -> None:
    """One cold start per fresh process: the parent's rounds give the samples."""
    existing = m.tree_pids() if m.have_psutil() else set()
    t0 = time.perf_counter()
    client = make_client(api, mode)
    _check(client.submit(inc, 1).result() == 2, "first result")
    t1 = time.perf_counter()
    client.close()
    t2 = time.perf_counter()
    rec.add("start_s", t1 - t0)
    rec.add("close_s", t2 - t1)
    left = m.wait_descendants_gone(5, ignore=existing)
    if left:
        rec.note("close_s", f"{mode}: {len(left)} child process(es) still alive 5 s after close()")


# -- 8. scheduler memory ----------------------------------------------------------------------


def scheduler_process(client: Any) -> tuple[int | None, str]:
    """The pid of the process hosting the scheduler, and how it was found (or why not)."""
    with contextlib.suppress(Exception):
        return int(client.run_on_scheduler(pid)), "client.run_on_scheduler(os.getpid)"
    if m.have_psutil():
        for proc in m.psutil.Process().children(recursive=True):
            with contextlib.suppress(m.psutil.Error):
                if any("scheduler" in part for part in proc.cmdline()):
                    return proc.pid, "the word 'scheduler' in a child's command line"
    scheduler = getattr(getattr(client, "cluster", None), "scheduler", None)
    if scheduler is not None and not isinstance(scheduler, str):
        return os.getpid(), "client.cluster.scheduler is an object in this process"
    return None, ("cannot determine the scheduler's process (no run_on_scheduler, "
                  "no scheduler child process, no in-process cluster.scheduler)")


def _wait_released(client: Any, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    try:
        while client.run_on_scheduler(scheduler_task_count) > 0:
            if time.monotonic() > deadline:
                return "the scheduler still tracked tasks when measured"
            time.sleep(0.2)
        return ""
    except Exception:  # noqa: BLE001, S110 - fall back to what every client can ask
        pass
    while sum(len(keys) for keys in client.has_what().values()) > 0:
        if time.monotonic() > deadline:
            return "workers still held keys when measured"
        time.sleep(0.2)
    time.sleep(1.0)
    return ""


def run_memory(api: ModuleType, mode: str, quick: bool, repeat: int, rec: m.Recorder) -> None:
    keys = ("mem_held_B_per_task", "mem_released_B_per_task")
    if not m.have_psutil():
        for key in keys:
            rec.na(key, "psutil is not installed")
        return
    n = size("memory_tasks", quick)
    with cluster(api, mode) as client:
        spid, how = scheduler_process(client)
        if spid is None:
            for key in keys:
                rec.na(key, how)
            return
        if spid == os.getpid():
            collect: Callable[[], Any] = collect_garbage
            where = ("client, scheduler and workers share one process" if mode == "threads"
                     else "scheduler shares the client process: client futures included")
        else:
            def collect() -> Any:
                return client.run_on_scheduler(collect_garbage)
            where = "RSS of the scheduler's own process"
        rec.note(keys[0], f"{mode}: {where} (found by {how})")
        client.gather(client.map(inc, range(-1000, 0)))
        _wait_released(client, 10)
        base = m.settle_rss(spid, collect)
        t0 = time.perf_counter()
        futures = client.map(inc, range(n))
        rec.info["submit_s"] = time.perf_counter() - t0
        with contextlib.suppress(Exception):
            api.wait(futures, timeout=size("memory_finish_wait_s", quick))
        rec.info["wait_s"] = time.perf_counter() - t0 - rec.info["submit_s"]
        finished = sum(f.done() for f in futures)
        t1 = time.perf_counter()
        held = m.settle_rss(spid, collect)
        rec.info["settle_s"] = time.perf_counter() - t1
        rec.add(keys[0], (held - base) / n)
        if finished < n:
            rec.note(keys[0], f"{mode}: {finished:,} of {n:,} tasks had finished when measured")
        t1 = time.perf_counter()
        del futures
        unsettled = _wait_released(client, size("memory_release_wait_s", quick))
        rec.info["release_s"] = time.perf_counter() - t1
        if unsettled:
            rec.note(keys[1], f"{mode}: {unsettled}")
        rec.add(keys[1], (m.settle_rss(spid, collect) - base) / n)


RUNS: dict[str, Run] = {
    "map": run_map,
    "roundtrip": run_roundtrip,
    "graph": run_graph,
    "transfer": run_transfer,
    "actor": run_actor,
    "primitives": run_primitives,
    "startup": run_startup,
    "memory": run_memory,
}
