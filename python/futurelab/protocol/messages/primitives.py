"""The coordination primitives: Queue, Variable, Lock, Semaphore, Event, Pub/Sub (pure).

Part of the wire vocabulary (see :mod:`futurelab.protocol.messages`).  Every op travels on the
client's ordered stream with a request id (``rid``) and is answered by ``primitive-reply``
(:class:`.tasks.PrimitiveReply`) with the same id.
"""
from __future__ import annotations

import sys
from typing import Any, Literal, TypedDict

from ..vocabulary import Channel, message
from .tasks import StreamRequest

if sys.version_info >= (3, 11):
    from typing import NotRequired
else:  # pragma: no cover - Python 3.10
    from typing_extensions import NotRequired

SCHEDULER, WORKER = Channel.SCHEDULER, Channel.WORKER
CLIENT_STREAM, TO_CLIENT = Channel.CLIENT_STREAM, Channel.TO_CLIENT
WORKER_STREAM, TO_WORKER = Channel.WORKER_STREAM, Channel.TO_WORKER


class Item(TypedDict, total=False):
    """A value held by a Queue, Variable or Pub/Sub: a future (by key) or msgpack data."""

    key: str
    data: bytes
    type: str
    repr: str


def check_max_leases(max_leases: Any) -> int:
    """Validate ``max_leases`` (the rule both the Semaphore proxy and the scheduler apply).

    Raises:
        TypeError: when it is not an integer.
        ValueError: when it is below 1.
    """
    if isinstance(max_leases, bool) or not isinstance(max_leases, int):
        raise TypeError(f"max_leases must be an integer, not {max_leases!r}")
    if max_leases < 1:
        raise ValueError(f"max_leases must be a positive integer, not {max_leases}")
    return max_leases


# ---------------------------------------------------------------------- the ops
class _Primitive(StreamRequest):
    """Every primitive op names its primitive; a blocking one may carry a timeout (s)."""

    name: str
    timeout: NotRequired[float | None]


def _primitive(cls: type) -> type:
    return message(CLIENT_STREAM)(cls)


@_primitive
class QueueCreate(_Primitive):
    """Create queue ``name`` with ``maxsize`` (0: unbounded), if new."""

    op: Literal["queue-create"]
    maxsize: NotRequired[int | None]


@_primitive
class QueuePut(_Primitive):
    """Put an item; waits while the queue is full."""

    op: Literal["queue-put"]
    item: Item
    maxsize: NotRequired[int | None]


@_primitive
class QueueGet(_Primitive):
    """Take ``n`` items (None: all there are); waits while empty (reply: ok, items)."""

    op: Literal["queue-get"]
    n: NotRequired[int | None]
    maxsize: NotRequired[int | None]


@_primitive
class QueueQsize(_Primitive):
    """How many items the queue holds (reply: qsize)."""

    op: Literal["queue-qsize"]


@_primitive
class QueueCancel(_Primitive):
    """The caller gave up request ``cancel`` (a parked put or get)."""

    op: Literal["queue-cancel"]
    cancel: int


@_primitive
class VariableSet(_Primitive):
    """Set the variable's value."""

    op: Literal["variable-set"]
    item: Item


@_primitive
class VariableGet(_Primitive):
    """The value; waits until there is one (reply: ok, item)."""

    op: Literal["variable-get"]


@_primitive
class VariableDelete(_Primitive):
    """Delete the variable."""

    op: Literal["variable-delete"]


@_primitive
class VariableCancel(_Primitive):
    """The caller gave up request ``cancel``."""

    op: Literal["variable-cancel"]
    cancel: int


@_primitive
class LockAcquire(_Primitive):
    """Acquire for holder ``token``; waits while held (reply: ok)."""

    op: Literal["lock-acquire"]
    token: str


@_primitive
class LockRelease(_Primitive):
    """Release ``token``'s hold."""

    op: Literal["lock-release"]
    token: str


@_primitive
class LockLocked(_Primitive):
    """Whether the lock is held (reply: locked)."""

    op: Literal["lock-locked"]


@_primitive
class LockCancel(_Primitive):
    """The caller gave up request ``cancel``."""

    op: Literal["lock-cancel"]
    cancel: int


@_primitive
class SemaphoreCreate(_Primitive):
    """Create semaphore ``name`` with ``max_leases``, if new."""

    op: Literal["semaphore-create"]
    max_leases: NotRequired[int]


@_primitive
class SemaphoreAcquire(_Primitive):
    """Take a lease for holder ``token``; waits while none is free (reply: ok)."""

    op: Literal["semaphore-acquire"]
    token: str
    max_leases: NotRequired[int]


@_primitive
class SemaphoreRelease(_Primitive):
    """Return ``token``'s lease."""

    op: Literal["semaphore-release"]
    token: str


@_primitive
class SemaphoreGetValue(_Primitive):
    """Leases taken now (reply: value)."""

    op: Literal["semaphore-get_value"]


@_primitive
class SemaphoreClose(_Primitive):
    """Close the semaphore: its leases are dropped."""

    op: Literal["semaphore-close"]


@_primitive
class SemaphoreCancel(_Primitive):
    """The caller gave up request ``cancel``."""

    op: Literal["semaphore-cancel"]
    cancel: int


@_primitive
class EventSet(_Primitive):
    """Set the flag: every waiter wakes."""

    op: Literal["event-set"]


@_primitive
class EventClear(_Primitive):
    """Clear the flag."""

    op: Literal["event-clear"]


@_primitive
class EventWait(_Primitive):
    """Wait until the flag is set (reply: ok, False at the timeout)."""

    op: Literal["event-wait"]


@_primitive
class EventIsSet(_Primitive):
    """Whether the flag is set (reply: is_set)."""

    op: Literal["event-is_set"]


@_primitive
class EventCancel(_Primitive):
    """The caller gave up request ``cancel``."""

    op: Literal["event-cancel"]
    cancel: int


@_primitive
class PubSubSubscribe(_Primitive):
    """Deliver what is published on ``name`` to subscription ``sub`` of this client."""

    op: Literal["pubsub-subscribe"]
    sub: str


@_primitive
class PubSubUnsubscribe(_Primitive):
    """End subscription ``sub``."""

    op: Literal["pubsub-unsubscribe"]
    sub: str


@_primitive
class PubSubPut(_Primitive):
    """Publish an item to every subscriber of ``name``."""

    op: Literal["pubsub-put"]
    item: Item


@_primitive
class PubSubCancel(_Primitive):
    """The caller gave up request ``cancel``."""

    op: Literal["pubsub-cancel"]
    cancel: int


@message(TO_CLIENT)
class PubSubMessage(TypedDict):
    """An item published on ``name``, for this client's subscriptions ``subs``."""

    op: Literal["pubsub-msg"]
    name: str
    subs: list[str]
    item: Item
