"""``Client.get_executor()``: a :class:`concurrent.futures.Executor` that runs on the cluster.

Each ``submit`` is a ``Client.submit``; the futurelab Future's outcome is copied into a plain
:class:`concurrent.futures.Future` by a coroutine on the client's loop, so the standard library's
``wait`` and ``as_completed`` work on what the executor returns, and cancelling that Future
cancels the task.
"""
from __future__ import annotations

import asyncio
import concurrent.futures as cf
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from . import sync as _sync
from .future import Future

if TYPE_CHECKING:
    from .client import Client

#: the submit()/map() keywords an executor passes on to every task
ALLOWED_KWARGS = frozenset({"pure", "workers", "resources", "allow_other_workers", "retries"})


class ClientExecutor(cf.Executor):
    """An Executor whose tasks run on a futurelab cluster.

    Args:
        client: the Client to submit through.
        **kwargs: submit() keywords for every task (``pure``, ``workers``, ``resources``,
            ``allow_other_workers``, ``retries``).

    Raises:
        TypeError: for any other keyword.

    >>> # with client.get_executor() as ex:
    >>> #     ex.submit(pow, 2, 10).result()
    >>> # 1024
    """

    def __init__(self, client: Client, **kwargs: Any) -> None:
        unknown = sorted(set(kwargs) - ALLOWED_KWARGS)
        if unknown:
            raise TypeError(f"unsupported arguments to ClientExecutor: {unknown}")
        self._client = client
        self._kwargs = kwargs
        self._futures: weakref.WeakSet[Future] = weakref.WeakSet()
        self._shutdown = False
        self._shutdown_lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> cf.Future[Any]:
        """Run ``fn(*args, **kwargs)`` on the cluster; a concurrent.futures Future of it.

        Raises:
            RuntimeError: after :meth:`shutdown`.
        """
        with self._shutdown_lock:
            if self._shutdown:
                raise RuntimeError("cannot schedule new futures after shutdown")
            future = self._client.submit(fn, *args, **{**self._kwargs, **kwargs})
            self._futures.add(future)
        return self._wrap(future)

    def _wrap(self, future: Future) -> cf.Future[Any]:
        out: cf.Future[Any] = cf.Future()

        def cancelled(f: cf.Future[Any]) -> None:
            if f.cancelled() and future.status != "cancelled":
                future.cancel()

        out.add_done_callback(cancelled)
        client = self._client
        coro = _copy_outcome(client, future, out)
        if _sync.in_loop_thread(client.loop):
            asyncio.ensure_future(coro)
        else:
            asyncio.run_coroutine_threadsafe(coro, client.loop)
        return out

    def map(self, fn: Callable[..., Any], *iterables: Iterable[Any],
            timeout: float | None = None, chunksize: int = 1) -> Iterator[Any]:
        """Like the built-in ``map``, run on the cluster; results in order (``chunksize``:
        ignored).

        Raises:
            TimeoutError: from the iterator, when a result is not there ``timeout`` seconds
                after this call.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._shutdown_lock:
            if self._shutdown:
                raise RuntimeError("cannot schedule new futures after shutdown")
            lists = [list(it) for it in iterables]
            empty = not lists or min(len(items) for items in lists) == 0
            futures = [] if empty else self._client.map(fn, *lists, **self._kwargs)
            self._futures.update(futures)

        def results() -> Iterator[Any]:
            try:
                while futures:
                    f = futures[0]
                    left = None if deadline is None else max(0.0, deadline - time.monotonic())
                    value = f.result(timeout=left)
                    futures.pop(0)
                    yield value
            finally:
                if futures:  # stopped early (an error, a timeout, or abandoned)
                    self._client.cancel(list(futures))
        return results()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """No more submissions; ``wait`` for the tasks submitted (or cancel them).

        ``wait=False`` cancels the tasks not yet finished, as dask's executor does;
        ``cancel_futures=True`` cancels them before waiting.
        """
        with self._shutdown_lock:
            self._shutdown = True
            futures = list(self._futures)
        if cancel_futures or not wait:
            pending = [f for f in futures if not f.done()]
            if pending:
                self._client.cancel(pending)
            return
        if futures:
            from .waiting import wait as wait_futures
            wait_futures(futures)


async def _copy_outcome(client: Client, future: Future, out: cf.Future[Any]) -> None:
    """Wait for ``future`` and give ``out`` its result, exception or cancellation."""
    try:
        value = await client._result(future)
    except cf.CancelledError:
        if out.cancel():
            out.set_running_or_notify_cancel()  # wakes wait() and as_completed()
        return
    except BaseException as e:  # noqa: BLE001 - the task's own exception, handed on
        if not out.done():
            out.set_exception(e)
        return
    if not out.done():
        out.set_result(value)
