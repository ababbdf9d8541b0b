"""The client proxy of the semaphore primitive: Semaphore (see
:mod:`futurelab.scheduler.primitives.semaphore` for its scheduler half and theory of operation).
"""
from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, TypeVar

from ..protocol.messages.primitives import check_max_leases
from ._proxy import Proxy, check_timeout

if TYPE_CHECKING:
    from ..client.client import Client

_T = TypeVar("_T", bound="Semaphore")


class Semaphore(Proxy):
    """A cluster-wide semaphore: at most ``max_leases`` holders at once.

    Args:
        max_leases: how many holders at most (a positive integer; the first creation of a name
            fixes it).
        name: the semaphore's name (None: a unique one; pass the object to tasks to share it).
        client: the Client to use (default: the current one, or the worker's inside a task).

    Raises:
        ValueError: when ``max_leases`` is below 1.

    >>> # sem = Semaphore(max_leases=2, name="database")
    >>> # def access_limited(val, sem):
    >>> #     with sem:
    >>> #         ...  # at most 2 tasks here at once
    >>> # client.gather(client.map(access_limited, range(10), sem=sem)); sem.close()
    """

    kind = "semaphore"

    def __init__(self, max_leases: int = 1, name: str | None = None,
                 client: Client | None = None) -> None:
        self.max_leases = check_max_leases(max_leases)
        super().__init__(name, client)
        self._closed = False
        if self._client is not None:  # else created on first use
            self._send("create", max_leases=self.max_leases)

    def _pickle_args(self) -> tuple[Any, ...]:
        return (self.name, self.max_leases)

    def _restore(self, name: str, *args: Any) -> None:
        super()._restore(name)
        self.max_leases = int(args[0])
        self._closed = False

    def acquire(self, timeout: float | None = None) -> Any:
        """Take a lease, waiting up to ``timeout`` seconds (None: forever).

        Returns:
            True if a lease was acquired, False if ``timeout`` passed first.

        Raises:
            RuntimeError: when the semaphore was closed.
        """
        return self.client.sync(self._acquire, check_timeout(timeout))

    async def _acquire(self, timeout: float | None = None) -> bool:
        if self._closed:
            raise RuntimeError(f"Semaphore {self.name!r} is closed")
        token = self._token

        def undo(reply: dict[str, Any]) -> None:  # granted after we gave up: give it back
            self._send("release", token=token)

        reply = await self._request("acquire", undo, token=token, timeout=timeout,
                                    max_leases=self.max_leases)
        if reply.get("max_leases", self.max_leases) != self.max_leases:
            warnings.warn(f"Semaphore {self.name!r} exists with max_leases="
                          f"{reply['max_leases']}; this object asked for {self.max_leases}",
                          RuntimeWarning, stacklevel=2)
            self.max_leases = int(reply["max_leases"])
        return bool(reply["ok"])

    def release(self) -> Any:
        """Return a lease this object holds.

        Raises:
            RuntimeError: when this Semaphore object holds no lease.
        """
        return self.client.sync(self._release_coro)

    async def _release_coro(self) -> None:
        await self._request("release", token=self._token)

    def get_value(self) -> Any:
        """How many leases are held right now (by anyone)."""
        return self.client.sync(self._get_value)

    async def _get_value(self) -> int:
        return int((await self._request("get_value"))["value"])

    def close(self) -> Any:
        """Remove the semaphore from the cluster (its waiters get an error)."""
        return self.client.sync(self._close)

    async def _close(self) -> None:
        self._closed = True
        await self._request("close")

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
