"""The scheduler's transition functions, one per edge of the task state diagram.

Each ``_<start>_<finish>(state, ts)`` moves ``ts`` along one edge, queues the messages the edge
implies on ``state``'s outbox, and returns further recommendations ``{key: finish}``.
:data:`TRANSITIONS` is the table :meth:`SchedulerState._transitions` dispatches on; pairs with
no entry go through ``released``.  See :mod:`futurelab.scheduler.state` for the states.
"""
from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import TYPE_CHECKING

from . import policy
from .tasks import EMPTY

if TYPE_CHECKING:
    from .state import Recs, SchedulerState, TaskState, WorkerInfo

def _released_waiting(s: SchedulerState, ts: TaskState) -> Recs:
    recs: Recs = {}
    if ts.run_spec is None:
        # scattered data with no holder left: nothing can make it again
        if not ts.error_kind:
            s._set_error(ts, None, None, f"The data of key {ts.key!r} was lost and cannot be "
                         f"recomputed (it was scattered, not computed).", "lost")
        recs[ts.key] = "erred"
        return recs
    waiting: set[TaskState] = set()
    for dep in sorted(ts.dependencies) if len(ts.dependencies) > 1 else ts.dependencies:
        if dep.state == "erred":
            s._set_error(ts, dep.exception, dep.traceback, dep.error_text, dep.error_kind)
            ts.waiting_on = EMPTY
            return {ts.key: "erred"}
        if dep.state != "memory":
            waiting.add(dep)
            if dep.state in ("released", "forgotten"):
                recs[dep.key] = "waiting"
    ts.waiting_on = waiting or EMPTY
    ts.state = "waiting"
    if not ts.waiting_on:
        recs[ts.key] = "processing"
    return recs


def _waiting_processing(s: SchedulerState, ts: TaskState) -> Recs:
    ts.waiting_on = EMPTY
    if s.queued and not ts.dependencies and ts.workers is None:
        ws = None  # root tasks wait their turn behind those already queued
    else:
        ws = policy.decide_worker(ts, s.workers, s.durations)
    if ws is None:
        ts.state = "queued"
        if ts.workers is not None:
            s.unrunnable.add(ts)
        else:
            heapq.heappush(s.queued, (ts.priority, ts))
        return {}
    assign(s, ts, ws)
    return {}


def assign(s: SchedulerState, ts: TaskState, ws: WorkerInfo) -> None:
    """Send ``ts`` to ``ws`` (the common end of every edge into ``processing``)."""
    s.unrunnable.discard(ts)
    ts.state = "processing"
    ts.processing_on = ts.last_worker = ws.address
    ws.processing.add(ts)
    assert ts.run_spec is not None
    func, args, kwargs = ts.run_spec
    msg = {"op": "compute-task", "key": ts.key, "priority": ts.priority, "func": func,
           "args": args, "kwargs": kwargs}
    if ts.dependencies:  # only what a task needs travels: most tasks have no dependencies
        msg["who_has"] = {d.key: list(d.who_has) for d in ts.dependencies}
        msg["nbytes"] = {d.key: d.nbytes for d in ts.dependencies}
    if ts.actor:
        msg["actor"] = True
    s._out.to_worker(ws.address, msg)


def _processing_memory(s: SchedulerState, ts: TaskState) -> Recs:
    ws = s.workers[ts.processing_on]  # type: ignore[index]
    s._unassign(ts)
    ts.state = "memory"
    s._add_replica(ts, ws)
    data, s._finished_data = s._finished_data, None
    s._report_memory(ts, ts.who_wants, data)
    s._drop_fire_and_forget(ts)
    recs: Recs = {}
    for dep in ts.dependents:
        if dep.state == "waiting":
            dep.waiting_on.discard(ts)
            if not dep.waiting_on:
                recs[dep.key] = "processing"
    for dep in ts.dependencies:
        s._release_if_unneeded(dep, recs)
    if not s._needed(ts):
        recs[ts.key] = "forgotten" if not s._has_live_dependents(ts) else "released"
    return recs


def _to_erred(s: SchedulerState, ts: TaskState) -> Recs:
    s._unassign(ts)
    ts.state = "erred"
    ts.waiting_on = EMPTY
    s._report_erred(ts, ts.who_wants)
    s._drop_fire_and_forget(ts)
    recs: Recs = {}
    for dep in ts.dependents:
        if dep.state in ("waiting", "queued", "processing"):
            s._set_error(dep, ts.exception, ts.traceback, ts.error_text, ts.error_kind)
            recs[dep.key] = "erred"
    for dep in ts.dependencies:
        s._release_if_unneeded(dep, recs)
    if not s._needed(ts) and not ts.who_wants:
        recs[ts.key] = "forgotten" if not s._has_live_dependents(ts) else "erred"
    return recs


