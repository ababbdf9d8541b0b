"""The client half shared by every primitive: requests over the client's stream, values, pickling.

Theory of operation
-------------------
A primitive's Python object (a *proxy*) holds only its name; it finds its Client lazily
(:func:`~futurelab.client.client.get_client`, which inside a task is the worker's client), so it
pickles by name and a task on any worker reaches the same primitive.

Requests go out on the client's ordered stream with a request id; :class:`PrimitivesClient` (one
per Client, in ``client.extensions["primitives"]``) matches the ``primitive-reply`` that comes back
to the waiting coroutine.  Timeouts are enforced by the scheduler, which always answers; a caller
that gives up early (its task was cancelled) sends ``<kind>-cancel``, and should the grant cross
that cancel on the wire, the grant is undone (a lock released, a future's key let go).

Values are futures (sent by key) or msgpack-encodable data (encoded here, so a bad value raises
TypeError at the caller and never reaches the scheduler).
"""
from __future__ import annotations

import asyncio
import itertools
import reprlib
import threading
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

import msgpack  # type: ignore[import-untyped]

from ..errors import FuturelabError
from ..protocol import messages as m
from ..protocol.messages.primitives import Item

if TYPE_CHECKING:
    from ..client.client import Client

_ext_lock = threading.RLock()
_repr = reprlib.Repr()
_repr.maxstring = 60
_repr.maxother = 60
_ERRORS: dict[str, type[Exception]] = {"ValueError": ValueError, "TypeError": TypeError,
                                       "RuntimeError": RuntimeError, "KeyError": KeyError,
                                       "TimeoutError": TimeoutError}


