"""Variable: one cluster-wide value (a future or small data) — pure state, handlers, proxy.

Theory of operation
-------------------
:class:`VariableState` holds at most one item and who wrote it.  ``get`` answers with the item,
or parks until a ``set`` (every parked getter is answered by it).  A future held by the variable is
pinned until the value is replaced or deleted; each getter's client is given the key before any
unpin, so a Future obtained from ``get`` never dangles.  A deleted variable nobody waits for is
forgotten.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..protocol import messages as m
from ._base import Effects, Item, check_item, item_summary
from ._proxy import Proxy, check_timeout, decode, encode
from ._shell import Op, PrimitiveExtension
from ._waiters import Waiter, WaiterId, Waiters

if TYPE_CHECKING:
    from ..client.client import Client


class VariableState:
    """One variable: value, last writer, waiting getters.

    >>> s = VariableState("v")
    >>> s.get("c1", 1, now=0.0, blocking=True).parked
    True
    >>> e = s.set("c2", 2, {"data": b"\\xc2"}, now=1.0)
    >>> e.replies[0]
    ('c1', 1, {'ok': True, 'item': {'data': b'\\xc2'}})
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.value: Item | None = None
        self.writer: str | None = None
        self.written: float | None = None
        self.waiters = Waiters()
        self.sets = 0

    def set(self, client: str, rid: int | None, item: Item, now: float) -> Effects:
        """Replace the value with ``item`` and answer every waiting getter."""
        e = Effects(changed=True)
        e.hold(item)
        for w in self.waiters.pop_all():
            e.hand_over(w.client, item, unpin=False)
            e.reply(w.client, w.rid, ok=True, item=item)
        e.drop(self.value)
        self.value, self.writer, self.written = item, client, now
        self.sets += 1
        if rid is not None:
            e.reply(client, rid, ok=True)
        return e

    def get(self, client: str, rid: int, now: float, blocking: bool) -> Effects:
        """Answer with the value; park until set (``blocking``) or answer timed out."""
        e = Effects()
        if self.value is not None:
            e.hand_over(client, self.value, unpin=False)
            return e.reply(client, rid, ok=True, item=self.value)
        if not blocking:
            return e.reply(client, rid, ok=False, timeout=True)
        self.waiters.park(Waiter(client, rid, None, now))
        e.parked = e.changed = True
        return e

    def delete(self) -> Effects:
        """Drop the value (waiters keep waiting for the next set)."""
        e = Effects(changed=self.value is not None)
        e.drop(self.value)
        self.value = self.writer = self.written = None
        return e

    def cancel(self, wid: WaiterId) -> Effects:
        if self.waiters.pop(wid) is None:
            return Effects()
        return Effects(changed=True).timeout(wid)

    def remove_client(self, client: str, now: float) -> Effects:
        return Effects(changed=bool(self.waiters.pop_client(client)))

    def snapshot(self) -> dict[str, Any]:
        return {"name": self.name, "value": item_summary(self.value), "writer": self.writer,
                "written": self.written, "waiters": self.waiters.clients(), "sets": self.sets}

    def idle(self) -> bool:
        return self.value is None and not self.waiters


class VariableExtension(PrimitiveExtension):
    """The scheduler's variables: ``variable-set``, ``variable-get``, ``variable-delete``."""

    kind = "variable"
    plural = "variables"
    cancel_message = m.VariableCancel

    def ops(self) -> dict[type, Op]:
        return {m.VariableSet: self._set, m.VariableGet: self._get,
                m.VariableDelete: self._delete}

    def _state(self, name: str) -> VariableState:
        st = self.states.get(name)
        if st is None:
            st = self.states[name] = VariableState(name)
        return st

    def _set(self, client: str, rid: int | None, msg: dict[str, Any], name: str) -> Effects:
        item = check_item(msg.get("item"))
        self.check_known(item.get("key"))
        return self._state(name).set(client, rid, item, self.now())

    def _get(self, client: str, rid: int | None, msg: dict[str, Any], name: str) -> Effects:
        if rid is None:
            raise TypeError("variable-get needs a request id")
        return self._state(name).get(client, rid, self.now(), self.blocking(msg))

    def _delete(self, client: str, rid: int | None, msg: dict[str, Any], name: str) -> Effects:
        st = self.states.get(name)
        e = st.delete() if st is not None else Effects()
        if rid is not None:
            e.reply(client, rid, ok=True)
        return e


class Variable(Proxy):
    """A cluster-wide variable holding one future or small (msgpack-encodable) value.

    Args:
        name: the variable's name (every Variable of that name is the same); None makes a
            unique name.
        client: the Client to use (default: the current one, or the worker's inside a task).

    >>> # var = Variable("stopping-criterion")
    >>> # var.set(False)
    >>> # var.get()
    >>> # False
    """

    kind = "variable"

    def __init__(self, name: str | None = None, client: Client | None = None) -> None:
        super().__init__(name, client)

    def set(self, value: Any, **kwargs: Any) -> Any:
        """Set the value (a Future keeps its data alive until replaced or deleted).

        Raises:
            TypeError: when ``value`` is neither a Future nor msgpack-encodable.
        """
        item = encode(value, "Variable.set")
        return self.client.sync(self._set, item, value)

    async def _set(self, item: Item, value: Any = None) -> None:
        # ``value`` keeps a Future alive until the variable holds it (async callers may drop it)
        await self._request("set", item=item)
        del value

    def get(self, timeout: float | None = None, **kwargs: Any) -> Any:
        """The value, waiting until one is set.

        Args:
            timeout: seconds to wait at most (None: forever).

        Raises:
            TimeoutError: when no value was set within ``timeout``.
        """
        return self.client.sync(self._get, check_timeout(timeout))

    async def _get(self, timeout: float | None = None) -> Any:
        ext = self._ext
        reply = await self._request("get", lambda r: ext.release_keys([r.get("item") or {}]),
                                    timeout=timeout)
        if not reply["ok"]:
            raise TimeoutError(f"Variable {self.name!r} not set after {timeout} s")
        return decode(reply["item"], self.client)

    def delete(self) -> Any:
        """Delete the value (and let go of its future)."""
        return self.client.sync(self._delete)

    async def _delete(self) -> None:
        await self._request("delete")
