"""Messages to frames and back: a msgpack header plus pickled payloads (pure).

Theory of operation
-------------------
Control messages (``{"op": "submit", "key": ..., ...}``) are plain msgpack
data. User payloads (functions, arguments, results) are wrapped in
:class:`Opaque`, which pickles its object lazily, at most once, with pickle
protocol 5: large buffers (numpy arrays, big ``bytes``) are kept out of band
as separate frames that are never copied. The scheduler forwards an Opaque it
received without ever unpickling it.

:func:`dumps` turns a message into frames: frame 0 is the msgpack header,
and every Opaque leaf becomes a msgpack ``ExtType``:

* code :data:`EXT_INLINE` - a small payload (one pickle frame under
  :data:`INLINE_MAX_BYTES`) carried inside the header itself;
* code :data:`EXT_FRAMES` - two little-endian uint32 ``(first, count)``
  naming the frames of the payload, which follow the header as frames
  ``first .. first + count - 1``.

:func:`loads` reverses this, checks every reference and bounds every msgpack
length by the size of the header, and turns any malformed input into
:class:`~futurelab.errors.ProtocolError`. Opaque leaves come back still
pickled.
"""

from __future__ import annotations

import pickle
import struct
import threading
import types
from collections.abc import Sequence
from typing import Any

import cloudpickle  # type: ignore[import-untyped]
import msgpack  # type: ignore[import-untyped]

from futurelab.errors import ProtocolError

__all__ = [
    "EXT_FRAMES",
    "EXT_INLINE",
    "INLINE_MAX_BYTES",
    "Opaque",
    "dumps",
    "dumps_obj",
    "loads",
    "loads_obj",
]

#: msgpack ext code of an Opaque pickled inline in the header.
EXT_INLINE = 1
#: msgpack ext code of an Opaque whose pickle frames follow the header.
EXT_FRAMES = 2
#: Single-frame pickles shorter than this are inlined in the header.
INLINE_MAX_BYTES = 2048

_REF = struct.Struct("<II")
_MISSING: Any = object()
_new_opaque = object.__new__


def _frame_nbytes(frame: bytes | bytearray | memoryview) -> int:
    return frame.nbytes if isinstance(frame, memoryview) else len(frame)


_FUNCTION_TYPES = frozenset({types.FunctionType, types.BuiltinFunctionType})
#: Pickles of module-level functions, which are just references (bounded).
_by_reference: dict[Any, bytes] = {}
_SCALARS = frozenset({int, float, str, bool, type(None), complex})


def _is_plain(obj: Any) -> bool:
    """True for scalars and flat tuples/lists/dicts of small scalars.

    Such objects hold no buffers and no references to code, so plain pickle
    without a buffer callback is both correct and fastest for them.
    """
    kind = type(obj)
    if kind in _SCALARS:
        return True
    if kind is tuple or kind is list:
        if len(obj) > 16:
            return False
        for item in obj:
            if type(item) not in _SCALARS:
                return False
        return True
    if kind is dict:
        if len(obj) > 16:
            return False
        for key, value in obj.items():
            if type(key) not in _SCALARS or type(value) not in _SCALARS:
                return False
        return True
    return False


