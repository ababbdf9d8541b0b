"""The client proxy of the pubsub primitive: Pub, Sub (see
:mod:`futurelab.scheduler.primitives.pubsub` for its scheduler half and theory of operation).
"""
from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
import weakref
from collections import deque
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

from .._waiters import Waiter, Waiters
from ..protocol.messages.primitives import Item
from ._proxy import PrimitivesClient, Proxy, check_timeout, decode, encode

if TYPE_CHECKING:
    from ..client.client import Client


class Pub(Proxy):
    """The publishing end of a topic.

    Args:
        name: the topic.
        client: the Client to use (default: the current one, or the worker's inside a task).

    >>> # Pub("scores").put({"epoch": 1, "loss": 0.5})
    """

    kind = "pubsub"

    def __init__(self, name: str, client: Client | None = None) -> None:
        super().__init__(name, client)

    def put(self, msg: Any) -> Any:
        """Publish ``msg`` (msgpack-encodable data) to the topic's current subscribers.

        Returns at once (nothing to wait for); awaitable with an asynchronous client.

        Raises:
            TypeError: when ``msg`` is not msgpack-encodable.
        """
        item = encode(msg, "Pub.put", futures=False)
        self._send("put", item=item)
        if self.client.asynchronous:
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            done.set_result(None)
            return done
        return None


class Sub(Proxy):
    """The subscribing end of a topic: receives every message published after it was created.

    The subscription is acknowledged by the scheduler before ``Sub()`` returns (with an
    asynchronous client: ``sub = await Sub(name)``, or before the first ``get``).

    Args:
        name: the topic.
        client: the Client to use (default: the current one, or the worker's inside a task).

    >>> # sub = Sub("scores")
    >>> # Pub("scores").put(1)
    >>> # sub.get(timeout=5)
    >>> # 1
    >>> # for msg in sub: ...   # forever
    """

    kind = "pubsub"
    _ids = itertools.count()
    _subscribing: asyncio.Future[Any] | None

    def __init__(self, name: str, client: Client | None = None) -> None:
        super().__init__(name, client)
        self._setup()
        started = self.client.sync(self._ensure_subscribed)
        if asyncio.iscoroutine(started):  # asynchronous: subscribe now, wait in __await__/get
            self._subscribing = asyncio.ensure_future(started)

    def _setup(self) -> None:
        self._sub = f"{uuid.uuid4().hex}-{next(Sub._ids)}"
        self.buffer: deque[Item] = deque()
        self._waiters = Waiters()
        self._subscribing = None
        self._subscribed = False
        self._ext_ref: PrimitivesClient | None = None

    def _restore(self, name: str, *args: Any) -> None:
        super()._restore(name)
        self._setup()  # subscribes on first get

    async def _ensure_subscribed(self) -> None:
        if self._subscribed:
            return
        if self._subscribing is not None and not self._subscribing.done() \
                and asyncio.current_task() is not self._subscribing:
            await asyncio.shield(self._subscribing)
            return
        ext = self._ext_ref = self._ext
        ext.deliver[self._sub] = weakref.WeakMethod(self._deliver)
        await self._request("subscribe", sub=self._sub)
        self._subscribed = True

    def __await__(self) -> Any:
        async def ready() -> Sub:
            await self._ensure_subscribed()
            return self
        return ready().__await__()

    def _deliver(self, item: Item) -> None:
        """A message arrived (on the client's loop): hand it to the first getter or buffer it."""
        if "key" not in item and "data" not in item:
            return  # neither a future nor data: nothing a subscriber could be given
        while self._waiters:
            w = self._waiters.pop_first()
            assert w is not None
            if not w.data.done():
                w.data.set_result(item)
                return
        self.buffer.append(item)

    def get(self, timeout: float | None = None) -> Any:
        """The next message, waiting for one if needed.

        Args:
            timeout: seconds to wait at most (None: forever).

        Raises:
            TimeoutError: when no message came within ``timeout``.
        """
        return self.client.sync(self._get, check_timeout(timeout))

    async def _get(self, timeout: float | None = None) -> Any:
        await self._ensure_subscribed()
        if self.buffer:
            return decode(self.buffer.popleft(), self.client)
        if timeout is not None and timeout <= 0:
            raise TimeoutError(f"no message on topic {self.name!r}")
        fut: asyncio.Future[Item] = asyncio.get_running_loop().create_future()
        waiter = Waiter("", id(fut), fut)
        self._waiters.park(waiter)
        try:
            item = await asyncio.wait_for(fut, timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(f"no message on topic {self.name!r} after {timeout} s") from None
        finally:
            self._waiters.pop(waiter.id)
        return decode(item, self.client)

    def __iter__(self) -> Iterator[Any]:
        while True:
            yield self.get()

    def __aiter__(self) -> AsyncIterator[Any]:
        return self

    async def __anext__(self) -> Any:
        return await self._get()

    def close(self) -> None:
        """Unsubscribe (also done when the Sub is garbage collected)."""
        ext, self._ext_ref = self._ext_ref, None
        if ext is not None and self._subscribed:
            ext.deliver.pop(self._sub, None)
            self._subscribed = False
            if ext.client.status == "running":
                ext.send({"op": "pubsub-unsubscribe", "name": self.name, "sub": self._sub})

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # interpreter shutdown, closed loop
            self.close()
