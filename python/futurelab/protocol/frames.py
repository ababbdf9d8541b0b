"""Length-prefixed framing: a list of frames in, bytes out, and back (pure).

Theory of operation
-------------------
A message on the wire is a list of frames (byte strings). It is sent as a
header followed by the frames themselves::

    uint64 n | uint64 len(frame 0) | ... | uint64 len(frame n-1) | frame 0 | ... | frame n-1

All integers are little-endian. :func:`pack_frames` builds the header and
returns it together with the *uncopied* frames, ready for
``transport.writelines``.

:class:`FrameDecoder` is a sans-IO state machine in the style of h11's
receive buffer: bytes go in, complete messages come out. It walks through
three kinds of unit: the frame count (8 bytes), the length table (8 * n
bytes) and each frame. The count and every length are checked against the
decoder's limits as soon as they are read, before anything is allocated for
the frames.

Small units are assembled in a scratch ``bytearray`` and handed out as
``bytes``. A frame of at least :data:`LARGE_FRAME_BYTES` gets one buffer of
exactly its length (:func:`alloc_frame`: a ``bytearray``, or from
:data:`MAPPED_FRAME_BYTES` on, anonymous memory that nobody zeroes first),
allocated once; bytes are copied into it at most once, and with the
``get_buffer``/``buffer_updated`` pair (the ``asyncio.BufferedProtocol``
interface) the kernel writes straight into it, with no copy at all. Large
frames are returned as writable ``memoryview`` objects over that buffer, so
a numpy array unpickled from one uses it in place.

After an error the decoder refuses further input: the stream has lost its
framing and the connection must be dropped.
"""

from __future__ import annotations

import mmap
import struct
import threading
from collections.abc import Sequence

from futurelab.errors import FrameTooLargeError, ProtocolError

__all__ = ["LARGE_FRAME_BYTES", "MAPPED_FRAME_BYTES", "Frame", "FrameDecoder", "alloc_frame",
           "pack_frames"]

#: A frame as produced by the decoder or accepted by :func:`pack_frames`.
Frame = bytes | memoryview

#: Frames at least this long are received into their own preallocated buffer.
LARGE_FRAME_BYTES = 64 * 1024

#: Frames at least this long are received into fresh anonymous memory (see :func:`alloc_frame`).
MAPPED_FRAME_BYTES = 1 << 20

_local = threading.local()
_HUGEPAGE = getattr(mmap, "MADV_HUGEPAGE", None)
_PRIVATE = getattr(mmap, "MAP_PRIVATE", None)
_ANONYMOUS = getattr(mmap, "MAP_ANONYMOUS", None)


def alloc_frame(nbytes: int) -> bytearray | mmap.mmap:
    """A writable buffer of ``nbytes`` for a frame about to be received.

    ``bytearray(n)`` writes zeros over every page before the kernel copies the frame in, and
    that first touch of fresh memory costs more than the copy itself (about 0.7 ms per MB,
    page fault by page fault). Large frames get private anonymous memory instead, which the
    kernel zero-fills on demand, in transparent huge pages where it can (as numpy does for its
    large arrays): a 100 MB frame then costs a few hundred faults, not 25,000.

    >>> len(alloc_frame(10)), len(alloc_frame(MAPPED_FRAME_BYTES))
    (10, 1048576)
    """
    if nbytes < MAPPED_FRAME_BYTES or _PRIVATE is None or _ANONYMOUS is None:
        return bytearray(nbytes)
    buf = mmap.mmap(-1, nbytes, flags=_PRIVATE | _ANONYMOUS)
    if _HUGEPAGE is not None:
        try:
            buf.madvise(_HUGEPAGE)
        except OSError:  # kernels without transparent huge pages
            pass
    return buf


