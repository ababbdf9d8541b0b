"""The worker's I/O shell: registers with the scheduler, executes instructions, serves data.

Messages from the scheduler become events for :class:`~futurelab.worker.state.WorkerState`; its
instructions are carried out here: run a task in the thread pool, fetch dependencies from the peer
that holds them, report to the scheduler, drop data.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import os
import threading
import time
import uuid
from typing import Any

from ..comm import Comm, connect
from ..comm.handshake import AuthenticationError
from ..errors import CommClosedError, ProtocolError
from ..protocol import messages as m
from ..protocol.serialize import Opaque
from ..protocol.vocabulary import handlers_for
from ..rpc import BatchedSend, ConnectionPool, Server, read_watched_stream
from ..taskspec import substitute
from . import state as st
from .executor import TaskThreads, sizeof

logger = logging.getLogger("futurelab.worker")

#: seconds between the worker's heartbeats to the scheduler
HEARTBEAT_INTERVAL = 0.5
#: start no new tasks above this fraction of the memory limit
PAUSE_FRACTION = 0.8
#: a scheduler silent this long (it heartbeats every 0.5 s) is considered gone
SCHEDULER_TTL = 10.0


class Worker(Server):
    """A worker: a thread pool, an in-memory store and a stream to the scheduler.

    >>> # async with Worker("tcp://127.0.0.1:8786", nthreads=2) as w: ...
    """

    def __init__(self, scheduler_address: str, *, nthreads: int = 1, name: str | None = None,
                 listen_address: str | None = None, memory_limit: int = 0,
                 security: Any = None, death_timeout: float | None = 60.0) -> None:
        self.security = security
        #: seconds to keep trying to (re)connect to the scheduler before closing
        self.death_timeout = death_timeout
        self.scheduler_address = scheduler_address
        self.nthreads = nthreads
        self.name = name or f"worker-{uuid.uuid4().hex[:8]}"
        self.memory_limit = memory_limit
        if listen_address is None:
            listen_address = ("inproc://" if scheduler_address.startswith("inproc://")
                              else "tcp://127.0.0.1:0")
        self._listen_address = listen_address
        #: results held here, by key
        self.data: dict[str, Any] = {}
        self.rejoin_events: dict[str, threading.Event] = {}
        #: which thread slot each running task occupies (rows of the task stream)
        self.slots: dict[str, int] = {}
        self.pool = ConnectionPool(security=security)
        self.threads = TaskThreads(self, nthreads, self.name)
        self.loop = asyncio.get_running_loop()
        self.serializing = not listen_address.startswith("inproc://")
        self.stream: BatchedSend | None = None
        self.state: st.WorkerState
        self.closed = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._client: Any = None
        self._client_lock = threading.Lock()
        #: held while the state machine handles an event: the loop thread and task threads
        #: both feed it (a task thread reports its own outcome, see :meth:`handle`)
        self._state_lock = threading.RLock()
        #: messages for the scheduler, in the order the state machine produced them
        self._outgoing: list[Any] = []
        self._flush_scheduled = False
        self._loop_thread = threading.get_ident()
        self._stimuli = itertools.count(1)
        self.extensions: dict[str, Any] = {}
        #: op → handler(msg) for what the scheduler's stream carries
        self.scheduler_stream_handlers: dict[str, Any] = handlers_for(m.TO_WORKER, {
            **{cls: (lambda msg, f=f: self.handle(f(msg))) for cls, f in st.FROM_SCHEDULER.items()},
            m.CloseWorker: lambda msg: self._spawn(self.close()),
            m.Heartbeat: lambda msg: None,
            m.WorkerGone: self._peer_gone,
        })
        super().__init__(m.WORKER, {
            m.GetData: self._get_data,
            m.UpdateData: self._update_data,
            m.WorkerIdentity: lambda msg, c: {"type": "Worker", "address": self.address,
                                              "name": self.name, "nthreads": self.nthreads},
        })
        from . import admin
        from .actors import ActorHost
        self.actors = ActorHost(self)
        admin.install(self)

    def get_client(self) -> Any:
        """This worker's own Client (made on first use, shared by its tasks)."""
        with self._client_lock:
            if self._client is None:
                from ..client.client import Client
                self._client = Client(self.scheduler_address, loop=self.loop,
                                      set_as_default=False, security=self.security)
            return self._client

    @property
    def scheduler_comm_open(self) -> bool:
        return self.stream is not None and not self.stream.closed

    async def start(self) -> Worker:
        await self.listen(self._listen_address, self.security)
        self.state = st.WorkerState(self.address, self.nthreads)
        try:
            await self._register()
        except BaseException:
            self.stop()
            raise
        self._spawn(self._heartbeats())
        if self.memory_limit:
            self._spawn(self._watch_memory())
        return self

    async def _watch_memory(self) -> None:
        """Pause new work above PAUSE_FRACTION of the memory limit (the nanny kills above)."""
        import psutil
        proc = psutil.Process()
        while not self.closed.is_set():
            await asyncio.sleep(0.1)
            over = proc.memory_info().rss > PAUSE_FRACTION * self.memory_limit
            if over != self.state.paused:
                logger.warning("worker %s %s", self.name, "paused: memory is short" if over
                               else "resumed")
                self.handle(st.SetPaused(over, stimulus_id="memory"))

    async def _register(self) -> None:
        """Connect to the scheduler, retrying until ``death_timeout``, and register."""
        deadline = time.monotonic() + (self.death_timeout or 0)
        while True:
            try:
                comm = await connect(self.scheduler_address, security=self.security,
                                     timeout=max(1.0, min(10.0, deadline - time.monotonic())))
                break
            except AuthenticationError:
                raise
            except OSError:
                if time.monotonic() >= deadline:
                    raise
                await asyncio.sleep(0.1)
        await comm.write({"op": "register-worker", "address": self.address,
                          "nthreads": self.nthreads, "name": self.name, "pid": os.getpid(),
                          "memory_limit": self.memory_limit})
        reply = await comm.read()
        if not isinstance(reply, dict) or reply.get("status") != "OK":
            comm.abort()
            raise RuntimeError(f"scheduler refused worker {self.address}: {reply}")
        self.stream = BatchedSend(comm, m.WORKER_STREAM)
        self._spawn(self._read_scheduler(comm))
        logger.info("worker %s (%d threads) registered with %s", self.address, self.nthreads,
                    self.scheduler_address)

    async def _heartbeats(self) -> None:
        while not self.closed.is_set():
            await asyncio.sleep(HEARTBEAT_INTERVAL)
            if self.stream is not None and not self.stream.closed:
                self.stream.send({"op": "heartbeat"})

    async def _reconnect(self) -> None:
        """The scheduler is gone: start afresh and register again (or close at the deadline)."""
        logger.warning("worker %s lost its scheduler; reconnecting for up to %s s", self.name,
                       self.death_timeout)
        with self._state_lock:
            self.stream = None
            self.state = st.WorkerState(self.address, self.nthreads)
            self._outgoing.clear()
        self.data.clear()
        self.actors.close()
        try:
            await self._register()
        except (OSError, RuntimeError) as e:
            logger.warning("worker %s: no scheduler at %s (%s); closing", self.name,
                           self.scheduler_address, e)
            await self.close()

    async def __aenter__(self) -> Worker:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _read_scheduler(self, comm: Comm) -> None:
        try:
            await read_watched_stream(
                comm, m.TO_WORKER, self.scheduler_stream_handlers, SCHEDULER_TTL,
                lambda silent: logger.warning("worker %s: scheduler silent for %.0f s",
                                              self.name, silent))
        except (CommClosedError, ProtocolError, OSError):
            pass
        except Exception:
            logger.exception("worker %s: scheduler stream failed", self.name)
        if not self.closed.is_set():
            if self.death_timeout:
                self._spawn(self._reconnect())
            else:
                self._spawn(self.close())

    def _peer_gone(self, msg: dict[str, Any]) -> None:
        """A peer was declared gone: end every wait on it now, fetch from elsewhere."""
        address = msg["address"]
        self.pool.remove(address, f"the scheduler declared {address} gone")
        self.handle(st.FROM_SCHEDULER[m.WorkerGone](msg))

    async def close(self, timeout: float = 5.0) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        if self._client is not None:
            try:
                await self._client._close()
            except Exception:
                logger.debug("closing the worker's client failed", exc_info=True)
        if self.stream is not None:
            await self.stream.close()
        self.stop()
        self.pool.close()
        for ev in self.rejoin_events.values():
            ev.set()
        self.threads.shutdown()
        self.actors.close()
        for task in list(self._tasks):
            if task is not asyncio.current_task():
                task.cancel()

    # ------------------------------------------------------------------ state plumbing
    def handle(self, event: st.WorkerEvent) -> None:
        """Feed one event to the state machine and carry out its instructions.

        Callable from the loop thread and from task threads: a task thread reports its own
        outcome here and picks up the next task it is handed without waiting for the loop, so
        a stream of short tasks needs no thread switch per task.  Whatever needs the loop
        (sending, fetching dependencies) is handed to it, in order.
        """
        if self.closed.is_set():
            return
        on_loop = threading.get_ident() == self._loop_thread
        starts: list[tuple[str, Any, bool, bool, int]] = []
        with self._state_lock:
            if isinstance(event, (st.ExecuteSuccess, st.ExecuteFailure)):
                self.slots.pop(event.key, None)
            # every stimulus unique in the worker's stories, with its time
            event.stimulus_id = f"{event.stimulus_id or type(event).__name__}-{next(self._stimuli)}"
            for instr in self.state.handle(event, time.time()):
                match instr:
                    case st.Send(msg=msg):
                        self._outgoing.append(msg)
                    case st.Execute(key=key):
                        ts = self.state.tasks[key]
                        starts.append((key, ts.run_spec, bool(ts.dependencies), ts.actor,
                                       self._take_slot(key)))
                    case st.GatherDep(worker=peer, keys=keys):
                        self._call_on_loop(self._start_gather, peer, keys)
                    case st.Drop(keys=keys):
                        for key in keys:
                            self.data.pop(key, None)
                            self.actors.drop(key)
                    case st.Resume(key=key):
                        rejoined = self.rejoin_events.pop(key, None)
                        if rejoined is not None:
                            rejoined.set()
                    case _:
                        raise AssertionError(f"no shell step for instruction {instr!r}")
            flush = bool(self._outgoing) and not self._flush_scheduled
            if flush and not on_loop:
                self._flush_scheduled = True
        if flush:
            if on_loop:
                self._flush_outgoing()
            else:
                self._call_on_loop(self._flush_outgoing)
        # outside the lock: unpickling a task's function and arguments runs user code (which
        # may even start this worker's client and wait for the loop)
        for start in starts:
            self._execute(*start)

    def _flush_outgoing(self) -> None:
        with self._state_lock:
            msgs, self._outgoing = self._outgoing, []
            self._flush_scheduled = False
        if msgs and self.stream is not None:
            self.stream.send(*msgs)

    def _call_on_loop(self, fn: Any, *args: Any) -> None:
        if threading.get_ident() == self._loop_thread:
            fn(*args)
            return
        try:
            self.loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the loop is closed: the worker is gone
            pass

    def _start_gather(self, worker: str, keys: list[str]) -> None:
        self._spawn(self._gather_dep(worker, keys))

    def _execute(self, key: str, spec: Any, has_deps: bool, actor: bool, slot: int) -> None:
        assert spec is not None
        try:
            func = _get(spec["func"])
            args = _get(spec["args"]) or ()
            kwargs = _get(spec.get("kwargs")) or {}
            if has_deps:
                args = substitute(args, self.data.__getitem__)
                kwargs = substitute(kwargs, self.data.__getitem__)
        except BaseException as e:  # noqa: BLE001 - e.g. the function fails to unpickle here
            from .executor import failure_event
            self.loop.call_soon_threadsafe(self.handle, failure_event(
                key, e, 0.0, 0.0, serialize=self.serializing))
            return
        self.threads.submit(self, key, func, args, kwargs, actor, slot)

    def _take_slot(self, key: str) -> int:
        """The lowest free thread slot (a row of the task stream) for ``key``."""
        taken = set(self.slots.values())
        slot = next(i for i in range(len(taken) + 1) if i not in taken)
        self.slots[key] = slot
        return slot

    async def _gather_dep(self, worker: str, keys: list[str]) -> None:
        try:
            reply = await self.pool.request(worker, {"op": "get-data", "keys": keys})
            fetched: dict[str, int] = {}
            for key, value in reply["data"].items():
                obj = _get(value)
                self.data[key] = obj
                fetched[key] = sizeof(obj)
            missing = [k for k in keys if k not in fetched]
            event: st.WorkerEvent = st.GatherDepDone(worker, fetched, missing,
                                                     stimulus_id="gather-dep-done")
        except (OSError, CommClosedError, ProtocolError, KeyError, TypeError) as e:
            logger.info("worker %s: fetching %d keys from %s failed: %s", self.name, len(keys),
                        worker, e)
            self.pool.remove(worker)
            event = st.GatherDepFailed(worker, keys, stimulus_id="gather-dep-failed")
        self.handle(event)

    # ------------------------------------------------------------------ handlers
    def _get_data(self, msg: dict[str, Any], comm: Comm) -> dict[str, Any]:
        data: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for key in msg["keys"]:
            if key not in self.data:
                continue
            op = Opaque(self.actors.proxy(key) if key in self.actors.instances else self.data[key])
            if self.serializing and not comm.peer_address.startswith("inproc://"):
                try:
                    op.frames()
                except Exception as e:  # noqa: BLE001
                    errors[key] = (f"the result of task {key!r} could not be serialized to send "
                                   f"it: {e}")
                    continue
            data[key] = op
        return {"status": "OK", "data": data, "errors": errors}

    def _update_data(self, msg: dict[str, Any], comm: Comm) -> dict[str, Any]:
        nbytes: dict[str, int] = {}
        for key, value in msg["data"].items():
            obj = _get(value)
            self.data[key] = obj
            nbytes[key] = sizeof(obj)
        self.handle(st.UpdateData(nbytes, stimulus_id="update-data"))
        return {"status": "OK", "nbytes": nbytes,
                "types": {k: type(self.data[k]).__name__ for k in nbytes}}


def _get(value: Any) -> Any:
    return value.get() if isinstance(value, Opaque) else value
