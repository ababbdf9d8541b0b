"""Administering the cluster from a Client: the dask.distributed methods beyond the futures.

A mixin of :class:`~futurelab.client.client.Client`, with dask.distributed's names, arguments and
return values: ``run`` / ``run_on_scheduler`` (a function outside the task system),
``wait_for_workers``, ``restart``, ``retire_workers``, ``shutdown``, ``upload_file``,
``get_versions``, ``nbytes``, ``processing``, metadata, the current client
(``Client.current``, ``as_current``) and ``get_executor``; published datasets come from
:class:`~futurelab.client.datasets.DatasetsMixin`.

Requests go to the scheduler (:mod:`futurelab.scheduler.admin`) or, for what runs on every
worker, straight to each worker (:mod:`futurelab.worker.admin`), the way results are fetched.
"""
from __future__ import annotations

import asyncio
import contextvars
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import msgpack  # type: ignore[import-untyped]

from ..calls import unpack_outcome
from ..primitives._proxy import check_timeout
from ..protocol.serialize import Opaque
from ..versions import get_versions, mismatches
from .datasets import DatasetsMixin, no_default
from .transfer import _pickle_checked

if TYPE_CHECKING:
    from ..rpc import ConnectionPool
    from .cfexecutor import ClientExecutor
    from .client import Client
    from .future import FutureState

#: the client ``Client.current()`` answers inside ``with client.as_current():``
_current_client: contextvars.ContextVar[Client | None] = contextvars.ContextVar(
    "futurelab_current_client", default=None)

ON_ERROR = ("raise", "return", "ignore")


