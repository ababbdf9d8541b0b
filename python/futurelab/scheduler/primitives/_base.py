"""What a primitive's pure state returns, and the bookkeeping of pinned keys (pure).

Theory of operation
-------------------
Every operation on a primitive's state (``LockState.acquire``, ``QueueState.put``, ...) changes
the state and returns :class:`Effects`: the replies to send (``(client, rid, payload)``), other
messages to push to clients (pub/sub deliveries), and the future keys to *pin* (keep alive on
behalf of the primitive), *give* (add a client as wanting the key) and *unpin*.  The scheduler-side
shell (:mod:`._shell`) carries them out in that order — pins, gives, unpins, then messages — so
handing a future from a queue to a getter never leaves a gap in which nobody wants its key.

A queue may hold the same future twice, so pins are counted: :class:`Pins` says when a holder's
count of a key goes 0 → 1 (tell the scheduler the holder wants it) and 1 → 0 (release it).

Values travel as *items*: ``{"key": ...}`` for a future, ``{"data": <msgpack bytes>}`` for small
data, each with a ``"type"`` and a short ``"repr"`` computed by the client for introspection.  The
scheduler never decodes user data.

>>> e = Effects().reply("client-a", 7, ok=True)
>>> e.replies
[('client-a', 7, {'ok': True})]
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..._waiters import WaiterId

#: a value as stored in a Queue or Variable: {"key": k} or {"data": b"..."} + "type"/"repr"
Item = dict[str, Any]


@dataclass
class Effects:
    """The outcome of one operation on a primitive's state."""

    #: (client, request id, payload) — one reply per request, ever
    replies: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)
    #: other messages to push: (client, message)
    sends: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    #: keys the primitive now holds (one entry per reference)
    pin: list[str] = field(default_factory=list)
    #: (client, key): the client receives a future of key — register its want before any unpin
    give: list[tuple[str, str]] = field(default_factory=list)
    #: keys the primitive no longer holds (one entry per reference)
    unpin: list[str] = field(default_factory=list)
    #: the request that caused this was parked (it will be answered later)
    parked: bool = False
    #: the primitive's visible state changed (emit a change event)
    changed: bool = False

    def reply(self, client: str, rid: int, **payload: Any) -> Effects:
        """Add a reply to request ``rid`` of ``client``; returns self for chaining."""
        self.replies.append((client, rid, payload))
        return self

    def timeout(self, wid: WaiterId) -> Effects:
        """Answer waiter ``wid`` with "gave up" (timed out or cancelled)."""
        return self.reply(wid[0], wid[1], ok=False, timeout=True)

    def hand_over(self, client: str, item: Item, unpin: bool) -> None:
        """``client`` receives ``item``: give it the future's key (and drop our pin)."""
        key = item_key(item)
        if key is not None:
            self.give.append((client, key))
            if unpin:
                self.unpin.append(key)

    def hold(self, item: Item | None) -> None:
        """Pin ``item``'s key, if it is a future."""
        key = item_key(item)
        if key is not None:
            self.pin.append(key)

    def drop(self, item: Item | None) -> None:
        """Unpin ``item``'s key, if it is a future."""
        key = item_key(item)
        if key is not None:
            self.unpin.append(key)


def item_key(item: Item | None) -> str | None:
    """The future key an item holds, or None for plain data."""
    if item is None:
        return None
    key = item.get("key")
    return key if isinstance(key, str) else None


def item_summary(item: Item | None) -> dict[str, Any] | None:
    """What introspection shows of a value: its type, a short repr, or the future's key."""
    if item is None:
        return None
    key = item_key(item)
    if key is not None:
        return {"type": "Future", "key": key, "repr": f"<Future: {key}>"}
    return {"type": str(item.get("type", "")), "repr": str(item.get("repr", ""))}


def check_item(item: Any) -> Item:
    """Validate an item that came over the wire.

    Raises:
        TypeError: when it is not a future reference or msgpack bytes.
    """
    if isinstance(item, dict) and (isinstance(item.get("key"), str)
                                   or isinstance(item.get("data"), (bytes, bytearray))):
        return {k: item[k] for k in ("key", "data", "type", "repr") if k in item}
    raise TypeError(f"expected a future or encoded data, got {type(item).__name__}")


class Pins:
    """Counted pins of keys per holder.

    >>> p = Pins()
    >>> p.pin("queue-q", "x"), p.pin("queue-q", "x")
    (True, False)
    >>> p.unpin("queue-q", "x"), p.unpin("queue-q", "x")
    (False, True)
    """

    def __init__(self) -> None:
        self.counts: dict[str, Counter[str]] = {}

    def pin(self, holder: str, key: str) -> bool:
        """Count one more reference; True when it is the first (the holder must now want key)."""
        c = self.counts.setdefault(holder, Counter())
        c[key] += 1
        return c[key] == 1

    def unpin(self, holder: str, key: str) -> bool:
        """Count one reference less; True when it was the last (the holder must release key)."""
        c = self.counts.get(holder)
        if c is None or c[key] <= 0:
            return False
        c[key] -= 1
        if c[key] == 0:
            del c[key]
            if not c:
                del self.counts[holder]
            return True
        return False

    def held(self, holder: str) -> dict[str, int]:
        """The keys ``holder`` pins, with counts."""
        return dict(self.counts.get(holder, {}))


class PrimitiveState(Protocol):
    """What the shell needs from every primitive's pure state."""

    name: str

    def cancel(self, wid: WaiterId) -> Effects:
        """Stop waiting for request ``wid`` (timeout or caller gave up); reply "timed out"."""

    def remove_client(self, client: str, now: float) -> Effects:
        """Forget ``client``: drop its waiters, release what it holds."""

    def snapshot(self) -> dict[str, Any]:
        """A msgpack-able summary for introspection and change events."""

    def idle(self) -> bool:
        """True when the state equals a fresh one and may be discarded."""
