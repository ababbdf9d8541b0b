"""The cluster-wide state the dashboard shows, kept from the scheduler's event stream (pure).

Theory of operation
-------------------
:class:`ClusterModel` is the dashboard's counterpart of a Client's
:class:`~futurelab.client.model.LiveModel`, for the whole cluster instead of one Client's futures.
It is loaded once from the scheduler's state (:meth:`ClusterModel.load`, fed by
``EventStream.snapshot`` and the ``primitives-state`` op) and then kept current by the same
events clients subscribe to (:meth:`ClusterModel.apply`): batched task transitions, worker
changes and metrics, primitive changes.  It imports no asyncio, opens no socket and reads no
clock: ``now`` is passed to :meth:`ClusterModel.snapshot`.

:meth:`ClusterModel.snapshot` returns the JSON shape of ``LiveModel.snapshot()`` — what the lab
sidebar's views render — with every task the scheduler knows as a "future" (most recently changed
first, capped), progress counted per task prefix over those tasks, the task stream as a bounded
ring of finished tasks, ``actors`` (every actor of the cluster) and per-prefix ``processing`` /
``waiting`` counts.  Tasks leave the model when the scheduler forgets them.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from ..client.model import TaskInfo, apply_primitives_event, apply_workers_event
from ..scheduler.state import key_prefix

#: scheduler task state → the future status the views know
STATUS = {"memory": "finished", "erred": "error", "processing": "processing",
          "waiting": "pending", "queued": "pending", "released": "pending",
          "no-worker": "pending"}

#: what the dashboard calls itself where the sidebar shows a Client
CLIENT_ID = "cluster"


def row_from_record(rec: list[Any]) -> TaskInfo:
    """A TaskInfo from an event-stream task record."""
    row = TaskInfo(rec[0])
    (_, row.state, row.worker, row.thread, row.start, row.stop, row.type, row.error) = rec
    return row


class ClusterModel:
    """Tasks, progress, task stream, workers, primitives and actors of one scheduler.

    Args:
        scheduler: the scheduler's address (shown in the header).
        is_actor: tells whether a key is an actor (asked once per key that reaches memory).
        stream_size: finished tasks kept for the task stream.

    >>> m = ClusterModel("inproc://1")
    >>> m.apply("tasks", {"transitions": [["inc-1", "memory", "w1", 0, 1.0, 1.5, "int", ""]]})
    >>> m.snapshot(now=2.0)["progress"]["inc"]["done"]
    1
    """

    def __init__(self, scheduler: str = "", *, is_actor: Callable[[str], bool] | None = None,
                 stream_size: int = 2000) -> None:
        self.scheduler = scheduler
        self.is_actor = is_actor
        #: live tasks, least recently changed first (a change moves a task to the end)
        self.tasks: dict[str, TaskInfo] = {}
        #: prefix → {scheduler state: count} over live tasks
        self.counts: dict[str, dict[str, int]] = {}
        self.stream: deque[dict[str, Any]] = deque(maxlen=stream_size)
        self.workers: dict[str, dict[str, Any]] = {}
        self.primitives: dict[str, dict[str, Any]] = {}
        self.actors: set[str] = set()
        #: bumped on every change; the server pushes a snapshot when it moved
        self.version = 0

    # ------------------------------------------------------------------ inputs
    def load(self, snapshot: dict[str, Any], primitives: dict[str, Any] | None = None) -> None:
        """Start from ``EventStream.snapshot(None)`` and the ``primitives-state`` answer."""
        self.tasks.clear()
        self.counts.clear()
        self.stream.clear()
        self.actors.clear()
        self.workers = {a: dict(w) for a, w in snapshot.get("workers", {}).items()}
        records = list(snapshot.get("tasks", []))
        # the task stream starts with what finished tasks the scheduler still knows
        done = sorted((r for r in records if r[1] in ("memory", "erred") and r[5]),
                      key=lambda r: r[5])
        for rec in records:
            self._apply_task(rec, stream=False)
        for rec in done[-(self.stream.maxlen or 0):]:
            self._record_stream(rec)
        self.primitives = {k: dict(v) for k, v in (primitives or {}).items()
                           if isinstance(v, dict)}
        self.version += 1

    def apply(self, topic: str, payload: dict[str, Any]) -> None:
        """Apply one event of the scheduler's stream (``"tasks"``, ``"workers"``,
        ``"primitives"``); other topics are ignored."""
        if topic == "tasks":
            for rec in payload.get("transitions", ()):
                self._apply_task(rec, stream=True)
        elif topic == "workers":
            apply_workers_event(self.workers, payload)
        elif topic == "primitives":
            if not apply_primitives_event(self.primitives, payload):
                return
        else:
            return
        self.version += 1

    def _apply_task(self, rec: list[Any], stream: bool) -> None:
        key, state, worker, thread, start, stop, typ, error = rec
        row = self.tasks.pop(key, None)
        if row is not None:
            self._count(row.prefix, row.state, -1)
        if state == "forgotten":
            self.actors.discard(key)
            return
        if row is None:
            row = TaskInfo(key)
        self.tasks[key] = row  # re-inserted: most recently changed last
        row.state = state
        if worker:
            row.worker = worker
        row.thread, row.start, row.stop = thread, start, stop
        row.type = typ or row.type
        row.error = error
        self._count(row.prefix, state, 1)
        if state == "memory" and key not in self.actors and self.is_actor is not None \
                and self.is_actor(key):
            self.actors.add(key)
        if stream and state in ("memory", "erred") and stop:
            self._record_stream(rec)

    def _record_stream(self, rec: list[Any]) -> None:
        key, state, worker, thread, start, stop = rec[:6]
        self.stream.append({"key": key, "prefix": key_prefix(key), "worker": worker,
                            "thread": thread, "start": start, "stop": stop, "state": state})

    def _count(self, prefix: str, state: str, delta: int) -> None:
        counts = self.counts.setdefault(prefix, {})
        n = counts.get(state, 0) + delta
        if n:
            counts[state] = n
        else:
            counts.pop(state, None)
            if not counts:
                del self.counts[prefix]

    # ------------------------------------------------------------------ outputs
    def futures(self, limit: int = 500, states: Iterable[str] | None = None,
                prefix: str | None = None) -> list[dict[str, Any]]:
        """Tasks as the views' future rows, most recently changed first."""
        wanted = set(states) if states is not None else None
        out: list[dict[str, Any]] = []
        for row in reversed(self.tasks.values()):
            if len(out) >= limit:
                break
            if wanted is not None and row.state not in wanted:
                continue
            if prefix is not None and row.prefix != prefix:
                continue
            out.append(self.row(row))
        return out

    @staticmethod
    def row(row: TaskInfo) -> dict[str, Any]:
        """One task as a future row of the views (plus the scheduler's own ``state``)."""
        return {"key": row.key, "prefix": row.prefix, "status": STATUS.get(row.state, row.state),
                "state": row.state, "type": row.type, "worker": row.worker,
                "duration": (row.stop - row.start) if row.stop and row.start else None,
                "error": row.error}

    def progress(self) -> dict[str, dict[str, int]]:
        """Per task prefix: done, erred, processing, waiting and total over the live tasks."""
        out: dict[str, dict[str, int]] = {}
        for prefix, counts in self.counts.items():
            total = sum(counts.values())
            done, erred = counts.get("memory", 0), counts.get("erred", 0)
            processing = counts.get("processing", 0)
            out[prefix] = {"done": done, "erred": erred, "cancelled": 0,
                           "processing": processing,
                           "waiting": total - done - erred - processing, "total": total}
        return out

    def actor_rows(self) -> list[dict[str, Any]]:
        """Actors hosted on workers, as the live model lists a client's:
        ``[{"key", "class", "worker"}]``."""
        out: list[dict[str, Any]] = []
        for key in sorted(self.actors):
            row = self.tasks.get(key)
            if row is not None:
                out.append({"key": key, "class": row.type, "worker": row.worker})
        return out

    def snapshot(self, now: float, *, futures_limit: int = 500,
                 stream_limit: int = 1000) -> dict[str, Any]:
        """Everything the dashboard shows, in the shape of ``LiveModel.snapshot()``."""
        stream = list(self.stream)[-stream_limit:] if stream_limit else []
        return {
            "client": {"id": CLIENT_ID, "scheduler": self.scheduler, "status": "running"},
            "version": self.version,
            "time": now,
            "workers": {a: dict(w) for a, w in self.workers.items()},
            "futures": self.futures(futures_limit),
            "nfutures": len(self.tasks),
            "progress": self.progress(),
            "stream": stream,
            "primitives": {k: dict(v) for k, v in self.primitives.items()},
            "actors": self.actor_rows(),
        }
