"""One event loop in a background thread, and the ``sync`` facade over it.

futurelab's client is written once, in async code.  Synchronous callers reach it through
:func:`sync`, which runs a coroutine on the shared background loop and waits for the outcome.
Every synchronous Client, and every LocalCluster it starts, shares that one loop.
"""
from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from .._loop import new_event_loop as _new_event_loop

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None


def background_loop() -> asyncio.AbstractEventLoop:
    """The process-wide event loop that synchronous clients run on (started on first use)."""
    global _loop, _thread
    with _lock:
        if _loop is None or _loop.is_closed() or _thread is None or not _thread.is_alive():
            loop = _new_event_loop()
            started = threading.Event()

            def run() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(started.set)
                loop.run_forever()

            thread = threading.Thread(target=run, name="futurelab-loop", daemon=True)
            thread.start()
            started.wait()
            _loop, _thread = loop, thread
        return _loop


def in_loop_thread(loop: asyncio.AbstractEventLoop) -> bool:
    """True when called from the thread running ``loop``."""
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def sync(loop: asyncio.AbstractEventLoop, func: Callable[..., Awaitable[T]], *args: Any,
         callback_timeout: float | None = None, **kwargs: Any) -> T:
    """Run ``func(*args, **kwargs)`` on ``loop`` from another thread and return its result.

    Raises:
        RuntimeError: when called from the loop's own thread (that would deadlock).
        TimeoutError: when ``callback_timeout`` passes first.
    """
    if in_loop_thread(loop):
        raise RuntimeError("a synchronous futurelab call was made from inside its own event "
                           "loop; use the asynchronous API (await) there")

    async def main() -> Any:
        coro = func(*args, **kwargs)
        try:
            if callback_timeout is not None:
                return await asyncio.wait_for(coro, callback_timeout)
            return await coro
        except concurrent.futures.CancelledError as e:
            # asyncio would turn this into a cancellation of the call itself
            return _Raise(e)

    fut = asyncio.run_coroutine_threadsafe(main(), loop)
    try:
        result = fut.result()
    except BaseException:
        fut.cancel()
        raise
    if isinstance(result, _Raise):
        raise result.exc
    return result  # type: ignore[no-any-return]


class _Raise:
    """An exception to re-raise in the calling thread rather than inside asyncio."""

    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


@atexit.register
def _shutdown_background_loop() -> None:
    """Cancel what still runs on the background loop and stop it, quietly, at exit."""
    loop = _loop
    if loop is None or loop.is_closed() or not loop.is_running():
        return

    async def cancel_all() -> None:
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    try:
        asyncio.run_coroutine_threadsafe(cancel_all(), loop).result(timeout=2)
    except Exception:  # noqa: BLE001 - best effort at exit
        pass
    loop.call_soon_threadsafe(loop.stop)
