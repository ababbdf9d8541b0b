"""Hosting actors on a worker: the instances, their threads and the call handlers.

An actor task's result is the instance itself, kept here; readers of the key get an
:class:`~futurelab.actor.Actor` proxy instead.  Plain methods of one actor run one at a time in
that actor's own thread (so a slow method never blocks the worker's event loop), ``async def``
methods run on the worker's event loop.
"""
from __future__ import annotations

import asyncio
import inspect
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from ..comm import Comm
from ..protocol import messages as m
from ..protocol.serialize import Opaque
from .executor import thread_state

if TYPE_CHECKING:
    from ..actor import Actor
    from .server import Worker


class ActorHost:
    """The actors living on one worker."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.instances: dict[str, Any] = {}
        self.threads: dict[str, ThreadPoolExecutor] = {}
        worker.add_handlers({m.ActorCall: self.call, m.ActorAttribute: self.attribute})

    def add(self, key: str, instance: Any) -> None:
        self.instances[key] = instance
        self.threads[key] = ThreadPoolExecutor(1, thread_name_prefix=f"actor-{key[:20]}")

    def drop(self, key: str) -> None:
        self.instances.pop(key, None)
        pool = self.threads.pop(key, None)
        if pool is not None:
            pool.shutdown(wait=False)

    def proxy(self, key: str) -> Actor:
        """The client-side proxy of actor ``key``, for whoever fetches it (a client or a task);
        the proxy's module loads only when an actor is actually handed out."""
        from ..actor import Actor
        return Actor(type(self.instances[key]), self.worker.address, key)

    def close(self) -> None:
        for key in list(self.instances):
            self.drop(key)

    def _reply(self, value: Any) -> dict[str, Any]:
        op = Opaque(value)
        if self.worker.serializing:
            op.frames()
        return {"status": "OK", "result": op}

    def _error(self, e: BaseException) -> dict[str, Any]:
        from .executor import failure_event
        ev = failure_event("actor", e, 0.0, 0.0, serialize=self.worker.serializing)
        return {"status": "error", "exception": ev.exception, "traceback": ev.traceback,
                "message": ev.text}

    async def call(self, msg: dict[str, Any], comm: Comm) -> dict[str, Any]:
        key = msg["key"]
        instance = self.instances.get(key)
        if instance is None:
            return {"status": "error", "message": f"no actor {key!r} on {self.worker.address}"}
        try:
            method = getattr(instance, msg["method"])
            args = _get(msg.get("args")) or ()
            kwargs = _get(msg.get("kwargs")) or {}
            if inspect.iscoroutinefunction(method):
                value = await method(*args, **kwargs)
            else:
                value = await asyncio.get_running_loop().run_in_executor(
                    self.threads[key], self._run, method, args, kwargs)
            return self._reply(value)
        except Exception as e:  # noqa: BLE001 - the method's error goes to the caller
            return self._error(e)

    def _run(self, method: Any, args: Any, kwargs: Any) -> Any:
        thread_state.worker = self.worker
        return method(*args, **kwargs)

    def attribute(self, msg: dict[str, Any], comm: Comm) -> dict[str, Any]:
        key = msg["key"]
        instance = self.instances.get(key)
        if instance is None:
            return {"status": "error", "message": f"no actor {key!r} on {self.worker.address}"}
        try:
            return self._reply(getattr(instance, msg["attribute"]))
        except Exception as e:  # noqa: BLE001
            return self._error(e)


def _get(value: Any) -> Any:
    return value.get() if isinstance(value, Opaque) else value
