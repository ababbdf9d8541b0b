"""Worker choice: pure functions over the scheduler's view of tasks and workers.

A worker takes as many tasks as it has threads, plus a queue deep enough to keep them busy for
about :data:`TARGET_QUEUE_SECONDS` given the mean duration of the task's prefix (unknown prefixes
get one extra task per thread).  Short tasks therefore stream to workers in bulk while long ones
stay on the scheduler, where they can still go to whichever worker frees up first.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .state import TaskState, WorkerInfo

#: seconds of queued work per thread a worker may hold beyond what it runs
TARGET_QUEUE_SECONDS = 0.05
MAX_EXTRA_PER_THREAD = 500


def capacity(ws: WorkerInfo, durations: dict[str, float], prefix: str) -> int:
    """How many tasks of ``prefix`` worker ``ws`` may hold (running plus queued)."""
    threads = ws.nthreads + ws.seceded
    mean = durations.get(prefix)
    if mean is None:
        extra = 1
    else:
        extra = min(MAX_EXTRA_PER_THREAD, int(TARGET_QUEUE_SECONDS / max(mean, 1e-6)))
    return threads * (1 + max(extra, 1))


def decide_worker(ts: TaskState, workers: dict[str, WorkerInfo], durations: dict[str, float],
                  *, force: bool = False) -> WorkerInfo | None:
    """The worker that should run ``ts``, or None if every eligible worker is saturated.

    Prefers the worker already holding the most bytes of the task's dependencies, then the least
    loaded (tasks held per thread).  Restricted tasks (``workers=``) and actors go to an eligible
    worker whatever its load (``force``); None means no eligible worker exists.

    >>> from futurelab.scheduler.tasks import TaskState, WorkerInfo
    >>> ts = TaskState("inc-1", None, (0, 0))
    >>> decide_worker(ts, {}, {}) is None
    True
    >>> decide_worker(ts, {"tcp://a": WorkerInfo("tcp://a", 2, "a")}, {}).address
    'tcp://a'
    """
    if ts.workers is not None:
        pool = [workers[a] for a in ts.workers if a in workers]
        force = True
    else:
        pool = list(workers.values())
    if not force:
        pool = [ws for ws in pool if len(ws.processing) < capacity(ws, durations, ts.prefix)]
    if not pool:
        return None
    if len(pool) == 1:
        return pool[0]
    if ts.dependencies:
        held: dict[str, int] = {}
        for dep in ts.dependencies:
            for addr in dep.who_has:
                held[addr] = held.get(addr, 0) + dep.nbytes + 1
        return min(pool, key=lambda ws: (-held.get(ws.address, 0), _load(ws)))
    return min(pool, key=_load)


def _load(ws: WorkerInfo) -> float:
    return len(ws.processing) / (ws.nthreads + ws.seceded or 1)
