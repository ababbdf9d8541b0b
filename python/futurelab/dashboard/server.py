"""The scheduler's web dashboard: an HTTP server on the scheduler's own event loop.

Theory of operation
-------------------
:class:`Dashboard` binds ``dashboard_address`` (the next free port when it is taken) and serves:

- ``/`` and ``/status``: the page (``page.html`` + the bundle built from
  ``labextension/src/dashboard/`` into ``static/``), which renders the lab sidebar's views;
- ``/ws``: a WebSocket pushing ``{"type": "snapshot", "snapshot": ...}`` — the shape of the
  sidebar's kernel messages, so the page reuses the sidebar's model — and answering
  ``{"type": "action", "id", "action": "cancel" | "retry" | "detail", "key"}`` with
  ``{"type": "reply", "id", "ok", ...}``;
- ``/api/v1/...``: the same state as JSON, and ``POST /api/v1/cancel`` / ``/api/v1/retry``.

While at least one WebSocket is open the dashboard is a *local listener* of the scheduler's event
stream (:meth:`~futurelab.scheduler.server.Scheduler.add_local_listener`) and keeps a
:class:`~.model.ClusterModel` current; with none open it listens to nothing, keeps no model, and
the JSON API reads the scheduler's state on demand.  Snapshots go out at most every
:attr:`Dashboard.interval` seconds (one JSON encoding shared by every connection), plus a
heartbeat so durations keep moving.

A slow or stuck browser never slows the scheduler: each connection (:class:`Feed`) has at most
one message being written and one snapshot waiting; a newer snapshot replaces the waiting one
(the older is dropped, counted in :attr:`Feed.dropped`), so when the reader catches up it gets
the freshest state.  Nothing is queued without bound.

Access (:mod:`.auth`): open on loopback; on any other address every request needs the token.
The tornado handlers are in :mod:`.handlers`.
"""
from __future__ import annotations

import asyncio
import errno
import json
import logging
import socket
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tornado.httpserver
import tornado.netutil
import tornado.websocket

from ..scheduler import events as ev
from ..scheduler.stream import task_record, worker_info
from . import auth
from .link import dashboard_link, reachable_host
from .model import STATUS, ClusterModel, row_from_record

if TYPE_CHECKING:
    from ..scheduler.server import Scheduler
    from .handlers import DashboardSocket

logger = logging.getLogger("futurelab.dashboard")

HERE = Path(__file__).parent
STATIC = HERE / "static"
#: the pseudo-client dashboard actions are made in the name of (shows in stories)
ACTOR = "dashboard"
#: ports tried after the one asked for when it is taken
PORT_TRIES = 100
TOPICS = ["tasks", "workers", "primitives"]
PROTOCOL = 1


# ---------------------------------------------------------------------- addresses
def parse_address(address: str | int) -> tuple[str, int]:
    """``"127.0.0.1:8787"`` → ``("127.0.0.1", 8787)``; ``":8787"`` → every interface (``""``);
    ``8787`` or ``"8787"`` → loopback; ``"[::1]:0"`` → ``("::1", 0)``.

    >>> parse_address(":8787"), parse_address(9000), parse_address("http://[::1]:0")
    (('', 8787), ('127.0.0.1', 9000), ('::1', 0))
    """
    if isinstance(address, int):
        return "127.0.0.1", address
    text = address.strip()
    if "://" in text:
        text = text.split("://", 1)[1]
    text = text.rstrip("/")
    if text.isdigit():
        return "127.0.0.1", int(text)
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or (host.count(":") and not host.startswith("[")):
        raise ValueError(f"dashboard address {address!r} is not HOST:PORT, :PORT or PORT")
    return host.strip("[]"), int(port)


def bind(host: str, port: int, tries: int = PORT_TRIES) -> list[socket.socket]:
    """Listening sockets on ``host``: ``port``, else the next free port (``port`` 0: any).

    Raises:
        OSError: when none of the ``tries`` ports is free (or the host cannot be bound).
    """
    address = host or None
    if port == 0:
        return tornado.netutil.bind_sockets(0, address=address)
    last: OSError | None = None
    for p in range(port, min(port + tries, 65536)):
        try:
            return tornado.netutil.bind_sockets(p, address=address)
        except OSError as e:
            if e.errno != errno.EADDRINUSE:
                raise
            last = e
    raise OSError(errno.EADDRINUSE, f"no free port for the dashboard in {port}..{port + tries - 1}"
                  f" on {host or 'every interface'}: {last}")


def dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), default=str)


# ---------------------------------------------------------------------- one connection's sender
class Feed:
    """What one WebSocket is sent, bounded: one write in flight, one snapshot waiting, a few
    replies.

    ``write(text)`` starts a write and returns a future done once it reached the socket
    (``WebSocketHandler.write_message``).  A snapshot offered while a write is in flight waits;
    a newer one replaces it (the older is dropped).
    """

    def __init__(self, write: Callable[[str], Any], max_replies: int = 32) -> None:
        self._write = write
        self.inflight: Any = None
        #: the newest snapshot not yet written
        self.pending: str | None = None
        self.replies: deque[str] = deque(maxlen=max_replies)
        #: snapshots (and replies) dropped because the reader was behind
        self.dropped = 0
        self.sent = 0
        self.closed = False

    @property
    def busy(self) -> bool:
        return self.inflight is not None and not self.inflight.done()

    def offer(self, text: str) -> None:
        """Send a snapshot now, or keep it as the one to send when the reader catches up."""
        if self.closed:
            return
        if self.busy:
            if self.pending is not None:
                self.dropped += 1
            self.pending = text
        else:
            self._send(text)

    def reply(self, text: str) -> None:
        """Send an action's reply (before any waiting snapshot)."""
        if self.closed:
            return
        if self.busy:
            if len(self.replies) == self.replies.maxlen:
                self.dropped += 1
            self.replies.append(text)
        else:
            self._send(text)

    def _send(self, text: str) -> None:
        try:
            fut = self._write(text)
        except tornado.websocket.WebSocketClosedError:
            self.closed = True
            return
        self.sent += 1
        self.inflight = fut
        if fut is not None:
            fut.add_done_callback(self._written)

    def _written(self, fut: Any) -> None:
        if fut is not self.inflight:
            return
        self.inflight = None
        if fut.cancelled() or fut.exception() is not None:
            self.closed = True
            return
        if self.replies:
            self._send(self.replies.popleft())
        elif self.pending is not None:
            text, self.pending = self.pending, None
            self._send(text)


