"""The same workloads through Ray's own API (processes mode only: ``num_cpus=2``).

Equivalences: ``client.submit(f, x)`` -> ``f.remote(x)`` with ``num_cpus=1``;
``future.result()`` -> ``ray.get(ref)``; ``await future`` -> ``await ref``;
scatter -> ``ray.put``; gather -> ``ray.get`` of a task's result; an actor ->
``ray.remote(Counter)``; Queue -> ``ray.util.queue.Queue``. Ray has no Variable,
Lock, Event or Semaphore; those are reported n/a.

Ray is started on loopback only (see :func:`prepare_environment`).
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable, Iterator
from types import ModuleType, SimpleNamespace

from . import _measure as m
from ._spec import size
from ._tasks import Counter, add, collect_garbage, inc, make_array

Run = Callable[[ModuleType, str, bool, int, m.Recorder], None]

WARMUP = 20


def prepare_environment() -> None:
    """Environment for a local, offline, loopback-only Ray; call before ``import ray``."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    # On Linux Ray binds its services to the machine's outward address even for a
    # one-node cluster; this switch (meant for laptops) keeps them on 127.0.0.1.
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")


def init(ray: ModuleType) -> None:
    ray.init(num_cpus=2, include_dashboard=False)


@contextlib.contextmanager
def cluster(ray: ModuleType) -> Iterator[SimpleNamespace]:
    init(ray)
    try:
        yield SimpleNamespace(
            inc=ray.remote(num_cpus=1)(inc),
            add=ray.remote(num_cpus=1)(add),
            make_array=ray.remote(num_cpus=1)(make_array),
            Counter=ray.remote(Counter),
        )
    finally:
        ray.shutdown()


def _check(ok: bool, what: str) -> None:
    if not ok:
        raise RuntimeError(f"wrong result: {what}")


def _processes_only(mode: str) -> None:
    if mode != "processes":
        raise ValueError("Ray runs in processes mode only")


def run_map(ray: ModuleType, mode: str, quick: bool, repeat: int, rec: m.Recorder) -> None:
    _processes_only(mode)
    n = size("map_tasks", quick)
    with cluster(ray) as r:
        ray.get([r.inc.remote(i) for i in range(-size("warmup_tasks", quick), 0)])
        pids = m.tree_pids() if m.have_psutil() else set()
        for i in m.repeats(repeat, size("repeat_budget_s", quick)):
            lo = (i + 1) * n
            before = m.cpu_snapshot(pids) if pids else {}
            t0 = time.perf_counter()
            results = ray.get([r.inc.remote(x) for x in range(lo, lo + n)])
            elapsed = time.perf_counter() - t0
            after = m.cpu_snapshot(m.tree_pids(extra=pids)) if pids else {}
            _check(len(results) == n and results[-1] == lo + n, "map")
            rec.add("map_tasks_per_s", n / elapsed)
            if pids:
                rec.add("map_cpu_us_per_task", m.cpu_delta(before, after) / n * 1e6)
            del results
            time.sleep(0.2)
    if pids:
        rec.note("map_cpu_us_per_task",
                 f"ray: driver + {len(pids) - 1} descendant processes (GCS, raylet, workers, "
                 "agents, log monitor)")
    else:
        rec.na("map_cpu_us_per_task", "psutil is not installed")


def run_roundtrip(ray: ModuleType, mode: str, quick: bool, repeat: int, rec: m.Recorder) -> None:
    _processes_only(mode)
    n = size("roundtrips", quick)
    budget = size("repeat_budget_s", quick)
    m.record_handoffs(rec, n)
    with cluster(ray) as r:
        with rec.guard("rt_sync_us"):
            for k in range(WARMUP):
                ray.get(r.inc.remote(-k - 1))
            for i in m.repeats(repeat, budget):
                base = (i + 1) * 1_000_000
                rec.add("rt_sync_us", 1e6 * m.timed_calls(n, lambda k, base=base: _check(
                    ray.get(r.inc.remote(base + k)) == base + k + 1, "rt")))

        async def async_roundtrips() -> None:
            for k in range(WARMUP):
                await r.inc.remote(-k - 1)
            clock = time.perf_counter
            for i in m.repeats(repeat, budget):
                base = (i + 1) * 1_000_000
                times = []
                for k in range(n):
                    t0 = clock()
                    result = await r.inc.remote(base + k)
                    times.append(clock() - t0)
                    _check(result == base + k + 1, "async rt")
                rec.add("rt_async_us", 1e6 * m.median(times))

        with rec.guard("rt_async_us"):
            asyncio.run(async_roundtrips())


