"""TCP transport: asyncio.BufferedProtocol + FrameDecoder.

Theory of operation
-------------------
Reading: the event loop asks :class:`_Protocol` for a buffer
(``get_buffer``) and the decoder answers with either a scratch buffer or the
unfilled rest of the large frame being received, so big payloads are read by
the kernel straight into their final ``bytearray``. Complete messages are
decoded (``loads``) inside the protocol and appended to the comm's inbox;
``read`` pops from it. If the inbox grows past :data:`READ_HIGH_WATER`
messages the transport stops reading until ``read`` catches up.

A frame or message that does not decode aborts that one connection with one
warning on the ``futurelab.comm`` logger; the reader then sees
``CommClosedError``.

Writing: ``write`` frames the message with ``pack_frames(dumps(msg))``. Small
messages go out in one ``transport.writelines`` call. Frames of
:data:`CHUNK_BYTES` or more are written in chunks, waiting for the transport
to drain between chunks, so the transport's buffer never holds a copy of a
whole large payload; a lock keeps concurrent writers' messages whole.
"""

from __future__ import annotations

import asyncio
import collections
import socket
from typing import Any, cast

from futurelab.comm import liveness
from futurelab.comm.base import (
    Backend,
    Comm,
    HandleComm,
    Listener,
    logger,
    parse_address,
    register_backend,
    spawn_handler,
)
from futurelab.comm.handshake import (
    CONFIRM_SIZE,
    HELLO_SIZE,
    PROOF_SIZE,
    AuthenticationError,
    ClientHandshake,
    ServerHandshake,
)
from futurelab.errors import CommClosedError, FrameTooLargeError, ProtocolError
from futurelab.protocol.frames import FrameDecoder, pack_frames
from futurelab.protocol.serialize import dumps, loads
from futurelab.security import Security, check_bind

__all__ = ["TCP", "TCPBackend", "TCPListener", "parse_host_port"]

#: Frames at least this long are written in chunks of this size.
CHUNK_BYTES = 1 << 20
#: Stop reading from the socket when this many decoded messages are unread.
READ_HIGH_WATER = 10_000
DEFAULT_HOST = "127.0.0.1"
#: seconds an accepted connection has to complete its handshake
HANDSHAKE_TIMEOUT = 5.0
#: accepted connections still in their handshake, per listener, beyond which new ones drop
MAX_PENDING_HANDSHAKES = 256


def parse_host_port(loc: str, *, default_port: int | None = None) -> tuple[str, int]:
    """Split ``"host:port"`` (or ``"[v6]:port"``) into host and port.

    An empty host means 127.0.0.1. Without a port, ``default_port`` is used
    or ValueError raised.

    >>> parse_host_port("[::1]:8786")
    ('::1', 8786)
    """
    if loc.startswith("["):
        host, sep, rest = loc[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"Bad TCP location {loc!r}: expected '[ipv6]:port'")
        port_text = rest[1:]
    else:
        host, _, port_text = loc.rpartition(":") if ":" in loc else (loc, "", "")
    host = host or DEFAULT_HOST
    if not port_text:
        if default_port is None:
            raise ValueError(f"Bad TCP location {loc!r}: missing port, expected 'host:port'")
        return host, default_port
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"Bad TCP location {loc!r}: port {port_text!r} is not a number") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"Bad TCP location {loc!r}: port out of range")
    return host, port


def _format_address(sockname: Any) -> str:
    host, port = sockname[0], sockname[1]
    return f"tcp://[{host}]:{port}" if ":" in host else f"tcp://{host}:{port}"


