"""The scheduler's pure state machine: feed stimuli, assert the exact messages that come out.

No sockets, no event loop, no clock.  The ``sched_state`` fixture validates after every
``handle()`` and on teardown.
"""
from __future__ import annotations

from typing import Any

import pytest

from futurelab.errors import InvalidTransition
from futurelab.scheduler.events import (
    AddKeys,
    AddWorker,
    CancelKeys,
    ClientDesiresKeys,
    ClientReleasesKeys,
    LongRunning,
    MissingData,
    RemoveClient,
    RemoveWorker,
    Reschedule,
    RetryKeys,
    ScatterData,
    TaskErred,
    TaskFinished,
    TaskSpec,
    UpdateGraph,
)
from futurelab.scheduler.state import (
    FIRE_AND_FORGET,
    TRANSITIONS,
    Outbox,
    SchedulerState,
    key_prefix,
)

A, B, C = "tcp://a", "tcp://b", "tcp://c"


# ---------------------------------------------------------------------- helpers
def rs(key: str) -> tuple[Any, Any, Any]:
    """A stand-in run_spec: the scheduler never looks inside, so plain strings do."""
    return (f"func-{key}", (key,), None)


def spec(key: str, *deps: str, **kw: Any) -> TaskSpec:
    return TaskSpec(key, rs(key), deps, **kw)


def compute(key: str, priority: tuple[int, int], who_has: dict[str, list[str]] | None = None,
            nbytes: dict[str, int] | None = None, actor: bool = False) -> dict[str, Any]:
    """The exact compute-task message the scheduler sends for ``key`` (empty fields omitted)."""
    func, args, kwargs = rs(key)
    msg: dict[str, Any] = {"op": "compute-task", "key": key, "priority": tuple(priority),
                           "func": func, "args": args, "kwargs": kwargs}
    if who_has:
        msg["who_has"] = who_has
        msg["nbytes"] = nbytes or {}
    if actor:
        msg["actor"] = True
    return msg


def in_memory(key: str, who_has: list[str], nbytes: int = 0, type: str = "",
              **extra: Any) -> dict[str, Any]:
    return {"op": "key-in-memory", "key": key, "type": type, "nbytes": nbytes,
            "who_has": who_has, **extra}


def free(key: str) -> dict[str, Any]:
    return {"op": "free-keys", "keys": [key]}


def done(worker: str, key: str, nbytes: int = 1, start: float = 0.0, stop: float = 1.0,
         **kw: Any) -> TaskFinished:
    """A task-finished that took 1 s (long enough that the saturation window stays small)."""
    return TaskFinished(worker, key, nbytes=nbytes, start=start, stop=stop, **kw)


def add_workers(s: SchedulerState, *addrs: str, nthreads: int = 1) -> None:
    for addr in addrs:
        assert s.handle(AddWorker(addr, nthreads)) == Outbox()


def states(s: SchedulerState) -> dict[str, str]:
    return {k: ts.state for k, ts in sorted(s.tasks.items())}


def processing(s: SchedulerState, addr: str) -> set[str]:
    return {ts.key for ts in s.workers[addr].processing}


def compute_keys(out: Outbox) -> dict[str, list[str]]:
    return {w: [m["key"] for m in msgs if m["op"] == "compute-task"]
            for w, msgs in out.workers.items()}


# ---------------------------------------------------------------------- basics
def test_key_prefix() -> None:
    assert key_prefix("inc-9f3a") == "inc"
    assert key_prefix("my-func-123") == "my-func"
    assert key_prefix("plain") == "plain"
    assert key_prefix("-x") == "-x"


def test_no_workers_task_queued_then_runs_on_join(sched_state: SchedulerState) -> None:
    s = sched_state
    out = s.handle(UpdateGraph("c", [spec("x-1")], ["x-1"]))
    assert out == Outbox()
    assert s.tasks["x-1"].state == "queued"
    out = s.handle(AddWorker(A, 1))
    assert out.workers == {A: [compute("x-1", (0, 0))]}
    assert out.clients == {}


def test_chain_runs_root_first_then_each_dependent(sched_state: SchedulerState) -> None:
    s = sched_state
    add_workers(s, A, B)
    out = s.handle(UpdateGraph("c", [spec("x-1"), spec("y-1", "x-1"), spec("z-1", "y-1")],
                               ["z-1"]))
    assert out == Outbox(workers={A: [compute("x-1", (0, 0))]})
    assert states(s) == {"x-1": "processing", "y-1": "waiting", "z-1": "waiting"}

    out = s.handle(done(A, "x-1", nbytes=10))
    # nobody wants x: no client message; y goes where x is
    assert out == Outbox(workers={A: [compute("y-1", (0, 1), {"x-1": [A]}, {"x-1": 10})]})

    out = s.handle(done(A, "y-1", nbytes=20))
    # z starts; x is no longer needed by anyone: its data is freed
    assert out == Outbox(workers={A: [compute("z-1", (0, 2), {"y-1": [A]}, {"y-1": 20}),
                                      free("x-1")]})

    out = s.handle(done(A, "z-1", nbytes=30, type="int"))
    assert out == Outbox(clients={"c": [in_memory("z-1", [A], 30, "int")]},
                         workers={A: [free("y-1")]})
    # released dependencies are kept (not forgotten) as lineage of z
    assert states(s) == {"x-1": "released", "y-1": "released", "z-1": "memory"}
    assert s.workers[A].has_what == {s.tasks["z-1"]}
    assert s.workers[A].nbytes == 30


def test_inline_data_travels_to_client(sched_state: SchedulerState) -> None:
    s = sched_state
    add_workers(s, A)
    s.handle(UpdateGraph("c", [spec("x-1")], ["x-1"]))
    out = s.handle(done(A, "x-1", nbytes=8, type="int", data=b"payload"))
    assert out.clients == {"c": [in_memory("x-1", [A], 8, "int", data=b"payload")]}
    assert out.workers == {}


