"""Actors: stateful objects living on one worker, called directly without the scheduler.

``client.submit(Counter, actor=True).result()`` returns an :class:`Actor` proxy.  Calling a method
on it returns an :class:`ActorFuture` at once; the call travels straight to the worker holding
the instance.  Each proxy talks to its worker over one channel that carries calls in order and
waits for each reply before sending the next, so calls from one caller are applied in the order
they were made even when the caller never waits for them.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Generator
from typing import Any

from .comm import Comm, connect
from .errors import CommClosedError, FuturelabError
from .protocol.serialize import Opaque

#: how a channel hands over an outcome: settle(reply, None) or settle(None, error)
Settle = Callable[[Any, "BaseException | None"], None]


class _Channel:
    """One ordered request/reply lane from this process to an actor's worker (loop side)."""

    def __init__(self, address: str, security: Any = None) -> None:
        self.address = address
        self.security = security
        self.queue: asyncio.Queue[tuple[dict[str, Any], Settle]] = asyncio.Queue()
        self.comm: Comm | None = None
        self.task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while True:
            msg, settle = await self.queue.get()
            try:
                if self.comm is None or self.comm.closed():
                    self.comm = await connect(self.address, security=self.security)
                await self.comm.write(msg)
                reply = await self.comm.read()
            except (OSError, CommClosedError) as e:
                self.comm = None
                settle(None, FuturelabError(
                    f"the worker {self.address} holding actor {msg.get('key')!r} cannot be "
                    f"reached: {e}"))
                continue
            settle(reply, None)

    def put(self, msg: dict[str, Any], settle: Settle) -> None:
        self.queue.put_nowait((msg, settle))


_channels: dict[tuple[int, str], _Channel] = {}  # (id(client), worker address)
_channels_lock = threading.Lock()


def _channel(client: Any, address: str) -> _Channel:
    """The ordered lane from ``client`` to ``address``: one per caller, so an actor method
    that itself calls actors (through its worker's client) never waits behind its own call."""
    security = client.security
    with _channels_lock:
        key = (id(client), address)
        ch = _channels.get(key)
        if ch is None or ch.task.done():
            ch = _channels[key] = _Channel(address, security)
        return ch


def _unpack_reply(reply: Any) -> Any:
    if not isinstance(reply, dict):
        raise FuturelabError(f"malformed actor reply: {reply!r}")
    if reply.get("status") == "error":
        exc = reply.get("exception")
        exc = exc.get() if isinstance(exc, Opaque) else exc
        if isinstance(exc, BaseException):
            tb = reply.get("traceback")
            raise exc.with_traceback(tb.get() if isinstance(tb, Opaque) else None)
        raise FuturelabError(reply.get("message", "actor call failed"))
    value = reply.get("result")
    return value.get() if isinstance(value, Opaque) else value


class ActorFuture:
    """The pending result of an actor method call.

    >>> # future = counter.increment()
    >>> # future.result()
    >>> # 1
    """

    def __init__(self, client: Any, fut: Any) -> None:
        self._client = client
        self._fut = fut  # a concurrent.futures.Future (sync) or asyncio.Future (async)
        self._value: Any = None
        self._have = False

    def done(self) -> bool:
        return bool(self._fut.done())

    def result(self, timeout: float | None = None) -> Any:
        """Wait for the call and return its value (the method's exception is raised here)."""
        if not self._have:
            if isinstance(self._fut, asyncio.Future):
                raise RuntimeError("use `await` on an ActorFuture in asynchronous code")
            try:
                reply = self._fut.result(timeout)
            except TimeoutError:
                raise TimeoutError(f"actor call not done after {timeout} s") from None
            self._value = _unpack_reply(reply)
            self._have = True
        return self._value

    def __await__(self) -> Generator[Any, None, Any]:
        async def get() -> Any:
            if isinstance(self._fut, asyncio.Future):
                return _unpack_reply(await self._fut)
            return _unpack_reply(await asyncio.wrap_future(self._fut))
        return get().__await__()

    def __repr__(self) -> str:
        return "<ActorFuture>"


class Actor:
    """A proxy for an object living on a worker.

    Method calls return :class:`ActorFuture`; attribute reads block (or are awaitable when the
    client is asynchronous).

    >>> # counter = client.submit(Counter, actor=True).result()
    >>> # counter.increment().result()
    >>> # 1
    """

    def __init__(self, cls: type, address: str, key: str, client: Any = None) -> None:
        self._cls = cls
        self._address = address
        self.key = key
        self._client_ = client
        self._future: Any = None

    @property
    def _client(self) -> Any:
        from .worker.executor import thread_state
        worker = getattr(thread_state, "worker", None)
        if worker is not None:
            # used from a task or an actor method: go through that worker's own client (also
            # in threads mode, where the proxy object itself came from the user's client)
            return worker.get_client()
        if self._client_ is None:
            from .client.client import get_client
            self._client_ = get_client()
        return self._client_

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (Actor, (self._cls, self._address, self.key))

    def __repr__(self) -> str:
        return f"<Actor: {self._cls.__name__}, key={self.key}>"

    def __dir__(self) -> list[str]:
        return sorted(set(dir(type(self))) | {n for n in dir(self._cls) if not n.startswith("_")})

    def _send(self, msg: dict[str, Any]) -> Any:
        """Queue ``msg`` on this caller's lane to the actor's worker, in call order.

        Returns an asyncio future (asynchronous client) or a concurrent one, settled directly
        by the lane: no task per call, one hop from the caller's thread to the loop.
        """
        client = self._client
        address = self._address
        info = client.actors.get(self.key)
        if info is not None:
            info["pending"] += 1  # calls in flight, shown by the views
        if client.asynchronous:
            fut: Any = asyncio.get_running_loop().create_future()
        else:
            fut = concurrent.futures.Future()

        def settle(reply: Any, error: BaseException | None) -> None:
            if info is not None:
                info["pending"] -= 1
            if fut.done():  # the caller cancelled an asyncio future
                return
            if error is not None:
                fut.set_exception(error)
            else:
                fut.set_result(reply)

        if client.asynchronous:
            _channel(client, address).put(msg, settle)
        else:
            client.loop.call_soon_threadsafe(
                lambda: _channel(client, address).put(msg, settle))
        return fut

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        attr = getattr(self._cls, name, None)
        if callable(attr):
            def call(*args: Any, **kwargs: Any) -> ActorFuture:
                fut = self._send({"op": "actor-call", "key": self.key, "method": name,
                                  "args": Opaque(args), "kwargs": Opaque(kwargs)})
                return ActorFuture(self._client, fut)
            call.__name__ = name
            return call
        fut = self._send({"op": "actor-attribute", "key": self.key, "attribute": name})
        if self._client.asynchronous:
            return ActorFuture(self._client, fut)
        return ActorFuture(self._client, fut).result()
