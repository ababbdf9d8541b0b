"""The Client: submit work, move data, hold Futures — one async implementation, sync facade.

Everything that talks to the cluster is an ``async def _name`` coroutine running on the client's
event loop; the public method of the same name is one line, ``return self.sync(self._name, ...)``,
which awaits the coroutine in asynchronous mode and blocks on it otherwise.  ``submit`` and
``map`` never wait for a round trip: they queue messages that the loop sends in one batch.
"""
from __future__ import annotations

import asyncio
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from .._memory import Peak
from ..comm import connect
from ..comm.handshake import AuthenticationError
from ..errors import CommClosedError, FuturelabError, ProtocolError, SchedulerGone
from ..protocol import messages as m
from ..protocol.serialize import Opaque
from ..protocol.vocabulary import handlers_for
from ..rpc import BatchedSend, ConnectionPool, read_watched_stream
from ..taskspec import replace_futures
from . import sync as _sync
from .admin import AdminMixin
from .collections import CollectionsMixin
from .future import CANCELLED, ERROR, FINISHED, PENDING, Future, FutureState
from .transfer import (
    TransferMixin,
    _pickle_checked,
    funcname,
    pickle_args,
    pickle_kwargs,
    token_of_frames,
    tokenize,
)

_default_client: Client | None = None
#: a scheduler silent for this long is considered gone (it sends heartbeats every 0.5 s)
SCHEDULER_TTL = 10.0
#: map sends its tasks in messages of at most this many
MAP_CHUNK = 2000
_client_lock = threading.Lock()


def default_client() -> Client:
    """The current default Client.

    Raises:
        ValueError: when no Client was started in this process.
    """
    client = _default_client
    if client is None or client.status == "closed":
        raise ValueError("No clients found. Start a client and point it to the scheduler address:"
                         " `from futurelab import Client; client = Client()`")
    return client