def test_two_clients_both_told(sched_state: SchedulerState) -> None:
    s = sched_state
    add_workers(s, A)
    s.handle(UpdateGraph("c1", [spec("x-1")], ["x-1"]))
    out = s.handle(UpdateGraph("c2", [spec("x-1")], ["x-1"]))
    assert out == Outbox()  # already processing: not sent again
    out = s.handle(done(A, "x-1"))
    assert out.clients == {"c1": [in_memory("x-1", [A], 1)], "c2": [in_memory("x-1", [A], 1)]}
    # a late third client gets the report at once
    out = s.handle(ClientDesiresKeys("c3", ["x-1"]))
    assert out == Outbox(clients={"c3": [in_memory("x-1", [A], 1)]})


def test_update_graph_unknown_wanted_key(sched_state: SchedulerState) -> None:
    s = sched_state
    out = s.handle(UpdateGraph("c", [], ["nope"]))
    assert out == Outbox(clients={"c": [{"op": "cancelled-keys", "keys": ["nope"],
                                         "reason": "unknown key"}]})


def test_diamond_dependency_data_released_after_all_dependents(
        sched_state: SchedulerState) -> None:
    s = sched_state
    add_workers(s, A)
    s.handle(UpdateGraph("c", [spec("x-1"), spec("y-1", "x-1"), spec("y-2", "x-1")],
                         ["y-1", "y-2"]))
    s.handle(done(A, "x-1"))
    assert states(s) == {"x-1": "memory", "y-1": "processing", "y-2": "processing"}
    out = s.handle(done(A, "y-1"))
    assert out == Outbox(clients={"c": [in_memory("y-1", [A], 1)]})  # x still needed by y-2
    out = s.handle(done(A, "y-2"))
    assert out == Outbox(clients={"c": [in_memory("y-2", [A], 1)]}, workers={A: [free("x-1")]})


# ---------------------------------------------------------------------- worker choice
def test_prefers_worker_holding_dependencies(sched_state: SchedulerState) -> None:
    s = sched_state
    add_workers(s, A, B)
    s.handle(UpdateGraph("c", [spec("x-1"), spec("x-2")], ["x-1", "x-2"]))
    assert processing(s, A) == {"x-1"} and processing(s, B) == {"x-2"}
    s.handle(done(A, "x-1", nbytes=5))
    s.handle(done(B, "x-2", nbytes=500))
    out = s.handle(UpdateGraph("c", [spec("y-1", "x-1", "x-2")], ["y-1"]))
    # B holds more bytes of the dependencies
    assert out.workers == {B: [compute("y-1", (1, 0), {"x-1": [A], "x-2": [B]},
                                       {"x-1": 5, "x-2": 500})]}


def test_least_loaded_worker_otherwise(sched_state: SchedulerState) -> None:
    s = sched_state
    add_workers(s, A)
    s.handle(AddWorker(B, 2))
    out = s.handle(UpdateGraph("c", [spec(f"x-{i}") for i in range(3)],
                               [f"x-{i}" for i in range(3)]))
    # A 1 thread, B 2 threads: x-0 → A (tie, first), x-1 → B (0/2 < 1/1), x-2 → B (1/2 < 1/1)
    assert compute_keys(out) == {A: ["x-0"], B: ["x-1", "x-2"]}


def test_addkeys_records_replica_and_frees_unknown(sched_state: SchedulerState) -> None:
    s = sched_state
    add_workers(s, A, B)
    s.handle(UpdateGraph("c", [spec("x-1")], ["x-1"]))
    s.handle(done(A, "x-1"))
    out = s.handle(AddKeys(B, ["x-1", "ghost"]))
    assert out == Outbox(workers={B: [free("ghost")]})
    assert s.tasks["x-1"].who_has == {A, B}
    out = s.handle(ClientReleasesKeys("c", ["x-1"]))
    assert out.workers == {A: [free("x-1")], B: [free("x-1")]}
    assert s.tasks == {}


# ---------------------------------------------------------------------- saturation
def test_saturation_unknown_duration(sched_state: SchedulerState) -> None:
    s = sched_state
    add_workers(s, A, nthreads=2)
    keys = [f"x-{i}" for i in range(10)]
    out = s.handle(UpdateGraph("c", [spec(k) for k in keys], keys))
    # unknown duration: nthreads * 2 tasks at most
    assert compute_keys(out) == {A: keys[:4]}
    assert [s.tasks[k].state for k in keys] == ["processing"] * 4 + ["queued"] * 6
    # a 1-second task finishing keeps the window at 2 per thread: the next one flows in
    out = s.handle(done(A, "x-0", start=0.0, stop=1.0))
    assert compute_keys(out) == {A: ["x-4"]}
    assert out.clients == {"c": [in_memory("x-0", [A], 1)]}
    assert len(s.workers[A].processing) == 4


def test_saturation_new_worker_drains_queue(sched_state: SchedulerState) -> None:
    s = sched_state
    add_workers(s, A)
    keys = [f"x-{i}" for i in range(5)]
    s.handle(UpdateGraph("c", [spec(k) for k in keys], keys))
    assert processing(s, A) == {"x-0", "x-1"}
    out = s.handle(AddWorker(B, 1))
    # in priority order
    assert out.workers == {B: [compute("x-2", (0, 2)), compute("x-3", (0, 3))]}
    assert s.tasks["x-4"].state == "queued"


def test_learned_short_duration_grows_window(sched_state: SchedulerState) -> None:
    s = sched_state
    add_workers(s, A)
    keys = [f"x-{i}" for i in range(20)]
    s.handle(UpdateGraph("c", [spec(k) for k in keys], keys))
    assert len(s.workers[A].processing) == 2
    # 10 ms per task: 0.05 s / 0.01 s = 5 extra per thread → capacity 6
    out = s.handle(done(A, "x-0", start=0.0, stop=0.01))
    assert s.durations == {"x": pytest.approx(0.01)}
    assert compute_keys(out) == {A: ["x-2", "x-3", "x-4", "x-5", "x-6"]}
    assert len(s.workers[A].processing) == 6


def test_learned_duration_is_a_moving_average(sched_state: SchedulerState) -> None:
    s = sched_state
    add_workers(s, A)
    s.handle(UpdateGraph("c", [spec("x-1"), spec("x-2")], ["x-1", "x-2"]))
    s.handle(done(A, "x-1", start=0.0, stop=1.0))
    s.handle(done(A, "x-2", start=0.0, stop=2.0))
    assert s.durations["x"] == pytest.approx(0.8 * 1.0 + 0.2 * 2.0)


