"""Queue: a cluster-wide FIFO of futures and small data — pure state and scheduler handlers.

Theory of operation
-------------------
:class:`QueueState` holds items (see :mod:`._base`), a FIFO of getters (each wanting ``n``
items) and, when ``maxsize`` is reached, a FIFO of putters (each with its item).  After every
change :meth:`QueueState._serve` hands items to the first getter while enough are there, then
admits waiting putters while there is room, until neither can move: the longest waiter is always
served first, and a getter of a batch of ``n`` is not overtaken by getters of one.

A future in the queue (even in a waiting put) is pinned, so its data stays alive; taking it gives
the key to the getter's client before the queue's pin is dropped.
"""
from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

from ..._waiters import Waiter, WaiterId, Waiters
from ...protocol import messages as m
from ._base import Effects, Item, check_item, item_summary
from ._shell import Op, PrimitiveExtension

if TYPE_CHECKING:
    pass


class QueueState:
    """One queue: items, getters, putters.

    >>> s = QueueState("q")
    >>> s.get("c1", 1, n=1, now=0.0, blocking=True).parked
    True
    >>> s.put("c2", 2, {"data": b"\\x01"}, now=0.0, blocking=True).replies
    [('c2', 2, {'ok': True}), ('c1', 1, {'ok': True, 'items': [{'data': b'\\x01'}]})]
    """

    def __init__(self, name: str, maxsize: int = 0) -> None:
        self.name = name
        self.maxsize = maxsize
        self.items: deque[Item] = deque()
        #: waiter.data: how many items it wants
        self.getters = Waiters()
        #: waiter.data: the item it puts
        self.putters = Waiters()
        self.puts = self.gets = 0

    def full(self) -> bool:
        return 0 < self.maxsize <= len(self.items)

    def put(self, client: str, rid: int, item: Item, now: float, blocking: bool) -> Effects:
        """Append ``item``; park while the queue is full (``blocking``) or answer timed out."""
        e = Effects(changed=True)
        if not self.full():
            self.items.append(item)
            self.puts += 1
            e.hold(item)
            e.reply(client, rid, ok=True)
            self._serve(e)
            return e
        if not blocking:
            return Effects().reply(client, rid, ok=False, timeout=True)
        self.putters.park(Waiter(client, rid, item, now))
        e.hold(item)
        e.parked = True
        return e

    def get(self, client: str, rid: int, n: int | None, now: float, blocking: bool) -> Effects:
        """Take ``n`` items (``None``: all there are, without waiting), or park."""
        e = Effects()
        if n is None:
            self._give(client, rid, len(self.items), e)
            self._serve(e)
            e.changed = True
            return e
        if n < 1:
            raise ValueError(f"batch must be a positive integer or True, not {n}")
        if 0 < self.maxsize < n:
            raise ValueError(f"cannot get a batch of {n} from Queue {self.name!r} of maxsize "
                             f"{self.maxsize}")
        if not self.getters and len(self.items) >= n:
            self._give(client, rid, n, e)
            self._serve(e)
            e.changed = True
            return e
        if not blocking:
            return e.reply(client, rid, ok=False, timeout=True)
        self.getters.park(Waiter(client, rid, n, now))
        e.parked = e.changed = True
        return e

    def _give(self, client: str, rid: int, n: int, e: Effects) -> None:
        items = [self.items.popleft() for _ in range(n)]
        self.gets += n
        for item in items:
            e.hand_over(client, item, unpin=True)
        e.reply(client, rid, ok=True, items=items)

    def _serve(self, e: Effects) -> None:
        moved = True
        while moved:
            moved = False
            w = self.getters.first()
            if w is not None and len(self.items) >= w.data:
                self.getters.pop_first()
                self._give(w.client, w.rid, w.data, e)
                moved = True
            while self.putters and not self.full():
                p = self.putters.pop_first()
                assert p is not None
                self.items.append(p.data)  # already pinned when it parked
                self.puts += 1
                e.reply(p.client, p.rid, ok=True)
                moved = True

    def qsize(self) -> int:
        return len(self.items)

    def cancel(self, wid: WaiterId) -> Effects:
        e = Effects(changed=True)
        if self.getters.pop(wid) is not None:
            return e.timeout(wid)
        p = self.putters.pop(wid)
        if p is not None:
            e.drop(p.data)
            return e.timeout(wid)
        return Effects()

    def remove_client(self, client: str, now: float) -> Effects:
        e = Effects()
        e.changed = bool(self.getters.pop_client(client))
        for p in self.putters.pop_client(client):
            e.drop(p.data)
            e.changed = True
        if e.changed:
            self._serve(e)
        return e

    def snapshot(self) -> dict[str, Any]:
        return {"name": self.name, "depth": len(self.items), "maxsize": self.maxsize,
                "getters": self.getters.clients(), "putters": self.putters.clients(),
                "puts": self.puts, "gets": self.gets,
                "head": [item_summary(i) for i in list(self.items)[:5]]}

    def idle(self) -> bool:
        return False  # a queue lives as long as the scheduler


class QueueExtension(PrimitiveExtension):
    """The scheduler's queues: ``queue-{create,put,get,qsize}``."""

    kind = "queue"
    plural = "queues"
    cancel_message = m.QueueCancel

    def ops(self) -> dict[type, Op]:
        return {m.QueueCreate: self._create, m.QueuePut: self._put, m.QueueGet: self._get,
                m.QueueQsize: self._qsize}

    def _state(self, name: str, msg: dict[str, Any]) -> QueueState:
        st = self.states.get(name)
        if st is None:
            maxsize = msg.get("maxsize") or 0
            if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 0:
                raise ValueError(f"maxsize must be a non-negative integer, not {maxsize!r}")
            st = self.states[name] = QueueState(name, maxsize)
        return st

    def _create(self, client: str, rid: int | None, msg: dict[str, Any], name: str) -> Effects:
        e = Effects(changed=name not in self.states)
        self._state(name, msg)
        return e

    def _put(self, client: str, rid: int | None, msg: dict[str, Any], name: str) -> Effects:
        if rid is None:
            raise TypeError("queue-put needs a request id")
        item = check_item(msg.get("item"))
        self.check_known(item.get("key"))
        return self._state(name, msg).put(client, rid, item, self.now(), self.blocking(msg))

    def _get(self, client: str, rid: int | None, msg: dict[str, Any], name: str) -> Effects:
        if rid is None:
            raise TypeError("queue-get needs a request id")
        n = msg.get("n", 1)
        if n is not None and (isinstance(n, bool) or not isinstance(n, int)):
            raise TypeError(f"batch must be an integer or True, not {n!r}")
        return self._state(name, msg).get(client, rid, n, self.now(), self.blocking(msg))

    def _qsize(self, client: str, rid: int | None, msg: dict[str, Any], name: str) -> Effects:
        st = self.states.get(name)
        return self.answer(client, rid, qsize=st.qsize() if st is not None else 0)
