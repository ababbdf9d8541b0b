"""TCP-specific behaviour: large payloads, hostile peers, timeouts, addresses."""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import numpy as np
import pytest

from futurelab.comm import Comm, connect, listen
from futurelab.comm.handshake import HELLO_SIZE
from futurelab.comm.tcp import parse_host_port
from futurelab.errors import CommClosedError
from futurelab.protocol.frames import pack_frames
from futurelab.protocol.serialize import Opaque

T = TypeVar("T")


def run(main: Callable[[], Awaitable[T]], timeout: float = 60) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(main(), timeout)

    return asyncio.run(bounded())


async def w(aw: Awaitable[T], timeout: float = 5) -> T:
    return await asyncio.wait_for(aw, timeout)


async def echo(comm: Comm) -> None:
    try:
        while True:
            await comm.write(await comm.read())
    except CommClosedError:
        pass


def test_100mb_numpy_array_travels_out_of_band_intact() -> None:
    async def main() -> None:
        received: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        async def handle(comm: Comm) -> None:
            received.set_result(await comm.read())

        listener = await listen("tcp://127.0.0.1:0", handle)
        client = await w(connect(listener.address))
        array = np.arange(100 * 2**20 // 8, dtype="int64")
        nbytes = await w(client.write({"op": "data", "value": Opaque(array)}), 30)
        assert nbytes > array.nbytes
        msg = await w(received, 30)
        op = msg["value"]
        assert isinstance(op, Opaque) and op.is_pickled
        frames = op.frames()
        assert len(frames) == 2  # pickle header + the array's buffer, out of band
        assert isinstance(frames[1], memoryview) and frames[1].nbytes == array.nbytes
        result = op.get()
        assert result.dtype == array.dtype and np.array_equal(result, array)
        assert np.shares_memory(result, np.frombuffer(frames[1], dtype="int64"))  # no copy on load
        await w(client.close())
        listener.stop()

    run(main)


async def raw_handshake(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Do the no-secret handshake by hand, as a raw socket client."""
    hello = await reader.readexactly(HELLO_SIZE)
    assert hello.startswith(b"FLAB") and hello[5] == 0  # no secret required
    writer.write(bytes(64))  # nonce + an all-zero MAC
    assert await reader.readexactly(32) == bytes(32)


@pytest.mark.parametrize(
    "garbage",
    [
        b"\xff" * 64,  # absurd frame count
        struct.pack("<QQ", 1, 2**40),  # frame far above max_frame_bytes
        b"".join(pack_frames([b"\xc1"])),  # well framed, but not msgpack
        b"".join(pack_frames([b"\xc7\x08\x02" + struct.pack("<II", 5, 1)])),  # ref to missing frame
    ],
    ids=["count", "too-large", "bad-msgpack", "bad-ref"],
)
def test_garbage_aborts_that_connection_only(
    garbage: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> None:
        server_side: asyncio.Queue[BaseException | Any] = asyncio.Queue()

        async def handle(comm: Comm) -> None:
            try:
                msg = await comm.read()
            except CommClosedError as exc:
                await server_side.put(exc)
                return
            await comm.write(msg)
            await server_side.put(msg)

        listener = await listen("tcp://127.0.0.1:0", handle)
        host, port = parse_host_port(listener.address.removeprefix("tcp://"))
        reader, writer = await w(asyncio.open_connection(host, port))
        await w(raw_handshake(reader, writer))  # an unauthenticated listener lets it in
        writer.write(garbage)
        try:
            assert await w(reader.read()) == b""
        except ConnectionResetError:
            pass  # abort() may reset rather than close
        writer.close()
        exc = await w(server_side.get())
        assert isinstance(exc, CommClosedError) and "malformed" in str(exc)
        # the listener still serves proper clients
        client = await w(connect(listener.address))
        await w(client.write({"ok": 1}))
        assert await w(client.read()) == {"ok": 1}
        await w(client.close())
        listener.stop()

    with caplog.at_level(logging.WARNING, logger="futurelab.comm"):
        run(main)
    warnings = [
        r for r in caplog.records if r.name == "futurelab.comm" and r.levelno == logging.WARNING
    ]
    assert len(warnings) == 1 and "Malformed" in warnings[0].getMessage()


def test_connect_timeout_is_honoured() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()

        async def never_connects(*args: Any, **kwargs: Any) -> Any:
            await asyncio.Event().wait()

        loop.create_connection = never_connects  # type: ignore[method-assign]
        start = loop.time()
        with pytest.raises(TimeoutError) as info:
            await w(connect("tcp://127.0.0.1:9", timeout=0.2))
        assert "tcp://127.0.0.1:9" in str(info.value)
        assert 0.2 <= loop.time() - start < 2

    run(main)


def test_write_of_unserializable_message_raises_and_comm_survives() -> None:
    async def main() -> None:
        listener = await listen("tcp://127.0.0.1:0", echo)
        client = await w(connect(listener.address))
        with pytest.raises(TypeError, match="Opaque"):
            await w(client.write({"obj": object()}))
        with pytest.raises(TypeError, match="generator"):
            await w(client.write({"obj": Opaque(x for x in [1])}))
        await w(client.write("fine"))
        assert await w(client.read()) == "fine"
        await w(client.close())
        listener.stop()

    run(main)


def test_addresses_and_write_size() -> None:
    async def main() -> None:
        listener = await listen("tcp://:0", echo)
        assert listener.address.startswith("tcp://127.0.0.1:")
        assert not listener.address.endswith(":0")
        client = await w(connect(listener.address))
        assert client.peer_address == listener.address
        assert client.local_address.startswith("tcp://127.0.0.1:")
        assert (
            await w(client.write(b"abc")) == 8 + 8 + 5
        )  # count, one length, msgpack bin8 (2 + 3 bytes)
        assert await w(client.read()) == b"abc"
        assert "TCP" in repr(client)
        await w(client.close())
        listener.stop()

    run(main)


def test_parse_host_port() -> None:
    assert parse_host_port("10.0.0.1:8786") == ("10.0.0.1", 8786)
    assert parse_host_port("[::1]:0") == ("::1", 0)
    assert parse_host_port(":5") == ("127.0.0.1", 5)
    assert parse_host_port("", default_port=0) == ("127.0.0.1", 0)
    for bad in ["host", "host:abc", "host:70000", "[::1"]:
        with pytest.raises(ValueError, match="Bad TCP location"):
            parse_host_port(bad)


def test_close_waits_for_a_large_write_in_progress() -> None:
    async def main() -> None:
        received: asyncio.Queue[Any] = asyncio.Queue()

        async def handle(comm: Comm) -> None:
            try:
                while True:
                    await received.put(await comm.read())
            except CommClosedError as exc:
                await received.put(exc)

        listener = await listen("tcp://127.0.0.1:0", handle)
        client = await w(connect(listener.address))
        payload = b"p" * (20 * 2**20)
        writer = asyncio.create_task(client.write({"blob": Opaque(payload)}))
        await asyncio.sleep(0)  # let the write start (a yield, not a timed wait)
        await w(client.close(), 20)
        await w(writer, 20)
        first = await w(received.get(), 20)
        assert first["blob"].get() == payload
        assert isinstance(await w(received.get()), CommClosedError)
        listener.stop()

    run(main)


def test_cancelled_large_write_aborts_the_comm() -> None:
    async def main() -> None:
        peer: asyncio.Future[Comm] = asyncio.get_running_loop().create_future()

        async def handle(comm: Comm) -> None:
            peer.set_result(comm)

        listener = await listen("tcp://127.0.0.1:0", handle)
        client = await w(connect(listener.address))
        server = await w(peer)
        # nobody reads on the server side, so the write blocks on flow control
        writer = asyncio.create_task(client.write(Opaque(b"q" * (64 * 2**20))))
        await asyncio.sleep(0)
        writer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await w(writer)
        assert client.closed()
        with pytest.raises(CommClosedError):
            await w(server.read(), 20)
        listener.stop()

    run(main)
