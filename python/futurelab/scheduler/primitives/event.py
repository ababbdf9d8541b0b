"""Event: a cluster-wide flag that can be set, cleared and waited on — state and handlers.

Theory of operation
-------------------
:class:`EventState` is a flag and a FIFO of waiters.  ``set`` raises the flag and answers *every*
waiter (unlike a lock, which wakes one); ``clear`` lowers it; ``wait`` answers at once when the
flag is up, else parks until a ``set`` or its timeout.  Anyone may set or clear: an event has no
owner.  A cleared event nobody waits for is forgotten (it equals a new one).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..._waiters import Waiter, WaiterId, Waiters
from ...protocol import messages as m
from ._base import Effects
from ._shell import Op, PrimitiveExtension

if TYPE_CHECKING:
    pass


class EventState:
    """One event's flag and waiters.

    >>> s = EventState("go")
    >>> s.wait("c1", 1, now=0.0, blocking=True).parked
    True
    >>> s.set().replies
    [('c1', 1, {'ok': True})]
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.flag = False
        self.waiters = Waiters()
        self.sets = 0

    def set(self) -> Effects:
        """Raise the flag and wake every waiter."""
        e = Effects(changed=not self.flag or bool(self.waiters))
        self.flag = True
        self.sets += 1
        for w in self.waiters.pop_all():
            e.reply(w.client, w.rid, ok=True)
        return e

    def clear(self) -> Effects:
        """Lower the flag."""
        e = Effects(changed=self.flag)
        self.flag = False
        return e

    def wait(self, client: str, rid: int, now: float, blocking: bool) -> Effects:
        """Answer ``ok=True`` when set; else park (``blocking``) or answer ``ok=False``."""
        e = Effects()
        if self.flag:
            return e.reply(client, rid, ok=True)
        if not blocking:
            return e.reply(client, rid, ok=False)
        self.waiters.park(Waiter(client, rid, None, now))
        e.parked = e.changed = True
        return e

    def cancel(self, wid: WaiterId) -> Effects:
        if self.waiters.pop(wid) is None:
            return Effects()
        return Effects(changed=True).timeout(wid)

    def remove_client(self, client: str, now: float) -> Effects:
        return Effects(changed=bool(self.waiters.pop_client(client)))

    def snapshot(self) -> dict[str, Any]:
        return {"name": self.name, "is_set": self.flag, "waiters": self.waiters.clients(),
                "sets": self.sets}

    def idle(self) -> bool:
        return not self.flag and not self.waiters


class EventExtension(PrimitiveExtension):
    """The scheduler's events: ``event-set``, ``event-clear``, ``event-wait``, ``event-is_set``."""

    kind = "event"
    plural = "events"
    cancel_message = m.EventCancel

    def ops(self) -> dict[type, Op]:
        return {m.EventSet: self._set, m.EventClear: self._clear, m.EventWait: self._wait,
                m.EventIsSet: self._is_set}

    def _state(self, name: str) -> EventState:
        st = self.states.get(name)
        if st is None:
            st = self.states[name] = EventState(name)
        return st

    def _set(self, client: str, rid: int | None, msg: dict[str, Any], name: str) -> Effects:
        e = self._state(name).set()
        if rid is not None:
            e.reply(client, rid, ok=True)
        return e

    def _clear(self, client: str, rid: int | None, msg: dict[str, Any], name: str) -> Effects:
        st = self.states.get(name)
        e = st.clear() if st is not None else Effects()
        if rid is not None:
            e.reply(client, rid, ok=True)
        return e

    def _wait(self, client: str, rid: int | None, msg: dict[str, Any], name: str) -> Effects:
        if rid is None:
            raise TypeError("event-wait needs a request id")
        return self._state(name).wait(client, rid, self.now(), self.blocking(msg))

    def _is_set(self, client: str, rid: int | None, msg: dict[str, Any], name: str) -> Effects:
        st = self.states.get(name)
        return self.answer(client, rid, is_set=st is not None and st.flag)
