"""The scheduler halves over a real Scheduler object with fake client streams (no sockets).

Messages are fed straight into the scheduler's client-stream handlers; what the scheduler pushes
to each client is captured.  This checks the wiring the pure states cannot: pins really keep a
future's task alive, a hand-over registers the getter before the queue lets go, bad messages get
an error reply and change nothing, and a removed client's lock goes to the next waiter.
"""
from __future__ import annotations

from typing import Any

import pytest

from futurelab.scheduler import events as ev
from futurelab.scheduler.server import Scheduler


class FakeStream:
    def __init__(self) -> None:
        self.msgs: list[dict[str, Any]] = []

    def send(self, *msgs: dict[str, Any]) -> None:
        self.msgs.extend(msgs)

    def replies(self) -> list[dict[str, Any]]:
        return [m for m in self.msgs if m.get("op") == "primitive-reply"]


@pytest.fixture
def sched() -> Scheduler:
    s = Scheduler("inproc://unused")
    for c in ("c1", "c2", "c3"):
        s.client_streams[c] = FakeStream()  # type: ignore[assignment]
        s.state.clients.setdefault(c, set())
    s.stimulus(ev.AddWorker("w1", 1))
    return s


def feed(s: Scheduler, client: str, **msg: Any) -> None:
    s.client_stream_handlers[msg["op"]](client, msg)


def stream(s: Scheduler, client: str) -> FakeStream:
    return s.client_streams[client]  # type: ignore[return-value]


def wants(s: Scheduler, key: str) -> set[str]:
    ts = s.state.tasks.get(key)
    return set(ts.who_wants) if ts is not None else set()


def test_every_primitive_is_installed(sched: Scheduler) -> None:
    assert {"queue", "variable", "lock", "semaphore", "event", "pubsub"} <= set(sched.extensions)
    assert "primitives-state" in sched.handlers
    for op in ("lock-acquire", "queue-put", "pubsub-put", "semaphore-close", "event-cancel"):
        assert op in sched.client_stream_handlers


def test_queue_pins_and_hands_over_a_future(sched: Scheduler) -> None:
    sched.stimulus(ev.ScatterData("c1", {"k": ["w1"]}, {"k": 8}, {"k": "int"}))
    feed(sched, "c1", op="queue-put", name="q", rid=1, item={"key": "k"}, timeout=None)
    assert stream(sched, "c1").replies() == [{"op": "primitive-reply", "rid": 1, "ok": True}]
    sched.stimulus(ev.ClientReleasesKeys("c1", ["k"]))
    assert wants(sched, "k") == {"queue-q"} and sched.state.tasks["k"].state == "memory"
    feed(sched, "c2", op="queue-get", name="q", rid=7, n=1, timeout=None)
    assert wants(sched, "k") == {"c2", "transit-c2"}
    feed(sched, "c2", op="release-transit", keys=["k"])  # c2's Future exists now
    assert wants(sched, "k") == {"c2"}
    msgs = stream(sched, "c2").msgs
    ops = [m["op"] for m in msgs]
    assert ops.index("key-in-memory") < ops.index("primitive-reply")
    sched.stimulus(ev.ClientReleasesKeys("c2", ["k"]))
    assert "k" not in sched.state.tasks or not wants(sched, "k")


def test_variable_keeps_future_until_replaced(sched: Scheduler) -> None:
    sched.stimulus(ev.ScatterData("c1", {"a": ["w1"], "b": ["w1"]}))
    feed(sched, "c1", op="variable-set", name="v", rid=1, item={"key": "a"})
    sched.stimulus(ev.ClientReleasesKeys("c1", ["a"]))
    assert wants(sched, "a") == {"variable-v"}
    feed(sched, "c1", op="variable-set", name="v", rid=2, item={"key": "b"})
    assert wants(sched, "a") == set()
    assert wants(sched, "b") == {"c1", "variable-v"}
    feed(sched, "c1", op="variable-delete", name="v", rid=3)
    assert wants(sched, "b") == {"c1"}
    assert "v" not in sched.extensions["variable"].states


