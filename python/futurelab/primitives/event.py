"""Event: a cluster-wide flag that can be set, cleared and waited on — state, handlers, proxy.

Theory of operation
-------------------
:class:`EventState` is a flag and a FIFO of waiters.  ``set`` raises the flag and answers *every*
waiter (unlike a lock, which wakes one); ``clear`` lowers it; ``wait`` answers at once when the
flag is up, else parks until a ``set`` or its timeout.  Anyone may set or clear: an event has no
owner.  A cleared event nobody waits for is forgotten (it equals a new one).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..protocol import messages as m
from ._base import Effects
from ._proxy import Proxy, check_timeout
from ._shell import Op, PrimitiveExtension
from ._waiters import Waiter, WaiterId, Waiters

if TYPE_CHECKING:
    from ..client.client import Client


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


class Event(Proxy):
    """A cluster-wide event flag, like ``asyncio.Event``/``threading.Event``.

    Args:
        name: the event's name (every Event of that name is the same event); None makes a
            unique name.
        client: the Client to use (default: the current one, or the worker's inside a task).

    >>> # def wait_for_event(x):
    >>> #     Event("my-event").wait()   # every waiter wakes on set
    >>> # futures = client.map(wait_for_event, range(10))
    >>> # Event("my-event").set()
    """

    kind = "event"

    def __init__(self, name: str | None = None, client: Client | None = None) -> None:
        super().__init__(name, client)

    def set(self) -> Any:
        """Set the flag; every waiter wakes."""
        return self.client.sync(self._request_none, "set")

    def clear(self) -> Any:
        """Clear the flag; later waits block until the next set."""
        return self.client.sync(self._request_none, "clear")

    async def _request_none(self, verb: str) -> None:
        await self._request(verb)

    def wait(self, timeout: float | None = None) -> Any:
        """Wait until the flag is set.

        Args:
            timeout: seconds to wait at most (None: forever).

        Returns:
            True once the flag is set; False if ``timeout`` passed first.

        >>> # Event("x").wait(timeout=1)
        >>> # False
        """
        return self.client.sync(self._wait, check_timeout(timeout))

    async def _wait(self, timeout: float | None = None) -> bool:
        return bool((await self._request("wait", timeout=timeout))["ok"])

    def is_set(self) -> Any:
        """True if the flag is set."""
        return self.client.sync(self._is_set)

    async def _is_set(self) -> bool:
        return bool((await self._request("is_set"))["is_set"])