def run_graph(ray: ModuleType, mode: str, quick: bool, repeat: int, rec: m.Recorder) -> None:
    _processes_only(mode)
    n_chain = size("chain_tasks", quick)
    leaves = size("tree_leaves", quick)
    budget = size("repeat_budget_s", quick)

    def chain(r: SimpleNamespace, base: int, n: int) -> None:
        ref = r.inc.remote(base)
        for _ in range(n - 1):
            ref = r.inc.remote(ref)
        _check(ray.get(ref) == base + n, "chain")

    def tree(r: SimpleNamespace, base: int, count: int) -> int:
        level = [r.inc.remote(x) for x in range(base, base + count)]
        tasks = len(level)
        while len(level) > 1:
            level = [r.add.remote(level[j], level[j + 1]) for j in range(0, len(level), 2)]
            tasks += len(level)
        _check(ray.get(level[0]) == sum(range(base + 1, base + count + 1)), "tree")
        return tasks

    with cluster(ray) as r:
        with rec.guard("chain_tasks_per_s"):
            chain(r, -1_000_000, WARMUP)
            for i in m.repeats(repeat, budget):
                t0 = time.perf_counter()
                chain(r, (i + 1) * 1_000_000, n_chain)
                rec.add("chain_tasks_per_s", n_chain / (time.perf_counter() - t0))
        with rec.guard("tree_tasks_per_s"):
            tree(r, -1_000_000, 16)
            for i in m.repeats(repeat, budget):
                t0 = time.perf_counter()
                tasks = tree(r, (i + 1) * 1_000_000, leaves)
                rec.add("tree_tasks_per_s", tasks / (time.perf_counter() - t0))
            rec.note("tree_tasks_per_s", f"{leaves} leaf tasks + {leaves - 1} add tasks")


def run_transfer(ray: ModuleType, mode: str, quick: bool, repeat: int, rec: m.Recorder) -> None:
    _processes_only(mode)
    nbytes = size("transfer_bytes", quick)
    array = make_array(nbytes, seed=0)
    mb = nbytes / 1e6
    with cluster(ray) as r:
        ray.get(ray.put(make_array(1_000_000, seed=1)))
        ray.get(r.make_array.remote(1_000_000, 1))
        for i in m.repeats(repeat, size("repeat_budget_s", quick)):
            array[0] = i % 256
            socket_s = min(m.loopback_copy_s(memoryview(array)) for _ in range(2))
            rec.add("socket_MBps", mb / socket_s)
            t0 = time.perf_counter()
            ref = ray.put(array)
            put_s = time.perf_counter() - t0
            produced = r.make_array.remote(nbytes, i)
            ray.wait([produced])
            t0 = time.perf_counter()
            out = ray.get(produced)
            get_s = time.perf_counter() - t0
            _check(out.nbytes == nbytes, "ray.get")
            rec.add("scatter_MBps", mb / put_s)
            rec.add("gather_MBps", mb / get_s)
            rec.add("scatter_pct_socket", 100 * socket_s / put_s)
            rec.add("gather_pct_socket", 100 * socket_s / get_s)
            del out, ref, produced
            time.sleep(0.2)
    rec.note("scatter_MBps", "ray: scatter = ray.put into the node's shared-memory object store")
    rec.note("gather_MBps", "ray: gather = ray.get of a finished task's 100 MB result "
             "(a zero-copy view of shared memory)")


