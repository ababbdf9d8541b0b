"""Request/reply and streams over comms: the one dispatch path every server uses.

A :class:`Server` listens on an address and answers each incoming message ``{"op": name, ...}``
with ``handlers[name](msg, comm)``.  Ops listed in ``stream_ops`` take the connection over for
good (a client's or worker's long-lived stream); their handler returns when it is done with it.

On a stream, both ends send *batches*: a :class:`BatchedSend` buffers the messages produced
during one event-loop tick and writes them as one list, and :func:`read_stream` dispatches each
message of every batch it reads to ``handlers[msg["op"]](msg)``.

:class:`ConnectionPool` keeps idle connections to peers for requests
(``await pool.request(address, {"op": "get-data", ...})``).
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from .comm import Comm, Listener, connect, listen
from .comm.liveness import host_answering
from .errors import CommClosedError, ProtocolError

logger = logging.getLogger("futurelab.rpc")

Handler = Callable[[dict[str, Any], Comm], Any]
StreamHandler = Callable[[dict[str, Any]], Any]


#: under sustained traffic, a stream writes at most once per this many seconds
BATCH_INTERVAL = 0.002
#: a batch with more messages than this means traffic is sustained
BUSY_BATCH = 8
#: seconds of handling a long incoming batch after which the loop gets a turn
YIELD_AFTER = 0.02
#: seconds between the checks of a watched stream's silence
WATCH_INTERVAL = 0.5
#: a check this many seconds late means this process was starved (its silence, not the peer's)
STARVED = 0.25
#: a silent peer whose host still answers is busy, not dead: this long before giving up on it
BUSY_TTL = 300.0
#: a silent peer whose liveness the transport cannot tell (no TCP_INFO) gets this long
CANNOT_TELL_TTL = 60.0


class RemoteError(Exception):
    """A peer answered a request with an error."""


class Server:
    """Dispatch incoming messages by ``op`` to handlers.

    >>> server = Server({"ping": lambda msg, comm: "pong"})
    """

    def __init__(self, handlers: dict[str, Handler], stream_ops: Iterable[str] = ()) -> None:
        self.handlers = handlers
        self.stream_ops = set(stream_ops)
        self.listener: Listener | None = None
        self.extra_listeners: list[Listener] = []
        self._comms: set[Comm] = set()

    @property
    def address(self) -> str:
        if self.listener is None:
            raise RuntimeError("server is not listening")
        return self.listener.address

    async def listen(self, address: str, security: Any = None) -> None:
        self.listener = await listen(address, self.handle_comm, security)

    async def listen_also(self, address: str, security: Any = None) -> str:
        """Accept connections on a second address too (e.g. ``inproc://`` for a client in the
        same process as a TCP scheduler); returns the bound address."""
        listener = await listen(address, self.handle_comm, security)
        self.extra_listeners.append(listener)
        return listener.address

    async def handle_comm(self, comm: Comm) -> None:
        self._comms.add(comm)
        try:
            while True:
                try:
                    msg = await comm.read()
                except (CommClosedError, ProtocolError):
                    return
                op = msg.get("op") if isinstance(msg, dict) else None
                handler = self.handlers.get(op) if isinstance(op, str) else None
                if handler is None:
                    logger.warning("%s: unknown operation %r from %s; closing", self._name(), op,
                                   comm.peer_address)
                    await _write_quietly(comm, {"status": "error",
                                                "message": f"unknown operation {op!r}"})
                    comm.abort()
                    return
                if op in self.stream_ops:
                    await handler(msg, comm)
                    return
                try:
                    result = handler(msg, comm)
                    if asyncio.iscoroutine(result):
                        result = await result
                except Exception as e:  # the handler's error goes back to the caller
                    logger.debug("handler %r failed", op, exc_info=True)
                    result = {"status": "error", "message": f"{type(e).__name__}: {e}"}
                if msg.get("reply", True):
                    try:
                        await comm.write(result)
                    except CommClosedError:
                        return
        finally:
            self._comms.discard(comm)

    def _name(self) -> str:
        return type(self).__name__

    def stop(self) -> None:
        """Stop listening and abort every open connection."""
        if self.listener is not None:
            self.listener.stop()
        for listener in self.extra_listeners:
            listener.stop()
        for comm in list(self._comms):
            comm.abort()
        self._comms.clear()


async def _write_quietly(comm: Comm, msg: Any) -> None:
    try:
        await comm.write(msg)
    except (CommClosedError, OSError):
        pass


async def read_stream(comm: Comm, handlers: dict[str, StreamHandler],
                      on_batch_done: Callable[[], None] | None = None) -> None:
    """Dispatch every message of every batch read from ``comm`` until it closes.

    ``on_batch_done`` is called after each batch (and before yielding inside a long one).

    Raises:
        CommClosedError: when the stream ends (the normal way out).
    """
    loop = asyncio.get_running_loop()
    while True:
        batch = await comm.read()
        if not isinstance(batch, list):
            raise ProtocolError(f"expected a batch (list) on a stream, got {type(batch).__name__}")
        started = loop.time()
        for msg in batch:
            if loop.time() - started > YIELD_AFTER:
                # a long batch (say 100,000 new tasks) lets the loop send what it has so far
                if on_batch_done is not None:
                    on_batch_done()
                await asyncio.sleep(0)
                started = loop.time()
            op = msg.get("op") if isinstance(msg, dict) else None
            handler = handlers.get(op) if isinstance(op, str) else None
            if handler is None:
                raise ProtocolError(f"unknown stream operation {op!r} from {comm.peer_address}")
            try:
                handler(msg)
            except (KeyError, TypeError, ValueError) as e:
                # one malformed message: say so and go on with the next
                logger.warning("bad %r message from %s: %s: %s", op, comm.peer_address,
                               type(e).__name__, e)
        if on_batch_done is not None:
            on_batch_done()
        # not kept alive while waiting for the next one (an update-graph may be 100,000 tasks)
        batch = msg = None


async def read_watched_stream(comm: Comm, handlers: dict[str, StreamHandler], ttl: float,
                              on_silent: Callable[[float], None] | None = None,
                              busy_ttl: float = BUSY_TTL) -> None:
    """:func:`read_stream` from a peer that sends heartbeats, ended when the peer is gone.

    A peer silent for ``ttl`` seconds is gone if its host has stopped answering (the kernel's
    view, :func:`~futurelab.comm.liveness.host_answering`; the per-loop monitor usually aborts
    such a comm first), or if the transport cannot tell.  A silent peer whose host still
    acknowledges our traffic is busy (say, a task holding the GIL): it gets ``busy_ttl``.
    Time this process itself could not run (its loop was starved) is never held against the
    peer.  ``on_silent(seconds)`` is called before the comm is aborted.

    Raises:
        CommClosedError: when the stream ends or was aborted.
    """
    last = time.monotonic()

    def seen() -> None:
        nonlocal last
        last = time.monotonic()

    async def watch() -> None:
        nonlocal last
        expected = time.monotonic() + WATCH_INTERVAL
        while not comm.closed():
            await asyncio.sleep(WATCH_INTERVAL)
            now = time.monotonic()
            if now - expected > STARVED:
                last = max(last, now - WATCH_INTERVAL)  # we were starved, not the peer silent
            expected = now + WATCH_INTERVAL
            silent = now - last
            if silent <= ttl:
                continue
            answering = host_answering(comm)
            limit = busy_ttl if answering else (ttl if answering is False else CANNOT_TELL_TTL)
            if silent > limit:
                if on_silent is not None:
                    on_silent(silent)
                comm.abort_because(f"peer silent for {silent:.0f} s")

    watcher = asyncio.ensure_future(watch())
    try:
        await read_stream(comm, handlers, seen)
    finally:
        watcher.cancel()


class BatchedSend:
    """Send messages on a comm in batches.

    A message after a quiet spell goes out on the next loop tick (with whatever else was sent in
    that tick), so a lone request pays no delay; under sustained traffic, writes are spaced at
    least ``interval`` seconds apart and everything sent meanwhile travels in one batch, so the
    per-write costs (framing, a syscall, one decode at the other end) are shared by many.

    ``send`` never blocks and never fails; if the comm breaks, later messages are dropped and
    :attr:`closed` is set (the owner learns it from its reading side).
    """

    def __init__(self, comm: Comm, interval: float = BATCH_INTERVAL) -> None:
        self.comm = comm
        self.interval = interval
        self._last = 0.0
        #: the last batch was big: traffic is sustained, so space the writes out
        self._busy = False
        self.buffer: list[Any] = []
        self.closed = False
        self._wake = asyncio.Event()
        self._task = asyncio.ensure_future(self._run())
        self.messages_sent = 0
        #: an in-process comm takes a batch at once (no syscall to share): each send is one
        self._write_nowait: Callable[[Any], int] | None = getattr(comm, "write_nowait", None)

    def send(self, *msgs: Any) -> None:
        if self.closed:
            return
        if self._write_nowait is not None:
            self.messages_sent += len(msgs)
            try:
                self._write_nowait(list(msgs))
            except (CommClosedError, OSError):
                self.closed = True
            return
        self.buffer.extend(msgs)
        self._wake.set()

    async def _run(self) -> None:
        try:
            while not self.closed:
                await self._wake.wait()
                self._wake.clear()
                loop = asyncio.get_running_loop()
                if self._busy:
                    # sustained traffic: let a busy spell's messages join this batch
                    wait = self._last + self.interval - loop.time()
                    if wait > 0:
                        await asyncio.sleep(wait)
                # (otherwise this tick's messages are already in: we wake on the next tick)
                if not self.buffer:
                    continue
                self._last = loop.time()
                batch, self.buffer = self.buffer, []
                self._busy = len(batch) > BUSY_BATCH
                self.messages_sent += len(batch)
                await self.comm.write(batch)
        except (CommClosedError, OSError):
            self.closed = True
        except Exception:
            logger.exception("batched send to %s failed", self.comm.peer_address)
            self.closed = True
            self.comm.abort()

    async def close(self) -> None:
        """Flush what is buffered, then close the comm."""
        if not self.closed and self.buffer:
            batch, self.buffer = self.buffer, []
            try:
                await self.comm.write(batch)
            except (CommClosedError, OSError):
                pass
        self.closed = True
        self._wake.set()
        self._task.cancel()
        try:
            await self.comm.close()
        except (CommClosedError, OSError):
            pass

    def abort(self) -> None:
        self.closed = True
        self._task.cancel()
        self.comm.abort()


class ConnectionPool:
    """Reusable connections to peers for request/reply.

    Every request ends: a connection to a peer whose host stops answering is aborted by the
    liveness monitor (:mod:`futurelab.comm.liveness`), :meth:`remove` aborts the requests to a
    peer declared gone, and ``timeout`` bounds a request end to end.

    >>> pool = ConnectionPool()
    >>> # reply = await pool.request("tcp://127.0.0.1:8786", {"op": "identity"})
    """

    def __init__(self, timeout: float = 10.0, security: Any = None) -> None:
        self.timeout = timeout
        self.security = security
        self._idle: dict[str, list[Comm]] = defaultdict(list)
        #: connections lent to a request, by peer address
        self._busy: dict[Comm, str] = {}
        self.closed = False

    async def request(self, address: str, msg: dict[str, Any],
                      timeout: float | None = None) -> Any:
        """Send ``msg`` to ``address`` and return the reply.

        Args:
            timeout: seconds for the whole request (connecting, sending, the reply); None
                bounds only connecting (by the pool's ``timeout``) and leaves the wait for the
                reply to the peer's liveness.

        Raises:
            OSError: the peer could not be reached, closed the connection, or is gone.
            TimeoutError: ``timeout`` passed first.
            RemoteError: the peer answered with an error.
        """
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        comm = await self._acquire(address, timeout)
        try:
            if deadline is None:
                await comm.write(msg)
                reply = await comm.read()
            else:
                reply = await asyncio.wait_for(_exchange(comm, msg),
                                               max(0.0, deadline - loop.time()))
        except BaseException:
            self._busy.pop(comm, None)
            comm.abort()
            raise
        self._release(address, comm)
        if isinstance(reply, dict) and reply.get("status") == "error":
            raise RemoteError(f"{address}: {reply.get('message')}")
        return reply

    async def _acquire(self, address: str, timeout: float | None) -> Comm:
        if self.closed:
            raise CommClosedError("connection pool is closed")
        idle = self._idle[address]
        while idle:
            comm = idle.pop()
            if not comm.closed():
                self._busy[comm] = address
                return comm
        comm = await connect(address, timeout=timeout or self.timeout, security=self.security)
        if self.closed:
            comm.abort()
            raise CommClosedError("connection pool is closed")
        self._busy[comm] = address
        return comm

    def _release(self, address: str, comm: Comm) -> None:
        self._busy.pop(comm, None)
        if self.closed or comm.closed():
            comm.abort()
        else:
            self._idle[address].append(comm)

    def remove(self, address: str, reason: str = "peer is gone") -> None:
        """``address`` is gone: drop its idle connections and end the requests waiting on it."""
        for comm in self._idle.pop(address, []):
            comm.abort()
        for comm, peer in list(self._busy.items()):
            if peer == address:
                del self._busy[comm]
                comm.abort_because(reason)

    def close(self) -> None:
        self.closed = True
        for comms in self._idle.values():
            for comm in comms:
                comm.abort()
        self._idle.clear()
        for comm in list(self._busy):
            comm.abort()
        self._busy.clear()


async def _exchange(comm: Comm, msg: dict[str, Any]) -> Any:
    await comm.write(msg)
    return await comm.read()


async def wait_closed(awaitables: Iterable[Awaitable[Any]], timeout: float) -> None:
    """Await several shutdown steps concurrently, bounded by ``timeout``."""
    tasks = [asyncio.ensure_future(a) for a in awaitables]
    if tasks:
        await asyncio.wait(tasks, timeout=timeout)
