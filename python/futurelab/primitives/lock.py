"""The client proxy of the lock primitive: Lock (see
:mod:`futurelab.scheduler.primitives.lock` for its scheduler half and theory of operation).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from ._proxy import Proxy, check_timeout

if TYPE_CHECKING:
    from ..client.client import Client

_T = TypeVar("_T", bound="Lock")


class Lock(Proxy):
    """A cluster-wide lock with ``threading.Lock``'s API.

    Args:
        name: the lock's name; every Lock of that name, in any client or task, is the same
            lock. None makes a unique name (pass the object to tasks to share it).
        client: the Client to use (default: the current one, or the worker's inside a task).

    >>> # with Lock("the-production-database"):
    >>> #     ...  # only one holder cluster-wide
    >>> # async with Lock("x", client=async_client): ...
    """

    kind = "lock"

    def __init__(self, name: str | None = None, client: Client | None = None) -> None:
        super().__init__(name, client)

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> Any:
        """Acquire the lock, waiting up to ``timeout`` seconds (None or -1: forever).

        Args:
            blocking: False to try once without waiting.
            timeout: seconds to wait at most.

        Returns:
            True if acquired, False if not (timed out, or busy with ``blocking=False``).

        Raises:
            ValueError: for a timeout with ``blocking=False``, or a negative timeout.

        >>> # lock.acquire(timeout=5)
        >>> # True
        """
        if timeout == -1:
            timeout = None
        if not blocking:
            if timeout is not None:
                raise ValueError("can't specify a timeout for a non-blocking call")
            timeout = 0
        timeout = check_timeout(timeout)
        return self.client.sync(self._acquire, timeout)

    async def _acquire(self, timeout: float | None = None) -> bool:
        token = self._token

        def undo(reply: dict[str, Any]) -> None:  # granted after we gave up: let it go
            self._send("release", token=token)

        reply = await self._request("acquire", undo, token=token, timeout=timeout)
        return bool(reply["ok"])

    def release(self) -> Any:
        """Release the lock.

        Raises:
            RuntimeError: when this Lock object does not hold the lock.
        """
        return self.client.sync(self._release_coro)

    async def _release_coro(self) -> None:
        await self._request("release", token=self._token)

    def locked(self) -> Any:
        """True if the lock is held (by anyone).

        >>> # Lock("x").locked()
        >>> # False
        """
        return self.client.sync(self._locked)

    async def _locked(self) -> bool:
        return bool((await self._request("locked"))["locked"])

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
