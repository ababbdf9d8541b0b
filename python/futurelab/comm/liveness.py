"""Is the peer still there?  The kernel's answer, which needs no GIL on either side.

Theory of operation
-------------------
A peer can vanish in two ways that look alike to an application waiting for its next message:
its *host* is gone (powered off, cut off, black-holed: nothing will ever come), or its *process*
is alive but busy (a task holding the GIL in a C call for 20 s sends no heartbeat, reads nothing).
The first must end every wait on the peer within seconds; the second must end none of them.

The peer's TCP stack tells them apart, because it acknowledges our segments in the kernel, whatever
its Python process is doing.  So every TCP connection here:

- has TCP keepalive with short intervals (:data:`KEEPALIVE_IDLE`, :data:`KEEPALIVE_INTERVAL`,
  :data:`KEEPALIVE_COUNT`): an idle connection to a vanished host is probed and the kernel itself
  closes it after about ``IDLE + COUNT × INTERVAL`` seconds;
- is watched by one :class:`Monitor` per event loop, which reads ``TCP_INFO`` once a second and
  aborts a connection whose peer host has stopped acknowledging: data of ours unacknowledged for
  :data:`HOST_SILENT` seconds, or keepalive probes unanswered.  Aborting ends every read and write
  waiting on it at once (they raise ``CommClosedError`` naming the reason);
- answers :meth:`host_answering` for the application-level watchdogs (the scheduler's view of its
  workers, a worker's and a client's view of the scheduler): a peer that sends no heartbeat but
  whose host still acknowledges is *busy*, not dead, and is given a much longer grace.

Where ``TCP_INFO`` is unavailable (not Linux) :func:`host_answering` says None ("cannot tell") and
the watchdogs fall back to their heartbeat deadlines; ``TCP_USER_TIMEOUT`` (a long backstop) still
bounds data left unacknowledged by a vanished host.
"""
from __future__ import annotations

import asyncio
import logging
import socket
import struct
import sys
import weakref
from typing import Any, Protocol

logger = logging.getLogger("futurelab.comm")

#: seconds of idleness before the kernel sends the first keepalive probe
KEEPALIVE_IDLE = 2
#: seconds between keepalive probes
KEEPALIVE_INTERVAL = 1
#: unanswered probes after which the kernel closes the connection
KEEPALIVE_COUNT = 5
#: a host that leaves our data unacknowledged this long (s) is gone
HOST_SILENT = 4.0
#: keepalive probes left unanswered that mean the host is gone
PROBES_UNANSWERED = 2
#: kernel backstop (ms): data unacknowledged this long aborts the connection even if no monitor
#: runs.  Long on purpose: it also aborts a connection whose peer, alive but not reading (a task
#: holding the GIL), keeps its receive window closed that long.
USER_TIMEOUT_MS = 300_000
#: seconds between the monitor's checks
CHECK_INTERVAL = 1.0

_TCP_INFO = getattr(socket, "TCP_INFO", None) if sys.platform.startswith("linux") else None
#: struct tcp_info: 8 one-byte fields, then u32s: rto, ato, snd_mss, rcv_mss, unacked, sacked,
#: lost, retrans, fackets, last_data_sent, last_ack_sent, last_data_recv, last_ack_recv
_INFO = struct.Struct("8B13I")


class Watched(Protocol):
    """What the monitor needs of a comm."""

    peer_address: str

    def closed(self) -> bool: ...

    def abort_because(self, reason: str) -> None: ...

    def raw_socket(self) -> Any: ...


def configure(sock: Any) -> None:
    """Low latency and kernel-level liveness for one TCP socket (best effort per option)."""
    options = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),
               (socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)]
    for name, value in (("TCP_KEEPIDLE", KEEPALIVE_IDLE), ("TCP_KEEPINTVL", KEEPALIVE_INTERVAL),
                        ("TCP_KEEPCNT", KEEPALIVE_COUNT), ("TCP_USER_TIMEOUT", USER_TIMEOUT_MS)):
        opt = getattr(socket, name, None)
        if opt is not None:
            options.append((socket.IPPROTO_TCP, opt, value))
    for level, opt, value in options:
        try:
            sock.setsockopt(level, opt, value)
        except OSError:
            pass


def host_silence(sock: Any) -> tuple[float, int, int] | None:
    """The kernel's view of the peer: (seconds since its last ACK, our unacked segments,
    unanswered probes); None when the platform cannot tell."""
    if _TCP_INFO is None or sock is None:
        return None
    try:
        raw = sock.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, _INFO.size)
    except OSError:
        return None
    if len(raw) < _INFO.size:
        return None
    fields = _INFO.unpack_from(raw)
    probes, unacked, last_ack_recv_ms = fields[3], fields[12], fields[20]
    return last_ack_recv_ms / 1000.0, unacked, probes


def gone_reason(sock: Any) -> str | None:
    """Why the peer's host counts as gone, or None while it answers (or we cannot tell)."""
    view = host_silence(sock)
    if view is None:
        return None
    silent, unacked, probes = view
    if unacked and silent > HOST_SILENT:
        return f"its host acknowledged nothing for {silent:.1f} s"
    if probes >= PROBES_UNANSWERED:
        return f"its host answered none of {probes} keepalive probes"
    return None


def host_answering(comm: Any) -> bool | None:
    """True while the peer's host acknowledges our traffic, False once it stopped, None when
    the transport cannot tell (in-process comms, platforms without ``TCP_INFO``)."""
    raw = getattr(comm, "raw_socket", None)
    sock = raw() if raw is not None else None
    if sock is None or host_silence(sock) is None:
        return None
    return gone_reason(sock) is None


class Monitor:
    """One per event loop: aborts connections whose peer host stopped answering."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.comms: weakref.WeakSet[Any] = weakref.WeakSet()
        self._task: asyncio.Task[None] | None = None
        self._loop = loop

    def add(self, comm: Watched) -> None:
        if _TCP_INFO is None:
            return
        self.comms.add(comm)
        if self._task is None or self._task.done():
            self._task = self._loop.create_task(self._run())

    async def _run(self) -> None:
        while self.comms:
            await asyncio.sleep(CHECK_INTERVAL)
            self.check()

    def check(self) -> None:
        for comm in list(self.comms):
            if comm.closed():
                self.comms.discard(comm)
                continue
            reason = gone_reason(comm.raw_socket())
            if reason is not None:
                logger.warning("connection to %s lost: %s", comm.peer_address, reason)
                comm.abort_because(f"peer gone: {reason}")
                self.comms.discard(comm)


_monitors: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Monitor] = \
    weakref.WeakKeyDictionary()


def watch(comm: Watched) -> None:
    """Have this loop's monitor watch ``comm`` until it closes."""
    loop = asyncio.get_running_loop()
    monitor = _monitors.get(loop)
    if monitor is None:
        monitor = _monitors[loop] = Monitor(loop)
    monitor.add(comm)