class TCP(Comm):
    """A comm over one TCP connection (created by :class:`_Protocol`)."""

    def __init__(self, transport: asyncio.Transport, protocol: _Protocol) -> None:
        self._transport = transport
        self._protocol = protocol
        self.local_address = _format_address(transport.get_extra_info("sockname"))
        self.peer_address = _format_address(transport.get_extra_info("peername"))
        self._inbox: collections.deque[Any] = collections.deque()
        self._read_waiters: list[asyncio.Future[None]] = []
        self._exc: CommClosedError | None = None
        self._write_lock = asyncio.Lock()
        self._reading_paused = False
        self._closed_locally = False

    # -- called by the protocol -------------------------------------------

    def _deliver(self, msgs: list[Any]) -> None:
        if self._closed_locally:
            return
        self._inbox.extend(msgs)
        self._wake_readers()
        if len(self._inbox) >= READ_HIGH_WATER and not self._reading_paused:
            self._reading_paused = True
            self._transport.pause_reading()

    def _set_closed(self, reason: str, local: bool) -> None:
        if self._exc is None:
            self._exc = CommClosedError(f"TCP comm to {self.peer_address}: {reason}")
        if local:
            self._closed_locally = True
            self._inbox.clear()
        self._wake_readers()

    def _error(self) -> CommClosedError:
        return (
            CommClosedError(*self._exc.args)
            if self._exc is not None
            else CommClosedError(self.peer_address)
        )

    def _wake_readers(self) -> None:
        waiters, self._read_waiters = self._read_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    # -- Comm API ---------------------------------------------------------

    async def read(self) -> Any:
        """Return the next message; raises CommClosedError once closed and drained."""
        while not self._inbox:
            if self._exc is not None:
                raise self._error()
            waiter = asyncio.get_running_loop().create_future()
            self._read_waiters.append(waiter)
            await waiter
        msg = self._inbox.popleft()
        if self._reading_paused and len(self._inbox) < READ_HIGH_WATER // 2:
            self._reading_paused = False
            if not self._transport.is_closing():
                self._transport.resume_reading()
        return msg

    async def write(self, msg: Any) -> int:
        """Send one message; returns the bytes written (header included)."""
        if self._exc is not None:
            raise self._error()
        packed = pack_frames(dumps(msg))
        nbytes = sum(f.nbytes if isinstance(f, memoryview) else len(f) for f in packed)
        if nbytes < CHUNK_BYTES and not self._write_lock.locked():
            self._transport.writelines(packed)
            await self._protocol.drain(self)
            return nbytes
        async with self._write_lock:
            if self._exc is not None:
                raise self._error()
            try:
                await self._write_chunked(packed)
            except BaseException:
                # Part of a message may be on the wire: the stream cannot recover.
                self.abort()
                raise
        return nbytes

    async def _write_chunked(self, packed: list[bytes | memoryview]) -> None:
        small: list[bytes | memoryview] = []
        for frame in packed:
            size = frame.nbytes if isinstance(frame, memoryview) else len(frame)
            if size < CHUNK_BYTES:
                small.append(frame)
                continue
            if small:
                self._transport.writelines(small)
                small = []
            view = memoryview(frame)
            for start in range(0, size, CHUNK_BYTES):
                self._transport.write(view[start : start + CHUNK_BYTES])
                await self._protocol.drain(self)
        if small:
            self._transport.writelines(small)
        await self._protocol.drain(self)

    async def close(self) -> None:
        """Let an in-progress large write finish, flush, then close the connection."""
        if not self._closed_locally and self._write_lock.locked():
            try:
                await asyncio.wait_for(self._write_lock.acquire(), 10)
            except TimeoutError:
                pass
            else:
                self._write_lock.release()
        self._set_closed("closed locally", local=True)
        self._transport.close()  # flushes the write buffer first
        try:
            await asyncio.wait_for(asyncio.shield(self._protocol.lost), 10)
        except TimeoutError:
            self._transport.abort()

    def abort(self) -> None:
        """Drop the connection at once."""
        self.abort_because("aborted locally")

    def abort_because(self, reason: str) -> None:
        """Drop the connection at once; readers and writers see ``reason``."""
        self._set_closed(reason, local=True)
        self._transport.abort()

    def raw_socket(self) -> Any:
        """The socket under this comm (for the kernel's liveness view), or None."""
        return self._transport.get_extra_info("socket")

    def closed(self) -> bool:
        """True once either end closed the connection."""
        return self._exc is not None


