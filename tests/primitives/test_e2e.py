"""End to end over an in-process cluster (the ``client`` fixture: 2 workers x 2 threads)."""
from __future__ import annotations

import gc
import threading
from typing import Any

import pytest
from _util import wait_for

import futurelab
from futurelab import Client
from futurelab.primitives._proxy import PrimitivesClient
from futurelab.primitives.event import Event
from futurelab.primitives.introspect import primitives_state
from futurelab.primitives.lock import Lock
from futurelab.primitives.pubsub import Pub, Sub
from futurelab.primitives.queue import Queue
from futurelab.primitives.semaphore import Semaphore
from futurelab.primitives.variable import Variable

TIMEOUT = 30


def state(client: Client) -> dict[str, Any]:
    return client.sync(primitives_state, client)  # type: ignore[no-any-return]


def in_cluster(client: Client, key: str) -> bool:
    return bool(client.who_has().get(key))


def inc(x: int) -> int:
    return x + 1


# ---------------------------------------------------------------------- Queue
def test_queue_fifo_batches_and_qsize(client: Client) -> None:
    q = Queue("jobs")
    for i in range(5):
        q.put(i)
    assert q.qsize() == 5
    assert q.get(timeout=1) == 0
    assert q.get(batch=2, timeout=1) == [1, 2]
    assert q.get(batch=True) == [3, 4]
    assert q.get(batch=True) == []
    with pytest.raises(TimeoutError):
        q.get(timeout=0)
    with pytest.raises(ValueError):
        q.get(batch=0)


def test_queue_values_round_trip(client: Client) -> None:
    q = Queue()
    values = [None, True, 3, 2.5, "s", b"bytes", [1, [2]], {"a": {"b": 1}}, {1: "int key"}]
    for v in values:
        q.put(v)
    assert [q.get(timeout=1) for _ in values] == values
    q.put((1, 2))
    assert q.get(timeout=1) == [1, 2]  # msgpack: tuples come back as lists


@pytest.mark.parametrize("bad", [object(), {1, 2}, [lambda: 1], 2**70])
def test_queue_bad_values_raise_typeerror_and_change_nothing(client: Client, bad: Any) -> None:
    q = Queue()
    q.put("before")
    with pytest.raises(TypeError, match="msgpack-encodable"):
        q.put(bad)
    assert q.qsize() == 1
    assert q.get(timeout=1) == "before"


def test_queue_maxsize_blocks_put_until_get(client: Client) -> None:
    q = Queue(maxsize=1)
    q.put(1)
    with pytest.raises(TimeoutError):
        q.put(2, timeout=0.05)
    done = threading.Event()
    t = threading.Thread(target=lambda: (q.put(3, timeout=TIMEOUT), done.set()))
    t.start()
    wait_for(lambda: state(client)["queues"][q.name]["putters"], TIMEOUT, what="putter")
    assert not done.is_set()
    assert q.get(timeout=1) == 1
    t.join(TIMEOUT)
    assert done.is_set() and q.get(timeout=1) == 3


def test_queue_future_keeps_data_alive_until_taken(client: Client) -> None:
    q = Queue()
    fut = client.submit(inc, 41)
    key = fut.key
    fut.result(timeout=TIMEOUT)
    q.put(fut)
    del fut
    gc.collect()
    assert key not in client.futures
    # the client's release is processed; the queue's pin keeps the data
    wait_for(lambda: state(client)["queues"][q.name]["depth"] == 1, TIMEOUT)
    client.sync(client._scheduler_request, {"op": "identity"})
    assert in_cluster(client, key)
    got = q.get(timeout=TIMEOUT)
    assert got.key == key and got.result(timeout=TIMEOUT) == 42
    del got
    gc.collect()
    wait_for(lambda: not in_cluster(client, key), TIMEOUT, what="released after taken")


def test_queue_get_from_task_and_put_from_task(client: Client) -> None:
    q = Queue()

    def producer(n: int, q: Queue) -> None:
        for i in range(n):
            q.put(i)

    def consumer(n: int, q: Queue) -> int:
        return sum(q.get(timeout=TIMEOUT) for _ in range(n))

    c = client.submit(consumer, 10, q)
    client.submit(producer, 10, q).result(timeout=TIMEOUT)
    assert c.result(timeout=TIMEOUT) == 45