def test_unknown_future_is_refused(sched: Scheduler) -> None:
    feed(sched, "c1", op="queue-put", name="q", rid=1, item={"key": "nope"}, timeout=None)
    (reply,) = stream(sched, "c1").replies()
    assert reply["etype"] == "ValueError" and "not known" in reply["error"]
    assert "q" not in sched.extensions["queue"].states


@pytest.mark.parametrize("msg", [
    {"op": "lock-acquire", "name": 5, "rid": 1},
    {"op": "lock-acquire", "name": "", "rid": 1},
    {"op": "lock-acquire", "name": "l", "rid": 1, "timeout": "soon"},
    {"op": "lock-release", "name": "l", "rid": 1, "token": "t"},
    {"op": "queue-put", "name": "q", "rid": 1, "item": "garbage"},
    {"op": "queue-put", "name": "q", "rid": 1, "item": {"data": "str"}},
    {"op": "queue-get", "name": "q", "rid": 1, "n": "three"},
    {"op": "queue-create", "name": "q2", "rid": 1, "maxsize": -4},
    {"op": "semaphore-acquire", "name": "s", "rid": 1, "max_leases": 0},
    {"op": "semaphore-acquire", "name": "s2", "rid": 1, "max_leases": "x"},
    {"op": "pubsub-subscribe", "name": "t", "rid": 1, "sub": None},
    {"op": "pubsub-put", "name": "t", "rid": 1, "item": {"key": "k"}},
    {"op": "variable-set", "name": "v", "rid": 1, "item": [1, 2]},
])
def test_bad_messages_get_an_error_reply_and_change_nothing(sched: Scheduler,
                                                            msg: dict[str, Any]) -> None:
    feed(sched, "c1", **msg)
    replies = stream(sched, "c1").replies()
    assert len(replies) == 1 and "error" in replies[0] and replies[0]["rid"] == 1
    assert replies[0]["etype"] in ("ValueError", "TypeError", "RuntimeError")
    for kind in ("lock", "semaphore", "variable"):
        assert sched.extensions[kind].states == {}


def test_bad_message_without_rid_is_only_logged(sched: Scheduler) -> None:
    feed(sched, "c1", op="lock-release", name="l", token="t")
    feed(sched, "c1", op="lock-acquire", name="l")
    assert stream(sched, "c1").msgs == []


def test_lost_holder_hands_lock_to_next_waiter(sched: Scheduler) -> None:
    feed(sched, "c1", op="lock-acquire", name="l", rid=1, token="t1", timeout=None)
    feed(sched, "c2", op="lock-acquire", name="l", rid=2, token="t2", timeout=None)
    feed(sched, "c3", op="lock-acquire", name="l", rid=3, token="t3", timeout=None)
    assert stream(sched, "c2").replies() == []
    del sched.client_streams["c1"]
    for hook in sched.on_client_removed:
        hook("c1")
    assert stream(sched, "c2").replies() == [{"op": "primitive-reply", "rid": 2, "ok": True}]
    feed(sched, "c3", op="lock-cancel", name="l", cancel=3)
    assert stream(sched, "c3").replies()[0]["timeout"] is True
    feed(sched, "c3", op="lock-cancel", name="l", cancel=3)  # twice: no second reply
    assert len(stream(sched, "c3").replies()) == 1
    snap = sched.handlers["primitives-state"]({}, None)
    assert snap["locks"]["l"]["holder"] == "c2" and snap["locks"]["l"]["waiters"] == []


def test_change_events_only_when_subscribed(sched: Scheduler) -> None:
    feed(sched, "c1", op="event-set", name="e", rid=1)
    assert [m for m in stream(sched, "c2").msgs if m["op"] == "event"] == []
    sched._subscribe("c2", ["primitives"], True)
    feed(sched, "c1", op="event-clear", name="e", rid=2)
    feed(sched, "c1", op="semaphore-create", name="s", max_leases=3)
    events = [m["payload"] for m in stream(sched, "c2").msgs if m["op"] == "event"]
    assert events[0] == {"kind": "event", "name": "e", "state": None}  # cleared: forgotten
    assert events[1]["kind"] == "semaphore" and events[1]["state"]["max_leases"] == 3
