"""inproc-specific behaviour: no serialisation, cross-thread loops, names."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from futurelab.comm import Comm, connect, listen
from futurelab.errors import CommClosedError
from futurelab.protocol.serialize import Opaque

T = TypeVar("T")


def run(main: Callable[[], Awaitable[T]], timeout: float = 30) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(main(), timeout)

    return asyncio.run(bounded())


async def w(aw: Awaitable[T], timeout: float = 5) -> T:
    return await asyncio.wait_for(aw, timeout)


def test_messages_pass_by_reference_without_pickling() -> None:
    class Unpicklable:
        def __reduce__(self) -> Any:
            raise TypeError("must not be pickled")

    async def main() -> None:
        inbox: asyncio.Queue[Any] = asyncio.Queue()

        async def handle(comm: Comm) -> None:
            await inbox.put(await comm.read())

        listener = await listen("inproc://", handle)
        client = await w(connect(listener.address))
        payload = Opaque(Unpicklable())
        msg = {"value": payload, "tuple": (1, 2)}
        assert await w(client.write(msg)) == 0
        got = await w(inbox.get())
        assert got["value"] is payload and not payload.is_pickled
        assert got["tuple"] == (1, 2)
        listener.stop()

    run(main)


def test_unique_and_named_addresses() -> None:
    async def main() -> None:
        a = await listen("inproc://", _noop)
        b = await listen("inproc://", _noop)
        assert a.address != b.address and a.address.startswith("inproc://")
        named = await listen("inproc://my-scheduler", _noop)
        assert named.address == "inproc://my-scheduler"
        with pytest.raises(OSError, match="already in use"):
            await listen("inproc://my-scheduler", _noop)
        named.stop()
        again = await listen("inproc://my-scheduler", _noop)
        for listener in (a, b, again):
            listener.stop()

    run(main)


def test_ends_on_different_loops_in_different_threads() -> None:
    ready = threading.Event()
    box: dict[str, Any] = {}

    def server_thread() -> None:
        async def serve() -> None:
            done = asyncio.Event()
            box["loop"], box["done"] = asyncio.get_running_loop(), done

            async def handle(comm: Comm) -> None:
                try:
                    while True:
                        msg = await comm.read()
                        await comm.write({"echo": msg, "thread": threading.get_ident()})
                except CommClosedError:
                    box["server_saw_close"] = True
                    done.set()

            listener = await listen("inproc://", handle)
            box["address"] = listener.address
            ready.set()
            await done.wait()
            listener.stop()

        asyncio.run(asyncio.wait_for(serve(), 30))

    thread = threading.Thread(target=server_thread)
    thread.start()
    try:
        assert ready.wait(10)

        async def main() -> None:
            client = await w(connect(box["address"]))
            for i in range(200):
                await w(client.write(i))
            replies = [await w(client.read()) for _ in range(200)]
            assert [r["echo"] for r in replies] == list(range(200))
            assert all(r["thread"] != threading.get_ident() for r in replies)
            await w(client.close())

        run(main)
        thread.join(10)
        assert not thread.is_alive()
        assert box["server_saw_close"]
    finally:
        if thread.is_alive():
            box["loop"].call_soon_threadsafe(box["done"].set)
            thread.join(10)


def test_connect_to_listener_whose_loop_closed_is_refused() -> None:
    box: dict[str, Any] = {}

    async def serve() -> None:
        async def handle(comm: Comm) -> None:
            box["server"] = comm

        listener = await listen("inproc://", handle)
        box["listener"] = listener
        client = await w(connect(listener.address))
        box["client"] = client
        await asyncio.sleep(0)

    run(serve)  # this loop is now closed; the server end lived on it

    async def main() -> None:
        with pytest.raises(OSError, match="no inproc listener|closed"):
            await w(connect(box["listener"].address))

    run(main)
    box["listener"].stop()


async def _noop(comm: Comm) -> None:
    pass


def test_write_to_end_whose_loop_is_gone_raises() -> None:
    box: dict[str, Any] = {}

    def other_thread() -> None:
        async def serve() -> None:
            async def handle(comm: Comm) -> None:
                box["server"] = comm

            listener = await listen("inproc://", handle)
            box["client"] = await w(connect(listener.address))
            listener.stop()

        asyncio.run(asyncio.wait_for(serve(), 10))

    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join(10)
    assert not thread.is_alive()
    server_end = box["client"]._peer  # its loop (the other thread's) is now closed

    async def main() -> None:
        with pytest.raises(CommClosedError):
            await w(server_end.write("anyone?"))

    run(main)