def test_long_running_secede_adds_capacity(sched_state: SchedulerState) -> None:
    s = sched_state
    add_workers(s, A)
    keys = [f"x-{i}" for i in range(4)]
    s.handle(UpdateGraph("c", [spec(k) for k in keys], keys))
    assert processing(s, A) == {"x-0", "x-1"}
    out = s.handle(LongRunning(A, "x-0"))
    # one more thread counted: capacity 2 * 2
    assert compute_keys(out) == {A: ["x-2", "x-3"]}
    assert s.workers[A].seceded == 1
    s.handle(LongRunning(A, "x-0"))  # idempotent
    assert s.workers[A].seceded == 1
    s.handle(done(A, "x-0"))
    assert s.workers[A].seceded == 0


# ---------------------------------------------------------------------- releasing
def test_client_releases_memory_key_forgets_and_frees(sched_state: SchedulerState) -> None:
    s = sched_state
    add_workers(s, A)
    s.handle(UpdateGraph("c", [spec("x-1"), spec("y-1", "x-1")], ["y-1"]))
    s.handle(done(A, "x-1"))
    s.handle(done(A, "y-1"))
    out = s.handle(ClientReleasesKeys("c", ["y-1"]))
    assert out == Outbox(workers={A: [free("y-1")]})
    assert s.tasks == {}
    assert s.workers[A].has_what == set() and s.workers[A].nbytes == 0
    assert s.clients["c"] == set()
    assert s.story("y-1")[-1] == ("y-1", "memory", "forgotten", "client-releases-keys", 0.0)


def test_release_processing_task_sends_free_keys(sched_state: SchedulerState) -> None:
    s = sched_state
    add_workers(s, A)
    s.handle(UpdateGraph("c", [spec("x-1")], ["x-1"]))
    out = s.handle(ClientReleasesKeys("c", ["x-1"]))
    assert out == Outbox(workers={A: [free("x-1")]})
    assert s.tasks == {} and s.workers[A].processing == set()


def test_release_waiting_chain_frees_running_root(sched_state: SchedulerState) -> None:
    s = sched_state
    add_workers(s, A)
    s.handle(UpdateGraph("c", [spec("x-1"), spec("y-1", "x-1")], ["y-1"]))
    out = s.handle(ClientReleasesKeys("c", ["y-1"]))
    assert out == Outbox(workers={A: [free("x-1")]})
    assert s.tasks == {}


def test_release_queued_task(sched_state: SchedulerState) -> None:
    s = sched_state
    add_workers(s, A)
    keys = [f"x-{i}" for i in range(3)]
    s.handle(UpdateGraph("c", [spec(k) for k in keys], keys))
    assert s.tasks["x-2"].state == "queued"
    out = s.handle(ClientReleasesKeys("c", ["x-2"]))
    assert out == Outbox()
    assert "x-2" not in s.tasks
    # the stale heap entry is skipped when capacity frees
    out = s.handle(done(A, "x-0"))
    assert compute_keys(out) == {}


def test_release_shared_key_kept_for_other_client(sched_state: SchedulerState) -> None:
    s = sched_state
    add_workers(s, A)
    s.handle(UpdateGraph("c1", [spec("x-1")], ["x-1"]))
    s.handle(UpdateGraph("c2", [spec("x-1")], ["x-1"]))
    assert s.handle(ClientReleasesKeys("c1", ["x-1"])) == Outbox()
    assert s.tasks["x-1"].who_wants == {"c2"}
    # releasing a key the client never wanted is a no-op
    assert s.handle(ClientReleasesKeys("c1", ["x-1", "nope"])) == Outbox()


def test_late_task_finished_for_released_task_frees_on_worker(
        sched_state: SchedulerState) -> None:
    s = sched_state
    add_workers(s, A)
    s.handle(UpdateGraph("c", [spec("x-1")], ["x-1"]))
    s.handle(ClientReleasesKeys("c", ["x-1"]))
    out = s.handle(done(A, "x-1"))
    assert out == Outbox(workers={A: [free("x-1")]})
    # a late report about a task the scheduler still knows as released lineage, too
    s.handle(UpdateGraph("c", [spec("y-1"), spec("z-1", "y-1")], ["z-1"]))
    s.handle(done(A, "y-1"))
    s.handle(done(A, "z-1"))
    assert s.tasks["y-1"].state == "released"
    out = s.handle(done(A, "y-1"))
    assert out == Outbox(workers={A: [free("y-1")]})


def test_task_finished_from_unknown_worker_ignored(sched_state: SchedulerState) -> None:
    s = sched_state
    add_workers(s, A)
    s.handle(UpdateGraph("c", [spec("x-1")], ["x-1"]))
    assert s.handle(done(B, "x-1")) == Outbox()
    assert s.tasks["x-1"].state == "processing"


def test_duplicate_task_finished_adds_replica(sched_state: SchedulerState) -> None:
    s = sched_state
    add_workers(s, A, B)
    s.handle(UpdateGraph("c", [spec("x-1")], ["x-1"]))
    s.handle(done(A, "x-1"))
    assert s.handle(done(B, "x-1")) == Outbox()
    assert s.tasks["x-1"].who_has == {A, B}


def test_remove_client_releases_everything(sched_state: SchedulerState) -> None:
    s = sched_state
    add_workers(s, A)
    s.handle(UpdateGraph("c", [spec("x-1"), spec("y-1", "x-1"), spec("w-1")], ["y-1", "w-1"]))
    s.handle(done(A, "x-1"))
    out = s.handle(RemoveClient("c"))
    assert out.clients == {}
    assert sorted(m["keys"][0] for m in out.workers[A]) == ["w-1", "x-1", "y-1"]
    assert all(m["op"] == "free-keys" for m in out.workers[A])
    assert s.tasks == {}
    assert "c" not in s.clients


def test_remove_client_keeps_keys_shared_with_others(sched_state: SchedulerState) -> None:
    s = sched_state
    add_workers(s, A)
    s.handle(UpdateGraph("c1", [spec("x-1")], ["x-1"]))
    s.handle(UpdateGraph("c2", [spec("x-1")], ["x-1"]))
    assert s.handle(RemoveClient("c1")) == Outbox()
    assert s.tasks["x-1"].who_wants == {"c2"}


