"""Work stealing: idle threads take tasks a busier worker has not started yet.

Pure functions over :class:`~futurelab.scheduler.state.SchedulerState` (no I/O): the scheduler
cannot tell which of a worker's tasks already run, so it asks (``steal-request``), and the worker
gives a task back only if it has not started it (``steal-response``).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .events import StealResponse
    from .state import Recs, SchedulerState


def balance(s: SchedulerState) -> None:
    """Ask busy workers for tasks they have not started, as many as there are idle threads.

    This also rescues a task that waits for tasks queued behind it on its own worker.
    """
    idle = sum(max(0, ws.nthreads + ws.seceded - len(ws.processing))
               for ws in s.workers.values())
    if idle <= s.steals_in_flight:
        return
    want = idle - s.steals_in_flight
    for ws in s.workers.values():
        extra = len(ws.processing) - ws.nthreads - ws.seceded
        if extra <= 0:
            continue
        for i, ts in enumerate(ws.processing):
            if want <= 0 or extra <= 0 or i > 64:
                break
            if ts.stealing or ts.seceded or ts.actor or ts.workers is not None:
                continue
            ts.stealing = "asked"
            s.steals_in_flight += 1
            want -= 1
            extra -= 1
            s._out.to_worker(ws.address, {"op": "steal-request", "key": ts.key})
        if want <= 0:
            return


def on_steal_response(s: SchedulerState, ev: StealResponse) -> Recs:
    """A worker answered a steal request: the task comes back to the scheduler, or stays."""
    ts = s.tasks.get(ev.key)
    if ts is None or ts.stealing != "asked" or ts.processing_on != ev.worker:
        return {}
    s.steals_in_flight -= 1
    if not ev.ok:
        ts.stealing = "refused"  # it already runs there: not asked again
        return {}
    ts.stealing = ""
    s._unassign(ts)
    ts.state = "released"
    s._log(ts, "processing", "released")
    return {ts.key: "waiting"}
