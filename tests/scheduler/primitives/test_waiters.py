"""The shared waiter queue and the Effects/Pins bookkeeping (pure: no sockets, no loop)."""
from __future__ import annotations

import pytest

from futurelab._waiters import Waiter, Waiters
from futurelab.scheduler.primitives._base import Effects, Pins, check_item, item_key, item_summary


def test_fifo_order_and_first() -> None:
    lot = Waiters()
    for i in range(5):
        lot.park(Waiter(f"c{i}", i))
    assert lot.first() is not None and lot.first().client == "c0"  # type: ignore[union-attr]
    assert [lot.pop_first().rid for _ in range(5)] == [0, 1, 2, 3, 4]  # type: ignore[union-attr]
    assert lot.pop_first() is None and lot.first() is None and not lot


def test_cancel_keeps_others_in_order() -> None:
    lot = Waiters()
    for i in range(4):
        lot.park(Waiter("c", i, data=i * 10))
    assert lot.pop(("c", 1)).data == 10  # type: ignore[union-attr]
    assert lot.pop(("c", 1)) is None  # twice: nothing
    assert ("c", 2) in lot and ("c", 1) not in lot
    assert [w.rid for w in lot] == [0, 2, 3]
    assert len(lot) == 3


def test_pop_client_and_pop_all() -> None:
    lot = Waiters()
    lot.park(Waiter("a", 1))
    lot.park(Waiter("b", 2))
    lot.park(Waiter("a", 3))
    assert lot.clients() == ["a", "b", "a"]
    assert [w.rid for w in lot.pop_client("a")] == [1, 3]
    assert [w.rid for w in lot.pop_all()] == [2]
    assert len(lot) == 0


def test_duplicate_park_is_refused() -> None:
    lot = Waiters()
    lot.park(Waiter("a", 1))
    with pytest.raises(ValueError, match="already waiting"):
        lot.park(Waiter("a", 1))
    assert len(lot) == 1


def test_many_cycles_stay_fifo() -> None:
    lot = Waiters()
    out = []
    for i in range(10_000):
        lot.park(Waiter("c", i))
        if i % 3 == 2:
            out.append(lot.pop_first().rid)  # type: ignore[union-attr]
    out += [w.rid for w in lot.pop_all()]
    assert out == sorted(out) and len(out) == 10_000


def test_pins_count_references() -> None:
    p = Pins()
    assert p.pin("queue-q", "x") is True
    assert p.pin("queue-q", "x") is False
    assert p.pin("variable-v", "x") is True
    assert p.held("queue-q") == {"x": 2}
    assert p.unpin("queue-q", "x") is False
    assert p.unpin("queue-q", "x") is True
    assert p.unpin("queue-q", "x") is False  # never below zero
    assert p.held("queue-q") == {}


def test_effects_helpers() -> None:
    e = Effects()
    e.hold({"key": "k"})
    e.hold({"data": b"\x01"})
    e.hand_over("c", {"key": "k"}, unpin=True)
    e.drop(None)
    e.timeout(("c", 4))
    assert e.pin == ["k"] and e.give == [("c", "k")] and e.unpin == ["k"]
    assert e.replies == [("c", 4, {"ok": False, "timeout": True})]


def test_items() -> None:
    assert item_key({"key": "k"}) == "k" and item_key({"data": b""}) is None
    assert item_key(None) is None
    assert item_summary({"key": "k"})["key"] == "k"  # type: ignore[index]
    assert item_summary({"data": b"", "type": "int", "repr": "1"}) == {"type": "int",
                                                                        "repr": "1"}
    assert check_item({"data": b"x", "junk": 1}) == {"data": b"x"}
    for bad in ("x", {"data": "not bytes"}, {"key": 3}, None, [b""]):
        with pytest.raises(TypeError):
            check_item(bad)
