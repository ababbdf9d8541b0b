"""Every primitive from async code: ``Client(asynchronous=True)`` inside ``asyncio.run``."""
from __future__ import annotations

import asyncio
from typing import Any

import pytest

import futurelab
from futurelab.primitives.event import Event
from futurelab.primitives.introspect import primitives_state
from futurelab.primitives.lock import Lock
from futurelab.primitives.pubsub import Pub, Sub
from futurelab.primitives.queue import Queue
from futurelab.primitives.semaphore import Semaphore
from futurelab.primitives.variable import Variable

TIMEOUT = 30


def run(main: Any, processes: bool = False) -> Any:
    async def wrapper() -> Any:
        kwargs: dict[str, Any] = {"n_workers": 2, "threads_per_worker": 2 - processes}
        async with futurelab.Client(asynchronous=True, processes=processes, **kwargs) as c:
            return await asyncio.wait_for(main(c), TIMEOUT)
    return asyncio.run(wrapper())


def test_async_lock_and_semaphore() -> None:
    async def main(c: futurelab.Client) -> None:
        inside = peak = 0

        async def critical(prim: Any) -> None:
            nonlocal inside, peak
            async with prim:
                inside += 1
                peak = max(peak, inside)
                await asyncio.sleep(0)  # let the others try to get in
                inside -= 1

        lock = Lock("alock")
        await asyncio.gather(*(critical(lock) for _ in range(10)))
        assert peak == 1 and not await lock.locked()
        assert await lock.acquire(timeout=1)
        assert await Lock("alock").acquire(blocking=False) is False
        await lock.release()
        inside = peak = 0
        sem = Semaphore(max_leases=3, name="asem")
        await asyncio.gather(*(critical(sem) for _ in range(12)))
        assert peak == 3 and await sem.get_value() == 0
        await sem.close()

    run(main)


def test_async_queue_variable_event() -> None:
    async def main(c: futurelab.Client) -> None:
        q = Queue("aq")
        getter = asyncio.ensure_future(q.get(timeout=TIMEOUT))
        await q.put(c.submit(lambda: 5))
        got = await getter
        assert await got == 5
        await q.put([1, 2])
        assert await q.get(batch=True) == [[1, 2]]
        assert await q.qsize() == 0
        with pytest.raises(TimeoutError):
            await q.get(timeout=0.01)

        v = Variable("av")
        await v.set("value")
        assert await v.get(timeout=1) == "value"
        await v.delete()

        e = Event("ae")
        waiters = [asyncio.ensure_future(e.wait(timeout=TIMEOUT)) for _ in range(5)]
        while len((await primitives_state(c))["events"].get("ae", {}).get("waiters", [])) < 5:
            await asyncio.sleep(0.01)  # poll-with-deadline (bounded by wait_for in run)
        await e.set()
        assert await asyncio.gather(*waiters) == [True] * 5
        assert await e.is_set()
        await e.clear()
        assert await e.wait(timeout=0.01) is False

    run(main)


def test_async_pubsub_and_tasks() -> None:
    async def main(c: futurelab.Client) -> None:
        sub = await Sub("atopic")
        pub = Pub("atopic")
        for i in range(5):
            await pub.put(i)
        assert [await sub.get(timeout=1) for _ in range(5)] == list(range(5))

        def task_publish() -> None:
            Pub("atopic").put("from task")

        await c.submit(task_publish)
        async for msg in sub:
            assert msg == "from task"
            break
        with pytest.raises(TimeoutError):
            await sub.get(timeout=0.01)
        sub.close()

    run(main)


def test_async_over_processes() -> None:
    async def main(c: futurelab.Client) -> None:
        lock = Lock("plock")
        await lock.acquire()

        def try_lock() -> bool:
            return Lock("plock").acquire(timeout=0.05)  # type: ignore[no-any-return]

        assert await c.submit(try_lock) is False
        await lock.release()
        assert await c.submit(try_lock, pure=False) is True

    run(main, processes=True)