# ---------------------------------------------------------------------- fire and forget
def test_fire_and_forget_keeps_task_alive(sched_state: SchedulerState) -> None:
    s = sched_state
    add_workers(s, A)
    s.handle(UpdateGraph("c", [spec("x-1"), spec("y-1", "x-1")], ["y-1"]))
    assert s.handle(ClientDesiresKeys(FIRE_AND_FORGET, ["y-1"])) == Outbox()
    assert s.handle(RemoveClient("c")) == Outbox()
    assert states(s) == {"x-1": "processing", "y-1": "waiting"}
    out = s.handle(done(A, "x-1"))
    assert compute_keys(out) == {A: ["y-1"]}
    out = s.handle(done(A, "y-1"))
    # nobody real is told; the pseudo-client never gets messages
    assert out.clients == {}
    # releasing the pseudo-client does not remove it
    s.handle(RemoveClient(FIRE_AND_FORGET))
    assert FIRE_AND_FORGET in s.clients


def test_fire_and_forget_result_released_when_done(sched_state: SchedulerState) -> None:
    s = sched_state
    add_workers(s, A)
    s.handle(UpdateGraph("c", [spec("x-1")], ["x-1"]))
    s.handle(ClientDesiresKeys(FIRE_AND_FORGET, ["x-1"]))
    s.handle(ClientReleasesKeys("c", ["x-1"]))
    out = s.handle(done(A, "x-1"))
    assert out == Outbox(workers={A: [free("x-1")]})
    assert s.tasks == {}


# ---------------------------------------------------------------------- cancel
def test_cancel_processing_task_and_dependents(sched_state: SchedulerState) -> None:
    s = sched_state
    add_workers(s, A)
    s.handle(UpdateGraph("c", [spec("x-1"), spec("y-1", "x-1")], ["x-1", "y-1"]))
    out = s.handle(CancelKeys("c", ["x-1"]))
    assert sorted(m["keys"][0] for m in out.clients["c"]) == ["x-1", "y-1"]
    assert all(m == {"op": "cancelled-keys", "keys": [m["keys"][0]]} for m in out.clients["c"])
    assert out.workers == {A: [free("x-1")]}
    assert s.tasks == {}
    assert s.clients["c"] == set()


def test_cancel_not_forced_keeps_other_clients_claim(sched_state: SchedulerState) -> None:
    s = sched_state
    add_workers(s, A)
    s.handle(UpdateGraph("c1", [spec("x-1")], ["x-1"]))
    s.handle(UpdateGraph("c2", [spec("x-1")], ["x-1"]))
    out = s.handle(CancelKeys("c1", ["x-1"]))
    assert out == Outbox(clients={"c1": [{"op": "cancelled-keys", "keys": ["x-1"]}]})
    assert s.tasks["x-1"].state == "processing"
    assert s.tasks["x-1"].who_wants == {"c2"}


def test_cancel_forced_cancels_for_everyone(sched_state: SchedulerState) -> None:
    s = sched_state
    add_workers(s, A)
    s.handle(UpdateGraph("c1", [spec("x-1")], ["x-1"]))
    s.handle(UpdateGraph("c2", [spec("x-1")], ["x-1"]))
    out = s.handle(CancelKeys("c1", ["x-1"], force=True))
    assert out.clients == {"c1": [{"op": "cancelled-keys", "keys": ["x-1"]}],
                           "c2": [{"op": "cancelled-keys", "keys": ["x-1"]}]}
    assert out.workers == {A: [free("x-1")]}
    assert s.tasks == {}


def test_cancel_memory_key(sched_state: SchedulerState) -> None:
    s = sched_state
    add_workers(s, A)
    s.handle(UpdateGraph("c", [spec("x-1")], ["x-1"]))
    s.handle(done(A, "x-1"))
    out = s.handle(CancelKeys("c", ["x-1", "unknown"]))
    assert out == Outbox(clients={"c": [{"op": "cancelled-keys", "keys": ["x-1"]}]},
                         workers={A: [free("x-1")]})


# ---------------------------------------------------------------------- errors
def test_task_erred_propagates_to_dependents(sched_state: SchedulerState) -> None:
    s = sched_state
    add_workers(s, A)
    s.handle(UpdateGraph("c", [spec("x-1"), spec("y-1", "x-1"), spec("z-1", "y-1")],
                         ["x-1", "z-1"]))
    out = s.handle(TaskErred(A, "x-1", exception="exc", traceback="tb", text="ZeroDivisionError"))
    err = {"exception": "exc", "traceback": "tb", "text": "ZeroDivisionError", "kind": "task"}
    assert sorted(out.clients["c"], key=lambda m: m["key"]) == [
        {"op": "task-erred", "key": "x-1", **err},
        {"op": "task-erred", "key": "z-1", **err},
    ]
    assert out.workers == {}
    assert s.tasks["x-1"].state == "erred" and s.tasks["z-1"].state == "erred"
    assert s.tasks["z-1"].error_text == "ZeroDivisionError"
    assert s.workers[A].processing == set()
    # a client asking later is told at once
    out = s.handle(ClientDesiresKeys("c2", ["z-1"]))
    assert out.clients == {"c2": [{"op": "task-erred", "key": "z-1", **err}]}


def test_erred_tasks_forgotten_when_released(sched_state: SchedulerState) -> None:
    s = sched_state
    add_workers(s, A)
    s.handle(UpdateGraph("c", [spec("x-1"), spec("y-1", "x-1")], ["y-1"]))
    s.handle(TaskErred(A, "x-1", text="boom"))
    # the unwanted root is released (its error travels on in y); y keeps the error
    assert states(s) == {"x-1": "released", "y-1": "erred"}
    assert s.tasks["y-1"].error_text == "boom"
    assert s.handle(ClientReleasesKeys("c", ["y-1"])) == Outbox()
    assert s.tasks == {}


def test_late_task_erred_ignored(sched_state: SchedulerState) -> None:
    s = sched_state
    add_workers(s, A, B)
    s.handle(UpdateGraph("c", [spec("x-1")], ["x-1"]))
    assert s.handle(TaskErred(B, "x-1", text="not yours")) == Outbox()
    assert s.handle(TaskErred(A, "nope", text="unknown")) == Outbox()
    assert s.tasks["x-1"].state == "processing"


