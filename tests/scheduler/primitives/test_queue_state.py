"""QueueState, pure: FIFO, batches, maxsize, pins and hand-overs."""
from __future__ import annotations

import pytest

from futurelab.scheduler.primitives.queue import QueueState


def d(i: int) -> dict[str, bytes]:
    return {"data": bytes([i])}


def test_put_then_get_in_order() -> None:
    s = QueueState("q")
    for i in range(3):
        assert s.put("p", i, d(i), 0.0, True).replies == [("p", i, {"ok": True})]
    got = [s.get("g", 10 + i, 1, 0.0, True).replies[0][2]["items"] for i in range(3)]
    assert got == [[d(0)], [d(1)], [d(2)]]
    assert s.qsize() == 0 and s.snapshot()["puts"] == 3 and s.snapshot()["gets"] == 3


def test_getters_are_served_fifo_and_batches_are_not_overtaken() -> None:
    s = QueueState("q")
    assert s.get("a", 1, 2, 0.0, True).parked  # wants 2
    assert s.get("b", 2, 1, 0.0, True).parked  # wants 1, behind a
    assert s.put("p", 3, d(1), 0.0, True).replies == [("p", 3, {"ok": True})]  # a still waits
    e = s.put("p", 4, d(2), 0.0, True)
    assert e.replies[0] == ("p", 4, {"ok": True})
    assert e.replies[1] == ("a", 1, {"ok": True, "items": [d(1), d(2)]})
    e = s.put("p", 5, d(3), 0.0, True)
    assert e.replies[1] == ("b", 2, {"ok": True, "items": [d(3)]})


def test_batch_true_takes_everything_without_waiting() -> None:
    s = QueueState("q")
    assert s.get("g", 1, None, 0.0, True).replies == [("g", 1, {"ok": True, "items": []})]
    s.put("p", 2, d(1), 0.0, True)
    s.put("p", 3, d(2), 0.0, True)
    assert s.get("g", 4, None, 0.0, True).replies[0][2]["items"] == [d(1), d(2)]


def test_maxsize_parks_putters_and_admits_them_in_order() -> None:
    s = QueueState("q", maxsize=1)
    s.put("p", 1, d(1), 0.0, True)
    assert s.put("p", 2, {"key": "k2"}, 0.0, True).parked
    e = s.put("p", 3, d(3), 0.0, True)
    assert e.parked and e.pin == []
    assert s.put("p", 4, d(4), 0.0, False).replies == [("p", 4, {"ok": False, "timeout": True})]
    e = s.get("g", 5, 1, 0.0, True)
    assert e.replies == [("g", 5, {"ok": True, "items": [d(1)]}), ("p", 2, {"ok": True})]
    assert s.snapshot()["putters"] == ["p"]
    e = s.get("g", 6, 1, 0.0, True)  # the future goes to g: give before unpin
    assert e.give == [("g", "k2")] and e.unpin == ["k2"]
    with pytest.raises(ValueError, match="maxsize"):
        s.get("g", 7, 5, 0.0, True)


def test_futures_are_pinned_while_queued_and_unpinned_on_cancel() -> None:
    s = QueueState("q", maxsize=1)
    assert s.put("p", 1, {"key": "k1"}, 0.0, True).pin == ["k1"]
    assert s.put("p", 2, {"key": "k2"}, 0.0, True).pin == ["k2"]  # parked, still held
    e = s.cancel(("p", 2))
    assert e.unpin == ["k2"] and e.replies == [("p", 2, {"ok": False, "timeout": True})]
    assert s.put("dead", 3, {"key": "k3"}, 0.0, True).parked
    e = s.remove_client("dead", 0.0)
    assert e.unpin == ["k3"] and s.qsize() == 1  # queued items outlive their putter


def test_getter_timeouts_and_removal() -> None:
    s = QueueState("q")
    assert s.get("g", 1, 1, 0.0, False).replies == [("g", 1, {"ok": False, "timeout": True})]
    s.get("g", 2, 1, 0.0, True)
    s.get("h", 3, 1, 0.0, True)
    assert s.cancel(("g", 2)).replies[0][:2] == ("g", 2)
    assert s.remove_client("h", 0.0).changed
    assert s.put("p", 4, d(1), 0.0, True).replies == [("p", 4, {"ok": True})]
    assert s.qsize() == 1
    with pytest.raises(ValueError):
        s.get("g", 5, 0, 0.0, True)