# ---------------------------------------------------------------------- Variable
def test_variable_get_waits_for_set_and_times_out(client: Client) -> None:
    v = Variable()
    with pytest.raises(TimeoutError):
        v.get(timeout=0.05)
    getter = client.submit(lambda v: v.get(timeout=TIMEOUT), v)
    wait_for(lambda: state(client)["variables"].get(v.name, {}).get("waiters"), TIMEOUT)
    v.set({"x": 1})
    assert getter.result(timeout=TIMEOUT) == {"x": 1}
    snap = state(client)["variables"][v.name]
    assert snap["value"]["type"] == "dict" and snap["writer"] == client.id
    v.delete()
    with pytest.raises(TimeoutError):
        v.get(timeout=0)
    with pytest.raises(TypeError):
        v.set(object())


def test_variable_future_lives_until_replaced_or_deleted(client: Client) -> None:
    v = Variable("params")
    a = client.submit(inc, 1)
    key_a = a.key
    v.set(a)
    del a
    gc.collect()
    client.sync(client._scheduler_request, {"op": "identity"})
    assert v.get(timeout=TIMEOUT).result(timeout=TIMEOUT) == 2
    gc.collect()
    assert in_cluster(client, key_a)
    b = client.submit(inc, 2)
    key_b = b.key
    v.set(b)
    del b
    gc.collect()
    wait_for(lambda: not in_cluster(client, key_a), TIMEOUT, what="old value released")
    assert in_cluster(client, key_b) and v.get(timeout=1).result(timeout=TIMEOUT) == 3
    v.delete()
    gc.collect()
    wait_for(lambda: not in_cluster(client, key_b), TIMEOUT, what="deleted value released")


# ---------------------------------------------------------------------- Lock
def test_lock_semantics(client: Client) -> None:
    lock = Lock("L")
    assert lock.acquire() is True
    assert lock.acquire(blocking=False) is False
    assert lock.acquire(timeout=0.05) is False
    other = Lock("L")
    with pytest.raises(RuntimeError, match="another Lock object"):
        other.release()
    assert lock.locked()
    lock.release()
    with pytest.raises(RuntimeError, match="not locked"):
        lock.release()
    with pytest.raises(ValueError):
        lock.acquire(blocking=False, timeout=1)
    with pytest.raises(ValueError):
        lock.acquire(timeout=-2)
    assert lock.acquire(timeout=-1)  # threading's "forever"
    lock.release()


def test_lock_held_by_client_blocks_task(client: Client) -> None:
    lock = Lock("shared")
    lock.acquire()
    assert client.submit(lambda: Lock("shared").acquire(timeout=0.05)).result(
        timeout=TIMEOUT) is False

    def take() -> bool:
        with Lock("shared"):
            return True

    fut = client.submit(take)
    wait_for(lambda: state(client)["locks"]["shared"]["waiters"], TIMEOUT)
    snap = state(client)["locks"]["shared"]
    assert snap["holder"] == client.id and snap["held_since"] is not None
    lock.release()
    assert fut.result(timeout=TIMEOUT) is True


def test_closing_a_client_releases_its_lock(client: Client) -> None:
    other = Client(client.scheduler_address, set_as_default=False)
    Lock("x", client=other).acquire()
    assert Lock("x").locked()
    other.close()
    assert Lock("x").acquire(timeout=TIMEOUT)


def test_cancelled_acquire_leaves_no_ghost_holder(client: Client) -> None:
    import asyncio
    lock = Lock("busy")
    lock.acquire()

    async def give_up() -> None:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(Lock("busy")._acquire(), 0.05)

    client.sync(give_up)
    wait_for(lambda: not state(client)["locks"]["busy"]["waiters"], TIMEOUT)
    lock.release()
    assert not Lock("busy").locked()


def test_undo_of_a_grant_that_crossed_a_cancel(client: Client) -> None:
    ext = PrimitivesClient.of(client)
    undone: list[dict[str, Any]] = []
    ext.abandoned[-5] = undone.append
    ext._on_reply({"op": "primitive-reply", "rid": -5, "ok": True})
    ext.abandoned[-6] = undone.append
    ext._on_reply({"op": "primitive-reply", "rid": -6, "ok": False, "timeout": True})
    assert undone == [{"op": "primitive-reply", "rid": -5, "ok": True}] and not ext.abandoned


# ---------------------------------------------------------------------- Event, Semaphore
def test_event_wait_timeout_and_flags(client: Client) -> None:
    e = Event()
    assert e.wait(timeout=0.05) is False and e.wait(timeout=0) is False
    e.set()
    assert e.is_set() and e.wait(timeout=0) is True
    e.clear()
    assert not e.is_set()


