"""Actors: the spec's examples, ordering, errors, proxies in tasks, async methods."""
from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest

import futurelab
from futurelab import Actor, ActorFuture, Client, get_client

pytestmark = pytest.mark.timeout(120)


class Counter:
    n = 0

    def __init__(self) -> None:
        self.n = 0

    def increment(self) -> int:
        self.n += 1
        return self.n


class ParameterServer:
    def __init__(self) -> None:
        self.data: dict[str, object] = dict()

    def put(self, key: str, value: object) -> None:
        self.data[key] = value

    def get(self, key: str) -> object:
        return self.data[key]


def train(params: np.ndarray, lr: float = 0.1) -> np.ndarray:
    grad = 2 * (params - 1)
    return params - lr * grad


class Recorder:
    """Records calls in order and how many run at once."""

    def __init__(self, start: int = 0) -> None:
        self.seen: list[int] = []
        self.active = 0
        self.max_active = 0
        self.start = start

    def record(self, i: int) -> int:
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        time.sleep(0.001)
        self.seen.append(i)
        self.active -= 1
        return i

    def fail(self) -> None:
        raise ValueError("actor method failed")

    async def slow_async(self, x: int) -> str:
        await asyncio.sleep(0.01)
        return threading.current_thread().name + f":{x}"

    def report(self) -> dict[str, object]:
        return {"seen": self.seen, "max_active": self.max_active, "start": self.start}


class Relay:
    """An actor that calls another actor."""

    def __init__(self, target: Actor) -> None:
        self.target = target

    def bump(self) -> int:
        return int(self.target.increment().result())


def use_counter(counter: Actor, times: int) -> int:
    last = 0
    for _ in range(times):
        last = counter.increment().result()
    return int(last)


@pytest.fixture(params=["threads", "processes"], scope="module")
def client(request: pytest.FixtureRequest) -> Iterator[Client]:
    if request.param == "threads":
        c = Client(processes=False, n_workers=2, threads_per_worker=2)
    else:
        c = Client(n_workers=2, threads_per_worker=1)
    with c:
        yield c


def test_spec_counter(client: Client) -> None:
    future = client.submit(Counter, actor=True)
    counter = future.result(timeout=30)
    assert isinstance(counter, Actor)
    assert repr(counter).startswith("<Actor: Counter, key=Counter-")
    f = counter.increment()
    assert isinstance(f, ActorFuture) and repr(f) == "<ActorFuture>"
    assert f.result(timeout=30) == 1
    assert f.done()
    assert counter.n == 1  # attribute access is synchronous


def test_spec_parameter_server(client: Client) -> None:
    ps_future = client.submit(ParameterServer, actor=True)
    ps = ps_future.result(timeout=30)
    rng = np.random.default_rng(0)
    ps.put("parameters", rng.random(1000))
    for _ in range(20):
        params = ps.get("parameters").result(timeout=30)
        new_params = train(params)
        ps.put("parameters", new_params)
    assert abs(new_params.mean() - 1) < 0.02


def test_calls_from_one_caller_apply_in_order_without_waiting(client: Client) -> None:
    rec = client.submit(Recorder, actor=True).result(timeout=30)
    futures = [rec.record(i) for i in range(300)]  # fire them all, wait for none
    assert futures[-1].result(timeout=60) == 299
    report = rec.report().result(timeout=30)
    assert report["seen"] == list(range(300))
    assert report["max_active"] == 1  # plain methods run one at a time


def test_method_errors_propagate(client: Client) -> None:
    rec = client.submit(Recorder, actor=True).result(timeout=30)
    with pytest.raises(ValueError, match="actor method failed"):
        rec.fail().result(timeout=30)
    assert rec.record(7).result(timeout=30) == 7  # the actor is fine afterwards


def test_async_methods_run_on_the_workers_loop(client: Client) -> None:
    rec = client.submit(Recorder, actor=True).result(timeout=30)
    out = rec.slow_async(3).result(timeout=30)
    assert out.endswith(":3")
    assert "actor-" not in out  # not the actor's method thread: the event loop's


def test_actor_passed_to_tasks_and_called_by_another_actor(client: Client) -> None:
    counter = client.submit(Counter, actor=True).result(timeout=30)
    assert client.submit(use_counter, counter, 5, pure=False).result(timeout=60) == 5
    relay = client.submit(Relay, counter, actor=True).result(timeout=30)
    assert relay.bump().result(timeout=30) == 6
    assert counter.n == 6


def test_map_creates_one_actor_per_element(client: Client) -> None:
    futures = client.map(Recorder, [10, 20, 30], actor=True)
    actors = client.gather(futures)
    assert len({a.key for a in actors}) == 3
    assert [a.report().result(timeout=30)["start"] for a in actors] == [10, 20, 30]


def test_actor_lives_on_one_worker(client: Client) -> None:
    future = client.submit(Counter, actor=True)
    future.result(timeout=30)
    holders = client.who_has(future)[future.key]
    assert len(holders) == 1


async def _async_spec(processes: bool) -> tuple[int, int]:
    async with Client(asynchronous=True, processes=processes, n_workers=1,
                      threads_per_worker=1) as client:
        future = client.submit(Counter, actor=True)
        counter = await future  # gather actor object locally
        counter.increment()  # send off a request asynchronously
        await counter.increment()  # or wait until it was received
        n = await counter.n  # attribute access also must be awaited
        return n, await counter.increment()


@pytest.mark.parametrize("processes", [False, True], ids=["threads", "processes"])
def test_spec_async_actor_example(processes: bool) -> None:
    assert asyncio.run(asyncio.wait_for(_async_spec(processes), 60)) == (2, 3)


def test_get_client_inside_actor_method_reaches_the_cluster(client: Client) -> None:
    class Submitter:
        def go(self) -> int:
            return int(get_client().submit(sum, [1, 2, 3]).result(timeout=30))

    s = client.submit(Submitter, actor=True).result(timeout=30)
    assert s.go().result(timeout=60) == 6
    assert futurelab.Actor is Actor


def test_live_model_lists_actors_with_calls_in_flight() -> None:
    with Client(processes=False, n_workers=1, threads_per_worker=1) as client:
        rec_future = client.submit(Recorder, actor=True)
        rec = rec_future.result(timeout=30)
        model = client.live_model()
        [actor] = model.snapshot()["actors"]
        assert actor["key"] == rec.key and actor["class"] == "Recorder" and actor["worker"]
        calls = [rec.record(i) for i in range(50)]
        assert calls[-1].result(timeout=30) == 49
        assert model.snapshot()["actors"][0]["pending"] == 0
