"""The coordination primitives' scheduler halves: one pure state and one extension per kind.

Each ``<kind>.py`` here holds the pure ``<Kind>State`` (no I/O; tested alone) and the scheduler
extension that turns its declared messages (:mod:`futurelab.protocol.messages.primitives`) into
calls on it; ``_shell`` is the extension base they share, ``_base`` their effects and pins.  The
client proxies (``Queue``, ``Lock``, …) live apart, in :mod:`futurelab.primitives`, and the two
halves share only the wire vocabulary.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..server import Scheduler
    from ._shell import PrimitiveExtension


def install(scheduler: Scheduler) -> None:
    """Register every primitive's scheduler extension on ``scheduler``.

    Each extension adds its ``<kind>-<verb>`` client-stream ops and a client-removed hook; this
    also adds the ``primitives-state`` request that :func:`.introspect.primitives_state` uses.

    >>> # install(Scheduler())  # done by Scheduler.__init__
    """
    from .event import EventExtension
    from .lock import LockExtension
    from .pubsub import PubSubExtension
    from .queue import QueueExtension
    from .semaphore import SemaphoreExtension
    from .variable import VariableExtension

    exts: list[PrimitiveExtension] = [
        cls(scheduler) for cls in (QueueExtension, VariableExtension, LockExtension,
                                   SemaphoreExtension, EventExtension, PubSubExtension)]

    def state(msg: dict[str, Any], comm: Any) -> dict[str, Any]:
        return {ext.plural: ext.snapshot() for ext in exts}

    from .. import events as ev

    def release_transit(client: str, msg: dict[str, Any]) -> None:
        keys = [k for k in msg.get("keys", ()) if isinstance(k, str)]
        scheduler.stimulus(ev.ClientReleasesKeys(transit_holder(client), keys,
                                                 stimulus_id="release-transit"))

    def drop_transit(client: str) -> None:
        if not client.startswith("transit-"):
            scheduler.stimulus(ev.RemoveClient(transit_holder(client), stimulus_id="transit"))

    from ...protocol import messages as m
    scheduler.add_handlers(handlers={m.PrimitivesState: state},
                           client_stream={m.ReleaseTransit: release_transit})
    scheduler.on_client_removed.append(drop_transit)


def transit_holder(client: str) -> str:
    """The pseudo-client pinning futures handed to ``client`` until it has registered them.

    A future taken from a Queue (or read from a Variable) stays pinned by this holder until the
    receiving client's own claim, sent on its ordered stream, has arrived — so a release of an
    earlier Future of the same key, already on its way, cannot make the task vanish meanwhile.
    """
    return f"transit-{client}"
