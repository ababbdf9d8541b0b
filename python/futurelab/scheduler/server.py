"""The scheduler's I/O shell: wire messages in, state-machine stimuli through, messages out.

Every handler here turns one message into one stimulus for
:class:`~futurelab.scheduler.state.SchedulerState` and routes the resulting :class:`Outbox` to the
clients' and workers' batched streams.  Extensions (coordination primitives, the event stream)
register extra handlers through :meth:`Scheduler.add_handlers`.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

from .._memory import release_free_memory
from ..comm import Comm
from ..comm.liveness import host_answering
from ..errors import CommClosedError, ProtocolError
from ..protocol import messages as m
from ..protocol.vocabulary import handlers_for
from ..rpc import CANNOT_TELL_TTL, STARVED, BatchedSend, Server, read_stream
from ..utils import parse_timedelta
from . import events as ev
from .state import Outbox, SchedulerState

logger = logging.getLogger("futurelab.scheduler")
_listener_ids = itertools.count(1)

#: a worker that sends nothing (no heartbeat, no message) for this long is removed even though
#: its host still answers: it is stuck or stopped, not merely busy (dask's ``worker-ttl``)
WORKER_TTL = 300.0
#: seconds of silence after which the kernel's view of a worker's host is consulted: a host that
#: stopped answering is gone now (see :mod:`futurelab.comm.liveness`)
HEARTBEAT_TTL = 5.0
WATCH_INTERVAL = 0.5
#: where the web dashboard listens unless told otherwise (the next free port when taken)
DEFAULT_DASHBOARD = "127.0.0.1:8787"


class Scheduler(Server):
    """A scheduler process's server.

    >>> # async with Scheduler("tcp://127.0.0.1:8786") as s: ...
    """

    def __init__(self, address: str = "tcp://127.0.0.1:0", *, validate: bool = False,
                 security: Any = None, worker_ttl: float | str | None = WORKER_TTL,
                 dashboard_address: str | int | None = DEFAULT_DASHBOARD) -> None:
        self.state = SchedulerState(validate=validate)
        self.security = security
        self._listen_address = address
        self.client_streams: dict[str, BatchedSend] = {}
        self.worker_streams: dict[str, BatchedSend] = {}
        #: called with (client_id) when a client's stream closes — primitives hook here
        self.on_client_removed: list[Callable[[str], None]] = []
        self.on_worker_removed: list[Callable[[str], None]] = []
        self.extensions: dict[str, Any] = {}
        #: op → handler(worker, msg) for what workers' streams carry
        self.worker_stream_handlers: dict[str, Callable[[str, Any], None]] = handlers_for(
            m.WORKER_STREAM, {
                **{cls: (lambda w, msg, f=f: self.defer(f(w, msg)))
                   for cls, f in ev.FROM_WORKER.items()},
                m.Heartbeat: lambda w, msg: None,
                m.Closing: lambda w, msg: None,
            })
        #: op → handler(client, msg) for what clients' streams carry (extensions add theirs)
        self.client_stream_handlers: dict[str, Callable[[str, Any], None]] = handlers_for(
            m.CLIENT_STREAM, {
                **{cls: (lambda c, msg, f=f: self.defer(f(c, msg)))
                   for cls, f in ev.FROM_CLIENT.items()},
                m.Heartbeat: lambda c, msg: None,
                m.SubscribeEvents: lambda c, msg: self._subscribe(c, msg["topics"], True),
                m.UnsubscribeEvents: lambda c, msg: self._subscribe(c, msg["topics"], False),
                m.ClusterSnapshot: lambda c, msg: self.send_to_client(c, {
                    "op": "event", "topic": "snapshot",
                    "payload": self.events.snapshot(msg.get("keys"))}),
            })
        #: topic → clients that asked for its events (and ids of local listeners)
        self.event_subscribers: dict[str, set[str]] = {}
        #: local listener id → callable(topic, payload): in-process subscribers (the dashboard)
        self.local_listeners: dict[str, Callable[[str, dict[str, Any]], None]] = {}
        self._dashboard_address = dashboard_address
        #: the web dashboard (futurelab.dashboard.server.Dashboard), once started
        self.dashboard: Any = None
        super().__init__(m.SCHEDULER, {
            m.RegisterClient: self._register_client,
            m.RegisterWorker: self._register_worker,
            m.Identity: lambda msg, c: self.identity(),
            m.SchedulerInfo: lambda msg, c: self.identity(),
            m.WhoHas: lambda msg, c: self.who_has(msg.get("keys")),
            m.HasWhat: lambda msg, c: self.has_what(msg.get("workers")),
            m.ScatterDone: self._scatter_done,
            m.NCores: lambda msg, c: {a: w.nthreads for a, w in self.state.workers.items()},
            m.RetireWorkersNow: self._retire_workers,
        }, stream_ops=(m.RegisterClient, m.RegisterWorker))
        self.closed = asyncio.Event()
        #: stimuli were applied by :meth:`defer` and not flushed yet
        self._deferred = False
        self._stimuli = itertools.count(1)
        self._retiring: dict[str, bool] = {}
        #: when each worker was last heard from (monotonic seconds)
        self.last_seen: dict[str, float] = {}
        #: seconds a silent worker whose host still answers is kept (None: forever)
        self.worker_ttl = parse_timedelta(worker_ttl)
        self._watchdog: asyncio.Task[None] | None = None
        self._started = time.time()
        from . import admin, scaling
        from .primitives import install
        from .stream import EventStream
        self.events = EventStream(self)
        install(self)
        admin.install(self)
        scaling.install(self)

    @property
    def workers(self) -> dict[str, Any]:
        """Connected workers by address, with ``.address``, ``.name``, ``.nthreads``,
        ``.memory_limit`` and ``.pid`` (as dask's ``Scheduler.workers`` of WorkerState)."""
        return self.state.workers

    def add_handlers(self, handlers: Mapping[type, Any] | None = None,
                     client_stream: Mapping[type, Callable[[str, Any], None]] | None = None,
                     ) -> None:
        """Register an extension's request handlers and client stream handlers, keyed by the
        message classes declared in :mod:`futurelab.protocol.messages`."""
        super().add_handlers(handlers or {})
        self.client_stream_handlers.update(handlers_for(m.CLIENT_STREAM, client_stream or {}))

    async def start(self) -> Scheduler:
        await self.listen(self._listen_address, self.security)
        if self._dashboard_address is not None:
            from ..dashboard.server import Dashboard
            try:
                self.dashboard = Dashboard(self, self._dashboard_address).start()
            except BaseException:
                self.stop()
                raise
        self._watchdog = asyncio.ensure_future(self._watch())
        logger.debug("scheduler at %s", self.address)
        return self

    async def __aenter__(self) -> Scheduler:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _watch(self) -> None:
        """Drop workers that are gone; keep every stream warm with heartbeats.

        A worker silent for :data:`HEARTBEAT_TTL` is gone when its host stopped answering (or,
        where the transport cannot tell, after ``CANNOT_TELL_TTL``); one whose host answers is
        busy (a task holding the GIL) and is kept for ``worker_ttl``.  Time the scheduler's own
        loop was starved is not held against the workers.
        """
        expected = time.monotonic() + WATCH_INTERVAL
        while not self.closed.is_set():
            await asyncio.sleep(WATCH_INTERVAL)
            now = time.monotonic()
            if now - expected > STARVED:
                for address in self.last_seen:
                    self.last_seen[address] = max(self.last_seen[address], now - WATCH_INTERVAL)
            expected = now + WATCH_INTERVAL
            for address, seen in list(self.last_seen.items()):
                silent = now - seen
                if silent <= HEARTBEAT_TTL:
                    continue
                bs = self.worker_streams.get(address)
                answering = host_answering(bs.comm) if bs is not None else False
                limit = (self.worker_ttl if answering else
                         HEARTBEAT_TTL if answering is False else CANNOT_TELL_TTL)
                if limit is not None and silent > limit:
                    why = ("its host stopped answering" if answering is False else
                           "its host still answers: stuck or stopped" if answering else "")
                    logger.warning("worker %s silent for %.1f s (%s); removing it", address,
                                   silent, why or "no liveness information")
                    self.last_seen.pop(address, None)
                    if bs is not None:
                        bs.abort()  # its stream handler removes it
            for bs in [*self.client_streams.values(), *self.worker_streams.values()]:
                bs.send({"op": "heartbeat"})

    async def close(self) -> None:
        self.stop()
        if self._watchdog is not None:
            self._watchdog.cancel()
        self.events.close()
        dashboard = self.dashboard.stop() if self.dashboard is not None else None
        for bs in [*self.client_streams.values(), *self.worker_streams.values()]:
            bs.abort()
        self.closed.set()
        if dashboard is not None:  # idle keep-alive HTTP connections, after the rest
            await self.dashboard.close_connections(dashboard)

    # ------------------------------------------------------------------ state plumbing
    def stimulus(self, event: ev.Event) -> None:
        """Apply ``event`` and send what it (and anything deferred before it) produced."""
        self._apply(event)
        self._deferred = False
        self._flush()

    def _apply(self, event: ev.Event) -> None:
        """Number the stimulus (its category + a sequence number: every one is unique in the
        transition log and the stories) and apply it at the current time."""
        event.stimulus_id = f"{event.stimulus_id}-{next(self._stimuli)}"
        self.state.apply(event, time.time())

    def _flush(self) -> None:
        compactions = self.state.compactions
        self.send_all(self.state.flush())
        if self.state.compactions != compactions:
            release_free_memory()  # the state just dropped a burst of tasks

    def defer(self, event: ev.Event) -> None:
        """Apply ``event`` now; place tasks and send messages at :meth:`flush_deferred`.

        Stream handlers use this: a batch of messages from a worker or client is applied
        message by message, then flushed once (see :meth:`SchedulerState.apply`).
        """
        self._apply(event)
        self._deferred = True

    def flush_deferred(self) -> None:
        if self._deferred:
            self._deferred = False
            self._flush()

    def send_all(self, out: Outbox) -> None:
        for client, msgs in out.clients.items():
            bs = self.client_streams.get(client)
            if bs is not None:
                bs.send(*msgs)
        for worker, msgs in out.workers.items():
            bs = self.worker_streams.get(worker)
            if bs is not None:
                bs.send(*msgs)

    def emit_event(self, topic: str, payload: dict[str, Any]) -> None:
        """Send an event to the subscribers of ``topic`` (free when nobody listens).

        Clients get it on their stream; local listeners (:meth:`add_local_listener`) are called.
        """
        subscribers = self.event_subscribers.get(topic)
        if subscribers:
            msg = {"op": "event", "topic": topic, "payload": payload}
            for client in list(subscribers):
                fn = self.local_listeners.get(client)
                if fn is None:
                    self.send_to_client(client, msg)
                    continue
                try:
                    fn(topic, payload)
                except Exception:
                    logger.exception("local event listener %s failed", client)

    def add_local_listener(self, topics: list[str],
                           fn: Callable[[str, dict[str, Any]], None]) -> str:
        """Call ``fn(topic, payload)`` on the scheduler's loop for each event of ``topics``.

        A local listener is a subscriber like a client (so the producers' "anybody listening?"
        checks see it), delivered by a call instead of a message.  Returns its id, for
        :meth:`remove_local_listener`.  ``fn`` must be quick and must not raise.

        >>> # lid = scheduler.add_local_listener(["tasks"], lambda topic, payload: ...)
        """
        lid = f"local-{next(_listener_ids)}"
        self.local_listeners[lid] = fn
        self._subscribe(lid, topics, True)
        return lid

    def remove_local_listener(self, lid: str) -> None:
        """Stop calling the listener ``lid`` (unknown ids are ignored)."""
        if self.local_listeners.pop(lid, None) is not None:
            for subs in self.event_subscribers.values():
                subs.discard(lid)
            self.events.subscriptions_changed()

    def _subscribe(self, client: str, topics: list[str], on: bool) -> None:
        for topic in topics:
            subs = self.event_subscribers.setdefault(topic, set())
            if on:
                subs.add(client)
            else:
                subs.discard(client)
        self.events.subscriptions_changed()

    def send_to_client(self, client: str, msg: dict[str, Any]) -> None:
        bs = self.client_streams.get(client)
        if bs is not None:
            bs.send(msg)

    # ------------------------------------------------------------------ clients
    async def _register_client(self, msg: dict[str, Any], comm: Comm) -> None:
        client = msg.get("client")
        if not isinstance(client, str) or not client:
            await _refuse(comm, "register-client needs a 'client' id (a string)")
            return
        await comm.write({"status": "OK", "address": self.address, "id": client,
                          "dashboard": self.dashboard.where() if self.dashboard else None})
        bs = self.client_streams[client] = BatchedSend(comm, m.TO_CLIENT)
        logger.info("receive client connection: %s", client)
        self.state.clients.setdefault(client, set())
        handlers = {op: (lambda msg, h=h: h(client, msg))
                    for op, h in self.client_stream_handlers.items()}
        try:
            await read_stream(comm, m.CLIENT_STREAM, handlers, self.flush_deferred)
        except (CommClosedError, ProtocolError, OSError):
            pass
        except Exception:
            logger.exception("client %s sent a message that broke its handler; closing", client)
        finally:
            if self.client_streams.get(client) is bs:
                del self.client_streams[client]
            bs.abort()
            self.stimulus(ev.RemoveClient(client))
            for subs in self.event_subscribers.values():
                subs.discard(client)
            self.events.subscriptions_changed()
            for hook in self.on_client_removed:
                hook(client)

    def _scatter_done(self, msg: dict[str, Any], comm: Comm) -> dict[str, Any]:
        self.stimulus(ev.ScatterData(str(msg["client"]), msg["who_has"], msg.get("nbytes", {}),
                                     msg.get("types", {})))
        return {"status": "OK"}

    # ------------------------------------------------------------------ workers
    async def _register_worker(self, msg: dict[str, Any], comm: Comm) -> None:
        address = msg.get("address")
        nthreads = msg.get("nthreads", 1)
        if not isinstance(address, str) or not isinstance(nthreads, int) or nthreads < 1:
            await _refuse(comm, "register-worker needs an 'address' (a string) and 'nthreads' "
                                "(a positive integer)")
            return
        if address in self.worker_streams:
            await comm.write({"status": "error", "message": f"worker {address} already exists"})
            comm.abort()
            return
        await comm.write({"status": "OK"})
        bs = self.worker_streams[address] = BatchedSend(comm, m.TO_WORKER)
        self.stimulus(ev.AddWorker(address, int(msg.get("nthreads", 1)), str(msg.get("name", "")),
                                   int(msg.get("memory_limit", 0)), int(msg.get("pid", 0))))
        self.events.worker_added(self.state.workers[address])
        logger.info("register worker %s name: %s (%s threads)", address, msg.get("name"),
                    nthreads)
        handlers = {op: (lambda msg, h=h: h(address, msg))
                    for op, h in self.worker_stream_handlers.items()}
        expected = False
        self.last_seen[address] = time.monotonic()

        def seen() -> None:
            self.last_seen[address] = time.monotonic()
            self.flush_deferred()

        try:
            await read_stream(comm, m.WORKER_STREAM, handlers, seen)
        except (CommClosedError, ProtocolError, OSError):
            pass
        except Exception:
            logger.exception("worker %s sent a message that broke its handler", address)
        finally:
            expected = self._retiring.pop(address, False)
            self.last_seen.pop(address, None)
            if self.worker_streams.get(address) is bs:
                del self.worker_streams[address]
            bs.abort()
            self.stimulus(ev.RemoveWorker(address, expected=expected))
            logger.info("remove worker %s (%s)", address, "retired" if expected else "lost")
            # whoever is fetching from it or waiting on it stops now (not at a timeout)
            for peer in [*self.worker_streams.values(), *self.client_streams.values()]:
                peer.send({"op": "worker-gone", "address": address})
            self.events.worker_removed(address)
            for hook in self.on_worker_removed:
                hook(address)

    async def _retire_workers(self, msg: dict[str, Any], comm: Comm) -> dict[str, Any]:
        workers = msg.get("workers") or list(self.worker_streams)
        for addr in workers:
            self._retiring[addr] = True
            bs = self.worker_streams.get(addr)
            if bs is not None:
                bs.send({"op": "close"})
        return {"status": "OK", "workers": workers}

    # ------------------------------------------------------------------ introspection
    def identity(self) -> dict[str, Any]:
        return {
            "type": "Scheduler",
            "id": f"Scheduler-{os.getpid()}",
            "address": self.address,
            "services": ({"dashboard": self.dashboard.port}
                         if self.dashboard is not None else {}),
            "started": self._started,
            "workers": {
                addr: {"type": "Worker", "id": ws.name or addr, "name": ws.name or addr,
                       "host": addr.split("://")[-1].rsplit(":", 1)[0], "nthreads": ws.nthreads,
                       "memory_limit": ws.memory_limit, "pid": ws.pid,
                       "metrics": {"executing": len(ws.processing), "in_memory": len(ws.has_what),
                                   "memory": ws.nbytes}}
                for addr, ws in self.state.workers.items()
            },
        }

    def who_has(self, keys: list[str] | None) -> dict[str, list[str]]:
        tasks = self.state.tasks
        if keys is None:
            return {k: sorted(ts.who_has) for k, ts in tasks.items() if ts.who_has}
        return {k: sorted(tasks[k].who_has) if k in tasks else [] for k in keys}

    def has_what(self, workers: list[str] | None) -> dict[str, list[str]]:
        ws_all = self.state.workers
        addrs = workers if workers is not None else list(ws_all)
        return {a: sorted(ts.key for ts in ws_all[a].has_what) if a in ws_all else []
                for a in addrs}


async def _refuse(comm: Comm, message: str) -> None:
    logger.warning("refused %s: %s", comm.peer_address, message)
    try:
        await comm.write({"status": "error", "message": message})
    except (CommClosedError, OSError):
        pass
    comm.abort()


async def run_scheduler(address: str, stop: asyncio.Event | None = None,
                        dashboard_address: str | int | None = DEFAULT_DASHBOARD) -> None:
    """Run a scheduler until ``stop`` is set (the CLI's main loop)."""
    sched = await Scheduler(address, dashboard_address=dashboard_address).start()
    try:
        await (stop.wait() if stop is not None else sched.closed.wait())
    finally:
        await sched.close()
