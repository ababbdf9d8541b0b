"""``cluster.adapt(...)``: ask the scheduler every ``interval`` and act on its answer.

The decision is the scheduler's (:mod:`futurelab.scheduler.adaptive`, the same pure policy for
every kind of cluster, with its hysteresis kept there per adaptive cluster); this loop only
carries it out with the cluster's own ``scale`` machinery: start jobs to grow, retire workers
through the scheduler (their data copied to the others first) and stop their jobs to shrink.
A worker whose data cannot move is kept, so shrinking never loses data.
"""
from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from collections import deque
from typing import TYPE_CHECKING, Any

from ..scheduler.adaptive import check_params
from ..utils import parse_bytes

if TYPE_CHECKING:
    from .cluster import Cluster

logger = logging.getLogger("futurelab.deploy")


def adaptive_bounds(cluster: Cluster, minimum: Any = 0, maximum: Any = math.inf,
                    minimum_cores: Any = None, maximum_cores: Any = None,
                    minimum_memory: Any = None, maximum_memory: Any = None,
                    ) -> tuple[int, float]:
    """``(minimum, maximum)`` in workers from bounds in workers, cores and memory.

    Cores divide by ``cluster.threads_per_worker``, memory by ``cluster.memory_limit``
    (rounded up for minimums, down for maximums); the larger minimum and the smaller maximum
    win, as dask's ``adapt`` combines them.

    Raises:
        TypeError: a bound is not a number (or a size, for memory).
        ValueError: a bound is negative, a memory bound on a cluster without memory limit,
            or the minimum exceeds the maximum.

    >>> class C: threads_per_worker = 2; memory_limit = 4 * 10**9
    >>> adaptive_bounds(C(), minimum_cores=3, maximum_memory="20GB")
    (2, 5)
    """
    lo = check_params(minimum, math.inf).minimum
    hi = check_params(0, maximum).maximum
    threads = cluster.threads_per_worker
    for value, is_min in ((minimum_cores, True), (maximum_cores, False)):
        if value is not None:
            cores = check_params(value, math.inf).minimum if is_min else \
                check_params(0, value).maximum
            lo, hi = _combine(lo, hi, cores / threads, is_min)
    for value, what, is_min in ((minimum_memory, "minimum_memory", True),
                                (maximum_memory, "maximum_memory", False)):
        if value is None:
            continue
        if not cluster.memory_limit:
            raise ValueError(f"adapt: {what} needs workers with a memory limit; this cluster "
                             f"has none (give memory_limit=)")
        try:
            nbytes = parse_bytes(value)
        except (TypeError, ValueError) as e:
            raise type(e)(f"adapt: {what}: {e}") from None
        if nbytes < 0:
            raise ValueError(f"adapt: {what} must not be negative, not {value!r}")
        lo, hi = _combine(lo, hi, nbytes / cluster.memory_limit, is_min)
    check_params(lo, hi)  # minimum > maximum once combined
    return lo, hi


def _combine(lo: int, hi: float, workers: float, is_min: bool) -> tuple[int, float]:
    if is_min:
        return max(lo, math.ceil(workers)), hi
    return lo, min(hi, math.floor(workers))


class Adaptive:
    """A running ``adapt``: its bounds, its log, and :meth:`stop`.

    Attributes mirror dask's ``Adaptive``: ``minimum``, ``maximum``, ``interval``,
    ``wait_count``, ``target_duration`` (seconds) and ``log``, a list of
    ``(time, {"status": "up" | "down", "n": size, ...})`` for each action taken.

    >>> # adaptive = cluster.adapt(minimum=0, maximum=4); ...; adaptive.stop()
    """

    def __init__(self, cluster: Cluster, *, minimum: int, maximum: float, interval: Any,
                 wait_count: Any, target_duration: Any) -> None:
        if interval is None or not isinstance(interval, (int, float)) or interval <= 0:
            raise ValueError(f"adapt: interval must be a positive duration, not {interval!r}")
        params = check_params(minimum, maximum, wait_count, target_duration)
        self.cluster = cluster
        self.minimum = params.minimum
        self.maximum = params.maximum
        self.wait_count = params.wait_count
        self.target_duration = params.target_duration
        self.interval = float(interval)
        self.id = f"adaptive-{uuid.uuid4().hex[:12]}"
        self.log: deque[tuple[float, dict[str, Any]]] = deque(maxlen=1000)
        self._task: asyncio.Task[None] | None = None
        self._stopped = False

    async def start(self) -> None:
        """Begin adapting on the cluster's loop (called by ``cluster.adapt``)."""
        if not self._stopped and self._task is None:
            self._task = asyncio.ensure_future(self._loop())

    def stop(self) -> None:
        """Stop adapting; the cluster keeps its present size."""
        self._stopped = True
        task = self._task
        if task is not None and not task.done():
            self.cluster.loop.call_soon_threadsafe(task.cancel)

    @property
    def running(self) -> bool:
        return not self._stopped and self._task is not None and not self._task.done()

    async def _loop(self) -> None:
        cluster = self.cluster
        try:
            while not self._stopped and cluster.status == "running":
                try:
                    await self.adapt()
                except asyncio.CancelledError:
                    raise
                except Exception as e:  # noqa: BLE001 - keep adapting; the log says why
                    logger.warning("adaptive scaling of %s failed: %s", cluster.name, e)
                    cluster._log(f"adaptive step failed: {type(e).__name__}: {e}")
                await asyncio.sleep(self.interval)
        finally:
            if cluster.status == "running":
                try:
                    await cluster._request({"op": "adaptive-stop", "id": self.id})
                except Exception:  # noqa: BLE001 - the scheduler may be gone
                    pass

    async def adapt(self) -> None:
        """One step: ask the scheduler, then grow or retire as it says."""
        cluster = self.cluster
        reply = await cluster._request({
            "op": "adaptive-recommend", "id": self.id, "minimum": self.minimum,
            "maximum": None if self.maximum == math.inf else self.maximum,
            "wait_count": self.wait_count, "target_duration": self.target_duration,
            "planned": len(cluster.workers), "threads": cluster.threads_per_worker,
            "memory": cluster.memory_limit})
        action, n = reply["action"], int(reply["n"])
        if self._stopped or action == "same":
            return
        if action == "up" and n > len(cluster.workers):
            self.log.append((time.time(), {"status": "up", "n": n}))
            await cluster._scale_up(n)
        elif action == "down":
            stopped = await cluster._scale_down(n, close=list(reply["close"]))
            self.log.append((time.time(), {"status": "down", "n": n, "workers": stopped}))

    def __repr__(self) -> str:
        return (f"<Adaptive {self.cluster.name}: minimum={self.minimum} maximum={self.maximum}"
                f" interval={self.interval}s wait_count={self.wait_count}>")
