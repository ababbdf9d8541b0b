"""Work stealing in the pure scheduler and worker machines."""
from __future__ import annotations

from futurelab.scheduler.events import StealResponse, UpdateGraph
from futurelab.scheduler.state import SchedulerState
from futurelab.worker.state import (
    ComputeTask,
    Drop,
    Execute,
    Send,
    StealRequest,
    WorkerState,
)

from .test_state import A, B, add_workers, compute, done, spec


def test_idle_worker_takes_a_not_started_task(sched_state: SchedulerState) -> None:
    s = sched_state
    add_workers(s, A, B)
    # three tasks: unknown durations let each 1-thread worker hold two
    out = s.handle(UpdateGraph("c", [spec("x-1"), spec("x-2"), spec("x-3")],
                               ["x-1", "x-2", "x-3"]))
    assert {m["key"] for msgs in out.workers.values() for m in msgs} == {"x-1", "x-2", "x-3"}
    holder_of_two = A if len(s.workers[A].processing) == 2 else B
    other = B if holder_of_two == A else A
    only = next(iter(s.workers[other].processing)).key
    # the other worker finishes and is idle: a steal request goes to the busy one
    out = s.handle(done(other, only))
    requests = out.workers.get(holder_of_two, [])
    assert len(requests) == 1 and requests[0]["op"] == "steal-request"
    stolen = requests[0]["key"]
    assert s.tasks[stolen].stealing == "asked" and s.steals_in_flight == 1
    # the worker had not started it: it goes to the idle worker
    out = s.handle(StealResponse(holder_of_two, stolen, ok=True))
    assert out.workers == {other: [compute(stolen, s.tasks[stolen].priority)]}
    assert s.tasks[stolen].processing_on == other and s.steals_in_flight == 0


def test_refused_steal_is_not_asked_again(sched_state: SchedulerState) -> None:
    s = sched_state
    add_workers(s, A, B)
    s.handle(UpdateGraph("c", [spec("x-1"), spec("x-2"), spec("x-3")], ["x-1", "x-2", "x-3"]))
    busy = A if len(s.workers[A].processing) == 2 else B
    other = B if busy == A else A
    out = s.handle(done(other, next(iter(s.workers[other].processing)).key))
    key = out.workers[busy][0]["key"]
    out = s.handle(StealResponse(busy, key, ok=False))
    # refused (already running): the other task there may be asked, each at most once
    asked = [m["key"] for m in out.workers.get(busy, [])]
    assert key not in asked and len(asked) <= 1
    for k in asked:
        out = s.handle(StealResponse(busy, k, ok=False))
    assert out.workers == {}
    assert s.tasks[key].processing_on == busy and s.steals_in_flight == 0


def test_worker_gives_back_only_tasks_it_has_not_started() -> None:
    ws = WorkerState("tcp://w", 1)
    assert ws.handle(ComputeTask("t-1", {"f": 1}, (0, 1))) == [Execute("t-1")]
    assert ws.handle(ComputeTask("t-2", {"f": 2}, (0, 2))) == []
    assert ws.handle(StealRequest("t-1")) == [
        Send({"op": "steal-response", "key": "t-1", "ok": False})]
    assert ws.handle(StealRequest("t-2")) == [
        Send({"op": "steal-response", "key": "t-2", "ok": True})]
    assert "t-2" not in ws.tasks
    assert ws.handle(StealRequest("t-9")) == [
        Send({"op": "steal-response", "key": "t-9", "ok": False})]
    ws.validate()
    assert not any(isinstance(i, Drop) for i in ws.handle(StealRequest("t-1")))
