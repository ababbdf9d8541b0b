"""Moving data: waiting for results, fetching them from workers, gathering, scattering.

A mixin of :class:`~futurelab.client.client.Client`, kept apart so each file stays one topic.
Values come from the inline cache of a finished report when the result was small, otherwise
straight from a worker holding the key (never through the scheduler).
"""
from __future__ import annotations

import asyncio
import hashlib
import itertools
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import CancelledError
from typing import TYPE_CHECKING, Any

from ..actor import Actor
from ..errors import FuturelabError
from ..protocol.serialize import Opaque
from ..taskspec import replace_futures
from .future import CANCELLED, ERROR, FINISHED, Future, FutureState

if TYPE_CHECKING:
    from ..rpc import ConnectionPool


def funcname(func: Any) -> str:
    """The name keys of ``func``'s tasks start with."""
    while hasattr(func, "func"):  # functools.partial and friends
        func = func.func
    name = getattr(func, "__name__", None) or type(func).__name__
    return "lambda" if name == "<lambda>" else str(name)


def tokenize(*parts: Any) -> str:
    """A deterministic hex token for ``parts`` (random when they cannot be pickled)."""
    try:
        return token_of_frames(Opaque(parts).frames())
    except Exception:  # noqa: BLE001 - an unpicklable call is simply not pure
        return uuid.uuid4().hex


try:  # XXH3-128 hashes at memory speed (25 GB/s here); SHA-256 at 2 GB/s even with SHA-NI
    from xxhash import xxh3_128 as _new_hash
except ImportError:  # pragma: no cover - depends on the environment
    _new_hash = hashlib.sha256


def token_of_frames(frames: list[bytes | memoryview], salt: str = "") -> str:
    """A hex token of pickled frames, hashed in place (no copy of large buffers).

    With the ``xxhash`` package installed this is XXH3-128, else SHA-256 (cut to 128 bits).
    Hashing is the largest single cost of scattering a big array with SHA-256: 56 ms for
    100 MB, against 30 ms for moving those bytes to a worker on the same host; XXH3 takes 4.
    """
    h = _new_hash(salt.encode())
    for f in frames:
        h.update(f)
    return h.hexdigest()[:32]


def _pickle_checked(obj: Any, what: str) -> Opaque:
    op = Opaque(obj)
    try:
        op.frames()
    except Exception as e:
        raise TypeError(f"Could not serialize {what}: {e}") from e
    return op


def pickle_args(args: tuple[Any, ...], key: str) -> Opaque:
    op = Opaque(args)
    try:
        op.frames()
    except Exception as e:
        for i, arg in enumerate(args):
            try:
                Opaque(arg).frames()
            except Exception:  # noqa: BLE001
                raise TypeError(f"Could not serialize argument {i} of task {key!r} "
                                f"({type(arg).__name__}): {e}") from e
        raise TypeError(f"Could not serialize the arguments of task {key!r}: {e}") from e
    op.keep_pickled_only()
    return op

def pickle_kwargs(kwargs: dict[str, Any], key: str) -> Opaque:
    op = Opaque(kwargs)
    try:
        op.frames()
    except Exception as e:
        for name, value in kwargs.items():
            try:
                Opaque(value).frames()
            except Exception:  # noqa: BLE001
                raise TypeError(f"Could not serialize keyword argument {name!r} of task "
                                f"{key!r} ({type(value).__name__}): {e}") from e
        raise TypeError(f"Could not serialize the keyword arguments of task {key!r}: {e}") \
            from e
    op.keep_pickled_only()
    return op