# ---------------------------------------------------------------------- the dashboard
class Dashboard:
    """The web dashboard of one scheduler (started by ``Scheduler.start``).

    Args:
        scheduler: the scheduler to show.
        address: where to listen (see :func:`parse_address`).
        interval: seconds between two snapshots pushed to the page, at least.
        heartbeat: seconds after which a snapshot is pushed even without changes.
        token: the token to require; by default derived from the scheduler's secret, required
            only off-loopback.

    >>> # Scheduler("tcp://127.0.0.1:8786", dashboard_address="127.0.0.1:8787")
    """

    def __init__(self, scheduler: Scheduler, address: str | int, *, interval: float = 0.2,
                 heartbeat: float = 1.0, futures_limit: int = 500, stream_limit: int = 1000,
                 token: str | None = None) -> None:
        self.scheduler = scheduler
        self.host, self._port = parse_address(address)
        self.interval = interval
        self.heartbeat = heartbeat
        self.futures_limit = futures_limit
        self.stream_limit = stream_limit
        secret = getattr(scheduler.security, "secret", None)
        self._token = token or (auth.dashboard_token(secret) if secret else None)
        #: the token requests must carry, or None (loopback)
        self.required_token = self._token if auth.needs_token(self.host) else None
        self.port = 0
        self.feeds: dict[DashboardSocket, Feed] = {}
        self.model: ClusterModel | None = None
        self._listener: str | None = None
        self._flush_handle: asyncio.TimerHandle | None = None
        self._heartbeat_handle: asyncio.TimerHandle | None = None
        self._last_push = 0.0
        self._server: tornado.httpserver.HTTPServer | None = None
        self.cookie = auth.COOKIE

    # ------------------------------------------------------------------ life
    def start(self) -> Dashboard:
        """Bind and serve (on the running loop). Raises PermissionError or OSError."""
        auth.check_bind(self.host, self._token)
        sockets = bind(self.host, self._port)
        self.port = sockets[0].getsockname()[1]
        self.cookie = f"{auth.COOKIE}-{self.port}"
        from .handlers import make_app
        self._server = tornado.httpserver.HTTPServer(make_app(self))
        self._server.add_sockets(sockets)
        logger.debug("dashboard at %s", self.link)
        return self

    def stop(self) -> tornado.httpserver.HTTPServer | None:
        """Stop listening and close every page's WebSocket (returns the stopped server)."""
        server, self._server = self._server, None
        if server is not None:
            server.stop()
        for sock in list(self.feeds):
            sock.close()
        self._detach_all()
        return server

    @staticmethod
    async def close_connections(server: tornado.httpserver.HTTPServer,
                                timeout: float = 1.0) -> None:
        """Close a stopped server's idle keep-alive HTTP connections."""
        try:
            await asyncio.wait_for(server.close_all_connections(), timeout)
        except Exception:
            logger.debug("dashboard connections did not close in time", exc_info=True)

    @property
    def link(self) -> str:
        """The page's URL (without the token), after ``$FUTURELAB_DASHBOARD_LINK``."""
        return dashboard_link(reachable_host(self.host, None), self.port)

    def where(self) -> dict[str, Any]:
        """Where the dashboard listens, for clients: bind host, port, whether it needs a token."""
        return {"host": self.host, "port": self.port,
                "token": self.required_token is not None}

    # ------------------------------------------------------------------ live feed
    def attach(self, sock: DashboardSocket) -> Feed:
        """A page connected: listen to the scheduler (first page) and send it a snapshot."""
        feed = Feed(sock.write_message)
        if not self.feeds:
            sched = self.scheduler
            self.model = ClusterModel(str(sched.address), is_actor=self._is_actor)
            self._listener = sched.add_local_listener(TOPICS, self._on_event)
            self.model.load(sched.events.snapshot(None), self.primitives())
            self._schedule_heartbeat()
        self.feeds[sock] = feed
        feed.offer(self._snapshot_message())
        return feed

    def detach(self, sock: DashboardSocket) -> None:
        """A page went away: the last one takes the listener and the model with it."""
        self.feeds.pop(sock, None)
        if not self.feeds:
            self._detach_all()

    def _detach_all(self) -> None:
        self.feeds.clear()
        if self._listener is not None:
            self.scheduler.remove_local_listener(self._listener)
            self._listener = None
        self.model = None
        for handle in (self._flush_handle, self._heartbeat_handle):
            if handle is not None:
                handle.cancel()
        self._flush_handle = self._heartbeat_handle = None

    def _is_actor(self, key: str) -> bool:
        ts = self.scheduler.state.tasks.get(key)
        return bool(ts is not None and ts.actor)

    def _on_event(self, topic: str, payload: dict[str, Any]) -> None:
        if self.model is None:
            return
        self.model.apply(topic, payload)
        if self._flush_handle is None:
            loop = asyncio.get_running_loop()
            delay = max(0.0, self.interval - (time.monotonic() - self._last_push))
            self._flush_handle = loop.call_later(delay, self.push)

    def push(self) -> None:
        """Send the current snapshot to every page (one encoding for all)."""
        self._flush_handle = None
        if not self.feeds or self.model is None:
            return
        text = self._snapshot_message()
        for feed in list(self.feeds.values()):
            feed.offer(text)

    def _schedule_heartbeat(self) -> None:
        loop = asyncio.get_running_loop()
        self._heartbeat_handle = loop.call_later(self.heartbeat, self._beat)

    def _beat(self) -> None:
        self._heartbeat_handle = None
        if not self.feeds:
            return
        if time.monotonic() - self._last_push >= self.heartbeat and self._flush_handle is None:
            self.push()
        self._schedule_heartbeat()

    def _snapshot_message(self) -> str:
        self._last_push = time.monotonic()
        return dumps({"type": "snapshot", "protocol": PROTOCOL, "snapshot": self.snapshot()})

    # ------------------------------------------------------------------ state, on demand
    def current_model(self) -> ClusterModel:
        """The live model, or one loaded from the scheduler's state now (nobody connected)."""
        if self.model is not None:
            return self.model
        model = ClusterModel(str(self.scheduler.address), is_actor=self._is_actor)
        model.load(self.scheduler.events.snapshot(None), self.primitives())
        return model

    def snapshot(self, futures_limit: int | None = None) -> dict[str, Any]:
        return self.current_model().snapshot(
            time.time(), futures_limit=self.futures_limit if futures_limit is None
            else futures_limit, stream_limit=self.stream_limit)

    def primitives(self) -> dict[str, Any]:
        handler: Any = self.scheduler.handlers.get("primitives-state")
        if handler is None:
            return {}
        try:
            return dict(handler({"op": "primitives-state"}, None))
        except Exception:
            logger.exception("primitives-state failed")
            return {}

    def workers(self) -> dict[str, Any]:
        return {a: {"address": a, **worker_info(ws)}
                for a, ws in self.scheduler.state.workers.items()}

    def tasks(self, states: list[str] | None, prefix: str | None,
              limit: int) -> list[dict[str, Any]]:
        """Tasks the scheduler knows, filtered by scheduler state or status and prefix."""
        out = []
        for ts in self.scheduler.state.tasks.values():
            if states and ts.state not in states and STATUS.get(ts.state) not in states:
                continue
            if prefix is not None and ts.prefix != prefix:
                continue
            row = ClusterModel.row(row_from_record(task_record(ts)))
            row["who_has"] = sorted(ts.who_has)
            out.append(row)
            if len(out) >= limit:
                break
        return out

    def task(self, key: str) -> dict[str, Any]:
        """One task in detail (KeyError when unknown)."""
        ts = self.scheduler.state.tasks[key]
        row = ClusterModel.row(row_from_record(task_record(ts)))
        row.update({"who_has": sorted(ts.who_has), "processing_on": ts.processing_on,
                    "dependencies": sorted(d.key for d in ts.dependencies),
                    "dependents": sorted(d.key for d in ts.dependents),
                    "wanted_by": sorted(ts.who_wants), "nbytes": ts.nbytes,
                    "actor": ts.actor, "story": [list(t) for t in
                                                 self.scheduler.state.story(key)[-50:]]})
        return row

    # ------------------------------------------------------------------ actions
    def act(self, action: str, key: str) -> dict[str, Any]:
        """Cancel, retry or describe ``key``, through the scheduler's state machine.

        Cancelling drops every holder's claim (``CancelKeys(force=True)``): the clients holding
        the key see their futures cancelled.  Retrying needs an erred task.

        Raises:
            KeyError: the scheduler does not know ``key``.
            ValueError: an unknown action, or retrying a task that did not err.
        """
        ts = self.scheduler.state.tasks.get(key)
        if ts is None:
            raise KeyError(f"the scheduler knows no task {key!r}")
        if action == "detail":
            return {"status": STATUS.get(ts.state, ts.state), "state": ts.state,
                    "error": ts.error_text, "traceback": ""}
        if action == "cancel":
            self.scheduler.stimulus(ev.CancelKeys(ACTOR, [key], force=True,
                                                  stimulus_id="dashboard-cancel"))
        elif action == "retry":
            if ts.state != "erred":
                raise ValueError(f"{key} is {ts.state}, not erred: nothing to retry")
            self.scheduler.stimulus(ev.RetryKeys(ACTOR, [key], stimulus_id="dashboard-retry"))
        else:
            raise ValueError(f"unknown action {action!r} (cancel, retry or detail)")
        return {}

    def act_many(self, action: str, keys: list[str]) -> dict[str, Any]:
        done, errors = [], {}
        for key in keys:
            try:
                self.act(action, key)
                done.append(key)
            except (KeyError, ValueError) as e:
                errors[key] = str(e.args[0] if e.args else e)
        return {"ok": not errors, "action": action, "done": done, "errors": errors}
