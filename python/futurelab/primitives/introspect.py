"""A snapshot of every coordination primitive in the cluster, for people and widgets.

The scheduler also pushes a ``"primitives"`` event, ``{"kind", "name", "state"}`` (``state`` is
the primitive's snapshot below, or None once it is gone), to clients subscribed to that topic each
time a primitive changes.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..client.client import Client


async def primitives_state(client: Client) -> dict[str, Any]:
    """Every primitive's state, by kind and name.

    Args:
        client: a connected Client.

    Returns:
        ``{"queues": {name: {"depth", "maxsize", "getters", "putters", "items", ...}},
        "variables": {name: {"value", "writer", "waiters", ...}},
        "locks": {name: {"locked", "holder", "held_since", "waiters", ...}},
        "semaphores": {name: {"max_leases", "leases", "holders", "waiters", ...}},
        "events": {name: {"is_set", "waiters", ...}},
        "pubsub": {name: {"subscribers", "published", ...}}}``; client ids name holders and
        waiters (a task's requests come from its worker's client).

    >>> # await primitives_state(client)
    >>> # {'locks': {'db': {'locked': True, 'holder': 'Client-…', ...}}, ...}
    """
    reply = await client._scheduler_request({"op": "primitives-state"})
    return dict(reply)
