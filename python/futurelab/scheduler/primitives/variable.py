"""Variable: one cluster-wide value (a future or small data) — pure state and scheduler handlers.

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

from ..._waiters import Waiter, WaiterId, Waiters
from ...protocol import messages as m
from ._base import Effects, Item, check_item, item_summary
from ._shell import Op, PrimitiveExtension

if TYPE_CHECKING:
    pass


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
