"""Lock: a cluster-wide ``threading.Lock`` — pure state and scheduler handlers.

Theory of operation
-------------------
:class:`LockState` has at most one holder, ``(client, token)``: the token identifies the Lock
*object* that acquired it (each unpickled copy has its own), so only that object may release it,
as in dask.  Acquirers that find it held park in a FIFO :class:`~._waiters.Waiters`; release hands
the lock to the longest waiter.  A newcomer never jumps that queue.  When a client's connection is
lost (including a worker process that died while a task held the lock), its hold is released and
its waiters dropped.  An unlocked lock nobody waits for is forgotten (it is the same as a new one).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..._waiters import Waiter, WaiterId, Waiters
from ...protocol import messages as m
from ._base import Effects
from ._shell import Op, PrimitiveExtension

if TYPE_CHECKING:
    pass



class LockState:
    """One lock: holder, since when, and the FIFO of acquirers.

    >>> s = LockState("db")
    >>> s.acquire("c1", 1, "t1", now=0.0, blocking=True).replies
    [('c1', 1, {'ok': True})]
    >>> s.acquire("c2", 2, "t2", now=1.0, blocking=True).parked
    True
    >>> s.release("c1", 3, "t1", now=2.0).replies
    [('c2', 2, {'ok': True}), ('c1', 3, {'ok': True})]
    """

    def __init__(self, name: str) -> None:
        self.name = name
        #: (client, token) of the holder
        self.holder: tuple[str, str] | None = None
        self.since: float | None = None
        self.waiters = Waiters()
        self.acquisitions = 0

    def acquire(self, client: str, rid: int, token: str, now: float,
                blocking: bool) -> Effects:
        """Take the lock, or park (``blocking``), or answer ``ok=False``."""
        e = Effects()
        if self.holder is None and not self.waiters:
            self._grant(client, token, now)
            e.changed = True
            return e.reply(client, rid, ok=True)
        if not blocking:
            return e.reply(client, rid, ok=False)
        self.waiters.park(Waiter(client, rid, token, now))
        e.parked = e.changed = True
        return e

    def release(self, client: str, rid: int | None, token: str, now: float) -> Effects:
        """Release the lock held by ``(client, token)``; hand it to the next waiter.

        Raises:
            RuntimeError: when that Lock object does not hold the lock.
        """
        if self.holder != (client, token):
            state = "not locked" if self.holder is None else "held by another Lock object"
            raise RuntimeError(f"cannot release Lock {self.name!r}: it is {state}; only the Lock "
                               "object that acquired it can release it")
        e = self._release(now)
        if rid is not None:
            e.reply(client, rid, ok=True)
        return e

    def _grant(self, client: str, token: str, now: float) -> None:
        self.holder = (client, token)
        self.since = now
        self.acquisitions += 1

    def _release(self, now: float) -> Effects:
        e = Effects(changed=True)
        self.holder = self.since = None
        w = self.waiters.pop_first()
        if w is not None:
            self._grant(w.client, w.data, now)
            e.reply(w.client, w.rid, ok=True)
        return e

    def cancel(self, wid: WaiterId) -> Effects:
        if self.waiters.pop(wid) is None:
            return Effects()
        return Effects(changed=True).timeout(wid)

    def remove_client(self, client: str, now: float) -> Effects:
        e = Effects(changed=bool(self.waiters.pop_client(client)))
        if self.holder is not None and self.holder[0] == client:
            e2 = self._release(now)
            e2.changed = True
            return e2
        return e

    def snapshot(self) -> dict[str, Any]:
        return {"name": self.name, "locked": self.holder is not None,
                "holder": self.holder[0] if self.holder else None, "held_since": self.since,
                "waiters": self.waiters.clients(), "acquisitions": self.acquisitions}

    def idle(self) -> bool:
        return self.holder is None and not self.waiters


class LockExtension(PrimitiveExtension):
    """The scheduler's locks: ``lock-acquire``, ``lock-release``, ``lock-locked``."""

    kind = "lock"
    plural = "locks"
    cancel_message = m.LockCancel

    def ops(self) -> dict[type, Op]:
        return {m.LockAcquire: self._acquire, m.LockRelease: self._release,
                m.LockLocked: self._locked}

    def _state(self, name: str) -> LockState:
        st = self.states.get(name)
        if st is None:
            st = self.states[name] = LockState(name)
        return st

    def _acquire(self, client: str, rid: int | None, msg: dict[str, Any], name: str) -> Effects:
        if rid is None:
            raise TypeError("lock-acquire needs a request id")
        return self._state(name).acquire(client, rid, str(msg.get("token")), self.now(),
                                         self.blocking(msg))

    def _release(self, client: str, rid: int | None, msg: dict[str, Any], name: str) -> Effects:
        st = self.states.get(name)
        if st is None:
            raise RuntimeError(f"cannot release Lock {name!r}: it is not locked")
        return st.release(client, rid, str(msg.get("token")), self.now())  # type: ignore[no-any-return]

    def _locked(self, client: str, rid: int | None, msg: dict[str, Any], name: str) -> Effects:
        st = self.states.get(name)
        return self.answer(client, rid, locked=st is not None and st.holder is not None)
