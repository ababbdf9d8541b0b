"""LockState and SemaphoreState, pure."""
from __future__ import annotations

import pytest

from futurelab.protocol.messages.primitives import check_max_leases
from futurelab.scheduler.primitives.lock import LockState
from futurelab.scheduler.primitives.semaphore import SemaphoreState


def test_lock_grant_park_release_fifo() -> None:
    s = LockState("db")
    assert s.acquire("c1", 1, "t1", 0.0, True).replies == [("c1", 1, {"ok": True})]
    for i in (2, 3, 4):
        e = s.acquire(f"c{i}", i, f"t{i}", float(i), True)
        assert e.parked and not e.replies
    assert s.snapshot()["waiters"] == ["c2", "c3", "c4"]
    e = s.release("c1", 10, "t1", 5.0)
    assert e.replies == [("c2", 2, {"ok": True}), ("c1", 10, {"ok": True})]
    assert s.holder == ("c2", "t2") and s.since == 5.0
    s.release("c2", None, "t2", 6.0)
    s.release("c3", None, "t3", 7.0)
    s.release("c4", None, "t4", 8.0)
    assert s.idle() and s.snapshot()["acquisitions"] == 4


def test_lock_nonblocking_and_no_queue_jumping() -> None:
    s = LockState("x")
    s.acquire("c1", 1, "t1", 0.0, True)
    assert s.acquire("c2", 2, "t2", 0.0, False).replies == [("c2", 2, {"ok": False})]
    s.acquire("c3", 3, "t3", 0.0, True)
    s.holder = None  # even unheld, a newcomer must not overtake a parked waiter
    assert s.acquire("c4", 4, "t4", 0.0, False).replies == [("c4", 4, {"ok": False})]


def test_lock_release_by_non_holder_is_refused_and_harmless() -> None:
    s = LockState("x")
    with pytest.raises(RuntimeError, match="not locked"):
        s.release("c1", 1, "t1", 0.0)
    s.acquire("c1", 1, "t1", 0.0, True)
    with pytest.raises(RuntimeError, match="another Lock object"):
        s.release("c1", 2, "other-token", 0.0)
    with pytest.raises(RuntimeError):
        s.release("c2", 3, "t1", 0.0)
    assert s.holder == ("c1", "t1")


def test_lock_cancel_and_client_removal() -> None:
    s = LockState("x")
    s.acquire("c1", 1, "t1", 0.0, True)
    s.acquire("c2", 2, "t2", 0.0, True)
    s.acquire("c3", 3, "t3", 0.0, True)
    assert s.cancel(("c2", 2)).replies == [("c2", 2, {"ok": False, "timeout": True})]
    assert s.cancel(("c2", 2)).replies == []  # already gone
    e = s.remove_client("c1", 9.0)  # the holder died: next waiter gets it
    assert e.replies == [("c3", 3, {"ok": True})] and e.changed
    assert s.holder == ("c3", "t3")
    assert not s.remove_client("c-unknown", 9.0).replies


def test_semaphore_leases_fifo_and_counts() -> None:
    s = SemaphoreState("db", 2)
    assert s.acquire("c1", 1, "a", 0.0, True).replies[0][2]["ok"]
    assert s.acquire("c1", 2, "a", 0.0, True).replies[0][2]["ok"]  # same holder twice
    assert s.acquire("c2", 3, "b", 0.0, True).parked
    assert s.acquire("c3", 4, "c", 0.0, False).replies == [("c3", 4, {"ok": False,
                                                                       "max_leases": 2})]
    assert s.held == 2 and s.snapshot()["holders"] == [{"client": "c1", "leases": 2,
                                                         "since": 0.0}]
    e = s.release("c1", 5, "a", 1.0)
    assert [r[:2] for r in e.replies] == [("c2", 3), ("c1", 5)]
    assert s.held == 2
    with pytest.raises(RuntimeError, match="holds no lease"):
        s.release("c3", 6, "c", 1.0)
    s.release("c1", None, "a", 1.0)
    s.release("c2", None, "b", 1.0)
    assert s.held == 0 and s.leases == {}


def test_semaphore_client_removal_returns_all_its_leases() -> None:
    s = SemaphoreState("db", 2)
    s.acquire("dead", 1, "a", 0.0, True)
    s.acquire("dead", 2, "b", 0.0, True)
    s.acquire("c2", 3, "x", 0.0, True)
    s.acquire("c3", 4, "y", 0.0, True)
    s.acquire("dead", 5, "z", 0.0, True)  # a waiter of the dead client too
    e = s.remove_client("dead", 1.0)
    assert [r[:2] for r in e.replies] == [("c2", 3), ("c3", 4)]
    assert s.held == 2 and len(s.waiters) == 0


def test_semaphore_close_errors_waiters() -> None:
    s = SemaphoreState("db", 1)
    s.acquire("c1", 1, "a", 0.0, True)
    s.acquire("c2", 2, "b", 0.0, True)
    e = s.close()
    assert e.replies[0][2]["etype"] == "RuntimeError" and "closed" in e.replies[0][2]["error"]
    assert s.held == 0


@pytest.mark.parametrize("bad,exc", [(0, ValueError), (-1, ValueError), (1.5, TypeError),
                                     ("2", TypeError), (True, TypeError)])
def test_max_leases_validation(bad: object, exc: type[Exception]) -> None:
    with pytest.raises(exc):
        check_max_leases(bad)
    with pytest.raises(exc):
        SemaphoreState("x", bad)  # type: ignore[arg-type]