def run_actor(ray: ModuleType, mode: str, quick: bool, repeat: int, rec: m.Recorder) -> None:
    _processes_only(mode)
    n = size("actor_calls", quick)
    with cluster(ray) as r:
        counter = r.Counter.remote()
        last = [0]

        def call(_: int) -> None:
            value = ray.get(counter.increment.remote())
            _check(value == last[0] + 1, "actor")
            last[0] = value

        for k in range(WARMUP):
            call(k)
        for _ in m.repeats(repeat, size("repeat_budget_s", quick)):
            rec.add("actor_us", 1e6 * m.timed_calls(n, call))


def run_primitives(ray: ModuleType, mode: str, quick: bool, repeat: int,
                   rec: m.Recorder) -> None:
    _processes_only(mode)
    n = size("primitive_pairs", quick)
    for key in ("variable_us", "lock_us", "event_us", "semaphore_us"):
        rec.na(key, "Ray has no equivalent")
    with cluster(ray), rec.guard("queue_us"):
        from ray.util.queue import Queue

        q = Queue()

        def pair(k: int) -> None:
            q.put(k)
            _check(q.get() == k, "queue")

        for k in range(WARMUP):
            pair(k)
        for _ in m.repeats(repeat, size("repeat_budget_s", quick) / 5):
            rec.add("queue_us", 1e6 * m.timed_calls(n, pair))
        rec.note("queue_us", "ray: ray.util.queue.Queue (an actor)")


def run_startup(ray: ModuleType, mode: str, quick: bool, repeat: int, rec: m.Recorder) -> None:
    _processes_only(mode)
    existing = m.tree_pids() if m.have_psutil() else set()
    t0 = time.perf_counter()
    init(ray)
    _check(ray.get(ray.remote(num_cpus=1)(inc).remote(1)) == 2, "first result")
    t1 = time.perf_counter()
    ray.shutdown()
    t2 = time.perf_counter()
    rec.add("start_s", t1 - t0)
    rec.add("close_s", t2 - t1)
    left = m.wait_descendants_gone(5, ignore=existing)
    if left:
        rec.note("close_s", f"ray: {len(left)} child process(es) still alive 5 s after shutdown()")


def _control_plane_pids() -> tuple[list[int], str]:
    """The driver (owner of the references) plus the raylet and GCS server."""
    pids = [os.getpid()]
    names = []
    for proc in m.psutil.Process().children(recursive=True):
        with contextlib.suppress(m.psutil.Error):
            name = proc.name()
            if name in ("raylet", "gcs_server"):
                pids.append(proc.pid)
                names.append(name)
    return pids, "ray: RSS of driver (owner) + " + " + ".join(sorted(names) or ["?"])


def run_memory(ray: ModuleType, mode: str, quick: bool, repeat: int, rec: m.Recorder) -> None:
    _processes_only(mode)
    keys = ("mem_held_B_per_task", "mem_released_B_per_task")
    if not m.have_psutil():
        for key in keys:
            rec.na(key, "psutil is not installed")
        return
    n = size("memory_tasks", quick)

    def total_rss(pids: list[int]) -> int:
        readings = []
        for _ in range(3):
            collect_garbage()
            readings.append(sum(m.rss(p) for p in pids))
            time.sleep(0.1)
        return min(readings)

    with cluster(ray) as r:
        ray.get([r.inc.remote(i) for i in range(-1000, 0)])
        pids, how = _control_plane_pids()
        rec.note(keys[0], how)
        time.sleep(1.0)
        base = total_rss(pids)
        t0 = time.perf_counter()
        refs = [r.inc.remote(i) for i in range(n)]
        rec.info["submit_s"] = time.perf_counter() - t0
        ready, _ = ray.wait(refs, num_returns=n, timeout=size("memory_finish_wait_s", quick))
        rec.info["wait_s"] = time.perf_counter() - t0 - rec.info["submit_s"]
        finished = len(ready)
        del ready
        held = total_rss(pids)
        rec.add(keys[0], (held - base) / n)
        if finished < n:
            rec.note(keys[0], f"ray: {finished:,} of {n:,} tasks had finished when measured")
        del refs
        time.sleep(2.0)
        rec.add(keys[1], (total_rss(pids) - base) / n)


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
