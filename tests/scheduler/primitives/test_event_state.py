"""EventState, VariableState and TopicState, pure."""
from __future__ import annotations

from futurelab.scheduler.primitives.event import EventState
from futurelab.scheduler.primitives.pubsub import TopicState
from futurelab.scheduler.primitives.variable import VariableState


def test_event_set_wakes_every_waiter() -> None:
    s = EventState("go")
    for i in range(3):
        assert s.wait(f"c{i}", i, 0.0, True).parked
    assert s.wait("c9", 9, 0.0, False).replies == [("c9", 9, {"ok": False})]
    e = s.set()
    assert [r[:2] for r in e.replies] == [("c0", 0), ("c1", 1), ("c2", 2)]
    assert s.wait("c4", 4, 0.0, True).replies == [("c4", 4, {"ok": True})]
    assert not s.clear().replies and not s.flag and s.idle()


def test_event_cancel_and_remove() -> None:
    s = EventState("go")
    s.wait("a", 1, 0.0, True)
    s.wait("b", 2, 0.0, True)
    assert s.cancel(("a", 1)).replies == [("a", 1, {"ok": False, "timeout": True})]
    assert s.remove_client("b", 0.0).changed
    assert s.set().replies == []
    assert s.snapshot() == {"name": "go", "is_set": True, "waiters": [], "sets": 1}


def test_variable_set_get_pins() -> None:
    s = VariableState("v")
    assert s.get("c1", 1, 0.0, True).parked
    e = s.set("w", 2, {"key": "k1"}, 1.0)
    assert e.pin == ["k1"] and e.give == [("c1", "k1")] and e.unpin == []
    assert e.replies == [("c1", 1, {"ok": True, "item": {"key": "k1"}}), ("w", 2, {"ok": True})]
    e = s.get("c2", 3, 1.0, True)
    assert e.give == [("c2", "k1")] and e.pin == [] and e.unpin == []
    e = s.set("w", None, {"data": b"\x01"}, 2.0)  # replaced: old key let go
    assert e.unpin == ["k1"] and e.pin == []
    assert s.snapshot()["writer"] == "w"
    e = s.delete()
    assert e.unpin == [] and s.idle()


def test_variable_timeout_and_same_key_twice() -> None:
    s = VariableState("v")
    assert s.get("c", 1, 0.0, False).replies == [("c", 1, {"ok": False, "timeout": True})]
    s.set("w", None, {"key": "k"}, 0.0)
    e = s.set("w", None, {"key": "k"}, 0.0)
    assert e.pin == ["k"] and e.unpin == ["k"]  # counted pins keep it alive
    assert s.delete().unpin == ["k"]


def test_topic_fanout_and_counts() -> None:
    t = TopicState("news")
    t.subscribe("c1", "s1", 0.0)
    t.subscribe("c1", "s2", 0.0)
    t.subscribe("c2", "s3", 0.0)
    e = t.publish("p", {"data": b"\x01"})
    assert sorted((c, m["subs"]) for c, m in e.sends) == [("c1", ["s1", "s2"]), ("c2", ["s3"])]
    assert t.unsubscribe("c1", "s1").changed
    assert not t.unsubscribe("c1", "s1").changed
    t.remove_client("c2", 0.0)
    assert [c for c, _ in t.publish("p", {"data": b"\x02"}).sends] == ["c1"]
    snap = t.snapshot()
    assert snap["published"] == 2 and snap["subscribers"][0]["delivered"] == 2
    t.remove_client("c1", 0.0)
    assert t.idle()
