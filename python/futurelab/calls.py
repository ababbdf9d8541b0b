"""Calling a user function outside the task system, and carrying its outcome back.

``Client.run`` calls a function on every worker and ``Client.run_on_scheduler`` on the
scheduler: outside task scheduling, on the event loop of that process.  Both go through
:func:`call_function`, which calls (or awaits) the function and packs the outcome into a reply:
``{"status": "OK", "result": Opaque}`` or, when the function raised,
``{"status": "OK", "error": Opaque(exception), "traceback": Opaque, "text": str}`` — the
request itself succeeded; the caller decides what a failure of the function means
(:func:`unpack_outcome`).
"""
from __future__ import annotations

import asyncio
import inspect
import logging
import traceback as tb_mod
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from .protocol.serialize import Opaque

logger = logging.getLogger("futurelab.calls")

#: coroutines started with ``wait=False``, kept alive until they finish
_background: set[asyncio.Task[Any]] = set()


def unwrap(value: Any) -> Any:
    """The object inside an Opaque (unpickled on first use); anything else as it is."""
    return value.get() if isinstance(value, Opaque) else value


def accepts(func: Any, name: str) -> bool:
    """Whether ``func`` has a parameter called ``name`` (as dask's ``dask_worker=``)."""
    try:
        return name in inspect.signature(func).parameters
    except (TypeError, ValueError):  # builtins without a signature
        return False


async def call_function(msg: dict[str, Any], inject: dict[str, Any], *, serialize: bool,
                        where: str,
                        around: Callable[[], AbstractContextManager[Any]] = nullcontext,
                        ) -> dict[str, Any]:
    """Call ``msg["function"](*msg["args"], **msg["kwargs"])`` here and pack the outcome.

    ``inject`` maps parameter names to objects passed when the function takes them
    (``{"dask_worker": worker}``).  A coroutine function is awaited — or, with
    ``msg["wait"]`` false, started in the background and answered with ``None``.
    ``serialize``: the reply crosses a process boundary, so the result must pickle.
    ``around`` makes the context of the (synchronous part of the) call, e.g. what
    ``get_worker()`` answers there.
    """
    try:
        func = unwrap(msg["function"])
        args = tuple(unwrap(msg.get("args")) or ())
        kwargs = dict(unwrap(msg.get("kwargs")) or {})
        if not callable(func):
            raise TypeError(f"run needs a callable function, not {func!r}")
        for name, obj in inject.items():
            if accepts(func, name):
                kwargs[name] = obj
        with around():
            result = func(*args, **kwargs)
        if inspect.isawaitable(result):
            if not msg.get("wait", True):
                task = asyncio.ensure_future(result)
                _background.add(task)
                task.add_done_callback(_finished)
                result = None
            else:
                result = await result
    except Exception as e:  # noqa: BLE001 - the function's error is its caller's outcome
        return pack_error(e, serialize, where)
    op = Opaque(result)
    if serialize:
        try:
            op.frames()
        except Exception as e:  # noqa: BLE001
            return pack_error(TypeError(f"the result of {_name(func)} on {where} could not be "
                                        f"serialized to send it back: {e}"), serialize, where)
    return {"status": "OK", "result": op}


def pack_error(exc: BaseException, serialize: bool, where: str) -> dict[str, Any]:
    """A reply carrying ``exc`` (and its traceback when that pickles)."""
    text = "".join(tb_mod.format_exception_only(type(exc), exc)).strip()
    trace = Opaque(exc.__traceback__)
    error = Opaque(exc.with_traceback(None))
    if serialize:
        try:
            error.frames()
        except Exception as e:  # noqa: BLE001
            error = Opaque(RuntimeError(f"{text} (raised on {where}; the exception could not "
                                        f"be pickled: {e})"))
        try:
            trace.frames()
        except Exception:  # noqa: BLE001
            trace = Opaque(None)
    return {"status": "OK", "error": error, "traceback": trace, "text": text}


def unpack_outcome(reply: dict[str, Any] | BaseException) -> tuple[bool, Any]:
    """``(True, result)`` or ``(False, exception with its remote traceback)``.

    ``reply`` may also be the exception a failed request raised (say the peer was gone).
    """
    if isinstance(reply, BaseException):
        return False, reply
    if "error" not in reply:
        return True, unwrap(reply.get("result"))
    exc = unwrap(reply["error"])
    if not isinstance(exc, BaseException):
        exc = RuntimeError(str(reply.get("text") or "the remote function failed"))
    trace = unwrap(reply.get("traceback"))
    return False, exc.with_traceback(trace) if trace is not None else exc


def _name(func: Any) -> str:
    return getattr(func, "__qualname__", None) or repr(func)


def _finished(task: asyncio.Task[Any]) -> None:
    _background.discard(task)
    if not task.cancelled() and task.exception() is not None:
        logger.warning("a function run in the background failed: %r", task.exception())