def test_retry_erred_task_and_erred_dependency(sched_state: SchedulerState) -> None:
    s = sched_state
    add_workers(s, A)
    s.handle(UpdateGraph("c", [spec("x-1"), spec("y-1", "x-1")], ["y-1"]))
    s.handle(TaskErred(A, "x-1", text="boom"))
    out = s.handle(RetryKeys("c", ["y-1"]))
    # the root cause is recomputed first
    assert out == Outbox(workers={A: [compute("x-1", (0, 0))]})
    assert states(s) == {"x-1": "processing", "y-1": "waiting"}
    assert s.tasks["y-1"].error_kind == "" and s.tasks["x-1"].exception is None
    s.handle(done(A, "x-1"))
    out = s.handle(done(A, "y-1"))
    assert out.clients == {"c": [in_memory("y-1", [A], 1)]}
    assert ("y-1", "erred", "released", "retry", 0.0) in s.story("y-1")


def test_retry_walks_back_through_erred_chain(sched_state: SchedulerState) -> None:
    s = sched_state
    add_workers(s, A)
    s.handle(UpdateGraph("c", [spec("x-1"), spec("y-1", "x-1"), spec("z-1", "y-1")],
                         ["x-1", "z-1"]))
    s.handle(TaskErred(A, "x-1", text="boom"))
    out = s.handle(RetryKeys("c", ["z-1"]))
    assert out == Outbox(workers={A: [compute("x-1", (0, 0))]})
    assert states(s) == {"x-1": "processing", "y-1": "waiting", "z-1": "waiting"}


def test_retry_non_erred_is_noop(sched_state: SchedulerState) -> None:
    s = sched_state
    add_workers(s, A)
    s.handle(UpdateGraph("c", [spec("x-1")], ["x-1"]))
    assert s.handle(RetryKeys("c", ["x-1", "unknown"])) == Outbox()
    assert s.tasks["x-1"].state == "processing"


def test_automatic_retries(sched_state: SchedulerState) -> None:
    s = sched_state
    add_workers(s, A)
    s.handle(UpdateGraph("c", [spec("x-1", retries=2)], ["x-1"]))
    for _ in range(2):
        out = s.handle(TaskErred(A, "x-1", text="flaky"))
        assert out == Outbox(workers={A: [compute("x-1", (0, 0))]})
    out = s.handle(TaskErred(A, "x-1", exception="e", traceback="t", text="flaky"))
    assert out == Outbox(clients={"c": [{"op": "task-erred", "key": "x-1", "exception": "e",
                                         "traceback": "t", "text": "flaky", "kind": "task"}]})


# ---------------------------------------------------------------------- scatter
def test_scatter_puts_data_in_memory(sched_state: SchedulerState) -> None:
    s = sched_state
    add_workers(s, A, B)
    out = s.handle(ScatterData("c", {"d-1": [B]}, {"d-1": 100}, {"d-1": "list"}))
    assert out == Outbox(clients={"c": [in_memory("d-1", [B], 100, "list")]})
    ts = s.tasks["d-1"]
    assert ts.state == "memory" and ts.who_has == {B} and ts.run_spec is None
    assert s.workers[B].has_what == {ts} and s.workers[B].nbytes == 100
    # a task using the scattered data runs where it lives
    out = s.handle(UpdateGraph("c", [spec("y-1", "d-1")], ["y-1"]))
    assert out.workers == {B: [compute("y-1", (1, 0), {"d-1": [B]}, {"d-1": 100})]}


def test_scatter_unblocks_waiting_dependent(sched_state: SchedulerState) -> None:
    s = sched_state
    add_workers(s, A)
    s.handle(ScatterData("c", {"d-1": [A]}))
    s.handle(UpdateGraph("c", [spec("y-1", "d-1")], ["y-1"]))
    s.handle(ClientReleasesKeys("c", ["d-1"]))
    assert s.tasks["d-1"].state == "memory"  # still needed by y
    out = s.handle(done(A, "y-1"))
    assert out == Outbox(clients={"c": [in_memory("y-1", [A], 1)]}, workers={A: [free("d-1")]})
    assert s.tasks["d-1"].state == "released"  # kept as lineage of y


# ---------------------------------------------------------------------- worker loss
def test_remove_worker_reschedules_processing(sched_state: SchedulerState) -> None:
    s = sched_state
    add_workers(s, A, B)
    s.handle(UpdateGraph("c", [spec("x-1")], ["x-1"]))
    assert processing(s, A) == {"x-1"}
    out = s.handle(RemoveWorker(A))
    assert out == Outbox(workers={B: [compute("x-1", (0, 0))]})
    assert s.tasks["x-1"].suspicious == 1
    assert ("x-1", "processing", "released", "remove-worker", 0.0) in s.story("x-1")


def test_remove_worker_expected_not_suspicious(sched_state: SchedulerState) -> None:
    s = sched_state
    add_workers(s, A, B)
    s.handle(UpdateGraph("c", [spec("x-1")], ["x-1"]))
    s.handle(RemoveWorker(A, expected=True))
    assert s.tasks["x-1"].suspicious == 1
    assert s.tasks["x-1"].state == "processing"


def test_remove_unknown_worker_noop(sched_state: SchedulerState) -> None:
    assert sched_state.handle(RemoveWorker("tcp://nope")) == Outbox()


def test_remove_last_worker_task_queued(sched_state: SchedulerState) -> None:
    s = sched_state
    add_workers(s, A)
    s.handle(UpdateGraph("c", [spec("x-1")], ["x-1"]))
    assert s.handle(RemoveWorker(A)) == Outbox()
    assert s.tasks["x-1"].state == "queued"
    out = s.handle(AddWorker(B, 1))
    assert out.workers == {B: [compute("x-1", (0, 0))]}