def test_semaphore_semantics(client: Client) -> None:
    for bad in (0, -1):
        with pytest.raises(ValueError):
            Semaphore(max_leases=bad)
    sem = Semaphore(max_leases=2, name="s")
    assert sem.acquire() and sem.acquire()
    assert sem.acquire(timeout=0.05) is False
    assert sem.get_value() == 2
    with pytest.raises(RuntimeError, match="holds no lease"):
        Semaphore(max_leases=2, name="s").release()
    sem.release()
    assert sem.get_value() == 1
    snap = state(client)["semaphores"]["s"]
    assert snap["max_leases"] == 2 and snap["holders"][0]["client"] == client.id
    sem.release()
    sem.close()
    with pytest.raises(RuntimeError, match="closed"):
        sem.acquire()
    assert "s" not in state(client)["semaphores"]


def test_semaphore_close_wakes_waiters_with_error(client: Client) -> None:
    sem = Semaphore(1, name="closing")
    sem.acquire()
    fut = client.submit(lambda: Semaphore(1, name="closing").acquire(timeout=TIMEOUT))
    wait_for(lambda: state(client)["semaphores"]["closing"]["waiters"], TIMEOUT)
    sem.close()
    with pytest.raises(RuntimeError, match="closed"):
        fut.result(timeout=TIMEOUT)


# ---------------------------------------------------------------------- Pub/Sub
def test_pubsub_every_subscriber_every_message_in_order(client: Client) -> None:
    subs = [Sub("topic") for _ in range(3)]
    pub = Pub("topic")
    for i in range(20):
        pub.put(i)
    for sub in subs:
        assert [sub.get(timeout=TIMEOUT) for _ in range(20)] == list(range(20))
    with pytest.raises(TimeoutError):
        subs[0].get(timeout=0.05)
    snap = state(client)["pubsub"]["topic"]
    assert snap["published"] == 20 and len(snap["subscribers"]) == 3


def test_pubsub_from_tasks_ordered_per_publisher(client: Client) -> None:
    sub = Sub("from-tasks")

    def publish(who: int) -> None:
        pub = Pub("from-tasks")
        for i in range(30):
            pub.put([who, i])

    futures = client.map(publish, range(4))
    futurelab.wait(futures, timeout=TIMEOUT)
    got: dict[int, list[int]] = {}
    for msg in sub:  # iteration, bounded
        got.setdefault(msg[0], []).append(msg[1])
        if sum(map(len, got.values())) == 120:
            break
    assert got == {w: list(range(30)) for w in range(4)}


def test_pubsub_messages_before_subscribing_are_not_received(client: Client) -> None:
    Pub("late").put("early")
    sub = Sub("late")
    Pub("late").put("on time")
    assert sub.get(timeout=TIMEOUT) == "on time"
    with pytest.raises(TypeError):
        Pub("late").put(object())
    with pytest.raises(TypeError, match="not futures"):
        Pub("late").put(client.submit(inc, 1))


def test_sub_unsubscribes_when_collected(client: Client) -> None:
    sub = Sub("gc")
    assert len(state(client)["pubsub"]["gc"]["subscribers"]) == 1
    del sub
    gc.collect()
    wait_for(lambda: "gc" not in state(client)["pubsub"], TIMEOUT)


# ---------------------------------------------------------------------- introspection
def test_change_events_are_pushed(client: Client) -> None:
    seen: list[dict[str, Any]] = []
    previous = client._stream_handlers.get("event")

    def on_event(msg: dict[str, Any]) -> None:
        if msg.get("topic") == "primitives":
            seen.append(msg["payload"])
        elif previous is not None:
            previous(msg)

    client._stream_handlers["event"] = on_event
    client._send({"op": "subscribe-events", "topics": ["primitives"]})
    lock = Lock("watched")
    lock.acquire()
    lock.release()
    wait_for(lambda: len([p for p in seen if p["name"] == "watched"]) >= 2, TIMEOUT)
    kinds = [(p["kind"], p["state"] and p["state"]["locked"]) for p in seen
             if p["name"] == "watched"]
    assert kinds[:2] == [("lock", True), ("lock", None)]


def test_pickled_proxies_keep_name_and_config(client: Client) -> None:
    import pickle
    q = Queue("pq", maxsize=3)
    s = Semaphore(4, name="ps")
    q2, s2 = pickle.loads(pickle.dumps(q)), pickle.loads(pickle.dumps(s))
    assert (q2.name, q2.maxsize, s2.name, s2.max_leases) == ("pq", 3, "ps", 4)
    assert pickle.loads(pickle.dumps(Lock("pl"))).name == "pl"
    assert repr(q2) == "<Queue: pq>"
    with pytest.raises(TypeError):
        Lock(123)  # type: ignore[arg-type]
