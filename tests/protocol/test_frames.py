"""FrameDecoder and pack_frames: framing, limits and the BufferedProtocol path."""

from __future__ import annotations

import struct
import tracemalloc

import pytest

from futurelab.errors import FrameTooLargeError, ProtocolError
from futurelab.protocol.frames import LARGE_FRAME_BYTES, Frame, FrameDecoder, pack_frames


def wire(*messages: list[bytes]) -> bytes:
    return b"".join(b"".join(bytes(p) for p in pack_frames(m)) for m in messages)


def as_bytes(messages: list[list[Frame]]) -> list[list[bytes]]:
    return [[bytes(f) for f in m] for m in messages]


MESSAGES = [[b"header", b"", b"x" * 1000], [b"y" * (LARGE_FRAME_BYTES + 7), b"z"], [], [b""]]


def test_pack_frames_does_not_copy_frames() -> None:
    big = bytearray(b"a" * 100)
    packed = pack_frames([b"h", big, memoryview(b"mv")])
    assert packed[0] == struct.pack("<4Q", 3, 1, 100, 2)
    assert isinstance(packed[2], memoryview) and packed[2].obj is big


def test_pack_frames_flattens_typed_memoryviews() -> None:
    view = memoryview(struct.pack("<4I", 1, 2, 3, 4)).cast("I")
    packed = pack_frames([view])
    assert packed[0] == struct.pack("<2Q", 1, 16)


def test_decode_whole_stream_at_once() -> None:
    decoder = FrameDecoder()
    assert as_bytes(decoder.feed(wire(*MESSAGES))) == MESSAGES
    assert not decoder.in_message


def test_decode_byte_at_a_time() -> None:
    decoder = FrameDecoder()
    data = wire(*MESSAGES)
    out: list[list[Frame]] = []
    for i in range(len(data)):
        out += decoder.feed(data[i : i + 1])
        if i < len(data) - 1:
            assert len(out) < len(MESSAGES) or not decoder.in_message
    assert as_bytes(out) == MESSAGES


@pytest.mark.parametrize("chunk", [3, 7, 1000, 65536])
def test_decode_in_chunks(chunk: int) -> None:
    decoder = FrameDecoder()
    data = wire(*MESSAGES, *MESSAGES)
    out: list[list[Frame]] = []
    for i in range(0, len(data), chunk):
        out += decoder.feed(memoryview(data)[i : i + chunk])
    assert as_bytes(out) == MESSAGES * 2


def test_buffered_protocol_path_reads_large_frames_in_place() -> None:
    decoder = FrameDecoder()
    big = bytes(range(256)) * (3 * LARGE_FRAME_BYTES // 256)
    data = wire([b"h", big], [b"small"])
    out: list[list[Frame]] = []
    handed_out = set()
    pos = 0
    while pos < len(data):
        buf = decoder.get_buffer(-1)
        handed_out.add(id(buf.obj))
        n = min(len(buf), len(data) - pos, 50_000)
        buf[:n] = data[pos : pos + n]
        pos += n
        out += decoder.buffer_updated(n)
    assert as_bytes(out) == [[b"h", big], [b"small"]]
    frame = out[0][1]
    assert isinstance(frame, memoryview) and not frame.readonly
    assert id(frame.obj) in handed_out  # bytes were received straight into the frame


def test_100mb_frame_costs_at_most_one_extra_copy() -> None:
    payload = b"\x01" * (100 * 2**20)
    packed = pack_frames([b"h", payload])
    decoder = FrameDecoder()
    tracemalloc.start()
    try:
        out = decoder.feed(packed[0])
        out += decoder.feed(packed[1])
        out += decoder.feed(memoryview(payload)[: 50 * 2**20])
        out += decoder.feed(memoryview(payload)[50 * 2**20 :])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(out) == 1 and out[0][1].nbytes == len(payload)
    assert peak < len(payload) * 1.1  # one buffer for the frame, nothing more


def test_too_many_frames_rejected() -> None:
    decoder = FrameDecoder(max_frames=4)
    with pytest.raises(ProtocolError, match="max_frames=4"):
        decoder.feed(struct.pack("<Q", 5))


def test_too_large_frame_rejected_before_allocation() -> None:
    decoder = FrameDecoder(max_frame_bytes=1000)
    tracemalloc.start()
    try:
        with pytest.raises(FrameTooLargeError, match="max_frame_bytes=1000"):
            decoder.feed(struct.pack("<3Q", 2, 10, 2**62))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 100_000


def test_lying_length_header_never_completes_and_never_overreads() -> None:
    decoder = FrameDecoder()
    # announces 100 bytes but sends 10: nothing is emitted, the rest is awaited
    assert decoder.feed(struct.pack("<2Q", 1, 100) + b"0123456789") == []
    assert decoder.in_message
    # the next message's bytes are swallowed into the lying frame, as framing demands
    out = decoder.feed(b"a" * 90 + wire([b"next"]))
    assert as_bytes(out) == [[b"0123456789" + b"a" * 90], [b"next"]]


def test_decoder_refuses_input_after_an_error() -> None:
    decoder = FrameDecoder(max_frames=1)
    with pytest.raises(ProtocolError):
        decoder.feed(struct.pack("<Q", 2))
    with pytest.raises(ProtocolError, match="earlier error"):
        decoder.feed(wire([b"ok"]))
    with pytest.raises(ProtocolError, match="earlier error"):
        decoder.get_buffer(-1)


def test_alloc_frame_gives_writable_memory_of_the_exact_size() -> None:
    from futurelab.protocol.frames import MAPPED_FRAME_BYTES, alloc_frame

    for size in (0, 10, LARGE_FRAME_BYTES, MAPPED_FRAME_BYTES, MAPPED_FRAME_BYTES * 3 + 5):
        buf = alloc_frame(size)
        view = memoryview(buf)
        assert view.nbytes == size and not view.readonly
        if size:
            view[-1] = 7
            assert view[-1] == 7
        view.release()


def test_large_frames_arrive_whole_through_the_buffered_protocol_path() -> None:
    from futurelab.protocol.frames import MAPPED_FRAME_BYTES

    payload = bytes(range(256)) * (MAPPED_FRAME_BYTES // 256 * 2 + 3)
    data = wire([b"h", payload, b"t"])
    decoder = FrameDecoder()
    out: list[list[Frame]] = []
    pos = 0
    while pos < len(data):
        buf = decoder.get_buffer(-1)
        n = min(len(buf), len(data) - pos, 300_000)  # a socket hands over what it has
        buf[:n] = data[pos : pos + n]
        pos += n
        out.extend(decoder.buffer_updated(n))
    assert len(out) == 1 and [bytes(f) for f in out[0]] == [b"h", payload, b"t"]
    big = out[0][1]
    assert isinstance(big, memoryview) and not big.readonly