class _Protocol(asyncio.BufferedProtocol):
    """Runs the handshake, then feeds bytes to a FrameDecoder and messages to a :class:`TCP`.

    During the handshake the transport is handed a buffer of exactly the bytes still expected,
    so nothing beyond the handshake is read — or decoded — before the peer is authenticated.
    """

    def __init__(self, on_comm: Any = None, *, server: ServerHandshake | None = None,
                 client: ClientHandshake | None = None, listener: TCPListener | None = None,
                 ) -> None:
        self._on_comm = on_comm
        self._decoder = FrameDecoder()
        self.comm: TCP | None = None
        loop = asyncio.get_running_loop()
        self.lost: asyncio.Future[None] = loop.create_future()
        #: resolves once the handshake is done (the client side awaits it in connect)
        self.ready: asyncio.Future[TCP] = loop.create_future()
        self._paused = False
        self._drain_waiters: list[asyncio.Future[None]] = []
        self._server = server
        self._client = client
        self._listener = listener
        self._transport: asyncio.Transport | None = None
        self._hs_buf = bytearray()
        self._hs_got = 0
        self._hs_timer: asyncio.TimerHandle | None = None

    def _expect(self, nbytes: int) -> None:
        self._hs_buf = bytearray(nbytes)
        self._hs_got = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports have the Transport methods without subclassing asyncio.Transport
        self._transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            liveness.configure(sock)
        if self._server is not None:
            listener = self._listener
            if listener is not None:
                if listener.pending >= MAX_PENDING_HANDSHAKES:
                    logger.warning("Too many unauthenticated connections; dropping %s",
                                   _format_address(transport.get_extra_info("peername")))
                    self._listener = None  # never counted
                    transport.abort()
                    return
                listener.pending += 1
            transport.write(self._server.hello())
            self._expect(PROOF_SIZE)
            self._hs_timer = asyncio.get_running_loop().call_later(
                HANDSHAKE_TIMEOUT, self._handshake_failed, "handshake timed out")
        elif self._client is not None:
            self._expect(HELLO_SIZE)
        else:
            self._established()

    def _established(self) -> None:
        assert self._transport is not None
        self._server_done()
        self._client = self._server = None
        self.comm = TCP(self._transport, self)
        liveness.watch(self.comm)
        if not self.ready.done():
            self.ready.set_result(self.comm)
        if self._on_comm is not None:
            self._on_comm(self.comm)

    def _server_done(self) -> None:
        if self._hs_timer is not None:
            self._hs_timer.cancel()
            self._hs_timer = None
        if self._server is not None and self._listener is not None:
            self._listener.pending -= 1
            self._listener = None

    def _handshake_failed(self, reason: str) -> None:
        transport = self._transport
        peer = _format_address(transport.get_extra_info("peername")) if transport else "?"
        if self._server is not None:
            logger.warning("Rejected connection from %s: %s", peer, reason)
        self._server_done()
        if self._client is not None and not self.ready.done():
            self.ready.set_exception(AuthenticationError(reason))
        if transport is not None:
            transport.abort()

    def _handshake_step(self) -> None:
        data = bytes(self._hs_buf)
        try:
            if self._server is not None:
                confirm = self._server.check(data)
                assert self._transport is not None
                self._transport.write(confirm)
                self._established()
            elif self._client is not None and len(data) == HELLO_SIZE:
                proof = self._client.proof(data)
                assert self._transport is not None
                self._transport.write(proof)
                self._expect(CONFIRM_SIZE)
            elif self._client is not None:
                self._client.check(data)
                self._established()
        except AuthenticationError as exc:
            self._handshake_failed(str(exc))

    def get_buffer(self, sizehint: int) -> memoryview:
        if self.comm is None:
            return memoryview(self._hs_buf)[self._hs_got:]
        return self._decoder.get_buffer(sizehint)

    def buffer_updated(self, nbytes: int) -> None:
        comm = self.comm
        if comm is None:
            self._hs_got += nbytes
            if self._hs_got == len(self._hs_buf):
                self._handshake_step()
            return
        msgs: list[Any] = []
        try:
            for frames in self._decoder.buffer_updated(nbytes):
                msgs.append(loads(frames))
        except (ProtocolError, FrameTooLargeError) as exc:
            logger.warning(
                "Malformed input from %s, aborting connection: %s", comm.peer_address, exc
            )
            comm._deliver(msgs)
            comm._set_closed(f"malformed input: {exc}", local=False)
            comm._transport.abort()
            return
        if msgs:
            comm._deliver(msgs)

    def eof_received(self) -> bool:
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        if self.comm is None:
            self._server_done()
            if self._client is not None and not self.ready.done():
                self.ready.set_exception(ConnectionError(
                    "connection closed during the handshake"
                    + (f": {exc}" if exc else " (wrong secret, or not a futurelab peer?)")))
        if self.comm is not None:
            reason = "closed by peer" if exc is None else f"connection lost: {exc}"
            if self._decoder.in_message and exc is None:
                reason = "closed by peer in the middle of a message"
            self.comm._set_closed(reason, local=False)
        self._wake_drainers()
        if not self.lost.done():
            self.lost.set_result(None)

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        self._wake_drainers()

    def _wake_drainers(self) -> None:
        waiters, self._drain_waiters = self._drain_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def drain(self, comm: TCP) -> None:
        """Wait while the transport's write buffer is over its high-water mark."""
        while self._paused and comm._exc is None:
            waiter = asyncio.get_running_loop().create_future()
            self._drain_waiters.append(waiter)
            await waiter
        if comm._exc is not None:
            raise comm._error()


