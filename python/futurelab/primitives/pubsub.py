"""Pub/Sub: every subscriber of a topic receives every message published after it subscribed.

Theory of operation
-------------------
:class:`TopicState` knows the subscriptions ``(client, sub id)`` of one topic.  A publish turns
into one ``pubsub-msg`` per subscribing client (naming its subscriptions), pushed on that client's
ordered stream; publishes travel on the publisher's ordered stream, so each publisher's messages
arrive in publish order.  The subscribing side buffers messages per subscription and serves
``Sub.get`` callers in FIFO order with a client-side :class:`~._waiters.Waiters`.  A topic with no
subscribers is forgotten; messages published to it go nowhere (but are counted while it lives).
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

from ..protocol import messages as m
from ._base import Effects, Item, check_item
from ._proxy import PrimitivesClient, Proxy, check_timeout, decode, encode
from ._shell import Op, PrimitiveExtension
from ._waiters import Waiter, WaiterId, Waiters

if TYPE_CHECKING:
    from ..client.client import Client


class TopicState:
    """One topic: its subscriptions and message counts.

    >>> t = TopicState("news")
    >>> _ = t.subscribe("c1", "s1", now=0.0)
    >>> t.publish("c2", {"data": b"\\x01"}).sends
    [('c1', {'op': 'pubsub-msg', 'name': 'news', 'subs': ['s1'], 'item': {'data': b'\\x01'}})]
    """

    def __init__(self, name: str) -> None:
        self.name = name
        #: client → {sub id: messages delivered to it}
        self.subscribers: dict[str, dict[str, int]] = {}
        self.since: dict[str, float] = {}
        self.published = 0
        self.publishers: set[str] = set()

    def subscribe(self, client: str, sub: str, now: float) -> Effects:
        self.subscribers.setdefault(client, {})[sub] = 0
        self.since[sub] = now
        return Effects(changed=True)

    def unsubscribe(self, client: str, sub: str) -> Effects:
        subs = self.subscribers.get(client, {})
        if subs.pop(sub, None) is None:
            return Effects()
        self.since.pop(sub, None)
        if not subs:
            del self.subscribers[client]
        return Effects(changed=True)

    def publish(self, client: str, item: Item) -> Effects:
        """Deliver ``item`` to every subscription."""
        e = Effects(changed=True)
        self.published += 1
        self.publishers.add(client)
        for target, subs in self.subscribers.items():
            for sub in subs:
                subs[sub] += 1
            e.sends.append((target, {"op": "pubsub-msg", "name": self.name, "subs": list(subs),
                                     "item": item}))
        return e

    def cancel(self, wid: WaiterId) -> Effects:
        return Effects()  # nothing here waits

    def remove_client(self, client: str, now: float) -> Effects:
        self.publishers.discard(client)
        gone = self.subscribers.pop(client, {})
        for sub in gone:
            self.since.pop(sub, None)
        return Effects(changed=bool(gone))

    def snapshot(self) -> dict[str, Any]:
        return {"name": self.name, "published": self.published,
                "subscribers": [{"client": c, "sub": s, "delivered": n,
                                 "since": self.since.get(s)}
                                for c, subs in self.subscribers.items() for s, n in subs.items()],
                "publishers": sorted(self.publishers)}

    def idle(self) -> bool:
        return not self.subscribers


class PubSubExtension(PrimitiveExtension):
    """The scheduler's topics: ``pubsub-subscribe``, ``pubsub-unsubscribe``, ``pubsub-put``."""

    kind = "pubsub"
    plural = "pubsub"
    cancel_message = m.PubSubCancel

    def ops(self) -> dict[type, Op]:
        return {m.PubSubSubscribe: self._subscribe, m.PubSubUnsubscribe: self._unsubscribe,
                m.PubSubPut: self._put}

    def _subscribe(self, client: str, rid: int | None, msg: dict[str, Any],
                   name: str) -> Effects:
        sub = msg.get("sub")
        if not isinstance(sub, str):
            raise TypeError(f"a subscription id must be a string, not {sub!r}")
        st = self.states.get(name)
        if st is None:
            st = self.states[name] = TopicState(name)
        e = st.subscribe(client, sub, self.now())
        if rid is not None:
            e.reply(client, rid, ok=True)
        return e

    def _unsubscribe(self, client: str, rid: int | None, msg: dict[str, Any],
                     name: str) -> Effects:
        st = self.states.get(name)
        e = st.unsubscribe(client, str(msg.get("sub"))) if st is not None else Effects()
        if rid is not None:
            e.reply(client, rid, ok=True)
        return e

    def _put(self, client: str, rid: int | None, msg: dict[str, Any], name: str) -> Effects:
        item = check_item(msg.get("item"))
        if "key" in item:
            raise TypeError("Pub.put takes msgpack-encodable data, not futures")
        st = self.states.get(name)
        return st.publish(client, item) if st is not None else Effects()


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
        try:
            check_item(item)
        except TypeError:
            return
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
