"""The transport interface: Comm and Listener, and connect/listen by address.

A :class:`Comm` is one bidirectional, message-oriented connection: ``write``
sends one message (anything :func:`futurelab.protocol.serialize.dumps`
accepts) and ``read`` returns the next one, in order. A :class:`Listener`
accepts comms and hands each to a callback in its own task.

Addresses look like ``"tcp://127.0.0.1:8786"`` or ``"inproc://1234/0"``;
the scheme picks the backend (:mod:`.tcp` or :mod:`.inproc`). Backends are
looked up lazily, so this module imports no transport.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from futurelab.security import Security

__all__ = [
    "Backend",
    "Comm",
    "HandleComm",
    "Listener",
    "connect",
    "listen",
    "parse_address",
    "register_backend",
    "unparse_address",
]

logger = logging.getLogger("futurelab.comm")

#: The callback a listener runs (in its own task) for every accepted comm.
HandleComm = Callable[["Comm"], Awaitable[None]]


class Comm(ABC):
    """One message-oriented connection to a peer.

    Messages are read in the order the peer wrote them. Once closed (by
    either end) ``read`` raises :class:`~futurelab.errors.CommClosedError`,
    after first returning messages that had already arrived if the peer was
    the one that closed.
    """

    #: This end's address, e.g. ``"tcp://127.0.0.1:50112"``.
    local_address: str
    #: The other end's address.
    peer_address: str

    @abstractmethod
    async def read(self) -> Any:
        """Return the next message.

        Raises:
            CommClosedError: the comm is closed, aborted or at EOF.
        """

    @abstractmethod
    async def write(self, msg: Any) -> int:
        """Send one message.

        Returns:
            The number of bytes put on the wire (0 for in-process comms).

        Raises:
            CommClosedError: the comm is closed.
            TypeError: the message cannot be serialized.
        """

    @abstractmethod
    async def close(self) -> None:
        """Flush pending writes, then close. Idempotent."""

    @abstractmethod
    def abort(self) -> None:
        """Close at once, dropping pending writes. Idempotent."""

    @abstractmethod
    def closed(self) -> bool:
        """True once either end has closed the comm (as far as this end knows)."""

    def abort_because(self, reason: str) -> None:
        """Close at once, saying why (e.g. the peer's host stopped answering)."""
        self.abort()

    def raw_socket(self) -> Any:
        """The OS socket under this comm, or None (in-process comms have none)."""
        return None

    def __repr__(self) -> str:
        state = "closed" if self.closed() else "open"
        return f"<{type(self).__name__} {self.local_address} -> {self.peer_address} ({state})>"


class Listener(ABC):
    """Accepts comms on an address; each is passed to ``handle_comm`` in its own task."""

    #: The bound address, with the real port if port 0 was asked for.
    address: str

    @abstractmethod
    async def start(self) -> None:
        """Start accepting connections (binds the address)."""

    @abstractmethod
    def stop(self) -> None:
        """Stop accepting; comms already accepted stay open."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.address}>"


class Backend(ABC):
    """A transport: how to connect to and listen on one address scheme."""

    @abstractmethod
    async def connect(self, address: str, timeout: float,
                      security: Security | None = None) -> Comm:
        """Open a comm to ``address`` (full address, with scheme)."""

    @abstractmethod
    def make_listener(self, address: str, handle_comm: HandleComm,
                      security: Security | None = None) -> Listener:
        """Create an unstarted listener for ``address`` (full address, with scheme)."""


_BACKENDS: dict[str, Backend] = {}
_BUILTIN = {"tcp": "futurelab.comm.tcp", "tls": "futurelab.comm.tcp",
            "inproc": "futurelab.comm.inproc"}


def register_backend(scheme: str, backend: Backend) -> None:
    """Make ``scheme://...`` addresses use ``backend``."""
    _BACKENDS[scheme] = backend


def _backend(scheme: str, address: str) -> Backend:
    if scheme not in _BACKENDS and scheme in _BUILTIN:
        importlib.import_module(_BUILTIN[scheme])  # registers itself on import
    try:
        return _BACKENDS[scheme]
    except KeyError:
        known = ", ".join(sorted(set(_BACKENDS) | set(_BUILTIN)))
        raise ValueError(
            f"Unknown scheme {scheme!r} in address {address!r} (known: {known})"
        ) from None


def parse_address(address: str) -> tuple[str, str]:
    """Split an address into scheme and location.

    Raises:
        ValueError: the address has no ``scheme://`` prefix.
        TypeError: the address is not a string.

    >>> parse_address("tcp://127.0.0.1:8786")
    ('tcp', '127.0.0.1:8786')
    """
    if not isinstance(address, str):
        raise TypeError(f"Address must be a string like 'tcp://host:port', got {address!r}")
    scheme, sep, loc = address.partition("://")
    if not sep or not scheme or not scheme.isidentifier():
        raise ValueError(
            f"Bad address {address!r}: expected 'scheme://location', e.g. 'tcp://127.0.0.1:8786'"
        )
    return scheme, loc


def unparse_address(scheme: str, loc: str) -> str:
    """Join scheme and location.

    >>> unparse_address("inproc", "42/0")
    'inproc://42/0'
    """
    return f"{scheme}://{loc}"


async def connect(address: str, timeout: float = 10.0, security: Security | None = None) -> Comm:
    """Open a comm to ``address``.

    Args:
        address: ``"tcp://host:port"`` or ``"inproc://name"``.
        timeout: seconds before giving up.

    Returns:
        The connected comm.

    Raises:
        ValueError: a malformed address or unknown scheme.
        OSError: the connection was refused or failed (the message names the address).
        TimeoutError: no connection within ``timeout`` seconds.

    >>> async def ping(addr):                          # doctest: +SKIP
    ...     comm = await connect(addr)
    ...     await comm.write({"op": "ping"})
    ...     return await comm.read()
    """
    scheme, _ = parse_address(address)
    return await _backend(scheme, address).connect(address, timeout, security)


async def listen(address: str, handle_comm: HandleComm,
                 security: Security | None = None) -> Listener:
    """Start a listener on ``address``; ``handle_comm`` runs for every accepted comm.

    Args:
        address: ``"tcp://host:port"`` (port 0 picks a free port; host
            defaults to 127.0.0.1), ``"inproc://"`` (unique name) or
            ``"inproc://name"``.
        handle_comm: coroutine function called with each accepted comm, in its
            own task. If it raises, the error is logged and that comm aborted.

    Returns:
        The started listener; ``listener.address`` is the bound address.

    >>> async def serve():                             # doctest: +SKIP
    ...     async def echo(comm):
    ...         await comm.write(await comm.read())
    ...     return await listen("tcp://127.0.0.1:0", echo)
    """
    scheme, _ = parse_address(address)
    listener = _backend(scheme, address).make_listener(address, handle_comm, security)
    await listener.start()
    return listener


def spawn_handler(handle_comm: HandleComm, comm: Comm, tasks: set[asyncio.Task[None]]) -> None:
    """Run ``handle_comm(comm)`` in a task kept alive in ``tasks`` (for backends)."""

    async def run() -> None:
        try:
            await handle_comm(comm)
        except asyncio.CancelledError:
            comm.abort()
            raise
        except Exception:
            logger.exception("Comm handler failed for %s; aborting that comm", comm.peer_address)
            comm.abort()

    task = asyncio.get_running_loop().create_task(run())
    tasks.add(task)
    task.add_done_callback(tasks.discard)
