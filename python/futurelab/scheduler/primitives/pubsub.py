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

from typing import TYPE_CHECKING, Any

from ..._waiters import WaiterId
from ...protocol import messages as m
from ._base import Effects, Item, check_item
from ._shell import Op, PrimitiveExtension

if TYPE_CHECKING:
    pass


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
