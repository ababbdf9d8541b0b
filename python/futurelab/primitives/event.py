"""The client proxy of the event primitive: Event (see
:mod:`futurelab.scheduler.primitives.event` for its scheduler half and theory of operation).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._proxy import Proxy, check_timeout

if TYPE_CHECKING:
    from ..client.client import Client


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
