"""The worker's pure state machine: feed events, assert the exact instructions that come out.

No sockets, no threads, no clock.  The fixtures validate after every ``handle()`` and on teardown.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from futurelab.worker import state as wstate
from futurelab.worker.state import (
    ComputeTask,
    Drop,
    Execute,
    ExecuteFailure,
    ExecuteSuccess,
    FreeKeys,
    GatherDep,
    GatherDepDone,
    GatherDepFailed,
    RejoinRequest,
    Resume,
    Secede,
    Send,
    UpdateData,
    WorkerState,
)

ME, P1, P2, P3 = "tcp://w", "tcp://p1", "tcp://p2", "tcp://p3"
MakeWS = Callable[..., WorkerState]


def rs(key: str) -> dict[str, Any]:
    return {"func": f"func-{key}", "args": (key,), "kwargs": None}


def compute(key: str, priority: tuple[int, ...] = (0, 0), who_has: dict[str, list[str]] | None
            = None, nbytes: dict[str, int] | None = None, **kw: Any) -> ComputeTask:
    return ComputeTask(key, rs(key), priority, who_has or {}, nbytes or {}, **kw)


def finished(key: str, nbytes: int = 1, type: str = "int", start: float = 1.0,
             stop: float = 2.0, thread: int = 0, **extra: Any) -> Send:
    return Send({"op": "task-finished", "key": key, "nbytes": nbytes, "type": type,
                 "start": start, "stop": stop, "thread": thread, **extra})


def success(key: str, nbytes: int = 1, **kw: Any) -> ExecuteSuccess:
    return ExecuteSuccess(key, nbytes=nbytes, type="int", start=1.0, stop=2.0, **kw)


def states(ws: WorkerState) -> dict[str, str]:
    return {k: ts.state for k, ts in sorted(ws.tasks.items())}


# ---------------------------------------------------------------------- executing
def test_compute_no_deps_executes(worker_state: WorkerState) -> None:
    ws = worker_state
    assert ws.handle(compute("x-1", stimulus_id="ct-1")) == [Execute("x-1")]
    assert states(ws) == {"x-1": "executing"}
    assert ws.story("x-1") == [("x-1", "released", "ready", "ct-1", 0.0),
                               ("x-1", "ready", "executing", "ct-1", 0.0)]
    assert ws.tasks["x-1"].run_spec == rs("x-1")


def test_success_sends_task_finished(worker_state: WorkerState) -> None:
    ws = worker_state
    ws.handle(compute("x-1"))
    assert ws.handle(success("x-1", nbytes=8)) == [finished("x-1", 8)]
    assert states(ws) == {"x-1": "memory"}
    assert ws.executing == set()


def test_success_with_inline_data(worker_state: WorkerState) -> None:
    ws = worker_state
    ws.handle(compute("x-1"))
    out = ws.handle(success("x-1", inline=b"small", thread=1))
    assert out == [finished("x-1", thread=1, data=b"small")]


def test_failure_sends_task_erred(worker_state: WorkerState) -> None:
    ws = worker_state
    ws.handle(compute("x-1"))
    out = ws.handle(ExecuteFailure("x-1", exception="exc", traceback="tb", text="boom",
                                   start=1.0, stop=2.0, thread=3))
    assert out == [Send({"op": "task-erred", "key": "x-1", "exception": "exc",
                         "traceback": "tb", "text": "boom", "start": 1.0, "stop": 2.0,
                         "thread": 3})]
    assert states(ws) == {"x-1": "error"}
    assert ws.executing == set()


def test_at_most_nthreads_execute_rest_ready_by_priority(make_worker_state: MakeWS) -> None:
    ws = make_worker_state(2)
    assert ws.handle(compute("x-4", (0, 4))) == [Execute("x-4")]
    assert ws.handle(compute("x-3", (0, 3))) == [Execute("x-3")]
    assert ws.handle(compute("x-2", (0, 2))) == []
    assert ws.handle(compute("x-0", (0, 0))) == []
    assert ws.handle(compute("x-1", (0, 1))) == []
    assert states(ws) == {"x-0": "ready", "x-1": "ready", "x-2": "ready", "x-3": "executing",
                          "x-4": "executing"}
    # each freed slot goes to the highest-priority ready task
    assert ws.handle(success("x-4")) == [finished("x-4"), Execute("x-0")]
    assert ws.handle(ExecuteFailure("x-3", text="e")) == [
        Send({"op": "task-erred", "key": "x-3", "exception": None, "traceback": None,
              "text": "e", "start": 0.0, "stop": 0.0, "thread": 0}),
        Execute("x-1")]
    assert ws.handle(success("x-0")) == [finished("x-0"), Execute("x-2")]


def test_duplicate_compute_task_ignored(worker_state: WorkerState) -> None:
    ws = worker_state
    ws.handle(compute("x-1"))
    assert ws.handle(compute("x-1")) == []
    ws.handle(compute("y-1"))
    assert ws.handle(compute("y-1")) == []
    assert states(ws) == {"x-1": "executing", "y-1": "ready"}


def test_compute_task_already_in_memory_reports_again(worker_state: WorkerState) -> None:
    ws = worker_state
    ws.handle(compute("x-1"))
    ws.handle(success("x-1", nbytes=5))
    assert ws.handle(compute("x-1")) == [Send({"op": "task-finished", "key": "x-1", "nbytes": 5,
                                               "type": "", "start": 0.0, "stop": 0.0})]


def test_late_outcomes_ignored(worker_state: WorkerState) -> None:
    ws = worker_state
    assert ws.handle(success("ghost")) == []
    assert ws.handle(ExecuteFailure("ghost")) == []
    ws.handle(compute("x-1"))
    ws.handle(compute("y-1"))
    assert ws.handle(success("y-1")) == []  # y is only ready, not running
    assert states(ws) == {"x-1": "executing", "y-1": "ready"}


# ---------------------------------------------------------------------- dependencies
def test_dependencies_gathered_grouped_by_peer(worker_state: WorkerState) -> None:
    ws = worker_state
    out = ws.handle(compute("z-1", who_has={"a-1": [P1], "b-1": [P1], "c-1": [P2]},
                            nbytes={"a-1": 10, "b-1": 20, "c-1": 30}))
    assert out == [GatherDep(P1, ["a-1", "b-1"]), GatherDep(P2, ["c-1"])]
    assert states(ws) == {"a-1": "flight", "b-1": "flight", "c-1": "flight", "z-1": "waiting"}
    assert ws.tasks["a-1"].nbytes == 10

    out = ws.handle(GatherDepDone(P1, {"a-1": 11, "b-1": 21}, []))
    assert out == [Send({"op": "add-keys", "keys": ["a-1", "b-1"]})]
    assert states(ws)["z-1"] == "waiting"
    out = ws.handle(GatherDepDone(P2, {"c-1": 31}, [], stimulus_id="gd-2"))
    assert out == [Send({"op": "add-keys", "keys": ["c-1"]}), Execute("z-1")]
    assert ws.tasks["c-1"].nbytes == 31
    assert ws.story("c-1") == [("c-1", "released", "fetch", "ComputeTask", 0.0),
                               ("c-1", "fetch", "flight", "ComputeTask", 0.0),
                               ("c-1", "flight", "memory", "gd-2", 0.0)]

    # inputs stay until the scheduler frees them
    assert ws.handle(success("z-1")) == [finished("z-1")]
    assert states(ws) == {"a-1": "memory", "b-1": "memory", "c-1": "memory", "z-1": "memory"}
    assert ws.handle(FreeKeys(["a-1", "b-1"])) == [Drop(["a-1", "b-1"])]


def test_dependency_already_local_not_fetched(worker_state: WorkerState) -> None:
    ws = worker_state
    ws.handle(compute("x-1"))
    ws.handle(success("x-1"))
    # the scheduler lists this worker among the holders: never fetch from self
    out = ws.handle(compute("y-1", who_has={"x-1": [ME, P1]}))
    assert out == [Execute("y-1")]


def test_dependency_only_on_self_but_unknown_is_given_back(worker_state: WorkerState) -> None:
    ws = worker_state
    out = ws.handle(compute("y-1", who_has={"x-1": [ME]}))
    # nobody to fetch from: report the missing replica and give the task back, untouched
    assert out == [Send({"op": "missing-data", "key": "x-1", "holder": ME}),
                   Send({"op": "reschedule", "key": "y-1"})]
    assert ws.tasks == {}
    ws.validate()


def test_shared_dependency_fetched_once(worker_state: WorkerState) -> None:
    ws = worker_state
    assert ws.handle(compute("y-1", who_has={"x-1": [P1]})) == [GatherDep(P1, ["x-1"])]
    assert ws.handle(compute("y-2", (0, 1), who_has={"x-1": [P1]})) == []
    out = ws.handle(GatherDepDone(P1, {"x-1": 1}, []))
    assert out == [Send({"op": "add-keys", "keys": ["x-1"]}), Execute("y-1")]
    assert ws.handle(success("y-1")) == [finished("y-1"), Execute("y-2")]


def test_busy_peer_waits_for_its_turn(worker_state: WorkerState) -> None:
    ws = worker_state
    assert ws.handle(compute("y-1", who_has={"x-1": [P1]})) == [GatherDep(P1, ["x-1"])]
    # P1 is busy answering us: x-2 waits in "fetch" until it is free again
    assert ws.handle(compute("y-2", (0, 1), who_has={"x-2": [P1]})) == []
    assert states(ws)["x-2"] == "fetch"
    out = ws.handle(GatherDepDone(P1, {"x-1": 1}, []))
    assert out == [Send({"op": "add-keys", "keys": ["x-1"]}), Execute("y-1"),
                   GatherDep(P1, ["x-2"])]


def test_fetch_concurrency_limited(worker_state: WorkerState) -> None:
    ws = worker_state
    n = wstate.MAX_CONCURRENT_FETCHES + 2
    who_has = {f"d-{i:02d}": [f"tcp://peer{i:02d}"] for i in range(n)}
    out = ws.handle(compute("z-1", who_has=who_has))
    assert out == [GatherDep(f"tcp://peer{i:02d}", [f"d-{i:02d}"])
                   for i in range(wstate.MAX_CONCURRENT_FETCHES)]
    out = ws.handle(GatherDepDone("tcp://peer00", {"d-00": 1}, []))
    assert out == [Send({"op": "add-keys", "keys": ["d-00"]}),
                   GatherDep("tcp://peer08", ["d-08"])]


def test_missing_data_refetched_from_other_holder(worker_state: WorkerState) -> None:
    ws = worker_state
    assert ws.handle(compute("y-1", who_has={"x-1": [P1, P2]})) == [GatherDep(P1, ["x-1"])]
    out = ws.handle(GatherDepDone(P1, {}, ["x-1"]))
    assert out == [Send({"op": "missing-data", "key": "x-1", "holder": P1}),
                   GatherDep(P2, ["x-1"])]
    assert ws.tasks["x-1"].who_has == {P2}
    out = ws.handle(GatherDepDone(P2, {"x-1": 1}, []))
    assert out == [Send({"op": "add-keys", "keys": ["x-1"]}), Execute("y-1")]


def test_missing_data_no_holder_left_reschedules(worker_state: WorkerState) -> None:
    ws = worker_state
    ws.handle(compute("y-1", who_has={"x-1": [P1]}))
    out = ws.handle(GatherDepDone(P1, {}, ["x-1"]))
    assert out == [Send({"op": "missing-data", "key": "x-1", "holder": P1}),
                   Send({"op": "reschedule", "key": "y-1"})]
    assert ws.tasks == {}
    assert ws.fetching == set() and ws.in_flight_workers == {}


def test_missing_one_of_two_dependencies_drops_the_other(worker_state: WorkerState) -> None:
    ws = worker_state
    out = ws.handle(compute("y-1", who_has={"a-1": [P1], "b-1": [P2]}))
    assert out == [GatherDep(P1, ["a-1"]), GatherDep(P2, ["b-1"])]
    ws.handle(GatherDepDone(P2, {"b-1": 1}, []))
    out = ws.handle(GatherDepDone(P1, {}, ["a-1"]))
    assert out == [Send({"op": "missing-data", "key": "a-1", "holder": P1}),
                   Send({"op": "reschedule", "key": "y-1"})]
    # b-1 stays: the scheduler knows this worker holds it (add-keys) and will free it
    assert states(ws) == {"b-1": "memory"}


def test_gather_dep_failed_tries_next_holder(worker_state: WorkerState) -> None:
    ws = worker_state
    ws.handle(compute("y-1", who_has={"x-1": [P1, P2], "x-2": [P1]}))
    out = ws.handle(GatherDepFailed(P1, ["x-1", "x-2"]))
    assert out == [Send({"op": "missing-data", "key": "x-1", "holder": P1}),
                   Send({"op": "missing-data", "key": "x-2", "holder": P1}),
                   Send({"op": "reschedule", "key": "y-1"})]
    assert ws.tasks == {}


def test_gather_dep_failed_refetch(worker_state: WorkerState) -> None:
    ws = worker_state
    ws.handle(compute("y-1", who_has={"x-1": [P1, P2]}))
    out = ws.handle(GatherDepFailed(P1, ["x-1"]))
    assert out == [Send({"op": "missing-data", "key": "x-1", "holder": P1}),
                   GatherDep(P2, ["x-1"])]


def test_unrequested_key_fetched_is_dropped(worker_state: WorkerState) -> None:
    ws = worker_state
    ws.handle(compute("y-1", who_has={"x-1": [P1]}))
    out = ws.handle(GatherDepDone(P1, {"x-1": 1, "zzz": 1}, []))
    assert out == [Send({"op": "add-keys", "keys": ["x-1"]}), Drop(["zzz"]), Execute("y-1")]


def test_peer_answered_partially_rest_refetched(worker_state: WorkerState) -> None:
    ws = worker_state
    ws.handle(compute("y-1", who_has={"a-1": [P1], "b-1": [P1]}))
    # neither fetched nor reported missing: back to fetch, asked again
    out = ws.handle(GatherDepDone(P1, {"a-1": 1}, []))
    assert out == [Send({"op": "add-keys", "keys": ["a-1"]}), GatherDep(P1, ["b-1"])]


# ---------------------------------------------------------------------- freeing
def test_free_running_task_drops_outcome(worker_state: WorkerState) -> None:
    ws = worker_state
    ws.handle(compute("x-1"))
    ws.handle(compute("y-1"))
    assert ws.handle(FreeKeys(["x-1"])) == []
    assert ws.tasks["x-1"].cancelled
    # the slot is still taken by the running thread
    assert states(ws) == {"x-1": "executing", "y-1": "ready"}
    # its outcome is dropped silently; the slot goes to y
    assert ws.handle(success("x-1")) == [Drop(["x-1"]), Execute("y-1")]
    assert "x-1" not in ws.tasks


def test_free_running_task_that_fails(worker_state: WorkerState) -> None:
    ws = worker_state
    ws.handle(compute("x-1"))
    ws.handle(FreeKeys(["x-1"]))
    assert ws.handle(ExecuteFailure("x-1", text="boom")) == []
    assert ws.tasks == {} and ws.executing == set()


def test_free_memory_key_drops(worker_state: WorkerState) -> None:
    ws = worker_state
    ws.handle(compute("x-1"))
    ws.handle(success("x-1"))
    assert ws.handle(FreeKeys(["x-1", "unknown"])) == [Drop(["x-1"])]
    assert ws.tasks == {}


def test_free_errored_key(worker_state: WorkerState) -> None:
    ws = worker_state
    ws.handle(compute("x-1"))
    ws.handle(ExecuteFailure("x-1"))
    assert ws.handle(FreeKeys(["x-1"])) == []
    assert ws.tasks == {}


def test_free_ready_task_never_runs(worker_state: WorkerState) -> None:
    ws = worker_state
    ws.handle(compute("x-1"))
    ws.handle(compute("y-1"))
    assert ws.handle(FreeKeys(["y-1"])) == []
    assert ws.handle(success("x-1")) == [finished("x-1")]
    assert states(ws) == {"x-1": "memory"}


def test_free_waiting_task_cancels_fetches(worker_state: WorkerState) -> None:
    ws = worker_state
    ws.handle(compute("y-1", who_has={"a-1": [P1]}))
    ws.handle(compute("y-2", who_has={"b-1": [P1]}))
    assert states(ws) == {"a-1": "flight", "b-1": "fetch", "y-1": "waiting", "y-2": "waiting"}
    assert ws.handle(FreeKeys(["y-1", "y-2"])) == []
    # fetch forgotten at once; the one in flight is dropped when it lands
    assert states(ws) == {"a-1": "flight"}
    assert ws.handle(GatherDepDone(P1, {"a-1": 1}, [])) == [Drop(["a-1"])]
    assert ws.tasks == {}


def test_free_waiting_task_dep_missing_afterwards(worker_state: WorkerState) -> None:
    ws = worker_state
    ws.handle(compute("y-1", who_has={"a-1": [P1]}))
    ws.handle(FreeKeys(["y-1"]))
    out = ws.handle(GatherDepFailed(P1, ["a-1"]))
    assert out == [Send({"op": "missing-data", "key": "a-1", "holder": P1})]
    assert ws.tasks == {}


def test_recompute_task_freed_while_running(worker_state: WorkerState) -> None:
    ws = worker_state
    assert ws.handle(compute("x-1")) == [Execute("x-1")]
    assert ws.handle(FreeKeys(["x-1"])) == []
    # the scheduler asks for it again while the thread still runs: just keep the outcome
    assert ws.handle(compute("x-1")) == []
    assert states(ws) == {"x-1": "executing"}
    assert ws.handle(success("x-1")) == [finished("x-1")]
    assert ws.executing == set()


def test_free_dependency_in_flight_still_needed_locally(worker_state: WorkerState) -> None:
    ws = worker_state
    ws.handle(compute("y-1", who_has={"a-1": [P1]}))
    assert ws.handle(FreeKeys(["a-1"])) == []
    out = ws.handle(GatherDepDone(P1, {"a-1": 1}, []))
    assert Execute("y-1") in out
    assert not any(isinstance(i, Drop) for i in out)
    # dropped once the local task that needed it has run
    assert ws.handle(success("y-1")) == [finished("y-1"), Drop(["a-1"])]


# ---------------------------------------------------------------------- secede / rejoin
def test_secede_frees_slot(worker_state: WorkerState) -> None:
    ws = worker_state
    ws.handle(compute("x-1"))
    ws.handle(compute("y-1"))
    out = ws.handle(Secede("x-1"))
    assert out == [Send({"op": "long-running", "key": "x-1"}), Execute("y-1")]
    assert states(ws) == {"x-1": "long-running", "y-1": "executing"}
    assert ws.long_running == {ws.tasks["x-1"]}
    # seceding twice, or a task that is not running, does nothing
    assert ws.handle(Secede("x-1")) == []
    assert ws.handle(Secede("nope")) == []


def test_rejoin_waits_for_free_slot(worker_state: WorkerState) -> None:
    ws = worker_state
    ws.handle(compute("x-1"))
    ws.handle(compute("y-1"))
    ws.handle(compute("z-1", (0, 5)))
    ws.handle(Secede("x-1"))
    assert ws.handle(RejoinRequest("x-1")) == []
    assert list(ws.rejoining) == [ws.tasks["x-1"]]
    # rejoiners go before new ready tasks
    assert ws.handle(success("y-1")) == [finished("y-1"), Resume("x-1")]
    assert states(ws) == {"x-1": "executing", "y-1": "memory", "z-1": "ready"}
    assert ws.handle(success("x-1")) == [finished("x-1"), Execute("z-1")]


def test_rejoin_with_free_slot_resumes_at_once(worker_state: WorkerState) -> None:
    ws = worker_state
    ws.handle(compute("x-1"))
    ws.handle(Secede("x-1"))
    assert ws.handle(RejoinRequest("x-1")) == [Resume("x-1")]
    assert states(ws) == {"x-1": "executing"}


def test_rejoin_not_seceded_resumes(worker_state: WorkerState) -> None:
    ws = worker_state
    assert ws.handle(RejoinRequest("nope")) == [Resume("nope")]
    ws.handle(compute("x-1"))
    assert ws.handle(RejoinRequest("x-1")) == [Resume("x-1")]


def test_long_running_task_finishes_without_rejoin(worker_state: WorkerState) -> None:
    ws = worker_state
    ws.handle(compute("x-1"))
    ws.handle(Secede("x-1"))
    assert ws.handle(success("x-1")) == [finished("x-1")]
    assert ws.long_running == set()


def test_finish_while_waiting_to_rejoin(worker_state: WorkerState) -> None:
    ws = worker_state
    ws.handle(compute("x-1"))
    ws.handle(compute("y-1"))
    ws.handle(Secede("x-1"))
    ws.handle(RejoinRequest("x-1"))
    assert ws.handle(success("x-1")) == [finished("x-1")]
    assert list(ws.rejoining) == []
    assert ws.handle(success("y-1")) == [finished("y-1")]


def test_secede_many_nthreads(make_worker_state: MakeWS) -> None:
    ws = make_worker_state(2)
    for i in range(4):
        ws.handle(compute(f"x-{i}", (0, i)))
    assert ws.handle(Secede("x-0")) == [Send({"op": "long-running", "key": "x-0"}),
                                        Execute("x-2")]
    assert ws.handle(Secede("x-1")) == [Send({"op": "long-running", "key": "x-1"}),
                                        Execute("x-3")]
    assert len(ws.executing) == 2 and len(ws.long_running) == 2
    assert ws.handle(RejoinRequest("x-1")) == []
    assert ws.handle(RejoinRequest("x-0")) == []
    # first come, first served
    assert ws.handle(success("x-2")) == [finished("x-2"), Resume("x-1")]
    assert ws.handle(success("x-3")) == [finished("x-3"), Resume("x-0")]


# ---------------------------------------------------------------------- scatter
def test_update_data_puts_data_in_memory(worker_state: WorkerState) -> None:
    ws = worker_state
    assert ws.handle(UpdateData({"d-1": 100, "d-2": 5}, stimulus_id="ud-1")) == []
    assert states(ws) == {"d-1": "memory", "d-2": "memory"}
    assert ws.tasks["d-1"].nbytes == 100
    assert ws.story("d-1") == [("d-1", "released", "memory", "ud-1", 0.0)]
    # a task using it runs at once
    assert ws.handle(compute("y-1", who_has={"d-1": [ME]})) == [Execute("y-1")]
    assert ws.handle(FreeKeys(["d-2"])) == [Drop(["d-2"])]


def test_update_data_unblocks_waiting_task(worker_state: WorkerState) -> None:
    ws = worker_state
    ws.handle(compute("x-1"))
    out = ws.handle(compute("y-1", who_has={"d-1": [P1], "d-2": [P2]}))
    assert out == [GatherDep(P1, ["d-1"]), GatherDep(P2, ["d-2"])]
    ws.handle(GatherDepDone(P1, {"d-1": 1}, []))
    ws.handle(success("x-1"))
    assert states(ws)["y-1"] == "waiting"


def test_update_data_of_fetching_key(worker_state: WorkerState) -> None:
    ws = worker_state
    ws.handle(compute("y-1", who_has={"a-1": [P1]}))
    ws.handle(compute("y-2", (0, 1), who_has={"b-1": [P1]}))
    assert states(ws)["b-1"] == "fetch"
    ws.handle(compute("x-0", (0, -1)))  # take the slot so y-2 waits in ready
    out = ws.handle(UpdateData({"b-1": 7}))
    assert out == []
    assert states(ws)["b-1"] == "memory" and states(ws)["y-2"] == "ready"
    assert ws.fetching == set()


def test_update_data_while_in_flight_not_dropped(worker_state: WorkerState) -> None:
    ws = worker_state
    ws.handle(compute("y-1", who_has={"a-1": [P1]}))
    assert states(ws)["a-1"] == "flight"
    ws.handle(UpdateData({"a-1": 3}))
    out = ws.handle(GatherDepDone(P1, {"a-1": 3}, []))
    assert not any(isinstance(i, Drop) and "a-1" in i.keys for i in out)
    assert states(ws)["a-1"] == "memory"


# ---------------------------------------------------------------------- story / validate
def test_story_default_stimulus_is_event_name(worker_state: WorkerState) -> None:
    ws = worker_state
    ws.handle(compute("x-1"))
    ws.handle(success("x-1"))
    assert ws.story("x-1") == [("x-1", "released", "ready", "ComputeTask", 0.0),
                               ("x-1", "ready", "executing", "ComputeTask", 0.0),
                               ("x-1", "executing", "memory", "ExecuteSuccess", 0.0)]
    assert ws.story("nope") == []


def test_validate_catches_broken_invariant(worker_state: WorkerState) -> None:
    ws = worker_state
    ws.handle(compute("x-1"))
    ts = ws.tasks["x-1"]
    ws.executing.discard(ts)
    with pytest.raises(AssertionError):
        ws.validate()
    ws.executing.add(ts)


def test_paused_worker_starts_nothing_until_resumed() -> None:
    from futurelab.worker.state import SetPaused
    ws = WorkerState("tcp://me", 1)
    ws.handle(SetPaused(True))
    assert ws.handle(ComputeTask("t-1", {"f": 1}, (0, 1))) == []
    assert ws.handle(SetPaused(False)) == [Execute("t-1")]


# ---------------------------------------------------------------------- lost sources
def test_dependency_computed_here_while_fetching_wakes_its_dependent(
        worker_state: WorkerState) -> None:
    """Its only holder vanished mid-fetch, so the scheduler has this worker compute it: the
    local task waiting for it must run once it is done (it used to wait forever)."""
    ws = worker_state
    assert ws.handle(compute("mid", (1,), {"d": [P2]}, {"d": 8})) == [GatherDep(P2, ["d"])]
    assert ws.handle(compute("d", (0,))) == [Execute("d")]
    assert states(ws) == {"d": "executing", "mid": "waiting"}
    assert ws.handle(success("d")) == [finished("d"), Execute("mid")]
    # the fetch that was under way fails late: nothing changes any more
    assert ws.handle(GatherDepFailed(P2, ["d"])) == []
    assert states(ws) == {"d": "memory", "mid": "executing"}


def test_peer_gone_drops_it_as_a_source(worker_state: WorkerState) -> None:
    ws = worker_state
    assert ws.handle(compute("a", (1,), {"x": [P2]}, {"x": 1})) == [GatherDep(P2, ["x"])]
    assert ws.handle(compute("b", (2,), {"y": [P2, P3]}, {"y": 1})) == [GatherDep(P3, ["y"])]
    assert ws.handle(compute("c", (3,), {"z": [P2]}, {"z": 1})) == []  # P2 is busy: z waits
    assert states(ws)["z"] == "fetch"
    # z has no other source: c goes back to the scheduler; x fails with its own fetch
    assert ws.handle(wstate.PeerGone(P2)) == [Send({"op": "reschedule", "key": "c"})]
    assert "c" not in ws.tasks and "z" not in ws.tasks
    assert ws.tasks["y"].who_has == {P3} and ws.tasks["x"].who_has == set()
    assert states(ws) == {"a": "waiting", "b": "waiting", "x": "flight", "y": "flight"}
