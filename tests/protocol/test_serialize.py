"""dumps/loads and Opaque: round trips, out-of-band buffers, errors."""

from __future__ import annotations

import pickle
import time
from typing import Any

import cloudpickle
import numpy as np
import pytest

from futurelab.errors import ProtocolError
from futurelab.protocol.serialize import (
    EXT_FRAMES,
    INLINE_MAX_BYTES,
    Opaque,
    dumps,
    dumps_obj,
    loads,
    loads_obj,
)


def roundtrip(msg: Any) -> Any:
    return loads([bytes(f) for f in dumps(msg)])


def test_plain_messages_round_trip() -> None:
    msg = {
        "op": "x",
        "n": 1,
        "f": 1.5,
        "b": b"\x00bytes",
        "none": None,
        "t": True,
        "list": [1, [2, "3"]],
    }
    assert roundtrip(msg) == msg
    assert roundtrip({1: "int key", 2: {3: 4}}) == {1: "int key", 2: {3: 4}}
    assert roundtrip((1, (2, 3))) == [1, [2, 3]]
    assert isinstance(roundtrip({"b": b"x"})["b"], bytes)


def test_small_opaque_is_inlined_large_goes_out_of_band() -> None:
    small, large = Opaque("x" * 10), Opaque(b"y" * (INLINE_MAX_BYTES * 4))
    assert len(dumps({"a": small})) == 1
    frames = dumps({"a": small, "b": large})
    assert len(frames) == 2
    got = loads(frames)
    assert isinstance(got["a"], Opaque) and isinstance(got["b"], Opaque)
    assert got["a"].get() == "x" * 10 and got["b"].get() == b"y" * (INLINE_MAX_BYTES * 4)


def test_loads_does_not_unpickle_opaques() -> None:
    frames = dumps({"v": Opaque(FailsToUnpickle())})
    op = loads(frames)["v"]  # fine: the payload stays pickled
    assert op.is_pickled
    with pytest.raises(RuntimeError, match="unpickled"):
        op.get()


def test_numpy_buffers_travel_out_of_band_without_copy() -> None:
    array = np.arange(100_000, dtype="float64")
    op = Opaque(array)
    frames = dumps({"arr": op, "twice": op})
    assert len(frames) == 1 + 2 * 2  # header, then (pickle, buffer) for each leaf
    assert np.shares_memory(np.frombuffer(frames[2], dtype="float64"), array)
    got = loads(frames)
    assert np.array_equal(got["arr"].get(), array)
    assert op.nbytes >= array.nbytes


def test_opaque_from_frames_and_caching() -> None:
    op = Opaque({"k": [1, 2]})
    frames = op.frames()
    assert op.frames() is frames
    again = Opaque.from_frames(frames)
    assert "dict" in repr(op) and "1 frame(s)" in repr(again)
    assert again.get() == {"k": [1, 2]} and again.get() is again.get()


def test_opaque_is_itself_picklable() -> None:
    array = np.ones(10_000)
    op = Opaque(array)
    for protocol in (2, 5):
        back = pickle.loads(pickle.dumps(op, protocol=protocol))
        assert np.array_equal(back.get(), array)
    buffers: list[pickle.PickleBuffer] = []
    data = pickle.dumps(op, protocol=5, buffer_callback=buffers.append)
    assert len(buffers) == 1 and len(data) < 1000  # the array stayed out of band


def test_lambdas_and_main_functions_use_cloudpickle() -> None:
    offset = 10
    assert loads_obj(dumps_obj(lambda x: x + offset))(1) == 11
    assert loads_obj(dumps_obj(len))("abc") == 3


def test_modules_registered_by_value_travel_by_value() -> None:
    import json

    assert b"cloudpickle" not in dumps_obj(json.dumps)[0]
    cloudpickle.register_pickle_by_value(json)
    try:
        assert b"cloudpickle" in dumps_obj(json.dumps)[0]  # by value, not a reference
    finally:
        cloudpickle.unregister_pickle_by_value(json)
    assert b"cloudpickle" not in dumps_obj(json.dumps)[0]


def test_unpicklable_object_error_names_type_and_cause() -> None:
    with pytest.raises(TypeError) as info:
        Opaque(NoPickle()).frames()
    text = str(info.value)
    assert "NoPickle" in text and "refuses to be pickled" in text
    with pytest.raises(TypeError, match="NoPickle"):
        dumps({"x": Opaque(NoPickle())})


def test_unsupported_leaf_in_message_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="set"):
        dumps({"s": {1, 2}})
    assert roundtrip({"after": "error"}) == {"after": "error"}  # the packer was reset


@pytest.mark.parametrize(
    "frames",
    [
        [],
        [b"\xc1"],  # never-used msgpack byte
        [b"\x92\x01"],  # array of 2, one element
        [b"\x81\x91\x01\x02"],  # map with an unhashable (list) key
        [b"\xd5\x07ab"],  # unknown ext code
        [b"\xc7\x08" + bytes([EXT_FRAMES]) + (5).to_bytes(4, "little") + (1).to_bytes(4, "little")],
        [
            b"\xc7\x08"
            + bytes([EXT_FRAMES])
            + (0).to_bytes(4, "little")
            + (1).to_bytes(4, "little"),
            b"x",
        ],
        [b"\xd4" + bytes([EXT_FRAMES]) + b"x"],  # ref too short
        [b"\xdb\xff\xff\xff\xff"],  # str32 announcing 4 GiB
        [b"\xdd\xff\xff\xff\xff"],  # array32 announcing 4G items
        [b"\xa2\xff\xfe"],  # invalid utf-8
        [b"\x91" * 100_000],  # absurd nesting
        [b"\x01\x02"],  # trailing data
    ],
)
def test_malformed_input_is_a_protocol_error(frames: list[bytes]) -> None:
    with pytest.raises(ProtocolError):
        loads(frames)


def test_header_size_limit() -> None:
    with pytest.raises(ProtocolError, match="max_header_bytes=10"):
        loads(dumps("x" * 100), max_header_bytes=10)


def test_batch_speed() -> None:
    """1,000 small messages with 3 small Opaque leaves each: dumps + loads well under 10 ms."""

    def batch() -> list[dict[str, Any]]:
        return [
            {
                "op": "submit",
                "key": f"t-{i}",
                "fn": Opaque(len),
                "args": Opaque((i, "x")),
                "kw": Opaque({"a": i}),
            }
            for i in range(1000)
        ]

    best = float("inf")
    for _ in range(5):
        msgs = batch()
        start = time.perf_counter()
        out = [loads(dumps(m)) for m in msgs]
        best = min(best, time.perf_counter() - start)
    assert out[999]["args"].get() == (999, "x")
    assert best < 0.05  # generous bound for loaded CI machines; typically ~6-8 ms


class FailsToUnpickle:
    def __init__(self) -> None:
        self.state = 1

    def __setstate__(self, state: dict[str, Any]) -> None:
        raise RuntimeError("unpickled")


class NoPickle:
    def __reduce__(self) -> Any:
        raise RuntimeError("refuses to be pickled")
