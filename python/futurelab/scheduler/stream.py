"""The scheduler's live event stream: task transitions and worker changes for subscribed clients.

A client subscribes to topics over its stream (``{"op": "subscribe-events", "topics": [...]}``).
Task transitions are buffered and sent at most :data:`INTERVAL` seconds apart as one
``"tasks"`` event; worker joins and leaves go out as ``"workers"`` events, and while anybody
listens, worker metrics follow once a second.  Nothing is recorded while nobody subscribes.

Record layouts (lists, to stay small on the wire):

- ``tasks``: ``{"transitions": [[key, state, worker, thread, start, stop, type, error], ...]}``
- ``workers``: ``{"added" | "removed": {address: info}}`` or ``{"metrics": {address: metrics}}``
"""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from ..protocol import messages as m

if TYPE_CHECKING:
    from .server import Scheduler
    from .state import TaskState, WorkerInfo

#: seconds between two "tasks" events at most ten a second
INTERVAL = 0.1
METRICS_INTERVAL = 1.0


def worker_info(ws: WorkerInfo) -> dict[str, Any]:
    """What the views show of a worker."""
    return {"name": ws.name or ws.address, "nthreads": ws.nthreads, "pid": ws.pid,
            "memory_limit": ws.memory_limit, **worker_metrics(ws)}


def worker_metrics(ws: WorkerInfo) -> dict[str, Any]:
    return {"processing": len(ws.processing), "in_memory": len(ws.has_what), "memory": ws.nbytes,
            "seceded": ws.seceded}


def task_record(ts: TaskState) -> list[Any]:
    return [ts.key, ts.state, ts.last_worker, ts.thread, ts.start, ts.stop, ts.type,
            ts.error_text if ts.state == "erred" else ""]


class EventStream:
    """Feeds the "tasks" and "workers" topics of one scheduler."""

    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler
        self.buffer: list[list[Any]] = []
        self._flush_handle: asyncio.TimerHandle | None = None
        self._metrics_task: asyncio.Task[None] | None = None
        scheduler.add_handlers(
            {m.ClusterSnapshot: lambda msg, comm: self.snapshot(msg.get("keys"))})

    def subscriptions_changed(self) -> None:
        """Watch transitions only while somebody subscribes to "tasks" (free otherwise)."""
        plugins = self.scheduler.state.plugins
        wanted = bool(self.scheduler.event_subscribers.get("tasks"))
        if wanted and self._on_transition not in plugins:
            plugins.append(self._on_transition)
        elif not wanted and self._on_transition in plugins:
            plugins.remove(self._on_transition)

    def _on_transition(self, ts: TaskState, start: str, finish: str) -> None:
        self.buffer.append(task_record(ts))
        if self._flush_handle is None:
            loop = asyncio.get_running_loop()
            self._flush_handle = loop.call_later(INTERVAL, self._flush)

    def _flush(self) -> None:
        self._flush_handle = None
        if self.buffer:
            batch, self.buffer = self.buffer, []
            self.scheduler.emit_event("tasks", {"transitions": batch})

    def worker_added(self, ws: WorkerInfo) -> None:
        self.scheduler.emit_event("workers", {"added": {ws.address: worker_info(ws)}})
        self._ensure_metrics()

    def worker_removed(self, address: str) -> None:
        self.scheduler.emit_event("workers", {"removed": {address: {}}})

    def _ensure_metrics(self) -> None:
        if self._metrics_task is None or self._metrics_task.done():
            self._metrics_task = asyncio.ensure_future(self._metrics_loop())

    async def _metrics_loop(self) -> None:
        sched = self.scheduler
        while not sched.closed.is_set():
            await asyncio.sleep(METRICS_INTERVAL)
            if sched.event_subscribers.get("workers"):
                sched.emit_event("workers", {"metrics": {
                    a: worker_metrics(ws) for a, ws in sched.state.workers.items()}})

    def snapshot(self, keys: list[str] | None) -> dict[str, Any]:
        """Workers, and the tasks named by ``keys`` (all when None), as the event records."""
        state = self.scheduler.state
        tasks = state.tasks
        chosen = tasks.values() if keys is None else (tasks[k] for k in keys if k in tasks)
        return {"workers": {a: worker_info(ws) for a, ws in state.workers.items()},
                "tasks": [task_record(ts) for ts in chosen]}

    def close(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
        if self._metrics_task is not None:
            self._metrics_task.cancel()