def test_lost_dependency_of_waiting_task_is_waited_for(sched_state: SchedulerState) -> None:
    s = sched_state
    add_workers(s, A, B)
    s.handle(UpdateGraph("c", [spec("a-1", workers=[A]), spec("b-1", workers=[B]),
                               spec("c-1", "a-1", "b-1")], ["c-1"]))
    s.handle(done(A, "a-1"))
    assert states(s) == {"a-1": "memory", "b-1": "processing", "c-1": "waiting"}
    s.handle(RemoveWorker(A))
    assert states(s) == {"a-1": "queued", "b-1": "processing", "c-1": "waiting"}
    # b finishes: c must keep waiting for a, which is not in memory anywhere
    out = s.handle(done(B, "b-1"))
    assert out == Outbox()
    assert states(s) == {"a-1": "queued", "b-1": "memory", "c-1": "waiting"}


def test_seceded_task_rescheduled_after_worker_loss(sched_state: SchedulerState) -> None:
    s = sched_state
    add_workers(s, A, B)
    s.handle(UpdateGraph("c", [spec("x-1")], ["x-1"]))
    s.handle(LongRunning(A, "x-1"))
    s.handle(RemoveWorker(A))
    assert processing(s, B) == {"x-1"}
    assert s.tasks["x-1"].seceded is False
    s.handle(done(B, "x-1"))
    assert s.workers[B].seceded == 0


def test_killed_worker_after_allowed_failures(sched_state: SchedulerState) -> None:
    s = sched_state
    workers = [f"tcp://w{i}" for i in range(4)]
    add_workers(s, workers[0])
    s.handle(UpdateGraph("c", [spec("x-1"), spec("y-1", "x-1")], ["y-1"]))
    for i in range(3):
        add_workers(s, workers[i + 1])
        out = s.handle(RemoveWorker(workers[i]))
        assert out == Outbox(workers={workers[i + 1]: [compute("x-1", (0, 0))]})
    out = s.handle(RemoveWorker(workers[3]))
    text = ("Attempted to run task 'x-1' on 4 different workers, but all those workers died "
            "while running it. The last worker was tcp://w3.")
    assert out == Outbox(clients={"c": [{"op": "task-erred", "key": "y-1", "exception": None,
                                         "traceback": None, "text": text, "kind": "killed"}]})
    assert s.tasks["y-1"].state == "erred"
    assert s.tasks["x-1"].state in ("erred", "released")  # unwanted root: released


def test_allowed_failures_configurable() -> None:
    s = SchedulerState(allowed_failures=0, validate=True)
    add_workers(s, A)
    s.handle(UpdateGraph("c", [spec("x-1")], ["x-1"]))
    out = s.handle(RemoveWorker(A))
    assert out.clients["c"][0]["kind"] == "killed"
    s.validate()


def test_lost_computed_data_recomputed_with_lineage(sched_state: SchedulerState) -> None:
    s = sched_state
    add_workers(s, A, B)
    s.handle(UpdateGraph("c", [spec("x-1"), spec("y-1", "x-1")], ["y-1"]))
    s.handle(done(A, "x-1"))
    s.handle(done(A, "y-1"))
    assert states(s) == {"x-1": "released", "y-1": "memory"}
    out = s.handle(RemoveWorker(A))
    # the client is told its key is gone; the released dependency is recomputed first
    assert out == Outbox(clients={"c": [{"op": "key-lost", "key": "y-1"}]},
                         workers={B: [compute("x-1", (0, 0))]})
    assert states(s) == {"x-1": "processing", "y-1": "waiting"}
    out = s.handle(done(B, "x-1"))
    assert out.workers == {B: [compute("y-1", (0, 1), {"x-1": [B]}, {"x-1": 1})]}
    out = s.handle(done(B, "y-1"))
    assert out == Outbox(clients={"c": [in_memory("y-1", [B], 1)]}, workers={B: [free("x-1")]})


def test_lost_data_with_replica_elsewhere_kept(sched_state: SchedulerState) -> None:
    s = sched_state
    add_workers(s, A, B)
    s.handle(UpdateGraph("c", [spec("x-1")], ["x-1"]))
    s.handle(done(A, "x-1"))
    s.handle(AddKeys(B, ["x-1"]))
    assert s.handle(RemoveWorker(A)) == Outbox()
    assert s.tasks["x-1"].who_has == {B}


def test_lost_unwanted_data_not_recomputed(sched_state: SchedulerState) -> None:
    s = sched_state
    add_workers(s, A, B)
    s.handle(UpdateGraph("c", [spec("x-1"), spec("y-1", "x-1"), spec("y-2", "x-1")],
                         ["y-1", "y-2"]))
    s.handle(done(A, "x-1"))
    s.handle(done(A, "y-1"))
    s.handle(done(A, "y-2"))
    s.handle(AddKeys(B, ["y-1", "y-2"]))
    assert s.handle(RemoveWorker(A)) == Outbox()
    assert states(s) == {"x-1": "released", "y-1": "memory", "y-2": "memory"}


def test_lost_scattered_data_errs(sched_state: SchedulerState) -> None:
    s = sched_state
    add_workers(s, A, B)
    s.handle(ScatterData("c", {"d-1": [A]}))
    out = s.handle(RemoveWorker(A))
    msgs = out.clients["c"]
    assert msgs[-1]["op"] == "task-erred" and msgs[-1]["key"] == "d-1"
    assert msgs[-1]["kind"] == "lost"
    assert "'d-1'" in msgs[-1]["text"]
    assert out.workers == {}
    assert s.tasks["d-1"].state == "erred"


def test_lost_scattered_dependency_errs_dependent(sched_state: SchedulerState) -> None:
    s = sched_state
    add_workers(s, A)
    s.handle(ScatterData("c", {"d-1": [A]}))
    s.handle(UpdateGraph("c", [spec("y-1", "d-1")], ["y-1"]))
    s.handle(ClientReleasesKeys("c", ["d-1"]))
    out = s.handle(RemoveWorker(A))
    assert [m["op"] for m in out.clients["c"]] == ["task-erred"]
    assert out.clients["c"][0]["key"] == "y-1"
    assert out.clients["c"][0]["kind"] == "lost"
    assert "'d-1'" in out.clients["c"][0]["text"]


