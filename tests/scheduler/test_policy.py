"""Worker-choice policy: pure functions over TaskState / WorkerInfo built by hand."""
from __future__ import annotations

import pytest

from futurelab.scheduler import policy
from futurelab.scheduler.policy import capacity, decide_worker
from futurelab.scheduler.state import TaskState, WorkerInfo


def worker(addr: str, nthreads: int = 1, processing: int = 0, seceded: int = 0) -> WorkerInfo:
    ws = WorkerInfo(addr, nthreads, addr)
    for i in range(processing):
        ts = TaskState(f"busy-{addr}-{i}", None, (0, i))
        ts.processing_on = addr
        ws.processing.add(ts)
    ws.seceded = seceded
    return ws


def task(key: str = "x-1", deps: dict[str, tuple[int, list[str]]] | None = None,
         workers: list[str] | None = None) -> TaskState:
    """A task whose dependencies are {key: (nbytes, holders)}."""
    ts = TaskState(key, ("f", (), None), (0, 0))
    for dkey, (nbytes, holders) in (deps or {}).items():
        dep = TaskState(dkey, None, (0, 0))
        dep.nbytes = nbytes
        dep.who_has = set(holders)
        dep.state = "memory"
        ts.dependencies = {*ts.dependencies, dep}
        dep.dependents = {ts}
    ts.workers = set(workers) if workers is not None else None
    return ts


def pool(*wss: WorkerInfo) -> dict[str, WorkerInfo]:
    return {ws.address: ws for ws in wss}


# ---------------------------------------------------------------------- capacity
@pytest.mark.parametrize("nthreads", [1, 2, 8])
def test_capacity_unknown_duration_is_two_per_thread(nthreads: int) -> None:
    assert capacity(worker("a", nthreads), {}, "x") == nthreads * 2


def test_capacity_long_tasks_one_extra_per_thread() -> None:
    # tasks longer than the target queue time still get one queued behind each thread
    assert capacity(worker("a", 4), {"x": 10.0}, "x") == 8
    assert capacity(worker("a", 4), {"x": policy.TARGET_QUEUE_SECONDS * 2}, "x") == 8


def test_capacity_short_tasks_queue_more() -> None:
    # 0.05 s target / 0.01 s per task = 5 extra per thread
    assert capacity(worker("a", 2), {"x": 0.01}, "x") == 2 * (1 + 5)


def test_capacity_capped() -> None:
    cap = 1 + policy.MAX_EXTRA_PER_THREAD
    assert capacity(worker("a", 1), {"x": 0.0}, "x") == cap
    assert capacity(worker("a", 3), {"x": 1e-9}, "x") == 3 * cap


def test_capacity_per_prefix() -> None:
    durations = {"fast": 0.001, "slow": 5.0}
    ws = worker("a", 1)
    assert capacity(ws, durations, "fast") == 51
    assert capacity(ws, durations, "slow") == 2
    assert capacity(ws, durations, "other") == 2


def test_capacity_counts_seceded_threads() -> None:
    assert capacity(worker("a", 2, seceded=1), {}, "x") == 6


# ---------------------------------------------------------------------- decide_worker
def test_no_workers() -> None:
    assert decide_worker(task(), {}, {}) is None


def test_single_worker_with_room() -> None:
    a = worker("a")
    assert decide_worker(task(), pool(a), {}) is a


def test_least_loaded() -> None:
    a, b, c = worker("a", 1, processing=1), worker("b", 4, processing=1), worker("c", 2, 2)
    # loads: a 1/1, b 1/4, c 2/2
    assert decide_worker(task(), pool(a, b, c), {}) is b


def test_tie_goes_to_first_worker() -> None:
    a, b = worker("a"), worker("b")
    assert decide_worker(task(), pool(a, b), {}) is a
    assert decide_worker(task(), pool(b, a), {}) is b


def test_saturated_workers_excluded() -> None:
    a, b = worker("a", 1, processing=2), worker("b", 1, processing=1)
    assert decide_worker(task(), pool(a, b), {}) is b
    b.processing.add(TaskState("busy-b-x", None, (0, 9)))
    assert decide_worker(task(), pool(a, b), {}) is None
    # force ignores saturation
    assert decide_worker(task(), pool(a, b), {}, force=True) is a


def test_saturation_uses_learned_duration_of_prefix() -> None:
    a = worker("a", 1, processing=2)
    assert decide_worker(task("x-1"), pool(a), {}) is None
    assert decide_worker(task("x-1"), pool(a), {"x": 0.01}) is a
    assert decide_worker(task("y-1"), pool(a), {"x": 0.01}) is None


def test_prefers_worker_holding_dependency_bytes() -> None:
    a, b = worker("a"), worker("b")
    ts = task(deps={"d-1": (10, ["a"]), "d-2": (1000, ["b"])})
    assert decide_worker(ts, pool(a, b), {}) is b


def test_dependency_holder_beats_load() -> None:
    a, b = worker("a", 2, processing=1), worker("b", 2)
    ts = task(deps={"d-1": (10, ["a"])})
    assert decide_worker(ts, pool(a, b), {}) is a


def test_zero_byte_dependencies_still_count() -> None:
    a, b = worker("a"), worker("b")
    ts = task(deps={"d-1": (0, ["b"])})
    assert decide_worker(ts, pool(a, b), {}) is b


def test_dependency_holders_tie_broken_by_load() -> None:
    a, b, c = worker("a", 1, processing=1), worker("b"), worker("c")
    ts = task(deps={"d-1": (10, ["a", "b"])})
    assert decide_worker(ts, pool(a, b, c), {}) is b


def test_saturated_dependency_holder_skipped() -> None:
    a, b = worker("a", 1, processing=2), worker("b")
    ts = task(deps={"d-1": (10, ["a"])})
    assert decide_worker(ts, pool(a, b), {}) is b


def test_restricted_goes_to_allowed_worker_whatever_its_load() -> None:
    a, b = worker("a", 1, processing=5), worker("b")
    assert decide_worker(task(workers=["a"]), pool(a, b), {}) is a


def test_restricted_to_least_loaded_of_allowed() -> None:
    a, b, c = worker("a", 1, processing=3), worker("b", 1, processing=1), worker("c")
    assert decide_worker(task(workers=["a", "b"]), pool(a, b, c), {}) is b


def test_restricted_to_absent_worker() -> None:
    a = worker("a")
    assert decide_worker(task(workers=["z"]), pool(a), {}) is None
    assert decide_worker(task(workers=[]), pool(a), {}) is None


def test_decide_worker_is_pure() -> None:
    a, b = worker("a"), worker("b", processing=1)
    before = (len(a.processing), len(b.processing))
    durations: dict[str, float] = {}
    decide_worker(task(), pool(a, b), durations)
    assert (len(a.processing), len(b.processing)) == before
    assert durations == {}
