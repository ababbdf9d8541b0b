"""Large values through scatter and gather, bit for bit, over TCP and in-process."""
from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest

from futurelab import Client
from futurelab.client import transfer
from futurelab.protocol.serialize import Opaque

np = pytest.importorskip("numpy")

NBYTES = 40_000_000  # large enough for several socket reads and the mapped-buffer path


def _array(seed: int) -> object:
    return np.random.default_rng(seed).integers(0, 256, NBYTES, dtype=np.uint8)


@pytest.fixture(scope="module", params=[True, False], ids=["processes", "threads"])
def client(request: pytest.FixtureRequest) -> Iterator[Client]:
    with Client(processes=request.param, n_workers=2, threads_per_worker=1,
                dashboard_address=None) as c:
        c.wait_for_workers(2, timeout=60)
        yield c


@pytest.mark.timeout(120)
def test_large_array_round_trips_bit_exactly(client: Client) -> None:
    array = _array(1)
    future = client.scatter(array)
    out = client.gather(future, asynchronous=False)
    assert out.dtype == array.dtype and out.shape == array.shape
    assert np.array_equal(out, array)
    out[0] ^= 1  # the received array is ordinary writable memory
    assert client.submit(np.sum, future).result(timeout=60) == int(array.sum())


@pytest.mark.timeout(120)
def test_large_values_of_other_kinds_and_several_at_once(client: Client) -> None:
    blob = bytes(_array(2).tobytes())  # pickled in band: one large frame
    matrix = _array(3).view(np.float64).reshape(-1, 1000)[:, ::2]  # not contiguous
    futures = client.scatter([blob, matrix, bytearray(blob[:3_000_000])])
    got = client.gather(futures)
    assert got[0] == blob
    assert got[1].shape == matrix.shape and got[1].tobytes() == matrix.tobytes()
    assert got[2] == blob[:3_000_000]


@pytest.mark.timeout(120)
def test_same_large_value_scatters_to_the_same_key(client: Client) -> None:
    array = _array(4)
    first, again = client.scatter(array), client.scatter(array.copy())
    assert first.key == again.key
    array[NBYTES // 2] ^= 0xFF
    assert client.scatter(array).key != first.key


def test_token_is_the_same_with_either_hash(monkeypatch: pytest.MonkeyPatch) -> None:
    frames = Opaque(np.arange(1000)).frames()
    token = transfer.token_of_frames(frames, "ndarray")
    assert len(token) == 32 and token == transfer.token_of_frames(list(frames), "ndarray")
    assert token != transfer.token_of_frames(frames, "other")
    monkeypatch.setattr(transfer, "_new_hash", hashlib.sha256)
    fallback = transfer.token_of_frames(frames, "ndarray")
    assert len(fallback) == 32 and fallback == transfer.token_of_frames(frames, "ndarray")