def test_missing_data_recomputes_lost_key(sched_state: SchedulerState) -> None:
    s = sched_state
    add_workers(s, A, B)
    s.handle(UpdateGraph("c", [spec("x-1"), spec("y-1", "x-1")], ["x-1", "y-1"]))
    s.handle(done(A, "x-1"))
    s.handle(done(A, "y-1"))
    s.handle(AddKeys(B, ["y-1"]))
    # a replica elsewhere: only the holder is forgotten
    assert s.handle(MissingData("y-1", A)) == Outbox()
    assert s.tasks["y-1"].who_has == {B}
    out = s.handle(MissingData("x-1", A))
    assert out.workers == {A: [compute("x-1", (0, 0))]}
    assert s.tasks["x-1"].state == "processing"
    assert s.handle(MissingData("unknown", A)) == Outbox()
    assert s.handle(MissingData("x-1", "tcp://gone")) == Outbox()


def test_missing_data_last_copy_tells_client(sched_state: SchedulerState) -> None:
    s = sched_state
    add_workers(s, A)
    s.handle(UpdateGraph("c", [spec("x-1")], ["x-1"]))
    s.handle(done(A, "x-1"))
    out = s.handle(MissingData("x-1", A))
    assert out == Outbox(clients={"c": [{"op": "key-lost", "key": "x-1"}]},
                         workers={A: [compute("x-1", (0, 0))]})


def test_missing_data_with_processing_dependent(sched_state: SchedulerState) -> None:
    s = sched_state
    add_workers(s, A, B)
    s.handle(UpdateGraph("c", [spec("x-1", workers=[A]), spec("y-1", "x-1", workers=[B])],
                         ["y-1"]))
    s.handle(done(A, "x-1"))
    assert processing(s, B) == {"y-1"}
    # B could not fetch x from A: x is recomputed and y must wait for it again
    out = s.handle(MissingData("x-1", A))
    assert out.workers == {A: [compute("x-1", (0, 0))], B: [free("y-1")]}
    assert states(s) == {"x-1": "processing", "y-1": "waiting"}


def test_reschedule_from_worker(sched_state: SchedulerState) -> None:
    s = sched_state
    add_workers(s, A, B)
    s.handle(UpdateGraph("c", [spec("x-1")], ["x-1"]))
    out = s.handle(Reschedule(A, "x-1", stimulus_id="resched-1"))
    # both idle again: the first worker is as good as any
    assert out.workers == {A: [compute("x-1", (0, 0))]}
    assert s.story("x-1")[-3:] == [("x-1", "processing", "released", "resched-1", 0.0),
                                   ("x-1", "released", "waiting", "resched-1", 0.0),
                                   ("x-1", "waiting", "processing", "resched-1", 0.0)]
    # from a worker not running it: ignored
    assert s.handle(Reschedule(B, "x-1")) == Outbox()
    assert s.handle(Reschedule(A, "unknown")) == Outbox()


# ---------------------------------------------------------------------- restrictions
def test_restricted_task_runs_only_there(sched_state: SchedulerState) -> None:
    s = sched_state
    add_workers(s, A, B)
    keys = [f"x-{i}" for i in range(4)]
    out = s.handle(UpdateGraph("c", [spec(k, workers=[B]) for k in keys], keys))
    # restricted tasks ignore saturation
    assert compute_keys(out) == {B: keys}


def test_restricted_task_waits_for_its_worker(sched_state: SchedulerState) -> None:
    s = sched_state
    add_workers(s, A)
    out = s.handle(UpdateGraph("c", [spec("x-1", workers=[B])], ["x-1"]))
    assert out == Outbox()
    assert s.tasks["x-1"].state == "queued"
    assert s.tasks["x-1"] in s.unrunnable
    assert s.handle(AddWorker(C, 1)) == Outbox()
    out = s.handle(AddWorker(B, 1))
    assert out == Outbox(workers={B: [compute("x-1", (0, 0))]})
    assert s.unrunnable == set()


def test_restricted_task_worker_leaves_then_returns(sched_state: SchedulerState) -> None:
    s = sched_state
    add_workers(s, A, B)
    s.handle(UpdateGraph("c", [spec("x-1", workers=[B])], ["x-1"]))
    assert s.handle(RemoveWorker(B)) == Outbox()
    assert s.tasks["x-1"] in s.unrunnable
    out = s.handle(AddWorker(B, 1))
    assert out.workers == {B: [compute("x-1", (0, 0))]}


def test_release_unrunnable_task(sched_state: SchedulerState) -> None:
    s = sched_state
    s.handle(UpdateGraph("c", [spec("x-1", workers=[B])], ["x-1"]))
    s.handle(ClientReleasesKeys("c", ["x-1"]))
    assert s.tasks == {} and s.unrunnable == set()
    assert s.handle(AddWorker(B, 1)) == Outbox()


def test_actor_flag_travels(sched_state: SchedulerState) -> None:
    s = sched_state
    add_workers(s, A)
    out = s.handle(UpdateGraph("c", [spec("Counter-1", actor=True)], ["Counter-1"]))
    assert out.workers == {A: [compute("Counter-1", (0, 0), actor=True)]}


def test_scattered_key_released_by_client(sched_state: SchedulerState) -> None:
    s = sched_state
    add_workers(s, A, B)
    s.handle(ScatterData("c", {"d-1": [A, B]}, {"d-1": 4}))
    out = s.handle(ClientReleasesKeys("c", ["d-1"]))
    assert out == Outbox(workers={A: [free("d-1")], B: [free("d-1")]})
    assert s.tasks == {} and s.workers[A].nbytes == 0


def test_desire_released_lineage_key_recomputes_it(sched_state: SchedulerState) -> None:
    s = sched_state
    add_workers(s, A)
    s.handle(UpdateGraph("c", [spec("x-1"), spec("y-1", "x-1")], ["y-1"]))
    s.handle(done(A, "x-1"))
    s.handle(done(A, "y-1"))
    assert s.tasks["x-1"].state == "released"
    out = s.handle(ClientDesiresKeys("c", ["x-1"]))
    assert out == Outbox(workers={A: [compute("x-1", (0, 0))]})