def _processing_released(s: SchedulerState, ts: TaskState) -> Recs:
    worker = ts.processing_on
    s._unassign(ts)
    if worker is not None:
        s._out.to_worker(worker, {"op": "free-keys", "keys": [ts.key]})
    ts.state = "released"
    return _after_release(s, ts)


def _waiting_released(s: SchedulerState, ts: TaskState) -> Recs:
    ts.waiting_on = EMPTY
    ts.state = "released"
    return _after_release(s, ts)


def _memory_released(s: SchedulerState, ts: TaskState) -> Recs:
    for addr in ts.who_has:
        ws = s.workers.get(addr)
        if ws is not None:
            ws.has_what.discard(ts)
            ws.nbytes -= ts.nbytes
            s._out.to_worker(addr, {"op": "free-keys", "keys": [ts.key]})
    ts.who_has = EMPTY
    ts.state = "released"
    for client in ts.who_wants:
        s._out.to_client(client, {"op": "key-lost", "key": ts.key})
    recs: Recs = {}
    needed = s._needed(ts)
    # dependents that counted on this data wait for it again
    for dts in ts.dependents:
        if dts.state == "waiting":
            dts.waiting_on = {*dts.waiting_on, ts}
        elif dts.state in ("processing", "queued"):
            recs[dts.key] = "waiting"
    recs.update(_after_release(s, ts))
    if needed:
        recs[ts.key] = "waiting"
    return recs


def _erred_released(s: SchedulerState, ts: TaskState) -> Recs:
    s._clear_error(ts)
    ts.state = "released"
    return _after_release(s, ts)


def _after_release(s: SchedulerState, ts: TaskState) -> Recs:
    recs: Recs = {}
    for dep in ts.dependencies:
        if dep.state not in ("forgotten",):
            s._release_if_unneeded(dep, recs)
    if not ts.who_wants and not s._has_live_dependents(ts):
        recs[ts.key] = "forgotten"
    return recs


def _released_forgotten(s: SchedulerState, ts: TaskState) -> Recs:
    recs: Recs = {}
    if ts.who_wants or s._has_live_dependents(ts):
        return recs
    ts.state = "forgotten"
    del s.tasks[ts.key]
    for dep in ts.dependencies:
        dep.dependents.discard(ts)
        if dep.state != "forgotten" and not dep.who_wants and not s._has_live_dependents(dep) \
                and dep.state in ("released", "erred", "memory"):
            recs[dep.key] = "forgotten"
    ts.dependencies = EMPTY
    return recs


def _erred_forgotten(s: SchedulerState, ts: TaskState) -> Recs:
    if ts.who_wants or s._has_live_dependents(ts):
        return {}
    s._clear_error(ts)
    ts.state = "released"
    return _released_forgotten(s, ts)


def _memory_forgotten(s: SchedulerState, ts: TaskState) -> Recs:
    if ts.who_wants or s._has_live_dependents(ts):
        return {}
    recs = _memory_released(s, ts)
    recs.pop(ts.key, None)
    recs.update(_released_forgotten(s, ts))
    return recs


def _queued_released(s: SchedulerState, ts: TaskState) -> Recs:
    ts.state = "released"  # stays in the heap, dropped when popped
    s.unrunnable.discard(ts)
    return _after_release(s, ts)


def _queued_processing(s: SchedulerState, ts: TaskState) -> Recs:
    ts.state = "waiting"
    recs = _waiting_processing(s, ts)
    return recs


TRANSITIONS: dict[tuple[str, str], Callable[[SchedulerState, TaskState], Recs]] = {
    ("released", "waiting"): _released_waiting,
    ("forgotten", "waiting"): _released_waiting,
    ("released", "forgotten"): _released_forgotten,
    ("released", "erred"): _to_erred,
    ("waiting", "processing"): _waiting_processing,
    ("waiting", "released"): _waiting_released,
    ("waiting", "erred"): _to_erred,
    ("queued", "processing"): _queued_processing,
    ("queued", "released"): _queued_released,
    ("queued", "erred"): _to_erred,
    ("processing", "memory"): _processing_memory,
    ("processing", "erred"): _to_erred,
    ("processing", "released"): _processing_released,
    ("memory", "released"): _memory_released,
    ("memory", "forgotten"): _memory_forgotten,
    ("erred", "released"): _erred_released,
    ("erred", "forgotten"): _erred_forgotten,
}
