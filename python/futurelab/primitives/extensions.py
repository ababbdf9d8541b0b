"""The scheduler halves of the coordination primitives, installed into every Scheduler."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..scheduler.server import Scheduler
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

    scheduler.add_handlers(handlers={"primitives-state": state})