class TCPListener(Listener):
    """Listens on ``tcp://host:port`` (or ``tls://``); port 0 picks a free port."""

    def __init__(self, address: str, handle_comm: HandleComm,
                 security: Security | None = None) -> None:
        scheme, loc = parse_address(address)
        self._host, self._port = parse_host_port(loc, default_port=0)
        self._handle_comm = handle_comm
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._security = security
        self._tls = scheme == "tls"
        self.address = address
        #: connections still in their handshake
        self.pending = 0

    async def start(self) -> None:
        """Bind and start accepting."""
        check_bind(self._host, self._security, self.address)
        secret = self._security.secret if self._security is not None else None
        ssl_ctx = None
        if self._tls:
            if self._security is None:
                raise ValueError("tls:// addresses need a Security with a certificate and key")
            ssl_ctx = self._security.server_ssl_context()
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Protocol(on_comm=self._on_comm, server=ServerHandshake(secret),
                              listener=self),
            self._host, self._port, backlog=1024, ssl=ssl_ctx,
        )
        addr = _format_address(self._server.sockets[0].getsockname())
        self.address = addr.replace("tcp://", "tls://", 1) if self._tls else addr

    def _on_comm(self, comm: TCP) -> None:
        spawn_handler(self._handle_comm, comm, self._tasks)

    def stop(self) -> None:
        """Stop accepting; accepted comms stay open."""
        if self._server is not None:
            self._server.close()


class TCPBackend(Backend):
    """The ``tcp://`` and ``tls://`` backend."""

    async def connect(self, address: str, timeout: float,
                      security: Security | None = None) -> Comm:
        scheme, loc = parse_address(address)
        host, port = parse_host_port(loc)
        secret = security.secret if security is not None else None
        ssl_ctx = None
        if scheme == "tls":
            ssl_ctx = (security or Security()).client_ssl_context()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        transport: asyncio.BaseTransport | None = None
        try:
            transport, protocol = await asyncio.wait_for(
                loop.create_connection(
                    lambda: _Protocol(client=ClientHandshake(secret, address)), host, port,
                    ssl=ssl_ctx),
                timeout,
            )
            return await asyncio.wait_for(asyncio.shield(protocol.ready),
                                          max(0.001, deadline - loop.time()))
        except TimeoutError:
            if transport is not None:  # connected, but the handshake did not finish in time
                transport.abort()
            raise TimeoutError(f"Timed out after {timeout} s connecting to {address}") from None
        except AuthenticationError:
            raise
        except OSError as exc:
            message = f"Could not connect to {address}: {exc.strerror or exc}"
            raise (OSError(exc.errno, message) if exc.errno else OSError(message)) from exc

    def make_listener(self, address: str, handle_comm: HandleComm,
                      security: Security | None = None) -> Listener:
        return TCPListener(address, handle_comm, security)


register_backend("tcp", TCPBackend())
register_backend("tls", TCPBackend())