# ---------------------------------------------------------------------- fake link
def test_scheduler_and_worker_machines_joined(sched_state: SchedulerState) -> None:
    """Two pure machines joined by a fake link (cf. h11's ConnectionPair): a 3-task chain.

    Messages cross the link as the shells pass them: checked against their declarations and
    turned into stimuli by the shells' own conversion tables.
    """
    from futurelab.protocol.serialize import Opaque
    from futurelab.protocol.vocabulary import Channel, check
    from futurelab.scheduler.events import FROM_WORKER
    from futurelab.worker.state import FROM_SCHEDULER, Execute, ExecuteSuccess, Send, WorkerState

    s = sched_state
    wss = {A: WorkerState(A, 1), B: WorkerState(B, 1)}
    data: dict[str, set[str]] = {A: set(), B: set()}
    to_client: list[dict[str, Any]] = []

    def deliver(out: Outbox) -> None:
        to_client.extend(m for msgs in out.clients.values() for m in msgs)
        for addr, msgs in out.workers.items():
            for m in msgs:
                run(addr, wss[addr].handle(FROM_SCHEDULER[check(Channel.TO_WORKER, m).cls](m)))
                wss[addr].validate()

    def run(addr: str, instructions: list[Any]) -> None:
        for ins in instructions:
            if isinstance(ins, Execute):
                data[addr].add(ins.key)
                run(addr, wss[addr].handle(ExecuteSuccess(ins.key, nbytes=1, type="int",
                                                          start=0, stop=1)))
            elif isinstance(ins, Send):
                cls = check(Channel.WORKER_STREAM, ins.msg).cls
                deliver(s.handle(FROM_WORKER[cls](addr, ins.msg)))
            else:
                assert type(ins).__name__ == "Drop", ins
                data[addr] -= set(ins.keys)  # type: ignore[attr-defined]

    def wire_spec(key: str, *deps: str) -> TaskSpec:  # payloads as the wire carries them
        return TaskSpec(key, (Opaque(f"func-{key}"), Opaque((key,)), None), deps)

    for addr in wss:
        deliver(s.handle(AddWorker(addr, 1)))
    deliver(s.handle(UpdateGraph("c", [wire_spec("x-1"), wire_spec("y-1", "x-1"),
                                       wire_spec("z-1", "y-1")], ["z-1"])))
    assert to_client == [in_memory("z-1", [A], 1, type="int")]
    assert data == {A: {"z-1"}, B: set()}
    assert states(s) == {"x-1": "released", "y-1": "released", "z-1": "memory"}
    deliver(s.handle(ClientReleasesKeys("c", ["z-1"])))
    assert s.tasks == {} and data == {A: set(), B: set()}
    assert wss[A].tasks == {}


# ---------------------------------------------------------------------- story / transitions
def test_story_records_transitions_with_stimulus(sched_state: SchedulerState) -> None:
    s = sched_state
    add_workers(s, A)
    s.handle(UpdateGraph("c", [spec("x-1")], ["x-1"], stimulus_id="ug-1"))
    s.handle(done(A, "x-1", stimulus_id="tf-1"))
    s.handle(ClientReleasesKeys("c", ["x-1"], stimulus_id="rel-1"))
    assert s.story("x-1") == [
        ("x-1", "released", "waiting", "ug-1", 0.0),
        ("x-1", "waiting", "processing", "ug-1", 0.0),
        ("x-1", "processing", "memory", "tf-1", 0.0),
        ("x-1", "memory", "forgotten", "rel-1", 0.0),
    ]
    assert s.story("nope") == []


def test_story_several_keys_and_plugins(sched_state: SchedulerState) -> None:
    s = sched_state
    seen: list[tuple[str, str, str]] = []
    s.plugins.append(lambda ts, start, finish: seen.append((ts.key, start, finish)))
    add_workers(s, A)
    s.handle(UpdateGraph("c", [spec("x-1"), spec("y-1", "x-1")], ["y-1"]))
    assert {t[0] for t in s.story("x-1", "y-1")} == {"x-1", "y-1"}
    assert seen == [t[:3] for t in s.transition_log]


def test_transition_log_is_bounded() -> None:
    s = SchedulerState(log_size=3)
    add_workers(s, A)
    s.handle(UpdateGraph("c", [spec("x-1")], ["x-1"]))
    s.handle(done(A, "x-1"))
    s.handle(ClientReleasesKeys("c", ["x-1"]))
    assert len(s.transition_log) == 3


def test_invalid_transition_raises(sched_state: SchedulerState) -> None:
    s = sched_state
    add_workers(s, A)
    s.handle(UpdateGraph("c", [spec("x-1"), spec("y-1", "x-1")], ["y-1"]))
    s._stimulus = "test-stim"
    with pytest.raises(InvalidTransition) as info:
        s._transitions({"y-1": "memory"})
    assert (info.value.key, info.value.start, info.value.finish, info.value.stimulus_id) == (
        "y-1", "waiting", "memory", "test-stim")
    assert "y-1" in str(info.value) and "test-stim" in str(info.value)
    assert s.tasks["y-1"].state == "waiting"


def test_transitions_table_is_consistent() -> None:
    known = {"released", "waiting", "queued", "processing", "memory", "erred", "forgotten"}
    for start, finish in TRANSITIONS:
        assert start in known and finish in known and start != finish
    # every state can be left for "released" or "forgotten" (except the terminal one)
    for state in known - {"released", "forgotten"}:
        assert (state, "released") in TRANSITIONS or (state, "erred") in TRANSITIONS


def test_validate_catches_broken_invariant(sched_state: SchedulerState) -> None:
    s = sched_state
    add_workers(s, A)
    s.handle(UpdateGraph("c", [spec("x-1")], ["x-1"]))
    s.tasks["x-1"].state = "memory"  # corrupt: memory with no holder
    with pytest.raises(AssertionError):
        s.validate()
    s.tasks["x-1"].state = "processing"


def test_story_records_the_time_given_with_each_stimulus() -> None:
    s = SchedulerState()
    add_workers(s, A)
    s.handle(UpdateGraph("c", [spec("x-1")], ["x-1"], stimulus_id="ug-1"), now=10.0)
    s.handle(done(A, "x-1", stimulus_id="tf-1"), now=12.5)
    assert [(t.finish, t.stimulus_id, t.time) for t in s.story("x-1")] == [
        ("waiting", "ug-1", 10.0), ("processing", "ug-1", 10.0), ("memory", "tf-1", 12.5)]
