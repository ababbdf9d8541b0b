"""In-process transport: messages passed as Python objects, never serialised.

Theory of operation
-------------------
A connection is two :class:`InProc` ends, each bound to the event loop it
was created on. ``write`` hands the message object to the peer's inbox: a
direct append when both ends share the loop, otherwise via
``loop.call_soon_threadsafe`` on the peer's loop, so ends may live in
different threads. Close notices travel the same way, after any messages
already sent, so the peer reads those first and then gets
``CommClosedError``.

Messages are delivered by reference: an :class:`~futurelab.protocol.Opaque`
arrives as the very same object (never pickled), and tuples stay tuples.
Senders must not mutate a message after writing it.

Listeners live in a process-wide registry keyed by name; ``inproc://``
picks a unique name ``<pid>/<n>``.
"""

from __future__ import annotations

import asyncio
import collections
import errno
import itertools
import os
import threading
from typing import Any

from futurelab.comm.base import (
    Backend,
    Comm,
    HandleComm,
    Listener,
    parse_address,
    register_backend,
    spawn_handler,
    unparse_address,
)
from futurelab.errors import CommClosedError

__all__ = ["InProc", "InProcBackend", "InProcListener"]

_registry: dict[str, InProcListener] = {}
_registry_lock = threading.Lock()
_counter = itertools.count()


def _unique_address() -> str:
    return unparse_address("inproc", f"{os.getpid()}/{next(_counter)}")


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class InProc(Comm):
    """One end of an in-process connection."""

    def __init__(
        self, local_address: str, peer_address: str, loop: asyncio.AbstractEventLoop
    ) -> None:
        self.local_address = local_address
        self.peer_address = peer_address
        self._loop = loop
        self._peer: InProc | None = None
        self._inbox: collections.deque[Any] = collections.deque()
        self._read_waiters: list[asyncio.Future[None]] = []
        #: Set (from any thread) when this end closes; the peer checks it on write.
        self._closed_locally = False
        self._exc: CommClosedError | None = None

    # -- delivery (always runs on self._loop) ------------------------------

    def _put(self, msg: Any) -> None:
        if self._closed_locally:
            return
        self._inbox.append(msg)
        self._wake_readers()

    def _peer_closed(self) -> None:
        if self._exc is None:
            self._exc = CommClosedError(f"inproc comm to {self.peer_address}: closed by peer")
        self._wake_readers()

    def _wake_readers(self) -> None:
        waiters, self._read_waiters = self._read_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _call_on_loop(self, func: Any, *args: Any) -> bool:
        """Run ``func(*args)`` on this end's loop; False if that loop is gone."""
        if _running_loop() is self._loop:
            func(*args)
            return True
        try:
            self._loop.call_soon_threadsafe(func, *args)
        except RuntimeError:  # the loop is closed
            return False
        return True

    # -- Comm API ---------------------------------------------------------

    async def read(self) -> Any:
        """Return the next message; raises CommClosedError once closed and drained."""
        while not self._inbox:
            if self._exc is not None:
                raise CommClosedError(*self._exc.args)
            waiter = asyncio.get_running_loop().create_future()
            self._read_waiters.append(waiter)
            await waiter
        return self._inbox.popleft()

    async def write(self, msg: Any) -> int:
        """Hand ``msg`` (by reference) to the peer; returns 0."""
        return self.write_nowait(msg)

    def write_nowait(self, msg: Any) -> int:
        """:meth:`write` without the coroutine: in process there is nothing to wait for.

        Raises:
            CommClosedError: when either end is closed.
        """
        peer = self._peer
        if self._exc is not None:
            raise CommClosedError(*self._exc.args)
        if peer is None or peer._closed_locally or not peer._call_on_loop(peer._put, msg):
            raise CommClosedError(f"inproc comm to {self.peer_address}: closed by peer")
        return 0

    async def close(self) -> None:
        """Close both directions (nothing to flush in process)."""
        self.abort()

    def abort(self) -> None:
        """Close at once; the peer's reads raise after draining what was sent."""
        if self._closed_locally:
            return
        self._closed_locally = True
        self._exc = self._exc or CommClosedError(
            f"inproc comm to {self.peer_address}: closed locally"
        )
        self._inbox.clear()
        if _running_loop() is self._loop:
            self._wake_readers()
        else:
            self._call_on_loop(self._wake_readers)
        if self._peer is not None:
            self._peer._call_on_loop(self._peer._peer_closed)

    def closed(self) -> bool:
        """True once either end has closed."""
        peer = self._peer
        return (
            self._closed_locally
            or self._exc is not None
            or (peer is not None and peer._closed_locally)
        )


class InProcListener(Listener):
    """Accepts in-process connections on ``inproc://name``."""

    def __init__(self, address: str, handle_comm: HandleComm) -> None:
        _, name = parse_address(address)
        self.address = unparse_address("inproc", name) if name else _unique_address()
        self._handle_comm = handle_comm
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Register the name; fails with EADDRINUSE if it is taken."""
        self._loop = asyncio.get_running_loop()
        with _registry_lock:
            if self.address in _registry:
                raise OSError(errno.EADDRINUSE, f"inproc address {self.address} is already in use")
            _registry[self.address] = self

    def stop(self) -> None:
        """Unregister the name; accepted comms stay open."""
        with _registry_lock:
            if _registry.get(self.address) is self:
                del _registry[self.address]

    def _accept(self, server_end: InProc) -> None:
        spawn_handler(self._handle_comm, server_end, self._tasks)


class InProcBackend(Backend):
    """The ``inproc://`` backend."""

    async def connect(self, address: str, timeout: float, security: Any = None) -> Comm:
        scheme, name = parse_address(address)
        address = unparse_address(scheme, name)
        with _registry_lock:
            listener = _registry.get(address)
        if listener is None or listener._loop is None or listener._loop.is_closed():
            raise ConnectionRefusedError(
                errno.ECONNREFUSED, f"Could not connect to {address}: no inproc listener"
            )
        client_address = _unique_address()
        client = InProc(client_address, address, asyncio.get_running_loop())
        server = InProc(address, client_address, listener._loop)
        client._peer, server._peer = server, client
        try:
            if _running_loop() is listener._loop:
                listener._accept(server)
            else:
                listener._loop.call_soon_threadsafe(listener._accept, server)
        except RuntimeError:
            raise ConnectionRefusedError(
                errno.ECONNREFUSED,
                f"Could not connect to {address}: listener's event loop is closed",
            ) from None
        return client

    def make_listener(self, address: str, handle_comm: HandleComm,
                      security: Any = None) -> Listener:
        return InProcListener(address, handle_comm)


register_backend("inproc", InProcBackend())
