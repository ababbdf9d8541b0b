"""The adaptive policy: how many workers the work in the scheduler calls for.  Pure.

Theory of operation
-------------------
Every cluster kind grows and shrinks by the same rule, computed here from what the scheduler
knows and nothing else (no clock, no I/O; the scheduler's shell calls it, the tests feed it
plain records):

1. :func:`load_of` reads a :class:`Load` out of the scheduler's state: per worker its threads,
   tasks processing and bytes held; the *work* waiting or running, as the sum over queued,
   processing and unrunnable tasks of the mean duration learned for each task's prefix
   (``SchedulerState.durations``; :data:`UNKNOWN_DURATION` for a prefix never seen); the number
   of such tasks; and the bytes held against the workers' memory limits.
2. :func:`target` turns it into a number of workers: enough threads to finish the work within
   ``target_duration`` — never more threads than tasks — and enough memory to hold the data at
   most :data:`MEMORY_FRACTION` full, clamped to ``[minimum, maximum]``.
3. :func:`recommend` adds *hysteresis*: a larger target is acted on at once; a smaller one
   only after ``wait_count`` consecutive calls all asked for fewer workers, and then to the
   largest of those targets.  The streak lives in an :class:`AdaptiveMemo` that the caller
   keeps between calls (the scheduler keeps one per adaptive cluster).
4. Scaling down names the workers to retire (:func:`workers_to_close`): idle ones only, those
   holding the fewest bytes first, so the least data has to move.  The cluster retires them
   through the scheduler, which copies what they alone hold to the others first.

``planned`` is the cluster's own count of workers, registered or not (a batch job may wait in
its queue): growing means asking for more than are planned, not more than are connected.

>>> p = AdaptiveParams(minimum=0, maximum=10, wait_count=3, target_duration=5.0)
>>> load = Load(workers=(), work=20.0, tasks=100, nbytes=0)
>>> target(load, p, threads_hint=2)   # 20 s of work in 5 s: 4 threads, 2 workers
2
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .state import SchedulerState

#: seconds assumed for a task whose prefix has never finished
UNKNOWN_DURATION = 0.5
#: grow so that the data held fills at most this fraction of the workers' memory limits
MEMORY_FRACTION = 0.6


@dataclass(frozen=True)
class AdaptiveParams:
    """The bounds and pace of one adaptive cluster (validated by :func:`check_params`)."""

    #: fewest workers, also when idle
    minimum: int = 0
    #: most workers (``math.inf``: no bound)
    maximum: float = math.inf
    #: consecutive recommendations to shrink before shrinking
    wait_count: int = 3
    #: seconds in which the work at hand should be done
    target_duration: float = 5.0


@dataclass(frozen=True)
class WorkerLoad:
    """One worker as the policy sees it."""

    address: str
    name: str
    nthreads: int
    #: tasks assigned to it and not finished
    processing: int
    #: bytes of results it holds
    nbytes: int
    #: its memory limit in bytes (0: none)
    memory_limit: int = 0


@dataclass(frozen=True)
class Load:
    """What the scheduler holds, summed for the policy."""

    workers: tuple[WorkerLoad, ...]
    #: seconds of work waiting or running (sum of learned mean durations)
    work: float
    #: tasks waiting to run or running
    tasks: int
    #: bytes held on all workers
    nbytes: int


@dataclass
class AdaptiveMemo:
    """What :func:`recommend` remembers between calls: the current streak of "fewer"."""

    #: consecutive calls whose target was below the planned size
    streak: int = 0
    #: the largest target seen during that streak
    streak_max: int = 0


@dataclass(frozen=True)
class Recommendation:
    """What to do now: ``action`` is ``"up"``, ``"down"`` or ``"same"``; ``n`` the size."""

    action: str
    n: int
    #: on "down": addresses of workers to retire (idle, least data first), at most the surplus
    close: tuple[str, ...] = field(default=())


def check_params(minimum: object = 0, maximum: object = math.inf, wait_count: object = 3,
                 target_duration: object = 5.0) -> AdaptiveParams:
    """Validate adaptive bounds, naming the first bad one.

    Args:
        minimum: fewest workers (a non-negative integer).
        maximum: most workers (a non-negative integer or ``math.inf``), at least ``minimum``.
        wait_count: shrink after this many consecutive recommendations (a positive integer).
        target_duration: seconds (a positive number; strings are parsed by the caller).

    Returns:
        The parameters as one record.

    Raises:
        TypeError: a parameter is not a number.
        ValueError: a number is negative, ``minimum > maximum``, or ``wait_count < 1``.

    >>> check_params(1, 4).maximum
    4
    """
    def count(value: object, what: str, allow_inf: bool = False) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"adapt: {what} must be a whole number, not "
                            f"{type(value).__name__}: {value!r}")
        if allow_inf and value == math.inf:
            return math.inf
        if not math.isfinite(value) or value != int(value):
            raise ValueError(f"adapt: {what} must be a whole number, not {value!r}")
        if value < 0:
            raise ValueError(f"adapt: {what} must not be negative, not {value!r}")
        return int(value)

    lo = count(minimum, "minimum")
    hi = count(maximum, "maximum", allow_inf=True)
    if lo > hi:
        raise ValueError(f"adapt: minimum ({minimum!r}) is larger than maximum ({maximum!r})")
    waits = count(wait_count, "wait_count")
    if waits < 1:
        raise ValueError(f"adapt: wait_count must be at least 1, not {wait_count!r}")
    if isinstance(target_duration, bool) or not isinstance(target_duration, (int, float)):
        raise TypeError(f"adapt: target_duration must be a duration, not {target_duration!r}")
    if not (target_duration > 0 and math.isfinite(target_duration)):
        raise ValueError(f"adapt: target_duration must be positive, not {target_duration!r}")
    return AdaptiveParams(int(lo), hi, int(waits), float(target_duration))


def load_of(state: SchedulerState, unknown: float = UNKNOWN_DURATION) -> Load:
    """Sum up the scheduler's work and data for the policy (reads ``state``, changes nothing).

    >>> from futurelab.scheduler.state import SchedulerState
    >>> load_of(SchedulerState()).tasks
    0
    """
    durations = state.durations
    work = 0.0
    tasks = 0
    for ts in state.tasks.values():
        if ts.state in ("queued", "processing") or ts in state.unrunnable:
            work += durations.get(ts.prefix, unknown)
            tasks += 1
    workers = tuple(WorkerLoad(ws.address, ws.name, ws.nthreads, len(ws.processing), ws.nbytes,
                               ws.memory_limit) for ws in state.workers.values())
    return Load(workers, work, tasks, sum(w.nbytes for w in workers))


def target(load: Load, params: AdaptiveParams, threads_hint: int = 1,
           memory_hint: int = 0) -> int:
    """The number of workers the load calls for, within ``[minimum, maximum]``.

    Args:
        load: the scheduler's load (:func:`load_of`).
        params: the bounds and target duration.
        threads_hint: threads per worker when no worker is there to tell.
        memory_hint: memory limit per worker (bytes) when no worker is there to tell.

    >>> target(Load((), 0.0, 0, 0), AdaptiveParams(minimum=1))
    1
    """
    workers = load.workers
    per_worker = (sum(w.nthreads for w in workers) / len(workers)) if workers \
        else max(1, threads_hint)
    threads = min(math.ceil(load.work / params.target_duration), load.tasks)
    want = math.ceil(threads / per_worker) if threads > 0 else 0
    limits = [w.memory_limit for w in workers if w.memory_limit] or \
        ([memory_hint] if memory_hint else [])
    if limits and load.nbytes:  # without limits, data never asks for workers: retiring
        limit = sum(limits) / len(limits)  # a worker moves its data to the others first
        want = max(want, math.ceil(load.nbytes / (MEMORY_FRACTION * limit)))
    if load.tasks and not want:
        want = 1
    return int(min(max(want, params.minimum), params.maximum))


def workers_to_close(workers: tuple[WorkerLoad, ...], n: int) -> tuple[str, ...]:
    """Up to ``n`` idle workers to retire, those holding the fewest bytes first.

    >>> ws = (WorkerLoad("a", "a", 1, 0, 50), WorkerLoad("b", "b", 1, 0, 10),
    ...       WorkerLoad("c", "c", 1, 2, 0))
    >>> workers_to_close(ws, 2)
    ('b', 'a')
    """
    idle = sorted((w for w in workers if not w.processing), key=lambda w: (w.nbytes, w.name))
    return tuple(w.address for w in idle[:max(0, n)])


def recommend(load: Load, params: AdaptiveParams, planned: int, memo: AdaptiveMemo,
              threads_hint: int = 1, memory_hint: int = 0) -> Recommendation:
    """What to do now, with hysteresis on shrinking (``memo`` is updated in place).

    Args:
        load: the scheduler's load.
        params: bounds, wait count and target duration.
        planned: workers the cluster has now, registered or not.
        memo: the streak kept between calls for this cluster.
        threads_hint: threads per worker when there is no worker yet.
        memory_hint: memory limit per worker when there is no worker yet.

    Returns:
        ``up`` to ``n`` at once; ``down`` to ``n`` after ``wait_count`` calls in a row asked for
        fewer (with the workers to retire); else ``same``.

    >>> memo = AdaptiveMemo()
    >>> p = AdaptiveParams(minimum=0, maximum=4, wait_count=2)
    >>> idle = Load((WorkerLoad("a", "a", 1, 0, 0),), 0.0, 0, 0)
    >>> recommend(idle, p, 1, memo).action, recommend(idle, p, 1, memo).action
    ('same', 'down')
    """
    want = target(load, params, threads_hint, memory_hint)
    if want > planned:
        memo.streak = memo.streak_max = 0
        return Recommendation("up", want)
    if want == planned:
        memo.streak = memo.streak_max = 0
        return Recommendation("same", planned)
    memo.streak_max = want if memo.streak == 0 else max(memo.streak_max, want)
    memo.streak += 1
    if memo.streak < params.wait_count:
        return Recommendation("same", planned)
    n = memo.streak_max
    memo.streak = memo.streak_max = 0
    # workers planned but not registered yet go first (the cluster drops those itself), so
    # only registered workers beyond n are retired
    surplus = max(0, len(load.workers) - n)
    return Recommendation("down", n, workers_to_close(load.workers, surplus))
