"""Future: a reference to a remote result, with the ``concurrent.futures`` surface.

Every Future of one key in one client shares a :class:`FutureState`, updated by the client's
event loop from scheduler messages.  While at least one Future of a key exists the client tells
the scheduler it wants the key; when the last one is garbage collected the client releases it.
"""
from __future__ import annotations

import asyncio
import builtins
import threading
from collections.abc import Callable, Generator
from concurrent.futures import CancelledError
from typing import TYPE_CHECKING, Any

from .._memory import Interned
from ..errors import FuturelabError, KilledWorker, LostData
from ..protocol.serialize import Opaque
from .sync import in_loop_thread

if TYPE_CHECKING:
    from .client import Client

#: the status values a Future shows (plain strings, as dask.distributed's)
PENDING, FINISHED, ERROR, CANCELLED, LOST = "pending", "finished", "error", "cancelled", "lost"
DONE_STATES = frozenset({FINISHED, ERROR, CANCELLED})
#: guards the creation of a FutureState's thread event (rare: one lock for all of them)
_tevent_lock = threading.Lock()
NO_CALLBACKS: tuple[Callable[[FutureState], None], ...] = ()
#: holder lists, shared: most futures of a map were computed by one of a few workers
_holders: Interned[tuple[str, ...]] = Interned()


class FutureState:
    """The client-side state of one key: status, type, error, and a cached small result."""

    __slots__ = ("key", "status", "type", "exception", "traceback", "error_text", "error_kind",
                 "who_has", "data", "has_data", "_event", "_tevent", "callbacks", "typeobj")

    def __init__(self, key: str) -> None:
        self.key = key
        self.status = PENDING
        #: the name of the result's type, and the type itself when known (pickled or not)
        self.type: str | None = None
        self.typeobj: Any = None
        self.exception: Any = None
        self.traceback: Any = None
        self.error_text = ""
        self.error_kind = ""
        self.who_has: tuple[str, ...] = ()
        #: a small result that came inline with the "finished" message (decoded)
        self.data: Any = None
        self.has_data = False
        self._event: asyncio.Event | None = None
        self._tevent: threading.Event | None = None
        #: called (on the loop) at every status change; a list only once one is added
        self.callbacks: tuple[Callable[[FutureState], None], ...] | list[
            Callable[[FutureState], None]] = NO_CALLBACKS

    def add_callback(self, cb: Callable[[FutureState], None]) -> None:
        if self.callbacks is NO_CALLBACKS:
            self.callbacks = []
        self.callbacks.append(cb)  # type: ignore[union-attr]

    def remove_callback(self, cb: Callable[[FutureState], None]) -> None:
        """Raises ValueError when ``cb`` is not registered (like ``list.remove``)."""
        if self.callbacks is NO_CALLBACKS:
            raise ValueError(cb)
        self.callbacks.remove(cb)  # type: ignore[union-attr]
        if not self.callbacks:
            self.callbacks = NO_CALLBACKS

    def done(self) -> bool:
        return self.status in DONE_STATES

    # ------------------------------------------------------------------ updates (loop thread)
    def finish(self, type_name: str | None, who_has: list[str], data: Any = None,
               has_data: bool = False) -> None:
        self.type = type_name or self.type
        self.who_has = _holders(tuple(who_has))
        if has_data:
            if isinstance(data, Opaque):
                # inline results are builtins (numbers, short strings, ...): cheap to unpickle,
                # and far smaller than their pickle plus its wrapper
                try:
                    data = data.get()
                except Exception:  # noqa: BLE001 - left for result() to raise
                    pass
            self.data, self.has_data = data, True
        self._set(FINISHED)

    def set_error(self, exception: Any, traceback: Any, text: str, kind: str) -> None:
        self.exception, self.traceback = exception, traceback
        self.error_text, self.error_kind = text, kind
        self._set(ERROR)

    def cancel(self) -> None:
        self.data, self.has_data = None, False
        self._set(CANCELLED)

    def lose(self) -> None:
        """The data is gone and is being recomputed: back to pending."""
        self.data, self.has_data, self.who_has = None, False, ()
        self.status = LOST
        self._event = None
        with _tevent_lock:
            self._tevent = None

    def _set(self, status: str) -> None:
        self.status = status
        if self._event is not None:
            self._event.set()
        with _tevent_lock:
            if self._tevent is not None:
                self._tevent.set()
        for cb in list(self.callbacks):
            cb(self)

    # ------------------------------------------------------------------ waiting
    async def wait(self) -> None:
        """Wait (on the client's loop) until the key is finished, erred or cancelled."""
        if self.done():
            return
        if self._event is None:
            self._event = asyncio.Event()
        await self._event.wait()

    def wait_threadsafe(self, timeout: float | None) -> bool:
        """Block this (non-loop) thread until done; False on timeout."""
        if self.done():
            return True
        with _tevent_lock:
            if self._tevent is None:
                self._tevent = threading.Event()
            ev = self._tevent
        if self.done():
            return True
        return ev.wait(timeout)

    def get_exception(self) -> BaseException:
        """The error a user sees for this key (the task's own exception when there is one)."""
        if self.status == CANCELLED:
            return CancelledError(self.key)
        exc = self.exception.get() if hasattr(self.exception, "get") else self.exception
        if isinstance(exc, BaseException):
            return exc
        if self.error_kind == "killed":
            return KilledWorker(self.error_text)
        if self.error_kind == "lost":
            return LostData(self.error_text)
        return FuturelabError(self.error_text or f"task {self.key!r} failed")

    def get_traceback(self) -> Any:
        tb = self.traceback.get() if hasattr(self.traceback, "get") else self.traceback
        return tb