class PrimitivesClient:
    """Per-Client plumbing: request ids, replies, pub/sub deliveries."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self._rids = itertools.count(1)
        self.pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        #: requests given up on: what to do if they were granted after all
        self.abandoned: dict[int, Callable[[dict[str, Any]], None]] = {}
        #: pub/sub deliveries by subscription id (weak methods of pubsub.Sub objects)
        self.deliver: dict[str, Callable[[], Callable[[Any], None] | None]] = {}
        client.add_stream_handlers({m.PrimitiveReply: self._on_reply,
                                    m.PubSubMessage: self._on_pubsub})

    @staticmethod
    def of(client: Client) -> PrimitivesClient:
        """The PrimitivesClient of ``client`` (created on first use)."""
        ext = client.extensions.get("primitives")
        if ext is None:
            with _ext_lock:
                ext = client.extensions.get("primitives")
                if ext is None:
                    ext = client.extensions["primitives"] = PrimitivesClient(client)
        return ext

    async def request(self, msg: dict[str, Any],
                      undo: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
        """Send ``msg`` on the stream and wait for its reply (on the client's loop).

        Raises:
            FuturelabError: when the connection to the scheduler is lost meanwhile.
            ValueError, TypeError, RuntimeError, TimeoutError: as the scheduler reports them.
        """
        client = self.client
        if client.status not in ("running", "newly-created"):
            raise FuturelabError(f"the client is {client.status}; cannot use {msg['op']}")
        rid = next(self._rids)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[rid] = fut
        client._send({**msg, "rid": rid})
        try:
            # the scheduler always answers; a lost connection fails us (fail_pending)
            reply = await fut
        except BaseException:
            # (cancelling this task cancels ``fut`` too, so "no answer yet" is "still pending")
            if self.pending.pop(rid, None) is not None:
                # no answer yet: withdraw the request; a grant that crosses that is undone
                if undo is not None:
                    self.abandoned[rid] = undo
                kind = str(msg["op"]).split("-", 1)[0]
                client._send({"op": f"{kind}-cancel", "name": msg.get("name"), "cancel": rid})
            elif (undo is not None and fut.done() and not fut.cancelled()
                  and fut.exception() is None):
                # answered, but we were cancelled before we could take the answer: undo it
                granted = fut.result()
                if "error" not in granted and granted.get("ok", True):
                    undo(granted)
            raise
        if "error" in reply:
            raise _ERRORS.get(str(reply.get("etype")), FuturelabError)(reply["error"])
        return reply

    def fail_pending(self, error: Exception) -> None:
        """The scheduler is gone (or the client closed): fail every request still waiting."""
        pending, self.pending = self.pending, {}
        for rid, fut in pending.items():
            if not fut.done():
                # the same kind of error (SchedulerGone, or "the client is closed"), with the id
                fut.set_exception(type(error)(f"{error} (request {rid} got no answer)"))

    def send(self, msg: dict[str, Any]) -> None:
        """Send ``msg`` without waiting for (or asking) an answer."""
        self.client._send(msg)

    def _on_reply(self, msg: dict[str, Any]) -> None:
        rid = msg.get("rid")
        fut = self.pending.pop(rid, None)  # type: ignore[arg-type]
        if fut is not None:
            if not fut.done():
                fut.set_result(msg)
            return
        undo = self.abandoned.pop(rid, None)  # type: ignore[arg-type]
        if undo is not None and "error" not in msg and msg.get("ok", True):
            undo(msg)

    def _on_pubsub(self, msg: dict[str, Any]) -> None:
        for sid in msg.get("subs", ()):
            ref = self.deliver.get(sid)
            deliver = ref() if ref is not None else None
            if deliver is not None:
                deliver(msg.get("item"))

    def release_keys(self, items: list[Item]) -> None:
        """Let go of futures given to us by a reply nobody waits for any more."""
        keys = [i["key"] for i in items if isinstance(i, dict) and isinstance(i.get("key"), str)
                and i["key"] not in self.client.futures]
        if keys:
            self.client._send({"op": "client-releases-keys", "keys": keys})


# ---------------------------------------------------------------------- values
def encode(value: Any, what: str, futures: bool = True) -> Item:
    """Turn ``value`` into an item: a future by key, anything else as msgpack bytes.

    Raises:
        TypeError: when ``value`` is neither a future nor msgpack-encodable.
    """
    from ..client.future import Future
    if isinstance(value, Future):
        if not futures:
            raise TypeError(f"{what} takes msgpack-encodable data, not futures; "
                            "send futures through a Queue or Variable")
        return {"key": value.key, "type": "Future", "repr": f"<Future: {value.key}>"}
    try:
        data = msgpack.packb(value, use_bin_type=True)
    except (TypeError, ValueError, OverflowError) as e:
        allowed = "a future or " if futures else ""
        raise TypeError(
            f"{what} takes {allowed}msgpack-encodable data (None, bool, int, float, str, "
            f"bytes, and lists/dicts of these), not {type(value).__name__} ({e}). "
            "Scatter larger or arbitrary objects first (client.scatter) and send the future"
            + ("." if futures else " through a Queue or Variable.")) from None
    return {"data": data, "type": type(value).__name__, "repr": _repr.repr(value)}


def decode(item: Item, client: Client) -> Any:
    """An item back to a value: a Future bound to ``client`` or the decoded data."""
    key = item.get("key")
    if isinstance(key, str):
        from ..client.future import Future
        # the scheduler pins the key for us (in transit) until our own claim, sent now on the
        # ordered stream, has arrived; then it lets go of that pin
        future = Future(key, client, inform=True)
        client._send({"op": "release-transit", "keys": [key]})
        return future
    return msgpack.unpackb(item["data"], raw=False, strict_map_key=False)


def check_timeout(timeout: Any) -> float | None:
    """Validate a ``timeout=`` argument (None: wait forever).

    Raises:
        TypeError: when it is not a number.
        ValueError: when it is negative.
    """
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number of seconds or None, not {timeout!r}")
    if timeout < 0:
        raise ValueError(f"timeout must be non-negative, not {timeout!r}")
    return float(timeout)


# ---------------------------------------------------------------------- the proxy base
class Proxy:
    """Base of the user-facing primitive objects: a name, a lazily found Client, pickling."""

    #: op prefix and default-name prefix
    kind: ClassVar[str] = ""

    def __init__(self, name: str | None = None, client: Client | None = None) -> None:
        if name is None:
            name = f"{self.kind}-{uuid.uuid4().hex}"
        elif not isinstance(name, str) or not name:
            raise TypeError(f"{type(self).__name__} name must be a non-empty string, "
                            f"not {name!r}")
        #: the name every copy of this primitive shares
        self.name: str = name
        if client is None:
            from ..client.client import get_client
            try:
                client = get_client()
            except ValueError:  # no client yet: found on first use
                pass
        self._client = client
        #: identifies this object as a holder (locks, semaphore leases)
        self._token = uuid.uuid4().hex

    @property
    def client(self) -> Client:
        """The Client this proxy talks through (inside a task: the worker's client)."""
        client = self._client
        if client is None:
            from ..client.client import get_client
            with _ext_lock:  # bind once: the (client, token) pair identifies a holder
                if self._client is None:
                    self._client = get_client()
                client = self._client
        return client

    @property
    def _ext(self) -> PrimitivesClient:
        return PrimitivesClient.of(self.client)

    async def _request(self, verb: str, undo: Callable[[dict[str, Any]], None] | None = None,
                       **fields: Any) -> dict[str, Any]:
        return await self._ext.request({"op": f"{self.kind}-{verb}", "name": self.name,
                                        **fields}, undo)

    def _send(self, verb: str, **fields: Any) -> None:
        self._ext.send({"op": f"{self.kind}-{verb}", "name": self.name, **fields})

    def _pickle_args(self) -> tuple[Any, ...]:
        return (self.name,)

    def _restore(self, name: str, *args: Any) -> None:
        """Set up an unpickled copy (no client yet: found on first use, wherever that is)."""
        self.name = name
        self._client = None
        self._token = uuid.uuid4().hex

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (_rebuild, (type(self), self._pickle_args()))

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self.name}>"


def _rebuild(cls: type[Proxy], args: tuple[Any, ...]) -> Proxy:
    """Unpickle a proxy by name, without the constructor's side effects."""
    obj = cls.__new__(cls)
    obj._restore(*args)
    return obj
