"""A fair, cancellable FIFO of parked requests, shared by every primitive (pure).

Theory of operation
-------------------
A request that cannot be served at once (a ``Lock.acquire`` while the lock is held, a
``Queue.get`` on an empty queue, ...) is *parked*: a :class:`Waiter` naming who asked
(``client``, ``rid``) and what for (``data``) is appended to a :class:`Waiters` queue.  When the
primitive can serve again it pops waiters from the front, so the longest-waiting request is served
first and nobody starves.  A waiter leaves early when its timeout expires, its caller gives up, or
its client disconnects: :meth:`Waiters.pop` and :meth:`Waiters.pop_client` remove it in O(1) /
O(n) without disturbing the order of the others.  This is trio's ``ParkingLot`` with identifiers
instead of tasks: nothing here awaits, sleeps or reads a clock.

>>> lot = Waiters()
>>> lot.park(Waiter("client-a", 1))
>>> lot.park(Waiter("client-b", 2))
>>> lot.pop_first().client
'client-a'
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

#: a waiter's identity: (client id, request id) — unique across the cluster
WaiterId = tuple[str, int]


@dataclass
class Waiter:
    """One parked request."""

    #: the id of the client that asked (a worker's client for requests from tasks)
    client: str
    #: the client's request id; the reply carries it back
    rid: int
    #: what the request needs (a lock token, a batch size, the value to put, ...)
    data: Any = None
    #: when it was parked (seconds, as the caller measures them)
    since: float = 0.0

    @property
    def id(self) -> WaiterId:
        """``(client, rid)``, the key this waiter is known by."""
        return (self.client, self.rid)


class Waiters:
    """First-in first-out waiters, removable individually.

    >>> lot = Waiters()
    >>> lot.park(Waiter("c", 1, data="x"))
    >>> len(lot), ("c", 1) in lot
    (1, True)
    >>> lot.pop(("c", 1)).data
    'x'
    """

    __slots__ = ("_parked",)

    def __init__(self) -> None:
        self._parked: OrderedDict[WaiterId, Waiter] = OrderedDict()

    def park(self, waiter: Waiter) -> None:
        """Append ``waiter`` at the back.

        Raises:
            ValueError: when a waiter with the same id is already parked.
        """
        if waiter.id in self._parked:
            raise ValueError(f"request {waiter.id} is already waiting")
        self._parked[waiter.id] = waiter

    def first(self) -> Waiter | None:
        """The longest-waiting waiter (left in place), or None."""
        for waiter in self._parked.values():
            return waiter
        return None

    def pop_first(self) -> Waiter | None:
        """Remove and return the longest-waiting waiter, or None when empty."""
        if not self._parked:
            return None
        return self._parked.popitem(last=False)[1]

    def pop(self, wid: WaiterId) -> Waiter | None:
        """Remove the waiter ``wid`` (cancelled or timed out); None if it is not parked."""
        return self._parked.pop(wid, None)

    def pop_all(self) -> list[Waiter]:
        """Remove every waiter, oldest first."""
        out = list(self._parked.values())
        self._parked.clear()
        return out

    def pop_client(self, client: str) -> list[Waiter]:
        """Remove every waiter of ``client`` (it disconnected), oldest first."""
        gone = [w for w in self._parked.values() if w.client == client]
        for w in gone:
            del self._parked[w.id]
        return gone

    def clients(self) -> list[str]:
        """The clients waiting, oldest first (one entry per waiter)."""
        return [w.client for w in self._parked.values()]

    def __len__(self) -> int:
        return len(self._parked)

    def __bool__(self) -> bool:
        return bool(self._parked)

    def __iter__(self) -> Iterator[Waiter]:
        return iter(list(self._parked.values()))

    def __contains__(self, wid: object) -> bool:
        return wid in self._parked

    def __repr__(self) -> str:
        return f"<Waiters: {len(self._parked)} parked>"