def dumps_obj(obj: Any) -> list[bytes | memoryview]:
    """Pickle ``obj`` (protocol 5) into a header frame plus out-of-band buffers.

    Plain ``pickle`` is tried first for speed; cloudpickle is used when plain
    pickle fails or refers to ``__main__`` (interactive definitions must
    travel by value) or to a module registered with
    ``cloudpickle.register_pickle_by_value``.

    Args:
        obj: any object cloudpickle can pickle.

    Returns:
        ``[pickle_bytes, *buffers]``; the buffers are zero-copy views.

    Raises:
        TypeError: naming the object's type and the original error.

    >>> loads_obj(dumps_obj({"x": 1}))
    {'x': 1}
    """
    if _is_plain(obj):
        return [pickle.dumps(obj, protocol=5)]
    buffers: list[pickle.PickleBuffer] = []
    data = _pickle_by_reference(obj, buffers, cloudpickle.list_registry_pickle_by_value())
    if data is None:
        buffers = []
        try:
            data = cloudpickle.dumps(obj, protocol=5, buffer_callback=buffers.append)
        except Exception as exc:
            raise TypeError(
                f"Could not serialize object of type {type(obj).__qualname__}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
    if not buffers:
        return [data]
    return [data, *[buf.raw() for buf in buffers]]


def _pickle_by_reference(
    obj: Any, buffers: list[pickle.PickleBuffer], by_value: set[str]
) -> bytes | None:
    """Pickle with the C pickler, or return None if cloudpickle is needed.

    Cloudpickle is needed when the pickle refers to ``__main__`` or to a
    module in ``by_value`` (registered with ``register_pickle_by_value``; a
    module's name appears verbatim in any pickle that refers to it or to its
    submodules, so a substring test errs only towards cloudpickle).
    """
    function = type(obj) in _FUNCTION_TYPES and not by_value
    if function and (cached := _by_reference.get(obj)) is not None:
        return cached
    try:
        data = pickle.dumps(obj, protocol=5, buffer_callback=buffers.append)
    except Exception:  # noqa: BLE001 - any failure here just means "try cloudpickle"
        return None
    if b"__main__" in data or any(name.encode() in data for name in by_value):
        return None
    if function and len(data) < 256:
        # A module-level function pickles as a reference (module + name),
        # so its pickle can be reused; the cache is bounded.
        if len(_by_reference) >= 1024:
            _by_reference.clear()
        _by_reference[obj] = data
    return data


def loads_obj(frames: Sequence[bytes | bytearray | memoryview]) -> Any:
    """Unpickle frames produced by :func:`dumps_obj`.

    >>> loads_obj(dumps_obj([1, 2]))
    [1, 2]
    """
    return pickle.loads(frames[0], buffers=frames[1:])


class Opaque:
    """A user payload that travels pickled and is only unpickled on demand.

    ``Opaque(obj)`` wraps a live object; :meth:`from_frames` wraps frames
    received from the wire. Each side is computed lazily and cached, so an
    Opaque forwarded by the scheduler is never unpickled, and one passed
    in-process is never pickled.

    >>> op = Opaque([1, 2, 3])
    >>> Opaque.from_frames(op.frames()).get()
    [1, 2, 3]
    """

    __slots__ = ("_frames", "_obj")

    def __init__(self, obj: Any) -> None:
        self._obj: Any = obj
        self._frames: list[bytes | memoryview] | None = None

    @classmethod
    def from_frames(cls, frames: Sequence[bytes | bytearray | memoryview]) -> Opaque:
        """Wrap already-pickled frames (as produced by :meth:`frames`)."""
        self = _new_opaque(cls)
        self._obj = _MISSING
        self._frames = [f if isinstance(f, (bytes, memoryview)) else memoryview(f) for f in frames]
        return self

    def frames(self) -> list[bytes | memoryview]:
        """The pickled form: ``[pickle_bytes, *out_of_band_buffers]`` (cached).

        Raises:
            TypeError: the object cannot be pickled (names its type and why).
        """
        if self._frames is None:
            self._frames = dumps_obj(self._obj)
        return self._frames

    def keep_pickled_only(self) -> None:
        """Drop the live object once pickled: what travels on is the pickle (e.g. the arguments
        of a task, held until the task is forgotten but only ever sent).

        Raises:
            TypeError: the object cannot be pickled.
        """
        self.frames()
        self._obj = _MISSING

    def get(self) -> Any:
        """The wrapped object, unpickled on first use (cached)."""
        if self._obj is _MISSING:
            assert self._frames is not None
            self._obj = loads_obj(self._frames)
        return self._obj

    @property
    def nbytes(self) -> int:
        """Total size of the pickled frames (pickles the object if needed)."""
        return sum(_frame_nbytes(f) for f in self.frames())

    @property
    def is_pickled(self) -> bool:
        """True if the pickled frames are available without pickling."""
        return self._frames is not None

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        """Pickle an Opaque by its frames (out of band under protocol 5)."""
        frames = self.frames()
        if isinstance(protocol, int) and protocol >= 5:
            args: list[Any] = [
                f if isinstance(f, bytes) else pickle.PickleBuffer(f) for f in frames
            ]
        else:
            args = [bytes(f) for f in frames]
        return (Opaque.from_frames, (args,))

    def __repr__(self) -> str:
        if self._obj is not _MISSING:
            return f"<Opaque: {type(self._obj).__qualname__}>"
        assert self._frames is not None
        return f"<Opaque: {len(self._frames)} frame(s), {self.nbytes} bytes>"


class _Encoder:
    """A reusable msgpack Packer whose ``default`` moves Opaque payloads out of band."""

    __slots__ = ("busy", "frames", "packer")

    def __init__(self) -> None:
        self.busy = False
        self.frames: list[bytes | memoryview] = []
        self.packer = msgpack.Packer(use_bin_type=True, default=self.default)

    def default(self, obj: Any) -> msgpack.ExtType:
        if not isinstance(obj, Opaque):
            raise TypeError(
                f"Cannot put {type(obj).__qualname__} in a message; wrap user objects in Opaque"
            )
        payload = obj.frames()
        if len(payload) == 1:
            data = payload[0]
            if (data.nbytes if isinstance(data, memoryview) else len(data)) < INLINE_MAX_BYTES:
                inline = data if isinstance(data, bytes) else bytes(data)
                return _new_ext(msgpack.ExtType, (EXT_INLINE, inline))
        frames = self.frames
        first = len(frames)
        frames.extend(payload)
        return _new_ext(msgpack.ExtType, (EXT_FRAMES, _REF.pack(first, len(payload))))


_local = threading.local()


#: Builds an ExtType without ExtType.__new__'s checks (our arguments are known good).
_new_ext = tuple.__new__


def dumps(msg: Any) -> list[bytes | memoryview]:
    """Serialize a message into frames: msgpack header, then payload frames.

    Args:
        msg: msgpack-able data (dict, list, tuple, str, bytes, int, float,
            bool, None) whose leaves may be :class:`Opaque`. Tuples become
            lists.

    Returns:
        The frames of the message; large Opaque buffers are not copied.

    Raises:
        TypeError: an unsupported leaf type, or an Opaque that cannot be
            pickled.

    >>> loads(dumps({"op": "ping", "n": [1, 2]}))
    {'op': 'ping', 'n': [1, 2]}
    """
    enc: _Encoder | None = getattr(_local, "encoder", None)
    if enc is None:
        enc = _local.encoder = _Encoder()
    elif enc.busy:  # re-entered from inside a pickler: use a fresh one
        enc = _Encoder()
    frames: list[bytes | memoryview] = [b""]
    enc.busy, enc.frames = True, frames
    try:
        frames[0] = enc.packer.pack(msg)
    except BaseException:
        enc.packer.reset()
        raise
    finally:
        enc.busy, enc.frames = False, []
    if len(frames[0]) > BIG_HEADER:
        # the packer's buffer keeps its largest size: let a big one go with its encoder
        _local.encoder = None
    return frames


#: a header above this size (bytes) is not worth keeping a packer buffer for
BIG_HEADER = 1 << 20


def loads(frames: Sequence[bytes | memoryview], *, max_header_bytes: int = 64 * 2**20) -> Any:
    """Deserialize frames made by :func:`dumps`; Opaque leaves stay pickled.

    Args:
        frames: the frames of one message.
        max_header_bytes: the largest msgpack header accepted.

    Returns:
        The message. Maps may have int keys; bytes stay bytes; arrays are lists.

    Raises:
        ProtocolError: no frames, an oversized or malformed header, an
            unknown ext code, or a reference to frames that do not exist.

    >>> op = loads(dumps({"fn": Opaque(len)}))["fn"]
    >>> op.get()("abc")
    3
    """
    if not frames:
        raise ProtocolError("message has no frames")
    header = frames[0]
    size = _frame_nbytes(header)
    if size > max_header_bytes:
        raise ProtocolError(
            f"message header of {size} bytes exceeds max_header_bytes={max_header_bytes}"
        )
    nframes = len(frames)

    def ext_hook(code: int, data: bytes) -> Opaque:
        if code == EXT_INLINE:
            op = _new_opaque(Opaque)
            op._obj = _MISSING
            op._frames = [data]
            return op
        if code == EXT_FRAMES and len(data) == _REF.size:
            first, count = _REF.unpack(data)
            if count and 1 <= first and first + count <= nframes:
                return Opaque.from_frames(frames[first : first + count])
            raise ProtocolError(
                f"Opaque refers to frames {first}..{first + count - 1} of a {nframes}-frame message"
            )
        raise ProtocolError(f"unknown msgpack ext type {code} ({len(data)} bytes)")

    try:
        return msgpack.unpackb(
            header,
            raw=False,
            use_list=True,
            strict_map_key=False,
            ext_hook=ext_hook,
            max_str_len=size,
            max_bin_len=size,
            max_array_len=size,
            max_map_len=size // 2,
            max_ext_len=size,
        )
    except ProtocolError:
        raise
    except Exception as exc:
        raise ProtocolError(f"malformed message header: {type(exc).__name__}: {exc}") from exc
