"""The scheduler's invariants: every cross-reference between tasks, workers and clients.

Checked by :meth:`SchedulerState.validate` — after every stimulus in the pure tests
(``SchedulerState(validate=True)``) — so a transition that breaks one fails at once, naming it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .state import SchedulerState


def validate(state: SchedulerState) -> None:
    """Raise AssertionError naming the first broken invariant of ``state``."""
    for key, ts in state.tasks.items():
        assert ts.key == key, ts
        assert ts.state != "forgotten", f"forgotten task still known: {ts}"
        if ts.state == "memory":
            assert ts.who_has, f"{ts} in memory with no holder"
        else:
            assert not ts.who_has or ts.state == "released", f"{ts} has holders {ts.who_has}"
        if ts.state == "processing":
            assert ts.processing_on in state.workers, ts
            assert ts in state.workers[ts.processing_on].processing, ts
            assert all(d.state == "memory" for d in ts.dependencies), (ts, ts.dependencies)
        else:
            assert ts.processing_on is None, ts
        if ts.state == "waiting":
            assert ts.waiting_on, f"{ts} waits on nothing"
            assert ts.waiting_on <= ts.dependencies
        for dep in ts.dependencies:
            assert ts in dep.dependents, (ts, dep)
            assert dep.key in state.tasks, f"{ts} depends on unknown {dep}"
        for dep in ts.dependents:
            assert ts in dep.dependencies, (ts, dep)
        for client in ts.who_wants:
            assert ts in state.clients[client], (ts, client)
        if ts.state in ("waiting", "queued", "processing", "memory", "erred"):
            pass
        elif not ts.dependents:
            assert ts.who_wants, f"{ts} kept although nobody needs it"
    assert state.steals_in_flight == sum(ts.stealing == "asked" for ts in state.tasks.values()), \
        state.steals_in_flight
    for addr, ws in state.workers.items():
        for ts in ws.processing:
            assert ts.processing_on == addr, (ts, addr)
        for ts in ws.has_what:
            assert addr in ts.who_has, (ts, addr)
    for client, tss in state.clients.items():
        for ts in tss:
            assert client in ts.who_wants, (client, ts)
            assert state.tasks.get(ts.key) is ts, (client, ts)
