"""The adaptive policy as a pure function: no sockets, no loop, no clock."""
from __future__ import annotations

import math

import pytest

from futurelab.scheduler import events as ev
from futurelab.scheduler.adaptive import (
    UNKNOWN_DURATION,
    AdaptiveMemo,
    AdaptiveParams,
    Load,
    WorkerLoad,
    check_params,
    load_of,
    recommend,
    target,
    workers_to_close,
)
from futurelab.scheduler.state import SchedulerState


def worker(name: str, processing: int = 0, nbytes: int = 0, nthreads: int = 1,
           memory_limit: int = 0) -> WorkerLoad:
    return WorkerLoad(f"tcp://{name}", name, nthreads, processing, nbytes, memory_limit)


def load(*workers: WorkerLoad, work: float = 0.0, tasks: int = 0) -> Load:
    return Load(tuple(workers), work, tasks, sum(w.nbytes for w in workers))


# ---------------------------------------------------------------------- target
def test_enough_threads_to_finish_within_the_target_duration() -> None:
    p = AdaptiveParams(maximum=100, target_duration=5.0)
    # 60 s of work, 5 s target: 12 threads; two threads per worker: 6 workers
    assert target(load(worker("a", nthreads=2), work=60.0, tasks=500), p) == 6
    assert target(load(work=60.0, tasks=500), p, threads_hint=4) == 3


def test_never_more_threads_than_tasks() -> None:
    p = AdaptiveParams(maximum=100, target_duration=1.0)
    assert target(load(work=1000.0, tasks=3), p) == 3


def test_idle_goes_to_the_minimum_and_any_task_needs_one_worker() -> None:
    assert target(load(), AdaptiveParams(minimum=2)) == 2
    assert target(load(), AdaptiveParams(minimum=0)) == 0
    assert target(load(work=0.001, tasks=1), AdaptiveParams(minimum=0)) == 1


def test_bounded_by_the_maximum() -> None:
    assert target(load(work=1e6, tasks=10**6), AdaptiveParams(maximum=7)) == 7


def test_memory_held_grows_the_cluster_against_the_limits() -> None:
    gb = 10**9
    full = load(worker("a", nbytes=2 * gb, memory_limit=gb),
                worker("b", nbytes=1 * gb, memory_limit=gb))
    # 3 GB held, 60% of 1 GB per worker usable: 5 workers
    assert target(full, AdaptiveParams(maximum=10)) == 5


def test_data_without_memory_limits_asks_for_no_worker() -> None:
    # retiring moves data to the workers that stay, so idle holders may go
    held = load(worker("a", nbytes=10), worker("b"), worker("c", nbytes=5))
    assert target(held, AdaptiveParams(minimum=1)) == 1


# ---------------------------------------------------------------------- hysteresis
def test_grow_at_once_shrink_after_wait_count_in_a_row() -> None:
    p = AdaptiveParams(minimum=1, maximum=10, wait_count=3, target_duration=1.0)
    memo = AdaptiveMemo()
    busy = load(worker("a", processing=4), work=8.0, tasks=8)
    assert recommend(busy, p, 1, memo).action == "up"
    assert recommend(busy, p, 1, memo).n == 8
    idle = load(*(worker(n) for n in "abcdefgh"))
    assert [recommend(idle, p, 8, memo).action for _ in range(2)] == ["same", "same"]
    rec = recommend(idle, p, 8, memo)
    assert rec.action == "down" and rec.n == 1 and len(rec.close) == 7
    assert memo.streak == 0


def test_a_busy_interval_resets_the_streak() -> None:
    p = AdaptiveParams(minimum=0, maximum=4, wait_count=2, target_duration=1.0)
    memo = AdaptiveMemo()
    idle = load(worker("a"), worker("b"))
    assert recommend(idle, p, 2, memo).action == "same"
    busy = load(worker("a", processing=1), worker("b", processing=1), work=2.0, tasks=2)
    assert recommend(busy, p, 2, memo).action == "same"  # exactly the target: streak reset
    assert memo.streak == 0
    assert recommend(idle, p, 2, memo).action == "same"
    assert recommend(idle, p, 2, memo).action == "down"


def test_shrinks_to_the_largest_target_of_the_streak() -> None:
    p = AdaptiveParams(minimum=0, maximum=10, wait_count=3, target_duration=1.0)
    memo = AdaptiveMemo()
    five = tuple(worker(n) for n in "abcde")
    targets = [load(*five, work=3.0, tasks=3), load(*five), load(*five, work=1.0, tasks=1)]
    recs = [recommend(x, p, 5, memo) for x in targets]
    assert [r.action for r in recs] == ["same", "same", "down"]
    assert recs[-1].n == 3 and len(recs[-1].close) == 2


def test_unregistered_workers_go_first() -> None:
    # 4 planned, 2 registered, target 1: two pending jobs cover most of the surplus
    p = AdaptiveParams(minimum=1, maximum=10, wait_count=1)
    rec = recommend(load(worker("a"), worker("b")), p, 4, AdaptiveMemo())
    assert rec.action == "down" and rec.n == 1 and len(rec.close) == 1


def test_close_idle_workers_holding_least_data() -> None:
    ws = (worker("a", nbytes=50), worker("b", nbytes=10), worker("c", processing=1),
          worker("d", nbytes=10))
    assert workers_to_close(ws, 2) == ("tcp://b", "tcp://d")
    assert workers_to_close(ws, 10) == ("tcp://b", "tcp://d", "tcp://a")  # never the busy one
    assert workers_to_close(ws, 0) == ()


# ---------------------------------------------------------------------- reading the state
def test_load_of_the_scheduler_state_uses_learned_durations() -> None:
    state = SchedulerState(validate=True)
    state.handle(ev.AddWorker("tcp://w", 1, "w"))
    specs = [ev.TaskSpec(f"slow-{i}", (None, None, None)) for i in range(3)]
    specs += [ev.TaskSpec(f"new-{i}", (None, None, None)) for i in range(2)]
    state.handle(ev.UpdateGraph("c", specs, [s.key for s in specs]))
    state.durations["slow"] = 2.0
    got = load_of(state)
    assert got.tasks == 5
    assert got.work == pytest.approx(3 * 2.0 + 2 * UNKNOWN_DURATION)
    assert got.workers[0].name == "w" and got.workers[0].processing >= 1


# ---------------------------------------------------------------------- bad input
@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"minimum": 3, "maximum": 1}, ValueError, "minimum .* larger than maximum"),
    ({"minimum": -1}, ValueError, "minimum must not be negative"),
    ({"maximum": -2}, ValueError, "maximum must not be negative"),
    ({"minimum": "x"}, TypeError, "minimum must be a whole number"),
    ({"maximum": None}, TypeError, "maximum must be a whole number"),
    ({"minimum": 1.5}, ValueError, "minimum must be a whole number"),
    ({"minimum": True}, TypeError, "minimum"),
    ({"wait_count": 0}, ValueError, "wait_count must be at least 1"),
    ({"target_duration": 0}, ValueError, "target_duration must be positive"),
    ({"target_duration": "5s"}, TypeError, "target_duration"),
])
def test_bad_parameters_are_named(kwargs: dict[str, object], error: type[Exception],
                                  match: str) -> None:
    with pytest.raises(error, match=match):
        check_params(**kwargs)  # type: ignore[arg-type]


def test_infinite_maximum_is_allowed() -> None:
    assert check_params(0, math.inf).maximum == math.inf
