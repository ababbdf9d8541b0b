"""Semaphore: at most ``max_leases`` holders cluster-wide — pure state and scheduler handlers.

Theory of operation
-------------------
:class:`SemaphoreState` counts leases per holder ``(client, token)`` (the token names the
Semaphore object; a copy shared by several threads holds several leases).  ``acquire`` grants a
lease while fewer than ``max_leases`` are out and nobody waits before it; otherwise it parks in a
FIFO.  ``release`` returns one lease of that holder and grants the next waiters.  A lost client
connection returns every lease it held.  ``close`` forgets the semaphore: its waiters get an error;
the same name later makes a new one.  The first creation fixes ``max_leases``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..._waiters import Waiter, WaiterId, Waiters
from ...protocol import messages as m
from ...protocol.messages.primitives import check_max_leases
from ._base import Effects
from ._shell import Op, PrimitiveExtension

if TYPE_CHECKING:
    pass



class SemaphoreState:
    """One semaphore: limit, leases by holder, FIFO of acquirers.

    >>> s = SemaphoreState("db", 1)
    >>> s.acquire("c1", 1, "t1", now=0.0, blocking=True).replies
    [('c1', 1, {'ok': True, 'max_leases': 1})]
    >>> s.acquire("c2", 2, "t2", now=0.0, blocking=False).replies
    [('c2', 2, {'ok': False, 'max_leases': 1})]
    """

    def __init__(self, name: str, max_leases: int) -> None:
        self.name = name
        self.max_leases = check_max_leases(max_leases)
        #: (client, token) → the times its leases were granted
        self.leases: dict[tuple[str, str], list[float]] = {}
        self.held = 0
        self.waiters = Waiters()
        self.acquisitions = 0

    def acquire(self, client: str, rid: int, token: str, now: float,
                blocking: bool) -> Effects:
        """Take a lease, or park (``blocking``), or answer ``ok=False``."""
        e = Effects()
        if self.held < self.max_leases and not self.waiters:
            self._grant(client, token, now)
            e.changed = True
            return e.reply(client, rid, ok=True, max_leases=self.max_leases)
        if not blocking:
            return e.reply(client, rid, ok=False, max_leases=self.max_leases)
        self.waiters.park(Waiter(client, rid, token, now))
        e.parked = e.changed = True
        return e

    def release(self, client: str, rid: int | None, token: str, now: float) -> Effects:
        """Return one lease of ``(client, token)`` and grant waiters.

        Raises:
            RuntimeError: when that holder has no lease.
        """
        times = self.leases.get((client, token))
        if not times:
            raise RuntimeError(f"cannot release Semaphore {self.name!r}: this Semaphore object "
                               "holds no lease (released more often than acquired?)")
        times.pop(0)
        if not times:
            del self.leases[(client, token)]
        self.held -= 1
        e = self._grant_waiters(now)
        if rid is not None:
            e.reply(client, rid, ok=True)
        return e

    def _grant(self, client: str, token: str, now: float) -> None:
        self.leases.setdefault((client, token), []).append(now)
        self.held += 1
        self.acquisitions += 1

    def _grant_waiters(self, now: float) -> Effects:
        e = Effects(changed=True)
        while self.held < self.max_leases:
            w = self.waiters.pop_first()
            if w is None:
                break
            self._grant(w.client, w.data, now)
            e.reply(w.client, w.rid, ok=True, max_leases=self.max_leases)
        return e

    def close(self) -> Effects:
        """Forget every lease; waiters get an error."""
        e = Effects(changed=True)
        for w in self.waiters.pop_all():
            e.reply(w.client, w.rid, error=f"Semaphore {self.name!r} was closed",
                    etype="RuntimeError")
        self.leases.clear()
        self.held = 0
        return e

    def cancel(self, wid: WaiterId) -> Effects:
        if self.waiters.pop(wid) is None:
            return Effects()
        return Effects(changed=True).timeout(wid)

    def remove_client(self, client: str, now: float) -> Effects:
        changed = bool(self.waiters.pop_client(client))
        for holder in [h for h in self.leases if h[0] == client]:
            self.held -= len(self.leases.pop(holder))
            changed = True
        if not changed:
            return Effects()
        return self._grant_waiters(now)

    def snapshot(self) -> dict[str, Any]:
        return {"name": self.name, "max_leases": self.max_leases, "leases": self.held,
                "holders": [{"client": c, "leases": len(t), "since": min(t)}
                            for (c, _), t in self.leases.items()],
                "waiters": self.waiters.clients(), "acquisitions": self.acquisitions}

    def idle(self) -> bool:
        return False  # lives until closed


class SemaphoreExtension(PrimitiveExtension):
    """The scheduler's semaphores: ``semaphore-{create,acquire,release,get_value,close}``."""

    kind = "semaphore"
    plural = "semaphores"
    cancel_message = m.SemaphoreCancel

    def ops(self) -> dict[type, Op]:
        return {m.SemaphoreCreate: self._create, m.SemaphoreAcquire: self._acquire,
                m.SemaphoreRelease: self._release, m.SemaphoreGetValue: self._get_value,
                m.SemaphoreClose: self._close}

    def _state(self, name: str, msg: dict[str, Any]) -> SemaphoreState:
        st = self.states.get(name)
        if st is None:
            st = self.states[name] = SemaphoreState(name, msg.get("max_leases", 1))
        return st

    def _create(self, client: str, rid: int | None, msg: dict[str, Any], name: str) -> Effects:
        e = Effects(changed=name not in self.states)
        st = self._state(name, msg)
        if rid is not None:
            e.reply(client, rid, ok=True, max_leases=st.max_leases)
        return e

    def _acquire(self, client: str, rid: int | None, msg: dict[str, Any], name: str) -> Effects:
        if rid is None:
            raise TypeError("semaphore-acquire needs a request id")
        return self._state(name, msg).acquire(client, rid, str(msg.get("token")), self.now(),
                                              self.blocking(msg))

    def _release(self, client: str, rid: int | None, msg: dict[str, Any], name: str) -> Effects:
        st = self.states.get(name)
        if st is None:  # closed meanwhile: its leases went with it
            return self.answer(client, rid)
        return st.release(client, rid, str(msg.get("token")), self.now())  # type: ignore[no-any-return]

    def _get_value(self, client: str, rid: int | None, msg: dict[str, Any],
                   name: str) -> Effects:
        st = self.states.get(name)
        return self.answer(client, rid, value=st.held if st is not None else 0)

    def _close(self, client: str, rid: int | None, msg: dict[str, Any], name: str) -> Effects:
        st = self.states.pop(name, None)
        e = st.close() if st is not None else Effects()
        if rid is not None:
            e.reply(client, rid, ok=True)
        return e
