"""Waiting on many futures: ``wait``, ``as_completed`` and ``fire_and_forget``.

These work on the futures' shared states (:class:`~futurelab.client.future.FutureState`), which the
client's loop updates; a waiter registers a callback there and is woken from the loop thread.
"""
from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from concurrent.futures import CancelledError
from typing import Any, NamedTuple

from .future import ERROR, FINISHED, Future, FutureState
from .sync import in_loop_thread

ALL_COMPLETED = "ALL_COMPLETED"
FIRST_COMPLETED = "FIRST_COMPLETED"
FIRST_EXCEPTION = "FIRST_EXCEPTION"


class DoneAndNotDoneFutures(NamedTuple):
    done: set[Future]
    not_done: set[Future]


def _flatten(fs: Any) -> list[Future]:
    if isinstance(fs, Future):
        return [fs]
    if isinstance(fs, dict):
        fs = fs.values()
    return [f for f in fs if isinstance(f, Future)]


def _condition(futures: list[Future], return_when: str) -> bool:
    if return_when == ALL_COMPLETED:
        return all(f.done() for f in futures)
    if return_when == FIRST_COMPLETED:
        return any(f.done() for f in futures) or not futures
    if return_when == FIRST_EXCEPTION:
        return all(f.done() for f in futures) or any(f.status == ERROR for f in futures)
    raise ValueError(f"return_when must be one of ALL_COMPLETED, FIRST_COMPLETED, "
                     f"FIRST_EXCEPTION, not {return_when!r}")


def wait(fs: Any, timeout: float | None = None,
         return_when: str = ALL_COMPLETED) -> Any:
    """Wait until futures are done (by default all of them).

    Args:
        fs: a Future or a collection of Futures.
        timeout: seconds before giving up.
        return_when: ``"ALL_COMPLETED"``, ``"FIRST_COMPLETED"`` or ``"FIRST_EXCEPTION"``.

    Returns:
        ``(done, not_done)``, two sets of Futures.

    Raises:
        TimeoutError: when ``timeout`` passes first.

    >>> # done, not_done = wait(client.map(inc, range(10)))
    """
    futures = _flatten(fs)
    _condition(futures, return_when)  # validates return_when
    client = futures[0].client if futures else None
    if client is not None and client.asynchronous:
        return _wait_async(futures, timeout, return_when)
    done_event = threading.Event()
    waiter = _Waiter(futures, return_when, done_event.set)
    try:
        if not done_event.wait(timeout):
            raise TimeoutError(f"wait() timed out after {timeout} s with "
                               f"{sum(not f.done() for f in futures)} futures not done")
    finally:
        waiter.detach()
    return _split(futures)


class _Waiter:
    """Counts the futures still pending and fires once ``return_when`` holds.

    Each completion costs O(1): a future reports itself, the count drops (no scan of them all,
    which made ``wait`` quadratic on 100,000 futures).
    """

    def __init__(self, futures: list[Future], return_when: str,
                 fire: Callable[[], None]) -> None:
        self.return_when = return_when
        self.fire = fire
        self.states = {f._state for f in futures}
        self.lock = threading.Lock()
        self.pending: set[FutureState] = set()
        self.fired = False
        with self.lock:  # listen first, then count: no completion slips in between
            for st in self.states:
                st.add_callback(self.on_change)
            self.pending = {st for st in self.states if not st.done()}
            self._check(any(st.status == ERROR for st in self.states))

    def on_change(self, st: FutureState) -> None:
        with self.lock:
            if st.done():
                self.pending.discard(st)
            self._check(st.status == ERROR)

    def _check(self, errored: bool) -> None:
        if self.fired:
            return
        if self.return_when == ALL_COMPLETED:
            ready = not self.pending
        elif self.return_when == FIRST_COMPLETED:
            ready = len(self.pending) < len(self.states) or not self.states
        else:  # FIRST_EXCEPTION
            ready = errored or not self.pending
        if ready:
            self.fired = True
            self.fire()

    def detach(self) -> None:
        for st in self.states:
            try:
                st.remove_callback(self.on_change)
            except ValueError:
                pass


def _split(futures: list[Future]) -> DoneAndNotDoneFutures:
    return DoneAndNotDoneFutures({f for f in futures if f.done()},
                                 {f for f in futures if not f.done()})


async def _wait_async(futures: list[Future], timeout: float | None,
                      return_when: str) -> DoneAndNotDoneFutures:
    event = asyncio.Event()
    loop = asyncio.get_running_loop()

    def fire() -> None:
        if in_loop_thread(loop):
            event.set()
        else:
            loop.call_soon_threadsafe(event.set)

    waiter = _Waiter(futures, return_when, fire)
    try:
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(f"wait() timed out after {timeout} s") from None
    finally:
        waiter.detach()
    return _split(futures)


def fire_and_forget(obj: Any) -> None:
    """Run these futures' tasks to completion even when no Future of them is left.

    >>> # fire_and_forget(client.submit(write, data, "out.csv"))
    """
    futures = _flatten(obj if not isinstance(obj, Future) else [obj])
    by_client: dict[int, tuple[Any, list[str]]] = {}
    for f in futures:
        by_client.setdefault(id(f.client), (f.client, []))[1].append(f.key)
    for client, keys in by_client.values():
        client._send({"op": "fire-and-forget", "keys": keys})


