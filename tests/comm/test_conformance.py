"""One conformance suite for every transport (tcp and inproc).

Each test runs inside ``asyncio.run`` with a hard overall timeout, and every
wait that could hang has its own ``asyncio.wait_for``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

from futurelab.comm import Comm, Listener, connect, listen
from futurelab.errors import CommClosedError
from futurelab.protocol.serialize import Opaque

T = TypeVar("T")
LISTEN_ADDRESS = {"tcp": "tcp://127.0.0.1:0", "inproc": "inproc://"}

pytestmark = pytest.mark.parametrize("scheme", ["tcp", "inproc"])


def run(main: Callable[[], Awaitable[T]], timeout: float = 30) -> T:
    """Run ``main()`` in a fresh event loop, failing after ``timeout`` seconds."""

    async def bounded() -> T:
        return await asyncio.wait_for(main(), timeout)

    return asyncio.run(bounded())


async def w(aw: Awaitable[T], timeout: float = 5) -> T:
    """Await with a timeout."""
    return await asyncio.wait_for(aw, timeout)


async def make_pair(scheme: str) -> tuple[Listener, Comm, Comm]:
    """A listener plus both ends of one connection to it: (listener, client, server)."""
    accepted: asyncio.Queue[Comm] = asyncio.Queue()

    async def handle(comm: Comm) -> None:
        await accepted.put(comm)

    listener = await listen(LISTEN_ADDRESS[scheme], handle)
    client = await w(connect(listener.address, timeout=5))
    server = await w(accepted.get())
    return listener, client, server


def test_roundtrip_nested_with_opaque_leaves(scheme: str) -> None:
    async def main() -> None:
        listener, client, server = await make_pair(scheme)
        payload = {"x": [1, 2, 3], "y": "text"}
        msg = {
            "op": "submit",
            "tasks": [{"key": "a", "fn": Opaque(len), "args": Opaque(("abc",))}],
            "nested": {1: [b"raw", None, True, 1.5, {"deep": Opaque(payload)}]},
        }
        assert await w(client.write(msg)) >= 0
        got = await w(server.read())
        assert got["op"] == "submit"
        assert got["nested"][1][:4] == [b"raw", None, True, 1.5]
        task = got["tasks"][0]
        assert isinstance(task["fn"], Opaque) and isinstance(task["args"], Opaque)
        assert task["fn"].get()(*task["args"].get()) == 3
        assert got["nested"][1][4]["deep"].get() == payload
        # and back the other way
        await w(server.write({"op": "reply", "result": Opaque([7])}))
        reply = await w(client.read())
        assert reply["op"] == "reply" and reply["result"].get() == [7]
        await w(client.close())
        await w(server.close())
        listener.stop()

    run(main)


def test_many_messages_arrive_in_order(scheme: str) -> None:
    async def main() -> None:
        listener, client, server = await make_pair(scheme)
        n = 2000

        async def send() -> None:
            for i in range(n):
                await client.write({"i": i, "pad": "x" * (i % 50)})

        sender = asyncio.create_task(send())
        received = [(await w(server.read()))["i"] for _ in range(n)]
        await w(sender)
        assert received == list(range(n))
        await w(client.close())
        listener.stop()

    run(main)


def test_concurrent_writers_keep_messages_whole_and_ordered(scheme: str) -> None:
    async def main() -> None:
        listener, client, server = await make_pair(scheme)
        writers, per_writer = 8, 100

        async def writer(wid: int) -> None:
            for seq in range(per_writer):
                blob = Opaque(bytes([wid]) * (100_000 if seq % 25 == 0 else 10))
                await client.write({"w": wid, "seq": seq, "blob": blob})

        tasks = [asyncio.create_task(writer(i)) for i in range(writers)]
        last = dict.fromkeys(range(writers), -1)
        for _ in range(writers * per_writer):
            msg = await w(server.read())
            assert msg["seq"] == last[msg["w"]] + 1
            last[msg["w"]] = msg["seq"]
            data = msg["blob"].get()
            assert data == bytes([msg["w"]]) * len(data)
        await w(asyncio.gather(*tasks))
        assert all(v == per_writer - 1 for v in last.values())
        listener.stop()

    run(main)


def test_close_delivers_pending_then_raises_on_both_ends(scheme: str) -> None:
    async def main() -> None:
        listener, client, server = await make_pair(scheme)
        for i in range(3):
            await w(client.write({"i": i}))
        await w(client.close())
        assert client.closed()
        # the closing end can neither read nor write
        with pytest.raises(CommClosedError):
            await w(client.read())
        with pytest.raises(CommClosedError):
            await w(client.write({"late": True}))
        # the peer still reads what was sent, then sees the close
        assert [(await w(server.read()))["i"] for _ in range(3)] == [0, 1, 2]
        with pytest.raises(CommClosedError) as info:
            await w(server.read())
        assert server.closed()
        assert client.local_address in str(info.value)
        with pytest.raises(CommClosedError):
            await w(server.write({"late": True}))
        await w(client.close())  # idempotent
        await w(server.close())
        listener.stop()

    run(main)


def test_abort_wakes_a_blocked_reader_on_the_peer(scheme: str) -> None:
    async def main() -> None:
        listener, client, server = await make_pair(scheme)
        blocked = asyncio.create_task(client.read())
        await asyncio.sleep(0)  # let the reader block (a yield, not a timed wait)
        server.abort()
        server.abort()  # idempotent
        assert server.closed()
        with pytest.raises(CommClosedError):
            await w(blocked)
        assert client.closed()
        with pytest.raises(CommClosedError):
            await w(server.read())
        listener.stop()

    run(main)


def test_local_close_wakes_own_blocked_reader(scheme: str) -> None:
    async def main() -> None:
        listener, client, server = await make_pair(scheme)
        blocked = asyncio.create_task(server.read())
        await asyncio.sleep(0)
        await w(server.close())
        with pytest.raises(CommClosedError):
            await w(blocked)
        with pytest.raises(CommClosedError):
            await w(client.read())
        listener.stop()

    run(main)


def test_connect_to_nothing_fails_fast_naming_the_address(scheme: str) -> None:
    async def main() -> None:
        listener = await listen(LISTEN_ADDRESS[scheme], _ignore)
        address = listener.address
        listener.stop()
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(OSError) as info:
            await w(connect(address, timeout=5))
        assert address in str(info.value)
        assert loop.time() - start < 2

    run(main)


def test_listener_stop_keeps_existing_comms(scheme: str) -> None:
    async def main() -> None:
        listener, client, server = await make_pair(scheme)
        listener.stop()
        with pytest.raises(OSError):
            await w(connect(listener.address, timeout=5))
        await w(client.write({"still": "open"}))
        assert await w(server.read()) == {"still": "open"}
        await w(server.write(["pong"]))
        assert await w(client.read()) == ["pong"]

    run(main)


def test_handler_exception_aborts_that_comm_only(scheme: str) -> None:
    async def main() -> None:
        calls = 0

        async def handle(comm: Comm) -> None:
            nonlocal calls
            calls += 1
            msg = await comm.read()
            if msg == "boom":
                raise RuntimeError("handler failed")
            await comm.write(msg)

        listener = await listen(LISTEN_ADDRESS[scheme], handle)
        bad = await w(connect(listener.address))
        await w(bad.write("boom"))
        with pytest.raises(CommClosedError):
            await w(bad.read())
        good = await w(connect(listener.address))
        await w(good.write("hi"))
        assert await w(good.read()) == "hi"
        assert calls == 2
        listener.stop()

    run(main)


async def _ignore(comm: Comm) -> None:
    comm.abort()