def _scratch() -> memoryview:
    """This thread's receive buffer for small frames.

    One per thread, shared by every decoder: ``get_buffer`` and ``buffer_updated`` run back to
    back within one event-loop callback, and small frames are copied out before returning, so
    thousands of idle connections cost no buffer each.
    """
    view: memoryview | None = getattr(_local, "view", None)
    if view is None:
        view = _local.view = memoryview(bytearray(LARGE_FRAME_BYTES))
    return view

_U64 = struct.Struct("<Q")
_COUNT, _LENGTHS, _FRAME = 0, 1, 2


def _as_bytes_view(frame: bytes | bytearray | memoryview) -> bytes | memoryview:
    """Return ``frame`` as bytes or as a flat, byte-formatted memoryview (no copy)."""
    if isinstance(frame, bytes):
        return frame
    view = memoryview(frame)
    if view.format != "B" or view.ndim != 1:
        view = view.cast("B")
    return view


def pack_frames(frames: Sequence[bytes | bytearray | memoryview]) -> list[bytes | memoryview]:
    """Frame a message for the wire without copying its frames.

    Args:
        frames: the frames of one message. Memoryviews must be C-contiguous.

    Returns:
        ``[header, *frames]`` where ``header`` holds the frame count and the
        byte length of every frame; pass the list to ``transport.writelines``.

    >>> u64 = lambda n: n.to_bytes(8, "little")
    >>> pack_frames([b"ab", b"c"])[0] == u64(2) + u64(2) + u64(1)
    True
    """
    out: list[bytes | memoryview] = [b""]
    out.extend(_as_bytes_view(f) for f in frames)
    n = len(out) - 1
    lengths = [f.nbytes if isinstance(f, memoryview) else len(f) for f in out[1:]]
    out[0] = struct.pack(f"<{n + 1}Q", n, *lengths)
    return out