class as_completed:
    """Iterate over futures in the order they complete.

    Args:
        futures: the futures to watch (more can be added while iterating).
        with_results: yield ``(future, result)`` pairs, gathering results in the background.
        raise_errors: with ``with_results``, raise a task's error instead of yielding it.
        timeout: seconds the whole iteration may take.

    >>> # for future in as_completed(client.map(inc, range(3))):
    >>> #     print(future.result())
    """

    def __init__(self, futures: Iterable[Future] | None = None, loop: Any = None,
                 with_results: bool = False, raise_errors: bool = True,
                 timeout: float | None = None) -> None:
        self.with_results = with_results
        self.raise_errors = raise_errors
        self.timeout = timeout
        self._deadline = None if timeout is None else time.monotonic() + timeout
        self._lock = threading.Condition()
        self._pending: set[Future] = set()
        self._queue: deque[Future] = deque()
        self._aevent: asyncio.Event | None = None
        self._aloop: asyncio.AbstractEventLoop | None = None
        if futures is not None:
            self.update(futures)

    # ------------------------------------------------------------------ feeding
    def add(self, future: Future) -> None:
        """Watch one more future (safe from any thread, also while iterating)."""
        with self._lock:
            self._pending.add(future)

        def done(st: FutureState, future: Future = future) -> None:
            if st.done():
                try:
                    st.remove_callback(done)
                except ValueError:
                    return
                self._ready(future)

        future._state.add_callback(done)
        if future.done():
            done(future._state)

    def update(self, futures: Iterable[Future]) -> None:
        """Watch several more futures."""
        for f in futures:
            self.add(f)

    def _ready(self, future: Future) -> None:
        with self._lock:
            if future not in self._pending:
                return
            self._pending.discard(future)
            self._queue.append(future)
            self._lock.notify_all()
        if self._aevent is not None and self._aloop is not None:
            self._aloop.call_soon_threadsafe(self._aevent.set)

    # ------------------------------------------------------------------ state
    def count(self) -> int:
        """Futures not yet yielded."""
        with self._lock:
            return len(self._pending) + len(self._queue)

    def is_empty(self) -> bool:
        return self.count() == 0

    def has_ready(self) -> bool:
        with self._lock:
            return bool(self._queue)

    def clear(self) -> None:
        with self._lock:
            self._pending.clear()
            self._queue.clear()

    # ------------------------------------------------------------------ sync iteration
    def _remaining(self) -> float | None:
        if self._deadline is None:
            return None
        return max(0.0, self._deadline - time.monotonic())

    def _take(self, batch: bool) -> list[Future]:
        with self._lock:
            while not self._queue:
                if not self._pending:
                    raise StopIteration
                remaining = self._remaining()
                if remaining == 0.0 or not self._lock.wait(remaining):
                    if not self._queue:
                        raise TimeoutError(f"as_completed timed out after {self.timeout} s")
            if batch:
                out = list(self._queue)
                self._queue.clear()
                return out
            return [self._queue.popleft()]

    def _with_result(self, future: Future) -> Any:
        if not self.with_results:
            return future
        if future.status == ERROR or future.cancelled():
            if self.raise_errors:
                future.result()
            return future, (future.exception() if future.status == ERROR
                            else CancelledError(future.key))
        return future, future.result()

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        return self._with_result(self._take(batch=False)[0])

    def next_batch(self, block: bool = True) -> list[Any]:
        """Every future done since the last call (waits for at least one when ``block``)."""
        if not block:
            with self._lock:
                out = list(self._queue)
                self._queue.clear()
        else:
            try:
                out = self._take(batch=True)
            except StopIteration:
                return []
        return [self._with_result(f) for f in out]

    def batches(self) -> Iterator[list[Any]]:
        """Yield lists of the futures done since the previous yield."""
        while True:
            try:
                yield [self._with_result(f) for f in self._take(batch=True)]
            except StopIteration:
                return

    # ------------------------------------------------------------------ async iteration
    def __aiter__(self) -> AsyncIterator[Any]:
        return self._aiter()

    async def _aiter(self) -> AsyncIterator[Any]:
        self._aloop = asyncio.get_running_loop()
        self._aevent = asyncio.Event()
        while True:
            with self._lock:
                future = self._queue.popleft() if self._queue else None
                empty = not self._pending and not self._queue and future is None
            if empty:
                return
            if future is None:
                self._aevent.clear()
                with self._lock:
                    if self._queue:
                        continue
                try:
                    await asyncio.wait_for(self._aevent.wait(), self._remaining())
                except asyncio.TimeoutError:
                    raise TimeoutError(f"as_completed timed out after {self.timeout} s") from None
                continue
            if not self.with_results:
                yield future
            elif future.status == FINISHED:
                yield future, await future
            elif self.raise_errors:
                await future
            else:
                yield future, future._state.get_exception()

    def __anext__(self) -> Any:
        raise TypeError("use `async for` on as_completed")