class AdminMixin(DatasetsMixin):
    """run, restart, retire_workers, shutdown … for the Client."""

    _pool: ConnectionPool
    _serializing: bool
    cluster: Any
    timeout: float
    futures: dict[str, FutureState]
    refcount: dict[str, int]
    actors: dict[str, dict[str, Any]]
    _lock: Any

    if TYPE_CHECKING:  # provided by Client
        async def _close(self) -> None: ...

    # ------------------------------------------------------------------ the current client
    @classmethod
    def current(cls, allow_global: bool = True) -> Client:
        """The client of the innermost ``with client.as_current():``, else the default client.

        Args:
            allow_global: False to find only a client made current with ``as_current``.

        Raises:
            ValueError: when there is no such client ("No clients found").

        >>> # with client.as_current():
        >>> #     assert Client.current() is client
        """
        client = _current_client.get()
        if client is not None:
            return client
        if allow_global:
            from .client import default_client
            return default_client()
        raise ValueError("No clients found: not inside `with client.as_current():` "
                         "(Client.current(allow_global=False))")

    @contextmanager
    def as_current(self) -> Iterator[None]:
        """Make this the client ``Client.current()`` and ``get_client()`` answer, in this
        thread or task; Futures unpickled meanwhile are bound to it.

        >>> # with client.as_current():
        >>> #     future = pickle.loads(data)   # a Future of `client`
        """
        token = _current_client.set(self)  # type: ignore[arg-type]
        try:
            yield
        finally:
            _current_client.reset(token)

    # ------------------------------------------------------------------ workers
    def wait_for_workers(self, n_workers: int, timeout: float | None = None) -> Any:
        """Block until at least ``n_workers`` workers are connected.

        Raises:
            ValueError: when ``n_workers`` is not a positive integer.
            TimeoutError: when ``timeout`` seconds pass first.

        >>> # client.wait_for_workers(4, timeout=60)
        """
        if not isinstance(n_workers, int) or isinstance(n_workers, bool) or n_workers < 1:
            raise ValueError(f"`n_workers` must be a positive integer. Instead got {n_workers}.")
        return self.sync(self._wait_for_workers, n_workers, check_timeout(timeout))

    async def _wait_for_workers(self, n_workers: int, timeout: float | None) -> None:
        reply = await self._scheduler_request({"op": "admin-wait-for-workers", "n": n_workers,
                                               "timeout": timeout})
        if reply["n"] < n_workers:
            raise TimeoutError(f"Only {reply['n']}/{n_workers} workers arrived after "
                               f"{timeout} s")

    def get_scheduler_logs(self, n: int | None = None) -> Any:
        """The scheduler's recent log lines, newest first: ``((level, line), ...)``.

        Args:
            n: at most this many (None: all kept, up to 10,000).

        >>> # client.get_scheduler_logs(n=2)
        >>> # (('INFO', '... - futurelab.scheduler - INFO - register worker ...'), ...)
        """
        return self.sync(self._get_logs, {"op": "get-logs", "n": _log_count(n)})

    def get_worker_logs(self, n: int | None = None, workers: Any = None,
                        nanny: bool = False) -> Any:
        """Each worker's recent log lines: ``{address: ((level, line), ...)}``, newest first.

        Args:
            n: at most this many per worker.
            workers: addresses or names (None: every worker).
            nanny: not supported (futurelab keeps no separate nanny log).

        Raises:
            NotImplementedError: for ``nanny=True``.
        """
        if nanny:
            raise NotImplementedError("get_worker_logs(nanny=True): futurelab keeps no log of "
                                      "its nannies; the workers' own lines are returned without")
        return self.sync(self._get_worker_logs, _log_count(n), workers)

    async def _get_logs(self, msg: dict[str, Any]) -> Any:
        reply = await self._scheduler_request(msg)
        return tuple(tuple(line) for line in reply["logs"])

    async def _get_worker_logs(self, n: int | None, workers: Any) -> Any:
        msg: dict[str, Any] = {"op": "get-worker-logs", "n": n}
        if workers is not None:
            msg["workers"] = await self._worker_addresses(workers)
        reply = await self._scheduler_request(msg)
        return {a: tuple(tuple(line) for line in lines) for a, lines in reply["logs"].items()}

    async def _worker_addresses(self, workers: Any) -> list[str]:
        """Addresses for ``workers`` (addresses or names; None: every worker)."""
        if workers is None:
            return sorted(await self._scheduler_request({"op": "ncores"}))
        if isinstance(workers, (str, int)):
            workers = [workers]
        info = (await self._scheduler_request({"op": "scheduler_info"}))["workers"]
        by_name = {str(w.get("name")): a for a, w in info.items()}
        return [w if w in info else by_name.get(str(w), str(w)) for w in workers]

    async def _ask_workers(self, addresses: list[str], msg: dict[str, Any]) -> dict[str, Any]:
        """``{address: reply or the exception}`` of ``msg`` sent to each worker."""
        replies = await asyncio.gather(*(self._pool.request(a, msg) for a in addresses),
                                       return_exceptions=True)
        return dict(zip(addresses, replies))

    def _payload(self, obj: Any, what: str) -> Opaque:
        return _pickle_checked(obj, what) if self._serializing else Opaque(obj)

    def run(self, function: Any, *args: Any, workers: Any = None, wait: bool = True,
            nanny: bool = False, on_error: str = "raise", **kwargs: Any) -> Any:
        """Call ``function(*args, **kwargs)`` on every worker, outside the task system.

        It runs in each worker's process, on its event loop (a coroutine function is awaited).
        A ``dask_worker`` parameter receives the worker itself.

        Args:
            workers: addresses (or names) of the workers to run on; default: all.
            wait: False to start a coroutine function and return None at once.
            nanny: run on the nanny instead (not supported: NotImplementedError).
            on_error: when the function raises on a worker: ``"raise"`` it here, ``"return"``
                the exception as that worker's result, or ``"ignore"`` that worker.

        Returns:
            ``{worker address: result}`` (None with ``wait=False``).

        Raises:
            ValueError: for an unknown ``on_error``.
            TypeError: when ``function`` is not callable or cannot be serialized.
            NotImplementedError: for ``nanny=True``.

        >>> # client.run(os.getpid)
        >>> # {'tcp://127.0.0.1:40123': 4242, 'tcp://127.0.0.1:40125': 4243}
        """
        if on_error not in ON_ERROR:
            raise ValueError(f"on_error must be 'raise', 'return', or 'ignore'; "
                             f"got {on_error!r}")
        if nanny:
            raise NotImplementedError(
                "run(nanny=True) is not supported: futurelab's nannies (LocalCluster's own "
                "supervision, `futurelab worker`'s nanny process) do not serve requests; "
                "run on the workers instead")
        if not callable(function):
            raise TypeError(f"run needs a callable function, not {function!r}")
        msg = {"op": "admin-run", "function": self._payload(function, "the function"),
               "args": self._payload(args, "the arguments"),
               "kwargs": self._payload(kwargs, "the keyword arguments"), "wait": bool(wait)}
        return self.sync(self._run, msg, workers, on_error)

    async def _run(self, msg: dict[str, Any], workers: Any, on_error: str) -> Any:
        replies = await self._ask_workers(await self._worker_addresses(workers), msg)
        results = {}
        for address, reply in replies.items():
            ok, value = unpack_outcome(reply)
            if ok or on_error == "return":
                results[address] = value
            elif on_error == "raise":
                raise value
        return results if msg["wait"] else None

    def run_on_scheduler(self, function: Any, *args: Any, **kwargs: Any) -> Any:
        """Call ``function(*args, **kwargs)`` in the scheduler's process, on its event loop.

        A ``dask_scheduler`` parameter receives the
        :class:`~futurelab.scheduler.server.Scheduler`; a coroutine function is awaited
        (``wait=False``: started, and None returned).

        Raises:
            TypeError: when ``function`` is not callable or cannot be serialized.
            Exception: whatever ``function`` raised there.

        >>> # client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.state.tasks))
        """
        wait = kwargs.pop("wait", True)
        if not callable(function):
            raise TypeError(f"run_on_scheduler needs a callable function, not {function!r}")
        msg = {"op": "admin-run-on-scheduler",
               "function": self._payload(function, "the function"),
               "args": self._payload(args, "the arguments"),
               "kwargs": self._payload(kwargs, "the keyword arguments"), "wait": bool(wait)}
        return self.sync(self._run_on_scheduler, msg)

    async def _run_on_scheduler(self, msg: dict[str, Any]) -> Any:
        ok, value = unpack_outcome(await self._scheduler_request(msg))
        if not ok:
            raise value
        return value

    def restart(self, timeout: float | None = None, wait_for_workers: bool = True) -> Any:
        """Cancel every task on the cluster and restart the workers.

        Every Future (of every client) is cancelled and the published datasets are dropped.
        Workers run by a nanny (``Client()``'s worker processes, ``futurelab worker``) are
        replaced by fresh processes; workers without one (``processes=False``) stay and drop
        all their data (tasks already running finish, and their results are dropped).

        Args:
            timeout: seconds for the workers to go and come back (default: 4 × the client's
                timeout).
            wait_for_workers: False to return once the old workers are gone, without waiting
                for the new ones (see :meth:`wait_for_workers`).

        Raises:
            TimeoutError: when the workers are not back within ``timeout``.

        >>> # client.restart()
        """
        timeout = check_timeout(timeout) or 4 * self.timeout
        return self.sync(self._restart, timeout, bool(wait_for_workers))

    async def _restart(self, timeout: float, wait_for_workers: bool) -> None:
        from ..primitives._proxy import PrimitivesClient
        try:
            # on the ordered stream: what was submitted before reaches the scheduler first
            await PrimitivesClient.of(self).request({  # type: ignore[arg-type]
                "op": "admin-restart", "timeout": timeout,
                "wait_for_workers": wait_for_workers})
        finally:
            with self._lock:
                states = list(self.futures.values())
                self.futures.clear()
                self.refcount.clear()
                self.actors.clear()
            for st in states:
                st.cancel()

    def retire_workers(self, workers: Any = None, close_workers: bool = True,
                       **kwargs: Any) -> Any:
        """Move the data off some workers, then close them.

        Args:
            workers: addresses of the workers to retire; ``names=[...]`` picks them by name;
                neither: the idle workers (keeping one if data would have no other home).
            close_workers: False to only move their data away (they stay connected).

        Returns:
            ``{address: worker info}`` of the workers retired; a worker holding data that could
            not move elsewhere stays, and is not listed.

        Raises:
            TypeError: for an unknown keyword, or both ``workers`` and ``names``.

        >>> # client.retire_workers(workers=["tcp://127.0.0.1:40123"])
        """
        names = kwargs.pop("names", None)
        kwargs.pop("remove", None)  # dask's: the retired are always removed here
        if kwargs:
            raise TypeError(f"retire_workers got unexpected arguments: {sorted(kwargs)}")
        if workers is not None and names is not None:
            raise TypeError("names and workers are mutually exclusive")
        if isinstance(workers, str):
            workers = [workers]
        msg = {"op": "admin-retire-workers", "workers": None if workers is None
               else list(workers), "names": None if names is None else list(names),
               "close_workers": bool(close_workers)}
        return self.sync(self._retire_workers, msg)

    async def _retire_workers(self, msg: dict[str, Any]) -> Any:
        return (await self._scheduler_request(msg))["workers"]

    def shutdown(self) -> Any:
        """Shut the cluster down: the scheduler and the workers, then this client.

        With a LocalCluster (started by this client or given to it) the cluster is closed;
        connected to a scheduler by address, the scheduler is asked to close its workers and
        itself.  Other clients of that cluster are cut off too.

        >>> # client.shutdown()
        """
        return self.sync(self._shutdown)

    async def _shutdown(self) -> None:
        cluster = self.cluster
        if cluster is None:
            try:
                await self._scheduler_request({"op": "admin-terminate"})
            except OSError:
                pass  # already gone
        await self._close()
        if cluster is not None and getattr(cluster, "status", "") != "closed":
            closing = cluster._close() if hasattr(cluster, "_close") else cluster.close()
            if asyncio.iscoroutine(closing) or isinstance(closing, asyncio.Future):
                await closing

    def get_executor(self, **kwargs: Any) -> ClientExecutor:
        """A :class:`concurrent.futures.Executor` that runs its work on this client's cluster.

        Args:
            **kwargs: submit() keywords for every task (``pure``, ``workers``, ``resources``,
                ``allow_other_workers``, ``retries``).

        >>> # with client.get_executor() as ex:
        >>> #     list(ex.map(pow, [2, 3], [5, 2]))
        >>> # [32, 9]
        """
        from .cfexecutor import ClientExecutor
        return ClientExecutor(self, **kwargs)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ introspection
    def nbytes(self, keys: Any = None, summary: bool = True, **kwargs: Any) -> Any:
        """Bytes held on the cluster: ``{key: nbytes}``, or ``{prefix: nbytes}`` summed with
        ``summary`` (the part of a key before its last ``-``).

        >>> # client.nbytes(summary=False)
        >>> # {'inc-1c8d...': 28, 'inc-fd65...': 28}
        """
        if keys is not None:
            keys = [getattr(k, "key", k) for k in (keys if isinstance(keys, (list, tuple, set))
                                                   else [keys])]
        return self.sync(self._scheduler_request, {"op": "admin-nbytes", "keys": keys,
                                                   "summary": bool(summary)})

    def processing(self, workers: Any = None) -> Any:
        """The keys each worker is computing: ``{worker address: [key, ...]}``."""
        if workers is not None and not isinstance(workers, (list, tuple, set)):
            workers = [workers]
        return self.sync(self._scheduler_request, {
            "op": "admin-processing", "workers": None if workers is None else list(workers)})

    def get_versions(self, check: bool = False, packages: Any = None) -> Any:
        """Versions of Python and the packages on the scheduler, every worker and here.

        Returns:
            ``{"scheduler": info, "workers": {address: info}, "client": info}``, each info
            ``{"host": {...}, "packages": {name: version}}``.

        Args:
            check: warn when the versions differ across the cluster.
            packages: more package names to report.

        >>> # client.get_versions()["workers"]
        """
        return self.sync(self._get_versions, bool(check), list(packages or ()))

    async def _get_versions(self, check: bool, packages: list[str]) -> dict[str, Any]:
        msg = {"op": "admin-versions", "packages": packages}
        scheduler = await self._scheduler_request(msg)
        replies = await self._ask_workers(await self._worker_addresses(None), msg)
        workers = {a: r for a, r in replies.items() if isinstance(r, dict)}
        client = get_versions(packages)
        if check:
            text = mismatches(client, scheduler, workers)
            if text:
                warnings.warn(text, stacklevel=3)
        return {"scheduler": scheduler, "workers": workers, "client": client}

    # ------------------------------------------------------------------ metadata
    def set_metadata(self, key: Any, value: Any) -> Any:
        """Store a small msgpack-encodable ``value`` on the scheduler under ``key``.

        A list of keys is a path into nested dicts, made on the way.

        Raises:
            TypeError: when ``value`` is not msgpack-encodable.

        >>> # client.set_metadata(["x", "y"], 123); client.get_metadata("x")
        >>> # {'y': 123}
        """
        path = list(key) if isinstance(key, list) else [key]
        try:
            packed = msgpack.packb(value, use_bin_type=True)
        except (TypeError, ValueError, OverflowError) as e:
            raise TypeError(f"metadata must be msgpack-encodable (None, bool, numbers, str, "
                            f"bytes, and lists/dicts of these), not {type(value).__name__}: "
                            f"{e}") from None
        return self.sync(self._scheduler_request, {"op": "admin-set-metadata", "keys": path,
                                                   "value": packed})

    def get_metadata(self, keys: Any, default: Any = no_default) -> Any:
        """The metadata stored under ``keys`` (a key, or a list of keys: a nested path).

        Raises:
            KeyError: when nothing is stored there and no ``default`` was given.

        >>> # client.get_metadata(["x", "y"], default=None)
        """
        path = list(keys) if isinstance(keys, (list, tuple)) else [keys]
        return self.sync(self._get_metadata, path, keys, default)

    async def _get_metadata(self, path: list[Any], keys: Any, default: Any) -> Any:
        reply = await self._scheduler_request({"op": "admin-get-metadata", "keys": path})
        if not reply["found"]:
            if default is no_default:
                raise KeyError(keys)
            return default
        return msgpack.unpackb(reply["value"], raw=False, strict_map_key=False)

    # ------------------------------------------------------------------ files
    def upload_file(self, filename: str | os.PathLike[str], load: bool = True) -> Any:
        """Send a local file to every worker: it lands in the worker's ``local_directory``,
        which is on ``sys.path``; ``.py`` modules and ``.egg``/``.zip``/``.pyz``/``.whl``
        archives are imported (reloaded when imported before) unless ``load`` is false.

        Returns:
            ``{worker address: {"status": "OK", "nbytes": size}}``.

        Raises:
            FileNotFoundError: when the file does not exist here.
            Exception: whatever importing the file raised on a worker.

        >>> # client.upload_file("mylib.py")
        >>> # client.submit(lambda: __import__("mylib").f()).result()
        """
        with open(filename, "rb") as f:
            data = f.read()
        msg = {"op": "admin-upload-file", "filename": os.path.basename(filename),
               "data": data, "load": bool(load)}
        return self.sync(self._upload_file, msg)

    async def _upload_file(self, msg: dict[str, Any]) -> dict[str, Any]:
        replies = await self._ask_workers(await self._worker_addresses(None), msg)
        out = {}
        for address, reply in replies.items():
            ok, value = unpack_outcome(reply)
            if not ok:
                raise value
            out[address] = {"status": "OK", "nbytes": reply["nbytes"]}
        return out


def _log_count(n: Any) -> int | None:
    if n is None:
        return None
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be a non-negative integer or None, not {n!r}")
    return n