class FrameDecoder:
    """Incremental decoder of framed messages (bytes in, lists of frames out).

    Args:
        max_frame_bytes: the longest frame accepted; a longer announced length
            raises :class:`~futurelab.errors.FrameTooLargeError` before
            anything is allocated.
        max_frames: the most frames one message may have; more raises
            :class:`~futurelab.errors.ProtocolError`.

    >>> dec = FrameDecoder()
    >>> wire = b"".join(pack_frames([b"hello", b"world"]))
    >>> dec.feed(wire[:5]), dec.feed(wire[5:])
    ([], [[b'hello', b'world']])
    """

    def __init__(self, max_frame_bytes: int = 2**31, max_frames: int = 10_000) -> None:
        #: Limits checked on every length/count header.
        self.max_frame_bytes = max_frame_bytes
        self.max_frames = max_frames
        self._state = _COUNT
        self._need = _U64.size  # bytes needed to complete the current unit
        self._pending = bytearray()  # partial small unit
        self._lengths: list[int] = []
        self._frames: list[Frame] = []
        self._large: bytearray | mmap.mmap | None = None  # large frame being received
        self._large_view = memoryview(b"")
        self._large_filled = 0
        self._error: Exception | None = None

    # -- public API ------------------------------------------------------

    def feed(self, data: bytes | bytearray | memoryview) -> list[list[Frame]]:
        """Consume ``data`` and return every message it completes.

        Args:
            data: the next bytes of the stream (any length, even empty).

        Returns:
            Complete messages, each a list of frames, oldest first.

        Raises:
            ProtocolError: too many frames, or the decoder already failed.
            FrameTooLargeError: a frame longer than ``max_frame_bytes``.
        """
        self._check_usable()
        try:
            view = memoryview(data)
            return self._consume(view if view.format == "B" and view.ndim == 1 else view.cast("B"))
        except Exception as exc:
            self._error = exc
            raise

    def get_buffer(self, sizehint: int = -1) -> memoryview:
        """Return a writable buffer for the next bytes (``BufferedProtocol.get_buffer``).

        While a large frame is in progress this is the unfilled rest of that
        frame's own buffer, so the bytes land in place; otherwise a reusable
        scratch buffer. ``sizehint`` is accepted for interface compatibility.
        """
        self._check_usable()
        if self._large is not None:
            return self._large_view[self._large_filled :]
        return _scratch()

    def buffer_updated(self, nbytes: int) -> list[list[Frame]]:
        """Account for ``nbytes`` written into the last :meth:`get_buffer` result.

        Returns:
            Complete messages now available, as for :meth:`feed`.
        """
        self._check_usable()
        try:
            if self._large is not None:
                self._large_filled += nbytes
                out: list[list[Frame]] = []
                if self._large_filled == len(self._large):
                    self._finish_large(out)
                    self._run(memoryview(b""), out)
                return out
            return self._consume(_scratch()[:nbytes])
        except Exception as exc:
            self._error = exc
            raise

    @property
    def in_message(self) -> bool:
        """True when part of a message has been received but not all of it."""
        return bool(self._pending) or self._state != _COUNT or self._large is not None

    # -- internals -------------------------------------------------------

    def _check_usable(self) -> None:
        if self._error is not None:
            raise ProtocolError(f"frame decoder unusable after an earlier error: {self._error}")

    def _consume(self, view: memoryview) -> list[list[Frame]]:
        out: list[list[Frame]] = []
        self._run(view, out)
        return out

    def _run(self, view: memoryview, out: list[list[Frame]]) -> None:
        pos, end = 0, len(view)
        while True:
            if self._large is not None:
                take = min(len(self._large) - self._large_filled, end - pos)
                if take:
                    self._large_view[self._large_filled : self._large_filled + take] = view[
                        pos : pos + take
                    ]
                    self._large_filled += take
                    pos += take
                if self._large_filled < len(self._large):
                    return
                self._finish_large(out)
                continue
            need = self._need
            if self._pending:
                take = min(need - len(self._pending), end - pos)
                self._pending += view[pos : pos + take]
                pos += take
                if len(self._pending) < need:
                    return
                unit: bytes | memoryview = bytes(self._pending)
                self._pending.clear()
            elif end - pos >= need:
                unit = view[pos : pos + need]
                pos += need
            else:
                self._pending += view[pos:end]
                return
            self._unit_done(unit, out)

    def _unit_done(self, unit: bytes | memoryview, out: list[list[Frame]]) -> None:
        """Handle one complete small unit and set up the next one."""
        if self._state == _COUNT:
            (n,) = _U64.unpack(unit)
            if n > self.max_frames:
                raise ProtocolError(f"message announces {n} frames; max_frames={self.max_frames}")
            if n == 0:
                out.append([])
                self._need = _U64.size
                return
            self._state, self._need = _LENGTHS, 8 * n
            return
        if self._state == _LENGTHS:
            lengths = list(struct.unpack(f"<{len(unit) // 8}Q", unit))
            for length in lengths:
                if length > self.max_frame_bytes:
                    raise FrameTooLargeError(
                        f"frame of {length} bytes exceeds max_frame_bytes={self.max_frame_bytes}"
                    )
            self._lengths = lengths
            self._frames = []
            self._state = _FRAME
        else:
            self._frames.append(bytes(unit))
        self._next_frame(out)

    def _next_frame(self, out: list[list[Frame]]) -> None:
        """Prepare for the next frame, or emit the message if it is complete."""
        index = len(self._frames)
        if index == len(self._lengths):
            out.append(self._frames)
            self._frames, self._lengths = [], []
            self._state, self._need = _COUNT, _U64.size
            return
        length = self._lengths[index]
        if length >= LARGE_FRAME_BYTES:
            self._large = alloc_frame(length)
            self._large_view = memoryview(self._large)
            self._large_filled = 0
        else:
            self._need = length

    def _finish_large(self, out: list[list[Frame]]) -> None:
        self._frames.append(self._large_view)
        self._large, self._large_view, self._large_filled = None, memoryview(b""), 0
        self._next_frame(out)
