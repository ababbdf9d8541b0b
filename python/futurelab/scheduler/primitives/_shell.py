"""The scheduler half shared by every primitive: wire messages in, pure state through, effects out.

Theory of operation
-------------------
Primitive operations arrive on the client's ordered batched stream (not on pooled request
connections) so that they are applied in the order the client sent them: a future submitted and
then put in a queue is known to the scheduler when the put arrives, and a publisher's messages are
delivered in publish order.  A request carries ``rid``, a per-client request id; its answer is
pushed back on the same stream as ``{"op": "primitive-reply", "rid": ...}``.

For each op ``<kind>-<verb>`` the extension parses the message, calls the pure state and carries
out the returned :class:`~._base.Effects`.  A parked request with a ``timeout`` gets a timer that
cancels it; ``<kind>-cancel`` cancels it on the caller's behalf; a lost client connection drops
its waiters and releases what it held (locks, leases, subscriptions).  Any error in an op becomes
an error reply to that one caller: the client's stream, the primitive and the scheduler go on.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from ..._waiters import WaiterId
from .. import events as ev
from . import transit_holder
from ._base import Effects, Pins, PrimitiveState

if TYPE_CHECKING:
    from ..server import Scheduler

logger = logging.getLogger("futurelab.primitives")

#: exception types whose name travels back to the caller and is raised there as-is
ERROR_TYPES = ("ValueError", "TypeError", "RuntimeError", "TimeoutError", "KeyError")

Op = Callable[[str, int | None, dict[str, Any], str], Effects]


class PrimitiveExtension:
    """Base of each primitive's scheduler extension: states by name, timers, pins, events.

    Subclasses set :attr:`kind` and :attr:`cancel_message` and return their ops, keyed by their
    declared messages, from :meth:`ops`; each op is called as
    ``op(client, rid, msg, name)`` and returns Effects.
    """

    #: the primitive's kind, the prefix of its ops ("lock" → "lock-acquire")
    kind: ClassVar[str] = ""
    #: the key of this kind in :func:`~futurelab.primitives.introspect.primitives_state`
    plural: ClassVar[str] = ""
    #: the message a caller sends when it gives up a parked request of this kind
    cancel_message: ClassVar[type]

    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler
        self.states: dict[str, Any] = {}
        self.pins = Pins()
        #: parked requests → the name of the primitive they wait on
        self.waiting: dict[WaiterId, str] = {}
        self.timers: dict[WaiterId, asyncio.TimerHandle] = {}
        ops = {cls: self._wrap(fn) for cls, fn in self.ops().items()}
        ops[self.cancel_message] = self._wrap(self._cancel)
        scheduler.add_handlers(client_stream=ops)
        scheduler.on_client_removed.append(self.remove_client)
        scheduler.extensions[self.kind] = self

    def ops(self) -> dict[type, Op]:
        """``{message class: op}`` for this kind's messages (override)."""
        return {}

    # ------------------------------------------------------------------ helpers for ops
    @staticmethod
    def now() -> float:
        """Wall-clock seconds, for "held since" in snapshots."""
        return time.time()

    @staticmethod
    def blocking(msg: dict[str, Any]) -> bool:
        """Whether the request may wait: no timeout, or a positive one."""
        timeout = msg.get("timeout")
        return timeout is None or (isinstance(timeout, (int, float)) and timeout > 0)

    @staticmethod
    def answer(client: str, rid: int | None, **payload: Any) -> Effects:
        """Effects replying ``ok=True`` and ``payload`` to a request (if it asked for a reply)."""
        e = Effects()
        if rid is not None:
            e.reply(client, rid, ok=True, **payload)
        return e

    def holder(self, name: str) -> str:
        """The pseudo-client that pins the futures this primitive holds."""
        return f"{self.kind}-{name}"

    def check_known(self, key: str | None) -> None:
        """Raise ValueError when ``key`` is not a task the scheduler knows."""
        if key is not None and key not in self.scheduler.state.tasks:
            raise ValueError(f"the future {key!r} is not known to the scheduler "
                             "(was it released or cancelled?)")

    # ------------------------------------------------------------------ dispatch
    def _wrap(self, op: Op) -> Callable[[str, dict[str, Any]], None]:
        def handle(client: str, msg: dict[str, Any]) -> None:
            rid = msg.get("rid")
            if not isinstance(rid, int) or isinstance(rid, bool):
                rid = None
            name = msg.get("name")
            try:
                if not isinstance(name, str) or not name:
                    raise TypeError(f"a {self.kind} name must be a non-empty string, "
                                    f"not {name!r}")
                timeout = msg.get("timeout")
                if timeout is not None and not isinstance(timeout, (int, float)):
                    raise TypeError(f"timeout must be a number or None, not {timeout!r}")
                effects = op(client, rid, msg, name)
            except Exception as e:  # noqa: BLE001 - bad input answers its caller, nothing more
                if rid is not None:
                    etype = type(e).__name__ if type(e).__name__ in ERROR_TYPES else "RuntimeError"
                    self.scheduler.send_to_client(client, {
                        "op": "primitive-reply", "rid": rid, "error": str(e), "etype": etype})
                else:
                    logger.warning("%s from %s failed: %s", msg.get("op"), client, e)
                return
            self.apply(name, effects)
            if effects.parked and rid is not None:
                wid = (client, rid)
                self.waiting[wid] = name
                timeout = msg.get("timeout")
                if timeout is not None:
                    loop = asyncio.get_running_loop()
                    self.timers[wid] = loop.call_later(max(0.0, float(timeout)),
                                                       self._expire, wid)
        return handle

    def apply(self, name: str, effects: Effects) -> None:
        """Carry out ``effects`` of primitive ``name``: pins, gives, unpins, then messages."""
        sched = self.scheduler
        holder = self.holder(name)
        for key in effects.pin:
            if self.pins.pin(holder, key):
                sched.stimulus(ev.ClientDesiresKeys(holder, [key], stimulus_id=holder))
        for client, key in effects.give:
            if client in sched.client_streams:
                # the transit pin outlives a stale release; the client's own claim brings
                # it the key's status now
                sched.stimulus(ev.ClientDesiresKeys(transit_holder(client), [key],
                                                    stimulus_id=holder))
                sched.stimulus(ev.ClientDesiresKeys(client, [key], stimulus_id=holder))
        for key in effects.unpin:
            if self.pins.unpin(holder, key):
                sched.stimulus(ev.ClientReleasesKeys(holder, [key], stimulus_id=holder))
        for client, rid, payload in effects.replies:
            wid = (client, rid)
            self.waiting.pop(wid, None)
            timer = self.timers.pop(wid, None)
            if timer is not None:
                timer.cancel()
            sched.send_to_client(client, {"op": "primitive-reply", "rid": rid, **payload})
        for client, msg in effects.sends:
            sched.send_to_client(client, msg)
        state = self.states.get(name)
        if state is not None and state.idle():
            del self.states[name]
        if effects.changed:
            self.emit(name)

    def emit(self, name: str) -> None:
        """Send the "primitives" change event for ``name`` (only computed when subscribed)."""
        if not self.scheduler.event_subscribers.get("primitives"):
            return
        state = self.states.get(name)
        self.scheduler.emit_event("primitives", {
            "kind": self.kind, "name": name,
            "state": state.snapshot() if state is not None else None})

    # ------------------------------------------------------------------ waiting ends
    def _cancel(self, client: str, rid: int | None, msg: dict[str, Any], name: str) -> Effects:
        """``<kind>-cancel``: the caller gave up on request ``msg["cancel"]``."""
        target = msg.get("cancel")
        wid = (client, target)
        if isinstance(target, int) and wid in self.waiting:
            return self._cancel_waiter(wid)
        return Effects()  # already answered: the reply is on its way

    def _cancel_waiter(self, wid: WaiterId) -> Effects:
        name = self.waiting.pop(wid, None)
        timer = self.timers.pop(wid, None)
        if timer is not None:
            timer.cancel()
        state: PrimitiveState | None = self.states.get(name) if name is not None else None
        if state is None:
            return Effects().timeout(wid)
        return state.cancel(wid)

    def _expire(self, wid: WaiterId) -> None:
        self.timers.pop(wid, None)
        name = self.waiting.get(wid)
        if name is None:
            return
        try:
            effects = self._cancel_waiter(wid)
        except Exception:
            logger.exception("%s: expiring %s failed", self.kind, wid)
            return
        self.apply(name, effects)

    def remove_client(self, client: str) -> None:
        """The client's connection is gone: drop its waiters, release what it held."""
        for wid in [w for w in self.timers if w[0] == client]:
            self.timers.pop(wid).cancel()
        for wid in [w for w in self.waiting if w[0] == client]:
            del self.waiting[wid]
        for name, state in list(self.states.items()):
            try:
                effects = state.remove_client(client, self.now())
            except Exception:
                logger.exception("%s %r: removing client %s failed", self.kind, name, client)
                continue
            if effects.changed or effects.replies or effects.sends or effects.unpin:
                self.apply(name, effects)

    # ------------------------------------------------------------------ introspection
    def snapshot(self) -> dict[str, Any]:
        """Every primitive of this kind: ``{name: snapshot}``."""
        return {name: state.snapshot() for name, state in self.states.items()}
