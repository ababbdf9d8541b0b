"""What the scheduler holds per task, and what it gives back after a burst of tasks."""
from __future__ import annotations

from futurelab._memory import MIN_PEAK, Peak, release_free_memory
from futurelab.protocol.serialize import Opaque
from futurelab.scheduler.events import (
    AddWorker,
    ClientReleasesKeys,
    TaskFinished,
    TaskSpec,
    UpdateGraph,
)
from futurelab.scheduler.state import SchedulerState

W = "tcp://w"


def test_peak_says_when_a_big_container_has_shrunk() -> None:
    p = Peak()
    assert not p.shrunk(MIN_PEAK // 2) and not p.shrunk(10)  # never big: never worth it
    assert not p.shrunk(4 * MIN_PEAK)
    assert not p.shrunk(2 * MIN_PEAK)  # half: not yet
    assert p.shrunk(MIN_PEAK)  # a quarter
    assert not p.shrunk(MIN_PEAK // 2)  # the mark is now MIN_PEAK, below the bar


def test_release_free_memory_trims_where_glibc_can() -> None:
    import platform
    import sys
    glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert release_free_memory() is glibc  # done with glibc's malloc_trim, else a no-op


def test_holder_sets_are_shared_and_containers_rebuilt_after_a_burst() -> None:
    s = SchedulerState(validate=False)
    s.handle(AddWorker(W, 500))  # many threads: tasks go out in few rounds
    n = 4 * MIN_PEAK
    keys = [f"inc-{i}" for i in range(n)]
    s.handle(UpdateGraph("c", [TaskSpec(k, ("f", (i,), None)) for i, k in enumerate(keys)], keys))
    while any(ts.state != "memory" for ts in s.tasks.values()):
        running = [ts.key for ts in s.workers[W].processing]
        for key in running:
            s.apply(TaskFinished(W, key, 28, "int"))
        s.flush()
    held = list(s.tasks.values())
    # one client, one worker: every task shares the same two holder sets
    assert len({id(ts.who_wants) for ts in held}) == 1
    assert len({id(ts.who_has) for ts in held}) == 1
    assert len({id(ts.type) for ts in held}) == 1 and len({id(ts.prefix) for ts in held}) == 1
    before = s.compactions
    s.handle(ClientReleasesKeys("c", keys))
    assert not s.tasks and s.compactions == before + 1
    s.validate()
    # and the state works as before
    s.handle(UpdateGraph("c", [TaskSpec("inc-x", ("f", (), None))], ["inc-x"]))
    assert s.tasks["inc-x"].state == "processing"
    s.validate()


def test_task_arguments_are_kept_pickled_only() -> None:
    op = Opaque((1, [2, 3]))
    op.keep_pickled_only()
    assert op.is_pickled and op.get() == (1, [2, 3])
