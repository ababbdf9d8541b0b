"""Random input to the decoder and loads only ever raises protocol errors."""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from futurelab.errors import FrameTooLargeError, ProtocolError
from futurelab.protocol.frames import FrameDecoder, pack_frames
from futurelab.protocol.serialize import Opaque, dumps, loads

EXPECTED = (ProtocolError, FrameTooLargeError)


def decode_all(data: bytes, chunk: int) -> None:
    decoder = FrameDecoder(max_frame_bytes=1 << 20, max_frames=64)
    try:
        for i in range(0, len(data), chunk):
            for frames in decoder.feed(data[i : i + chunk]):
                msg = loads(frames, max_header_bytes=1 << 16)
                _touch(msg)
    except EXPECTED:
        pass


def _touch(msg: object) -> None:
    """Walk the message (Opaque leaves are not unpickled by design)."""
    if isinstance(msg, dict):
        for k, v in msg.items():
            _touch(k)
            _touch(v)
    elif isinstance(msg, list):
        for v in msg:
            _touch(v)
    elif isinstance(msg, Opaque):
        assert msg.nbytes >= 0


@settings(max_examples=300, deadline=None, database=None)
@given(st.binary(max_size=512), st.integers(1, 64))
def test_random_bytes(data: bytes, chunk: int) -> None:
    decode_all(data, chunk)


@settings(max_examples=300, deadline=None, database=None)
@given(st.lists(st.binary(max_size=64), min_size=1, max_size=6), st.integers(1, 64))
def test_well_framed_random_frames(frames: list[bytes], chunk: int) -> None:
    decode_all(b"".join(bytes(f) for f in pack_frames(frames)), chunk)


@settings(max_examples=200, deadline=None, database=None)
@given(
    st.integers(0, 2**64 - 1),
    st.lists(st.integers(0, 2**64 - 1), max_size=4),
    st.binary(max_size=64),
)
def test_lying_headers(count: int, lengths: list[int], tail: bytes) -> None:
    header = struct.pack("<Q", count) + b"".join(struct.pack("<Q", n) for n in lengths)
    decode_all(header + tail, 16)


@settings(max_examples=200, deadline=None, database=None)
@given(st.data())
def test_corrupted_real_messages(data: st.DataObject) -> None:
    msg = {"op": "x", "v": [Opaque(b"a" * 3000), Opaque(1)], 7: b"bytes"}
    wire = bytearray(b"".join(bytes(f) for f in pack_frames(dumps(msg))))
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(wire) - 1))
        wire[pos] = data.draw(st.integers(0, 255))
    decode_all(bytes(wire), data.draw(st.integers(1, 4096)))