class Future:
    """A remote result: the handle ``Client.submit`` and friends return.

    >>> # future = client.submit(inc, 10)
    >>> # future.result()
    >>> # 11
    """

    __slots__ = ("key", "client", "_state", "__weakref__")

    def __init__(self, key: str, client: Client | None = None, inform: bool = True) -> None:
        if client is None:
            from .client import default_client
            client = default_client()
        self.key = key
        self.client = client
        self._state = client._ref(key, inform)

    # ------------------------------------------------------------------ status
    @property
    def status(self) -> str:
        """``"pending"``, ``"finished"``, ``"error"``, ``"cancelled"`` (or ``"lost"``)."""
        return self._state.status

    @property
    def type(self) -> Any:
        """The result's type once finished (e.g. ``int``); None before."""
        st = self._state
        if st.typeobj is None and st.type is not None:
            builtin = getattr(builtins, st.type, None)  # e.g. "int": sent by name only
            if isinstance(builtin, type):
                return builtin
        if st.typeobj is not None:
            try:
                return st.typeobj.get() if isinstance(st.typeobj, Opaque) else st.typeobj
            except Exception:  # noqa: BLE001 - the type is not importable here
                pass
        return st.type

    def done(self) -> bool:
        """True when finished, erred or cancelled."""
        return self._state.done()

    def cancelled(self) -> bool:
        return self._state.status == CANCELLED

    # ------------------------------------------------------------------ results
    def result(self, timeout: float | None = None) -> Any:
        """Wait for the task and return its result (the task's exception is raised here).

        Raises:
            TimeoutError: when ``timeout`` seconds pass first.
            CancelledError: when the future was cancelled.
        """
        client = self.client
        if not client.asynchronous and not in_loop_thread(client.loop):
            # fast path: wait in this thread; small results came inline with the report
            st = self._state
            if not st.wait_threadsafe(timeout):
                raise TimeoutError(f"Future {self.key!r} not done after {timeout} s")
            if st.status == FINISHED and st.has_data:
                data = st.data
                return data.get() if isinstance(data, Opaque) else data
        return client.sync(client._result, self, timeout=timeout)

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """The task's exception, or None when it succeeded."""
        return self.client.sync(self.client._exception, self, timeout=timeout)

    def traceback(self, timeout: float | None = None) -> Any:
        """The task's traceback (usable with ``traceback.format_tb``), or None."""
        return self.client.sync(self.client._traceback, self, timeout=timeout)

    def cancel(self, force: bool = False) -> Any:
        """Cancel this future and every task that depends on it."""
        return self.client.cancel([self], force=force)

    def retry(self) -> Any:
        """Run an erred task (and its erred dependencies) again."""
        return self.client.retry([self])

    def add_done_callback(self, fn: Callable[[Future], None]) -> None:
        """Call ``fn(self)`` once done (from a separate thread, like dask)."""
        state = self._state

        def run(_: FutureState) -> None:
            if state.done():
                try:
                    state.remove_callback(run)
                except ValueError:
                    return
                threading.Thread(target=fn, args=(self,), daemon=True).start()

        state.add_callback(run)
        self.client._call_soon(run, state)

    def release(self) -> None:
        """Drop this Future's claim now, instead of at garbage collection."""
        if self._state is not None:
            self.client._unref(self.key)
            self._state = None  # type: ignore[assignment]

    def __del__(self) -> None:
        try:
            if self._state is not None:
                self.client._unref(self.key)
        except Exception:  # noqa: BLE001 - e.g. at interpreter exit, with modules torn down
            pass

    def __await__(self) -> Generator[Any, None, Any]:
        return self.client._result(self).__await__()

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (_rebuild_future, (self.key,))

    def __repr__(self) -> str:
        st = self._state
        if st.status == FINISHED and st.type:
            return f"<Future: status: finished, type: {st.type}, key: {self.key}>"
        return f"<Future: status: {st.status}, key: {self.key}>"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> Any:
        from ..jupyter.repr import future_mimebundle
        return future_mimebundle(self, include, exclude)

    def __hash__(self) -> int:
        return hash((self.key, id(self.client)))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Future) and other.key == self.key and other.client is self.client


def _rebuild_future(key: str) -> Future:
    """Unpickle a Future: bind it to the client of the current task or process."""
    from .client import get_client
    return Future(key, get_client(), inform=True)
