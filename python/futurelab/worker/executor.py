"""Running tasks in threads: the task context, ``secede``/``rejoin`` and outcome reports.

A worker runs each task in a thread of its pool (which grows past ``nthreads`` only for tasks that
seceded).  The thread knows which task and worker it serves through :data:`thread_state`, which is
how :func:`get_worker`, :func:`secede` and :func:`rejoin` find them.
"""
from __future__ import annotations

import queue
import sys
import threading
import time
import traceback as tb_mod
from typing import TYPE_CHECKING, Any

import tblib.pickling_support

from ..protocol.serialize import Opaque
from .state import ExecuteFailure, ExecuteSuccess, RejoinRequest, Secede

if TYPE_CHECKING:
    from .server import Worker

tblib.pickling_support.install()

thread_state = threading.local()

_INLINE_TYPES = (int, float, bool, type(None), complex)
INLINE_LIMIT = 2048


class TaskThreads:
    """The threads that run a worker's tasks: ``nthreads`` of them, plus one per seceded task.

    A plain queue feeds long-lived threads (ThreadPoolExecutor would start a new thread on many
    submissions).  A thread reports a finished task to the worker's state machine itself
    (:meth:`Worker.handle` is thread-safe); if that hands it the next task, the thread runs it
    at once, and the loop only sends the outcomes, many per wake-up.
    """

    def __init__(self, worker: Worker, nthreads: int, name: str) -> None:
        self.worker = worker
        self.name = name
        self.queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.threads: list[threading.Thread] = []
        for _ in range(nthreads):
            self.add_thread()

    def add_thread(self) -> None:
        """One more thread (a seceded task keeps its own; this one takes the next task)."""
        t = threading.Thread(target=self._run, daemon=True,
                             name=f"{self.name}-task-{len(self.threads)}")
        self.threads.append(t)
        t.start()

    def submit(self, *item: Any) -> None:
        self.queue.put(item)

    def _run(self) -> None:
        while True:
            item = self.queue.get()
            if item is None:
                return
            run_task(*item)

    def shutdown(self) -> None:
        for _ in self.threads:
            self.queue.put(None)


def get_worker() -> Worker:
    """The worker running the current task.

    Raises:
        ValueError: when called outside a task.

    >>> def task():
    ...     return get_worker().address
    """
    worker = getattr(thread_state, "worker", None)
    if worker is None:
        raise ValueError("get_worker() was called outside a task: no worker found")
    return worker  # type: ignore[no-any-return]


def secede() -> None:
    """Take the current task out of its worker's thread pool.

    The task keeps running but no longer counts against ``nthreads``, so waiting on other tasks
    (e.g. ``get_client().gather(...)``) cannot deadlock the worker.  Outside a task it does nothing.
    """
    worker = getattr(thread_state, "worker", None)
    key = getattr(thread_state, "key", None)
    if worker is None or key is None or getattr(thread_state, "seceded", False):
        return
    thread_state.seceded = True
    worker.threads.add_thread()  # so the next task need not wait for this one
    worker.loop.call_soon_threadsafe(worker.handle, Secede(key, stimulus_id="secede"))


def rejoin() -> None:
    """Wait for a free thread slot, then count the current task against ``nthreads`` again."""
    worker = getattr(thread_state, "worker", None)
    key = getattr(thread_state, "key", None)
    if worker is None or key is None or not getattr(thread_state, "seceded", False):
        return
    event = threading.Event()
    worker.rejoin_events[key] = event
    worker.loop.call_soon_threadsafe(worker.handle, RejoinRequest(key, stimulus_id="rejoin"))
    event.wait()
    thread_state.seceded = False


def sizeof(obj: Any) -> int:
    """A cheap estimate of the bytes ``obj`` holds."""
    nbytes = getattr(obj, "nbytes", None)
    if isinstance(nbytes, int):
        return nbytes
    try:
        return sys.getsizeof(obj)
    except TypeError:
        return 64


def _inlineable(obj: Any) -> bool:
    typ = type(obj)
    if typ in _INLINE_TYPES:
        return True
    if typ is str or typ is bytes:
        return len(obj) < INLINE_LIMIT
    if typ is tuple or typ is list:
        return len(obj) <= 16 and all(type(x) in _INLINE_TYPES for x in obj)
    return False


def run_task(worker: Worker, key: str, func: Any, args: Any, kwargs: Any,
             actor: bool = False, slot: int = 0) -> None:
    """Run one task in this thread and report its outcome to the worker's loop."""
    thread_state.worker = worker
    thread_state.key = key
    thread_state.seceded = False
    start = time.time()
    try:
        result = func(*args, **kwargs)
    except BaseException as e:  # noqa: BLE001 - the task's error goes to the user
        stop = time.time()
        event: Any = failure_event(key, e, start, stop, serialize=worker.serializing)
        event.thread = slot
    else:
        stop = time.time()
        inline = None
        if actor:
            worker.actors.add(key, result)
        elif _inlineable(result):
            inline = Opaque(result)
            if worker.serializing:
                inline.frames()
        worker.data[key] = result
        typ = type(result)
        # builtin types travel by name alone (the client maps the name back)
        typeobj: Opaque | None = None if typ.__module__ == "builtins" else Opaque(typ)
        if worker.serializing and typeobj is not None:
            try:
                typeobj.frames()  # type: ignore[union-attr]
            except Exception:  # noqa: BLE001 - the name is enough then
                typeobj = None
        event = ExecuteSuccess(key, sizeof(result), type(result).__name__, start, stop, inline,
                               slot, typeobj, stimulus_id="execute-success")
    finally:
        thread_state.key = None
    worker.handle(event)


def failure_event(key: str, exc: BaseException, start: float, stop: float, *,
                  serialize: bool) -> ExecuteFailure:
    """The report of a task that raised ``exc``, with the task's own frames as traceback."""
    tb = exc.__traceback__
    # drop run_task's own frame so the user sees their function first
    if tb is not None and tb.tb_frame.f_code is run_task.__code__:
        tb = tb.tb_next
    text = "".join(tb_mod.format_exception_only(type(exc), exc)).strip()
    exception = Opaque(exc.with_traceback(None))
    traceback = Opaque(tb)
    if serialize:
        try:
            exception.frames()
        except Exception as pickle_error:  # noqa: BLE001
            exception = Opaque(RuntimeError(
                f"task {key!r} raised {text}, and that exception could not be pickled to send it "
                f"back ({pickle_error})"))
        try:
            traceback.frames()
        except Exception:  # noqa: BLE001
            traceback = Opaque(None)
    return ExecuteFailure(key, exception, traceback, text, start, stop,
                          stimulus_id="execute-failure")