class TransferMixin:
    """Results, gather and scatter for the Client."""

    _pool: ConnectionPool
    _serializing: bool
    _link_address: str
    id: str
    scheduler_address: str | None

    def sync(self, func: Any, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    # ------------------------------------------------------------------ results
    async def _wait_state(self, future: Future, timeout: float | None) -> FutureState:
        st = future._state
        deadline = None if timeout is None else time.monotonic() + timeout
        while not st.done():
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise TimeoutError(f"Future {future.key!r} not done after {timeout} s")
            try:
                await asyncio.wait_for(st.wait(), remaining)
            except asyncio.TimeoutError:
                raise TimeoutError(f"Future {future.key!r} not done after {timeout} s") from None
        return st

    async def _result(self, future: Future, timeout: float | None = None) -> Any:
        st = await self._wait_state(future, timeout)
        if st.status == ERROR:
            raise st.get_exception().with_traceback(st.get_traceback())
        if st.status == CANCELLED:
            raise CancelledError(future.key)
        return (await self._fetch({future.key: st}))[future.key]

    async def _exception(self, future: Future, timeout: float | None = None) -> Any:
        st = await self._wait_state(future, timeout)
        if st.status == CANCELLED:
            raise CancelledError(future.key)
        return st.get_exception() if st.status == ERROR else None

    async def _traceback(self, future: Future, timeout: float | None = None) -> Any:
        st = await self._wait_state(future, timeout)
        return st.get_traceback() if st.status == ERROR else None

    async def _fetch(self, states: dict[str, FutureState]) -> dict[str, Any]:
        """The values of finished keys: from the inline cache, else straight from workers."""
        out: dict[str, Any] = {}
        need: dict[str, FutureState] = {}
        for key, st in states.items():
            if st.has_data:
                out[key] = st.data.get() if isinstance(st.data, Opaque) else st.data
            else:
                need[key] = st
        for attempt in itertools.count():
            if not need:
                return out
            by_worker: dict[str, list[str]] = {}
            for key, st in need.items():
                if st.who_has:
                    by_worker.setdefault(st.who_has[attempt % len(st.who_has)], []).append(key)
            replies = await asyncio.gather(
                *(self._pool.request(w, {"op": "get-data", "keys": ks})
                  for w, ks in by_worker.items()), return_exceptions=True)
            for reply in replies:
                if isinstance(reply, BaseException):
                    continue
                for text in reply.get("errors", {}).values():
                    raise FuturelabError(text)
                for key, value in reply["data"].items():
                    value = value.get() if isinstance(value, Opaque) else value
                    if isinstance(value, Actor):
                        value._client_ = self
                        value._future = Future(key, self)  # the proxy keeps its actor alive
                    out[key] = value
                    need.pop(key, None)
            if need:
                if attempt > 50:
                    raise FuturelabError(f"could not fetch the data of {sorted(need)[:5]}")
                who = await self._scheduler_request({"op": "who_has", "keys": list(need)})
                for key, st in need.items():
                    st.who_has = who.get(key, [])
                    if not st.who_has:
                        # lost and being recomputed: wait for it again
                        await self._wait_state(Future(key, self), None)
                        if st.status == ERROR:
                            raise st.get_exception().with_traceback(st.get_traceback())
                await asyncio.sleep(0.01 * attempt)
        return out

    async def _scheduler_request(self, msg: dict[str, Any]) -> Any:
        return await self._pool.request(self._link_address, msg)

    def gather(self, futures: Any, errors: str = "raise", direct: bool | None = None,
               asynchronous: bool | None = None) -> Any:
        """Wait for ``futures`` (a Future, or lists/tuples/dicts nesting them) and return values.

        ``errors="skip"`` leaves erred futures out instead of raising.
        """
        if isinstance(futures, Iterator):
            return (self.gather(f, errors=errors) for f in futures)
        return self.sync(self._gather, futures, errors=errors)

    async def _gather(self, futures: Any, errors: str = "raise") -> Any:
        if errors not in ("raise", "skip"):
            raise ValueError(f"errors must be 'raise' or 'skip', not {errors!r}")
        found: dict[str, Future] = {}
        replace_futures(futures, Future, found)
        for fut in found.values():
            st = fut._state
            while not st.done():
                await st.wait()
        bad = {k for k, f in found.items() if f._state.status != FINISHED}
        if errors == "raise":
            for key, fut in found.items():
                if key in bad:
                    st = fut._state
                    if st.status == CANCELLED:
                        raise CancelledError(key)
                    raise st.get_exception().with_traceback(st.get_traceback())
        values = await self._fetch({k: f._state for k, f in found.items() if k not in bad})
        return _rebuild(futures, values, bad)

    # ------------------------------------------------------------------ scatter
    def scatter(self, data: Any, workers: Any = None, broadcast: bool = False,
                direct: bool | None = None, hash: bool = True, timeout: float | None = None,
                asynchronous: bool | None = None) -> Any:
        """Move local data to workers; return Futures pointing to it (same shape as ``data``)."""
        return self.sync(self._scatter, data, workers=workers, broadcast=broadcast, hash=hash)

    async def _scatter(self, data: Any, workers: Any = None, broadcast: bool = False,
                       hash: bool = True) -> Any:
        if isinstance(data, dict):
            items = list(data.items())
        elif isinstance(data, (list, tuple, set, frozenset)) or isinstance(data, Iterator):
            items = [(None, x) for x in data]
        else:
            items = [(None, data)]
        keyed: list[tuple[str, Any]] = []
        ops: dict[str, Opaque] = {}
        for k, value in items:
            op = (_pickle_checked(value, "a scattered value") if self._serializing
                  else Opaque(value))
            if k is None:
                if hash:
                    try:  # one pickle serves both the key and (in processes mode) the transfer
                        k = token_of_frames(op.frames(), type(value).__name__)
                    except Exception:  # noqa: BLE001 - unpicklable in threads mode: no hash
                        k = uuid.uuid4().hex
                else:
                    k = uuid.uuid4().hex
            keyed.append((str(k), value))
            ops[str(k)] = op
        if isinstance(workers, str):
            workers = [workers]
        ncores = await self._scheduler_request({"op": "ncores"})
        targets = [w for w in (workers or sorted(ncores)) if w in ncores]
        if not targets:
            raise FuturelabError("scatter found no workers to hold the data"
                                 + (f" among {workers}" if workers else ""))
        plan: dict[str, dict[str, Opaque]] = {}
        who_has: dict[str, list[str]] = {}
        for i, (k, _) in enumerate(keyed):
            op = ops[k]
            chosen = targets if broadcast else [targets[i % len(targets)]]
            for w in chosen:
                plan.setdefault(w, {})[k] = op
            who_has[k] = chosen
        replies = await asyncio.gather(*(self._pool.request(w, {"op": "update-data", "data": d})
                                         for w, d in plan.items()))
        nbytes: dict[str, int] = {}
        types: dict[str, str] = {}
        for reply in replies:
            nbytes.update(reply["nbytes"])
            types.update(reply["types"])
        futures = {k: Future(k, self, inform=False) for k, _ in keyed}
        await self._scheduler_request({"op": "scatter-done", "client": self.id,
                                       "who_has": who_has, "nbytes": nbytes, "types": types})
        local_types = {k: type(v) for k, v in keyed}
        for k, fut in futures.items():
            fut._state.typeobj = local_types[k]
            if not fut._state.done():
                fut._state.finish(types.get(k), who_has[k])
        if isinstance(data, dict):
            return {k: futures[str(k)] for k in data}
        out = [futures[k] for k, _ in keyed]
        if isinstance(data, (list, tuple, set, frozenset, Iterator)):
            return type(data)(out) if isinstance(data, (tuple, set, frozenset)) else out
        return out[0]


def _rebuild(obj: Any, values: dict[str, Any], skip: set[str]) -> Any:
    if isinstance(obj, Future):
        return values[obj.key]
    typ = type(obj)
    if typ in (list, tuple, set, frozenset):
        return typ(_rebuild(x, values, skip) for x in obj
                   if not (isinstance(x, Future) and x.key in skip))
    if typ is dict:
        return {k: _rebuild(v, values, skip) for k, v in obj.items()
                if not (isinstance(v, Future) and v.key in skip)}
    return obj
