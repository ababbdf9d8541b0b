"""Semaphore: at most ``max_leases`` holders cluster-wide — pure state, handlers, proxy.

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

import warnings
from typing import TYPE_CHECKING, Any, TypeVar

from ..protocol import messages as m
from ._base import Effects
from ._proxy import Proxy, check_timeout
from ._shell import Op, PrimitiveExtension
from ._waiters import Waiter, WaiterId, Waiters

if TYPE_CHECKING:
    from ..client.client import Client

_T = TypeVar("_T", bound="Semaphore")


def check_max_leases(max_leases: Any) -> int:
    """Validate ``max_leases``.

    Raises:
        TypeError: when it is not an integer.
        ValueError: when it is below 1.
    """
    if isinstance(max_leases, bool) or not isinstance(max_leases, int):
        raise TypeError(f"max_leases must be an integer, not {max_leases!r}")
    if max_leases < 1:
        raise ValueError(f"max_leases must be a positive integer, not {max_leases}")
    return max_leases


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


class Semaphore(Proxy):
    """A cluster-wide semaphore: at most ``max_leases`` holders at once.

    Args:
        max_leases: how many holders at most (a positive integer; the first creation of a name
            fixes it).
        name: the semaphore's name (None: a unique one; pass the object to tasks to share it).
        client: the Client to use (default: the current one, or the worker's inside a task).

    Raises:
        ValueError: when ``max_leases`` is below 1.

    >>> # sem = Semaphore(max_leases=2, name="database")
    >>> # def access_limited(val, sem):
    >>> #     with sem:
    >>> #         ...  # at most 2 tasks here at once
    >>> # client.gather(client.map(access_limited, range(10), sem=sem)); sem.close()
    """

    kind = "semaphore"

    def __init__(self, max_leases: int = 1, name: str | None = None,
                 client: Client | None = None) -> None:
        self.max_leases = check_max_leases(max_leases)
        super().__init__(name, client)
        self._closed = False
        if self._client is not None:  # else created on first use
            self._send("create", max_leases=self.max_leases)

    def _pickle_args(self) -> tuple[Any, ...]:
        return (self.name, self.max_leases)

    def _restore(self, name: str, *args: Any) -> None:
        super()._restore(name)
        self.max_leases = int(args[0])
        self._closed = False

    def acquire(self, timeout: float | None = None) -> Any:
        """Take a lease, waiting up to ``timeout`` seconds (None: forever).

        Returns:
            True if a lease was acquired, False if ``timeout`` passed first.

        Raises:
            RuntimeError: when the semaphore was closed.
        """
        return self.client.sync(self._acquire, check_timeout(timeout))

    async def _acquire(self, timeout: float | None = None) -> bool:
        if self._closed:
            raise RuntimeError(f"Semaphore {self.name!r} is closed")
        token = self._token

        def undo(reply: dict[str, Any]) -> None:  # granted after we gave up: give it back
            self._send("release", token=token)

        reply = await self._request("acquire", undo, token=token, timeout=timeout,
                                    max_leases=self.max_leases)
        if reply.get("max_leases", self.max_leases) != self.max_leases:
            warnings.warn(f"Semaphore {self.name!r} exists with max_leases="
                          f"{reply['max_leases']}; this object asked for {self.max_leases}",
                          RuntimeWarning, stacklevel=2)
            self.max_leases = int(reply["max_leases"])
        return bool(reply["ok"])

    def release(self) -> Any:
        """Return a lease this object holds.

        Raises:
            RuntimeError: when this Semaphore object holds no lease.
        """
        return self.client.sync(self._release_coro)

    async def _release_coro(self) -> None:
        await self._request("release", token=self._token)

    def get_value(self) -> Any:
        """How many leases are held right now (by anyone)."""
        return self.client.sync(self._get_value)

    async def _get_value(self) -> int:
        return int((await self._request("get_value"))["value"])

    def close(self) -> Any:
        """Remove the semaphore from the cluster (its waiters get an error)."""
        return self.client.sync(self._close)

    async def _close(self) -> None:
        self._closed = True
        await self._request("close")

    def __enter__(self: _T) -> _T:  # noqa: PYI019 - typing.Self needs 3.11
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    async def __aenter__(self: _T) -> _T:  # noqa: PYI019
        await self._acquire()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._release_coro()