class Client(AdminMixin, CollectionsMixin, TransferMixin):
    """Connect to a futurelab cluster (or start a local one) and run work on it.

    Args:
        address: a scheduler address (``"tcp://host:8786"``), a LocalCluster, or None to start a
            LocalCluster with the keyword arguments given (``n_workers``, ``threads_per_worker``,
            ``processes``).
        timeout: seconds to wait for the scheduler before giving up.
        asynchronous: True to use the client from async code (every method is awaitable).

    >>> # client = Client(processes=False)
    >>> # client.submit(sum, [1, 2]).result()
    >>> # 3
    """

    def __init__(self, address: Any = None, loop: asyncio.AbstractEventLoop | None = None,
                 timeout: float = 10, set_as_default: bool = True, asynchronous: bool = False,
                 name: str | None = None, security: Any = None,
                 **cluster_kwargs: Any) -> None:
        self.id = f"Client-{uuid.uuid4().hex}"
        self.name = name
        self.asynchronous = asynchronous
        self.timeout = timeout
        self.status = "newly-created"
        self.futures: dict[str, FutureState] = {}
        self.refcount: dict[str, int] = {}
        self._size = Peak()
        self._lock = threading.RLock()
        self._outbox: list[dict[str, Any]] = []
        self._releases: list[str] = []
        self._flush_scheduled = False
        self._stream: BatchedSend | None = None
        self.security = security
        self._pool = ConnectionPool(timeout=timeout, security=security)
        self._set_as_default = set_as_default
        self._own_cluster = False
        self._reader: asyncio.Task[Any] | None = None
        self.cluster: Any = None
        self._model: Any = None
        #: actors of this client, by key: class, worker, calls in flight (for the views)
        self.actors: dict[str, dict[str, Any]] = {}
        self.scheduler_address: str | None = None
        #: where this client actually connects (in-process to a LocalCluster of this process)
        self._link_address = ""
        self._stream_handlers: dict[str, Callable[[Any], None]] = handlers_for(m.TO_CLIENT, {
            m.KeyInMemory: self._on_key_in_memory,
            m.ClientTaskErred: self._on_task_erred,
            m.CancelledKeys: self._on_cancelled,
            m.KeyLost: self._on_key_lost,
            m.Heartbeat: lambda msg: None,
            # a worker declared gone: gathers from it end now, and are retried elsewhere
            m.WorkerGone: lambda msg: self._pool.remove(
                msg["address"], f"the scheduler declared {msg['address']} gone"),
        })
        #: extensions (primitives, the state model) add stream handlers here
        self.extensions: dict[str, Any] = {}
        if address is not None and not isinstance(address, str):
            self.cluster = address
        elif address is None:
            self._cluster_kwargs = cluster_kwargs
            self._own_cluster = True
        else:
            self.scheduler_address = address
        if loop is None:
            loop = (asyncio.get_running_loop() if asynchronous else
                    getattr(self.cluster, "loop", None) or _sync.background_loop())
        self.loop = loop
        self._started: asyncio.Future[Client] | None = None
        if asynchronous:
            self._started = asyncio.ensure_future(self._start())
        else:
            self.sync(self._start)

    # ------------------------------------------------------------------ facade
    def sync(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call ``func`` (a coroutine function) the way this client's mode wants."""
        if self.asynchronous or _sync.in_loop_thread(self.loop):
            return func(*args, **kwargs)
        return _sync.sync(self.loop, func, *args, **kwargs)

    def _call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        if _sync.in_loop_thread(self.loop):
            self.loop.call_soon(fn, *args)
        else:
            self.loop.call_soon_threadsafe(fn, *args)

    def __await__(self) -> Any:
        async def started() -> Client:
            if self._started is not None:
                await self._started
            return self
        return started().__await__()

    async def __aenter__(self) -> Client:
        return await self

    async def __aexit__(self, *exc: object) -> None:
        await self._close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ start / close
    async def _start(self) -> Client:
        if self._own_cluster:
            from ..cluster import LocalCluster
            self.cluster = await LocalCluster(asynchronous=True, **self._cluster_kwargs)
        if self.cluster is not None:
            self.scheduler_address = self.cluster.scheduler_address
            if self.security is None:
                self.security = getattr(self.cluster, "security", None)
        if self.security is None and not self._own_cluster:
            from ..security import lookup
            self.security = lookup(self.scheduler_address)
        self._pool.security = self.security
        assert self.scheduler_address is not None
        # workers in other processes need pickled payloads, even over an in-process link
        self._serializing = bool(getattr(self.cluster, "processes",
                                         not self.scheduler_address.startswith("inproc://")))
        self._link_address = getattr(self.cluster, "local_address", None) \
            or self.scheduler_address
        comm = await self._connect_scheduler()
        await comm.write({"op": "register-client", "client": self.id})
        reply = await asyncio.wait_for(comm.read(), self.timeout)
        if not isinstance(reply, dict) or reply.get("status") != "OK":
            comm.abort()
            raise FuturelabError(f"scheduler at {self.scheduler_address} refused the client: "
                                 f"{reply}")
        #: where the scheduler's dashboard listens ({"host", "port", "token"}), or None
        self._dashboard = reply.get("dashboard")
        self._stream = BatchedSend(comm, m.CLIENT_STREAM)
        self._reader = asyncio.ensure_future(self._read_scheduler(comm))
        self.status = "running"
        if self._set_as_default:
            global _default_client
            _default_client = self
        # dask collections hook (issue 12): a default Client becomes dask's scheduler
        from .collections import on_client_start
        on_client_start(self)
        self._flush()
        if "ipykernel" in sys.modules:  # JupyterLab sidebar: kernel comm (jupyter/bridge.py)
            from ..jupyter.bridge import maybe_register
            maybe_register()
        return self

    async def _connect_scheduler(self) -> Any:
        deadline = time.monotonic() + self.timeout
        address = self._link_address
        assert address is not None
        while True:
            try:
                return await connect(address, timeout=max(0.1, deadline - time.monotonic()),
                                     security=self.security)
            except AuthenticationError:
                raise  # retrying cannot help
            except (OSError, asyncio.TimeoutError) as e:
                if time.monotonic() >= deadline:
                    raise OSError(f"Timed out trying to connect to {address} after "
                                  f"{self.timeout} s: {e}") from e
                await asyncio.sleep(0.05)

    async def _read_scheduler(self, comm: Any) -> None:
        try:
            await read_watched_stream(comm, m.TO_CLIENT, self._stream_handlers, SCHEDULER_TTL)
        except (CommClosedError, ProtocolError, OSError):
            pass
        if self.status == "running":
            self.status = "scheduler-gone"
            gone = SchedulerGone(f"lost the connection to the scheduler at "
                                  f"{self.scheduler_address}")
            for st in list(self.futures.values()):
                if not st.done():
                    st.set_error(gone, None, str(gone), "gone")
            self._fail_requests(gone)

    def add_stream_handlers(self, handlers: dict[type, Callable[[Any], None]]) -> None:
        """Handle more of what the scheduler sends on this client's stream (for extensions:
        primitives, the live model), keyed by the declared message classes."""
        self._stream_handlers.update(handlers_for(m.TO_CLIENT, handlers))

    def _fail_requests(self, error: Exception) -> None:
        """Fail what extensions still wait for from the scheduler (it will not answer now)."""
        for ext in list(self.extensions.values()):
            fail = getattr(ext, "fail_pending", None)
            if fail is not None:
                fail(error)

    def close(self, timeout: float | None = None) -> Any:
        """Close the client (and the LocalCluster it started)."""
        if self.status == "closed":
            return None if not self.asynchronous else asyncio.sleep(0)
        return self.sync(self._close, callback_timeout=timeout or 2 * self.timeout) \
            if not self.asynchronous else self._close()

    async def _close(self) -> None:
        if self.status == "closed":
            return
        self.status = "closed"
        global _default_client
        if _default_client is self:
            _default_client = None
        if self._model is not None:
            self._model.close()
        if self._stream is not None:
            self._flush()
            await self._stream.close()
        if self._reader is not None:
            self._reader.cancel()
        self._fail_requests(FuturelabError("the client is closed"))
        self._pool.close()
        if self._own_cluster and self.cluster is not None:
            await self.cluster._close()

    def __del__(self) -> None:
        if getattr(self, "status", "closed") == "running" and not self.asynchronous:
            try:
                self.loop.call_soon_threadsafe(lambda: asyncio.ensure_future(self._close()))
            except RuntimeError:
                pass

    # ------------------------------------------------------------------ messages out
    def _send(self, *msgs: dict[str, Any]) -> None:
        """Queue messages for the scheduler (thread-safe; sent together on the next loop tick)."""
        with self._lock:
            if self._releases:
                # keep order: a key released and then submitted again must arrive in that order
                self._outbox.append({"op": "client-releases-keys", "keys": self._releases})
                self._releases = []
            self._outbox.extend(msgs)
            if self._flush_scheduled:
                return
            self._flush_scheduled = True
        try:
            self._call_soon(self._flush)
        except RuntimeError:  # loop closed: the client is gone
            pass

    def _flush(self) -> None:
        with self._lock:
            self._flush_scheduled = False
            if self._stream is None:
                return
            msgs, self._outbox = self._outbox, []
            if self._releases:
                msgs.append({"op": "client-releases-keys", "keys": self._releases})
                self._releases = []
                if self._size.shrunk(len(self.futures)):  # a burst of futures was let go
                    self.futures, self.refcount = dict(self.futures), dict(self.refcount)
        if msgs:
            self._stream.send(*msgs)

    # ------------------------------------------------------------------ references
    def _ref(self, key: str, inform: bool) -> FutureState:
        with self._lock:
            st = self.futures.get(key)
            if st is None:
                st = self.futures[key] = FutureState(key)
                self.refcount[key] = 1
                if key in self._releases:
                    # released a moment ago and not yet told: just take the release back
                    self._releases.remove(key)
                elif inform:
                    self._send({"op": "client-desires-keys", "keys": [key]})
            else:
                self.refcount[key] += 1
            return st

    def _unref(self, key: str, state: FutureState | None = None) -> None:
        with self._lock:
            if state is not None and self.futures.get(key) is not state:
                return
            n = self.refcount.get(key, 0) - 1
            if n > 0:
                self.refcount[key] = n
                return
            self.refcount.pop(key, None)
            self.futures.pop(key, None)
            if self.status not in ("running", "newly-created"):
                return
            # released keys travel together: one message per flush, not one per Future
            self._releases.append(key)
            if self._flush_scheduled:
                return
            self._flush_scheduled = True
        try:
            self._call_soon(self._flush)
        except RuntimeError:
            pass

    # ------------------------------------------------------------------ messages in
    def _on_key_in_memory(self, msg: dict[str, Any]) -> None:
        st = self.futures.get(msg["key"])
        if st is not None:
            st.finish(msg.get("type"), msg.get("who_has", []), msg.get("data"), "data" in msg)
            if "typeobj" in msg:
                st.typeobj = msg["typeobj"]
            if msg.get("actor"):
                who = msg.get("who_has") or [""]
                self.actors[msg["key"]] = {"class": msg.get("type", ""), "worker": who[0],
                                           "pending": 0}

    def _on_task_erred(self, msg: dict[str, Any]) -> None:
        st = self.futures.get(msg["key"])
        if st is not None:
            st.set_error(msg.get("exception"), msg.get("traceback"), msg.get("text", ""),
                         msg.get("kind", "task"))

    def _on_cancelled(self, msg: dict[str, Any]) -> None:
        for key in msg["keys"]:
            st = self.futures.get(key)
            if st is not None:
                st.cancel()

    def _on_key_lost(self, msg: dict[str, Any]) -> None:
        st = self.futures.get(msg["key"])
        if st is not None and st.status == FINISHED:
            st.lose()

    # ------------------------------------------------------------------ submit / map
    def submit(self, func: Callable[..., Any], *args: Any, key: str | None = None,
               workers: Any = None, pure: bool | None = None, retries: int = 0,
               actor: bool = False, actors: bool = False, priority: int = 0,
               allow_other_workers: bool = False, resources: Any = None,
               fifo_timeout: Any = None, **kwargs: Any) -> Future:
        """Run ``func(*args, **kwargs)`` on the cluster; return its Future at once.

        Raises:
            TypeError: when ``func`` is not callable or an argument cannot be serialized.
        """
        if not callable(func):
            raise TypeError(f"First input to submit must be a callable function, not {func!r}")
        actor = actor or actors
        if pure is None:
            pure = not actor
        task, fut = self._make_task(func, args, kwargs, key, pure, workers, retries, actor)
        if task is not None:
            self._send({"op": "update-graph", "tasks": [task], "keys": [fut.key]})
        return fut

    def _make_task(self, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
                   key: str | None, pure: bool, workers: Any, retries: int, actor: bool,
                   func_op: Opaque | None = None, func_token: str | None = None,
                   ) -> tuple[dict[str, Any] | None, Future]:
        deps: dict[str, Future] = {}
        args2 = replace_futures(args, Future, deps)
        kwargs2 = replace_futures(kwargs, Future, deps) if kwargs else None
        args_op = kwargs_op = None
        if key is None:
            name = funcname(func)
            if pure and self._serializing:
                # one pickle of the arguments serves both the key and the transfer
                args_op = pickle_args(args2, name)
                kwargs_op = pickle_kwargs(kwargs2, name) if kwargs2 else None
                frames = [*args_op.frames(), *(kwargs_op.frames() if kwargs_op else ())]
                token = token_of_frames(frames, func_token or tokenize(func))
            elif pure:
                token = tokenize(func_token or func, args2, kwargs2)
            else:
                token = uuid.uuid4().hex
            key = f"{name}-{token}"
        elif not isinstance(key, str):
            raise TypeError(f"key must be a string, not {type(key).__name__}: {key!r}")
        with self._lock:
            known = key in self.futures
            fut = Future(key, self, inform=False)
        if known:
            return None, fut
        if func_op is None:
            func_op = _pickle_checked(func, f"the function {funcname(func)!r}") \
                if self._serializing else Opaque(func)
        if args_op is not None:
            pass  # pickled above, for the key
        elif self._serializing:
            args_op = pickle_args(args2, key)
            kwargs_op = pickle_kwargs(kwargs2, key) if kwargs2 else None
        else:
            args_op, kwargs_op = Opaque(args2), (Opaque(kwargs2) if kwargs2 else None)
        if isinstance(workers, str):
            workers = [workers]
        task = {"key": key, "func": func_op, "args": args_op, "kwargs": kwargs_op,
                "deps": list(deps), "workers": list(workers) if workers else None,
                "actor": actor, "retries": retries}
        return task, fut

    def map(self, func: Callable[..., Any], *iterables: Iterable[Any], key: Any = None,
            workers: Any = None, pure: bool | None = None, retries: int = 0,
            actor: bool = False, actors: bool = False, batch_size: int | None = None,
            priority: int = 0, allow_other_workers: bool = False, resources: Any = None,
            **kwargs: Any) -> list[Future]:
        """Submit ``func`` over the elements of ``iterables``; one Future per element."""
        if not callable(func):
            raise TypeError(f"First input to map must be a callable function, not {func!r}")
        actor = actor or actors
        if pure is None:
            pure = not actor
        if not iterables:
            raise TypeError("map() needs at least one iterable")
        for it in iterables:
            if isinstance(it, (str, bytes)) or not isinstance(it, Iterable):
                raise TypeError(f"Client.map expects iterables, not {type(it).__name__}")
        arg_lists = list(zip(*iterables))
        if isinstance(key, (list, tuple)):
            keys: list[str | None] = list(key)
            if len(keys) != len(arg_lists):
                raise ValueError(f"map got {len(keys)} keys for {len(arg_lists)} tasks")
        else:
            keys = [None] * len(arg_lists)
        name = key if isinstance(key, str) else None
        func_op = (_pickle_checked(func, f"the function {funcname(func)!r}")
                   if self._serializing else Opaque(func))
        func_token = tokenize(func) if pure else None
        tasks = []
        futures = []
        for k, args in zip(keys, arg_lists):
            if k is None and name is not None:
                token = tokenize(func_token, args, kwargs) if pure else uuid.uuid4().hex
                k = f"{name}-{token}"
            task, fut = self._make_task(func, args, kwargs, k, pure, workers, retries, actor,
                                        func_op, func_token)
            futures.append(fut)
            if task is not None:
                tasks.append(task)
        for i in range(0, len(tasks), MAP_CHUNK):  # chunks: the first tasks start sooner
            chunk = tasks[i:i + MAP_CHUNK]
            self._send({"op": "update-graph", "tasks": chunk, "keys": [t["key"] for t in chunk]})
        return futures

    # ------------------------------------------------------------------ cancel / retry
    def cancel(self, futures: Any, asynchronous: bool | None = None, force: bool = False) -> Any:
        """Cancel futures (and their dependents); their data is deleted."""
        found: dict[str, Future] = {}
        replace_futures(futures if isinstance(futures, (list, tuple, set, dict)) else [futures],
                        Future, found)
        with self._lock:
            for key, fut in found.items():
                st = fut._state
                if self.futures.get(key) is st:
                    del self.futures[key]
                    self.refcount.pop(key, None)
        self._send({"op": "cancel-keys", "keys": list(found), "force": force})
        for fut in found.values():
            fut._state.status = CANCELLED  # visible at once; the loop wakes the waiters
            self._call_soon(fut._state.cancel)
        return self.sync(asyncio.sleep, 0) if self.asynchronous else None

    def retry(self, futures: Any, asynchronous: bool | None = None) -> Any:
        """Run erred futures again."""
        found: dict[str, Future] = {}
        replace_futures(list(futures) if not isinstance(futures, Future) else [futures],
                        Future, found)

        def reset() -> None:
            for fut in found.values():
                st = fut._state
                if st.status == ERROR:
                    st.exception = st.traceback = None
                    st.lose()
                    st.status = PENDING
        self._call_soon(reset)
        self._send({"op": "retry", "keys": list(found)})
        return self.sync(asyncio.sleep, 0) if self.asynchronous else None

    # ------------------------------------------------------------------ introspection
    def who_has(self, futures: Any = None) -> Any:
        """Which workers hold each key: ``{key: [worker address, ...]}``."""
        keys = None
        if futures is not None:
            found: dict[str, Future] = {}
            replace_futures(futures if not isinstance(futures, Future) else [futures], Future,
                            found)
            keys = list(found)
        return self.sync(self._scheduler_request, {"op": "who_has", "keys": keys})

    def has_what(self, workers: Any = None) -> Any:
        """Which keys each worker holds: ``{worker address: [key, ...]}``."""
        if isinstance(workers, str):
            workers = [workers]
        return self.sync(self._scheduler_request, {"op": "has_what", "workers": workers})

    def scheduler_info(self) -> Any:
        """The scheduler's identity and its workers (``info["workers"][address]["nthreads"]``)."""
        return self.sync(self._scheduler_request, {"op": "scheduler_info"})

    def nthreads(self) -> Any:
        """Threads per worker: ``{worker address: nthreads}``."""
        return self.sync(self._scheduler_request, {"op": "ncores"})

    ncores = nthreads

    def primitives_state(self) -> Any:
        """A snapshot of every coordination primitive (queues, locks, …) on the scheduler."""
        from ..primitives.introspect import primitives_state
        return self.sync(primitives_state, self)

    def live_model(self) -> Any:
        """This client's live state model (one per client), which feeds every view."""
        from .model import LiveModel
        with self._lock:
            created = self._model is None
            if created:
                self._model = LiveModel(self)
        if created:
            self._model.start()
        return self._model

    def task_stream(self, **kwargs: Any) -> Any:
        """A live task-stream chart of the cluster (a notebook widget)."""
        from ..jupyter.widgets import task_stream
        return task_stream(self, **kwargs)

    def primitives_board(self, **kwargs: Any) -> Any:
        """A live board of the coordination primitives (a notebook widget)."""
        from ..jupyter.widgets import primitives_board
        return primitives_board(self, **kwargs)

    @property
    def dashboard_link(self) -> str | None:
        """The URL of the scheduler's web dashboard, or None when it serves none.

        Formatted with ``$FUTURELAB_DASHBOARD_LINK`` when set (e.g.
        ``"{JUPYTERHUB_SERVICE_PREFIX}proxy/{port}/status"`` behind JupyterHub); the token a
        dashboard off-loopback asks for is never part of it.

        >>> # Client(processes=False).dashboard_link
        >>> # 'http://127.0.0.1:8787/status'
        """
        info = getattr(self, "_dashboard", None)
        if not isinstance(info, dict) or not isinstance(info.get("port"), int):
            return None
        from ..dashboard.link import dashboard_link, reachable_host
        return dashboard_link(reachable_host(str(info.get("host", "")), self.scheduler_address),
                              info["port"])

    def __repr__(self) -> str:
        return (f"<Client: {self.scheduler_address!r} status={self.status} "
                f"futures={len(self.futures)}>")

    def _repr_html_(self) -> str:
        from ..jupyter.repr import client_html
        return client_html(self)


@contextmanager
def worker_client(timeout: float | None = None, separate_thread: bool = True) -> Iterator[Client]:
    """Inside a task: a Client for submitting more tasks, seceded from the thread pool meanwhile.

    >>> # def task(n):
    >>> #     with worker_client() as client:
    >>> #         return sum(client.gather(client.map(inc, range(n))))
    """
    from ..worker.executor import rejoin, secede
    client = get_client(timeout)
    if separate_thread:
        secede()
    try:
        yield client
    finally:
        if separate_thread:
            rejoin()


def get_client(timeout: float | None = None) -> Client:
    """The Client to use here: inside a task, one connected to that task's scheduler.

    Raises:
        ValueError: when called outside a task with no Client started.
    """
    from ..worker.executor import thread_state
    worker = getattr(thread_state, "worker", None)
    if worker is not None:
        return worker.get_client()
    return Client.current()  # the client of `with client.as_current():`, else the default
