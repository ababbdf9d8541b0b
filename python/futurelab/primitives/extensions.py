"""The scheduler halves of the coordination primitives, installed into every Scheduler."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..scheduler.server import Scheduler


def install(scheduler: Scheduler) -> None:
    """Register every primitive's scheduler extension on ``scheduler``."""
