"""The live state model of one Client: one model, many views.

The model subscribes to the scheduler's event stream and keeps, for its Client, what the views
show: the futures it holds (status, type, worker, timings), progress per task prefix, a bounded
ring of recently finished tasks (the task stream), the workers, and the coordination primitives.
Views — notebook widgets, the JupyterLab sidebar — register a listener; listeners are called from
one background thread at most :attr:`LiveModel.interval` seconds apart, never from the event loop
and never from the user's thread, so widgets update while a cell is blocked.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..protocol import messages as m
from ..scheduler.state import key_prefix

if TYPE_CHECKING:
    from .client import Client

Listener = Callable[["LiveModel"], None]

#: primitive kinds as change events name them → the sections of a snapshot
PLURAL = {"queue": "queues", "variable": "variables", "lock": "locks", "event": "events",
          "semaphore": "semaphores", "pubsub": "pubsub"}


def apply_workers_event(workers: dict[str, dict[str, Any]], payload: dict[str, Any]) -> None:
    """Apply a "workers" event (added / removed / metrics) to ``{address: info}``."""
    for addr, info in payload.get("added", {}).items():
        workers[addr] = dict(info)
    for addr in payload.get("removed", {}):
        workers.pop(addr, None)
    for addr, metrics in payload.get("metrics", {}).items():
        if addr in workers:
            workers[addr].update(metrics)


def apply_primitives_event(primitives: dict[str, dict[str, Any]],
                           payload: dict[str, Any]) -> bool:
    """Apply a "primitives" event to ``{kind (plural): {name: state}}``; False if malformed."""
    kind, name = payload.get("kind"), payload.get("name")
    if not (isinstance(kind, str) and isinstance(name, str)):
        return False
    section = primitives.setdefault(PLURAL.get(kind, kind), {})
    state = payload.get("state")
    if state is None:
        section.pop(name, None)  # the primitive is gone
    else:
        section[name] = state
    return True


class TaskInfo:
    """What the model knows about one task of its client."""

    __slots__ = ("error", "key", "prefix", "start", "state", "stop", "thread", "type", "worker")

    def __init__(self, key: str) -> None:
        self.key = key
        self.prefix = key_prefix(key)
        self.state = "released"
        self.worker = ""
        self.thread = 0
        self.start = 0.0
        self.stop = 0.0
        self.type = ""
        self.error = ""


class LiveModel:
    """Futures, task stream, workers and primitives of one Client, kept live.

    >>> # model = client.live_model()
    >>> # model.add_listener(lambda m: print(m.progress()))
    """

    def __init__(self, client: Client, *, stream_size: int = 5000, interval: float = 0.1) -> None:
        self.client = client
        self.interval = interval
        self.lock = threading.RLock()
        self.tasks: dict[str, TaskInfo] = {}
        #: recently finished tasks, oldest first: dicts with key, prefix, worker, thread, start,
        #: stop, state
        self.stream: deque[dict[str, Any]] = deque(maxlen=stream_size)
        self.workers: dict[str, dict[str, Any]] = {}
        self.primitives: dict[str, Any] = {}
        self.version = 0
        self._listeners: list[Listener] = []
        self._changed = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        self.started = False
        #: set once the first snapshot arrived
        self.ready = threading.Event()

    # ------------------------------------------------------------------ life
    def start(self) -> LiveModel:
        """Subscribe to the scheduler's events and load the current state."""
        if self.started:
            return self
        self.started = True
        self.client.add_stream_handlers({m.EventMessage: self._on_event})
        # on the stream, so the snapshot comes after everything this client already submitted
        self.client._send({"op": "subscribe-events",
                           "topics": ["tasks", "workers", "primitives"]},
                          {"op": "cluster-snapshot", "keys": list(self.client.futures)})
        if self.client.asynchronous:
            import asyncio
            asyncio.ensure_future(self._load())
        else:
            self.client.sync(self._load)
            self.ready.wait(self.client.timeout)  # the first snapshot, so views start full
        return self

    async def _load(self) -> None:
        request = self.client._scheduler_request
        try:
            prims = await request({"op": "primitives-state"})
        except Exception:  # noqa: BLE001 - a scheduler without primitives
            return
        if isinstance(prims, dict):
            with self.lock:
                self.primitives = {k: v for k, v in prims.items() if isinstance(v, dict)}
            self.touch()

    def close(self) -> None:
        self._closed = True
        self._changed.set()
        if self.started and self.client.status == "running":
            self.client._send({"op": "unsubscribe-events",
                               "topics": ["tasks", "workers", "primitives"]})

    def add_listener(self, fn: Listener) -> None:
        """Call ``fn(model)`` after changes (throttled, from the model's own thread)."""
        with self.lock:
            self._listeners.append(fn)
            if self._thread is None:
                self._thread = threading.Thread(target=self._notify_loop, daemon=True,
                                                name="futurelab-model")
                self._thread.start()
        self._changed.set()

    def remove_listener(self, fn: Listener) -> None:
        with self.lock:
            if fn in self._listeners:
                self._listeners.remove(fn)

    def _notify_loop(self) -> None:
        while not self._closed:
            self._changed.wait()
            self._changed.clear()
            if self._closed:
                return
            with self.lock:
                listeners = list(self._listeners)
            for fn in listeners:
                try:
                    fn(self)
                except Exception:
                    import logging
                    logging.getLogger("futurelab.model").exception("model listener failed")
            time.sleep(self.interval)

    def touch(self) -> None:
        """Note a change (views refresh at most every ``interval`` seconds)."""
        self.version += 1
        self._changed.set()

    # ------------------------------------------------------------------ events (loop thread)
    def _apply_snapshot(self, snap: dict[str, Any]) -> None:
        with self.lock:
            self.workers = dict(snap.get("workers", {}))
            for rec in snap.get("tasks", []):
                self._apply_task(rec)
        self.touch()

    def _on_event(self, msg: dict[str, Any]) -> None:
        topic = msg.get("topic")
        payload = msg.get("payload") or {}
        with self.lock:
            if topic == "tasks":
                for rec in payload.get("transitions", []):
                    self._apply_task(rec)
            elif topic == "workers":
                apply_workers_event(self.workers, payload)
            elif topic == "primitives":
                apply_primitives_event(self.primitives, payload)
            elif topic == "snapshot":
                self.workers = dict(payload.get("workers", {}))
                for rec in payload.get("tasks", []):
                    self._apply_task(rec)
                self.ready.set()
        self.touch()

    def _apply_task(self, rec: list[Any]) -> None:
        key, state, worker, thread, start, stop, typ, error = rec
        if state in ("memory", "erred") and stop:
            self.stream.append({"key": key, "prefix": key_prefix(key), "worker": worker,
                                "thread": thread, "start": start, "stop": stop, "state": state})
        if key not in self.client.futures:
            self.tasks.pop(key, None)
            return
        info = self.tasks.get(key)
        if info is None:
            info = self.tasks[key] = TaskInfo(key)
        info.state = state
        if worker:
            info.worker = worker
        info.thread, info.start, info.stop = thread, start, stop
        info.type = typ or info.type
        info.error = error

    # ------------------------------------------------------------------ derived views
    def futures(self) -> list[dict[str, Any]]:
        """This client's futures: key, prefix, status, type, worker, duration."""
        out = []
        with self.lock:
            for key, st in list(self.client.futures.items()):
                info = self.tasks.get(key)
                status = st.status
                if status == "pending" and info is not None and info.state == "processing":
                    status = "processing"
                out.append({
                    "key": key, "prefix": key_prefix(key), "status": status,
                    "type": st.type or (info.type if info else "") or "",
                    "worker": info.worker if info else (st.who_has[0] if st.who_has else ""),
                    "duration": (info.stop - info.start) if info and info.stop else None,
                    "error": st.error_text if st.status == "error" else "",
                })
        return out

    def progress(self) -> dict[str, dict[str, int]]:
        """Per task prefix: how many of this client's futures are done, erred, in all."""
        out: dict[str, dict[str, int]] = {}
        for key, st in list(self.client.futures.items()):
            row = out.setdefault(key_prefix(key), {"done": 0, "erred": 0, "cancelled": 0,
                                                   "total": 0})
            row["total"] += 1
            if st.status == "finished":
                row["done"] += 1
            elif st.status == "error":
                row["erred"] += 1
            elif st.status == "cancelled":
                row["cancelled"] += 1
        return out

    def snapshot(self, stream_limit: int = 500, futures_limit: int = 1000) -> dict[str, Any]:
        """Everything the views show, as JSON-able data."""
        futures = self.futures()
        with self.lock:
            stream = list(self.stream)[-stream_limit:]
            workers = {a: dict(w) for a, w in self.workers.items()}
            primitives = {k: dict(v) for k, v in self.primitives.items()}
        return {
            "client": {"id": self.client.id, "scheduler": self.client.scheduler_address,
                       "status": self.client.status},
            "version": self.version,
            "time": time.time(),
            "workers": workers,
            "futures": futures[:futures_limit],
            "nfutures": len(futures),
            "progress": self.progress(),
            "stream": stream,
            "primitives": primitives,
            "actors": [{"key": k, **v} for k, v in list(self.client.actors.items())
                       if k in self.client.futures],
        }
