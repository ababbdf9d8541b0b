"""The asynchronous API: everything that talks to the cluster is awaitable."""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from futurelab import Client, Lock, Queue, as_completed, wait

pytestmark = pytest.mark.timeout(120)


def inc(x: int) -> int:
    return x + 1


def run(main: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(asyncio.wait_for(main(), 60))


@pytest.mark.parametrize("processes", [False, True], ids=["threads", "processes"])
def test_async_client_end_to_end(processes: bool) -> None:
    async def main() -> None:
        client = await Client(asynchronous=True, processes=processes, n_workers=2,
                              threads_per_worker=1)
        try:
            future = client.submit(inc, 1)
            assert await future == 2
            futures = client.map(inc, range(10))
            assert await client.gather(futures) == list(range(1, 11))
            [remote] = await client.scatter([41])
            assert await client.submit(inc, remote) == 42
            done, not_done = await wait(futures)
            assert done == set(futures) and not not_done
            seen = [f.key async for f in as_completed(client.map(inc, range(5), pure=False))]
            assert len(seen) == 5
            pairs = [r async for _, r in as_completed(client.map(inc, range(3)),
                                                      with_results=True)]
            assert sorted(pairs) == [1, 2, 3]
            info = await client.scheduler_info()
            assert len(info["workers"]) == 2
        finally:
            await client.close()

    run(main)


def test_async_with_and_primitives() -> None:
    async def main() -> None:
        async with Client(asynchronous=True, processes=False) as client:
            q = Queue("jobs", client=client) if _takes_client(Queue) else Queue("jobs")
            await q.put(client.submit(inc, 1))
            f = await q.get(timeout=10)
            assert await f == 2
            lock = Lock("async-lock")
            async with lock:
                assert await lock.locked()
            assert not await lock.locked()

    run(main)


def _takes_client(cls: type) -> bool:
    import inspect
    return "client" in inspect.signature(cls).parameters


def test_works_inside_an_already_running_loop() -> None:
    """A plain asyncio program (or a kernel's top-level await): no nested loop, no thread."""
    async def main() -> int:
        loop = asyncio.get_running_loop()
        async with Client(asynchronous=True, processes=False) as client:
            assert client.loop is loop
            return await client.submit(sum, [1, 2, 3])  # type: ignore[no-any-return]

    assert run(main) == 6


def test_sync_call_inside_the_loop_says_to_await() -> None:
    async def main() -> None:
        async with Client(asynchronous=True, processes=False) as client:
            result = client.submit(inc, 1).result()  # in async mode this is awaitable
            assert await result == 2

    run(main)
