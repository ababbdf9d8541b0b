"""The scheduler's side of cluster management: adaptive recommendations, workers to close, logs.

Installed into every :class:`~futurelab.scheduler.server.Scheduler` by :func:`install`.  The
policy itself is pure (:mod:`futurelab.scheduler.adaptive`); this shell reads the state, keeps
one :class:`~futurelab.scheduler.adaptive.AdaptiveMemo` per adaptive cluster (by the id the
cluster sends), and answers.  Requests (all answered ``{"status": "OK", ...}``):

- ``adaptive-recommend`` ``{id, minimum, maximum, wait_count, target_duration, planned,
  threads, memory}`` → ``{action, n, close}`` (see :func:`~.adaptive.recommend`);
- ``adaptive-stop`` ``{id}`` forgets that cluster's streak;
- ``workers-to-close`` ``{n}`` → ``{workers}``: up to ``n`` idle workers, least data first;
- ``get-logs`` ``{n}`` → ``{logs: [[level, line], ...]}``, newest first;
- ``get-worker-logs`` ``{n, workers}`` → ``{logs: {address: [[level, line], ...]}}``.
"""
from __future__ import annotations

import asyncio
import math
from typing import TYPE_CHECKING, Any

from .. import logbuffer
from ..rpc import ConnectionPool
from . import adaptive

if TYPE_CHECKING:
    from ..comm import Comm
    from .server import Scheduler

#: seconds a worker has to answer a request for its logs
LOGS_TIMEOUT = 10.0


def install(scheduler: Scheduler) -> ScalingExtension:
    """Register the cluster-management handlers on ``scheduler``.

    >>> # install(Scheduler())  # done by Scheduler.__init__
    """
    return ScalingExtension(scheduler)


class ScalingExtension:
    """Adaptive recommendations and logs, for every cluster kind alike."""

    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler
        #: adaptive cluster id → its streak of "fewer" recommendations
        self.memos: dict[str, adaptive.AdaptiveMemo] = {}
        logbuffer.install()
        scheduler.extensions["scaling"] = self
        scheduler.add_handlers(handlers={
            "adaptive-recommend": lambda m, c: self.recommend(m),
            "adaptive-stop": lambda m, c: self.stop(m),
            "workers-to-close": lambda m, c: self.workers_to_close(m),
            "get-logs": lambda m, c: {"status": "OK",
                                      "logs": logbuffer.lines("scheduler", _count(m))},
            "get-worker-logs": self.worker_logs,
        })

    def recommend(self, msg: dict[str, Any]) -> dict[str, Any]:
        """Answer ``adaptive-recommend`` (bad parameters: an error naming them)."""
        maximum = msg.get("maximum")
        params = adaptive.check_params(msg.get("minimum", 0),
                                       math.inf if maximum is None else maximum,
                                       msg.get("wait_count", 3), msg.get("target_duration", 5.0))
        memo = self.memos.setdefault(str(msg["id"]), adaptive.AdaptiveMemo())
        rec = adaptive.recommend(adaptive.load_of(self.scheduler.state), params,
                                 int(msg.get("planned", 0)), memo,
                                 threads_hint=int(msg.get("threads") or 1),
                                 memory_hint=int(msg.get("memory") or 0))
        return {"status": "OK", "action": rec.action, "n": rec.n, "close": list(rec.close)}

    def stop(self, msg: dict[str, Any]) -> dict[str, Any]:
        self.memos.pop(str(msg.get("id")), None)
        return {"status": "OK"}

    def workers_to_close(self, msg: dict[str, Any]) -> dict[str, Any]:
        load = adaptive.load_of(self.scheduler.state)
        return {"status": "OK", "workers": list(adaptive.workers_to_close(load.workers,
                                                                          int(msg["n"])))}

    async def worker_logs(self, msg: dict[str, Any], comm: Comm) -> dict[str, Any]:
        """Ask each worker (all, or ``msg["workers"]``) for its recent log lines."""
        known = self.scheduler.state.workers
        wanted = msg.get("workers")
        addresses = [a for a in (wanted if wanted is not None else known) if a in known]
        request = {"op": "get-logs", "n": _count(msg)}
        pool = ConnectionPool(security=self.scheduler.security)
        try:
            replies = await asyncio.gather(
                *(asyncio.wait_for(pool.request(a, request), LOGS_TIMEOUT) for a in addresses),
                return_exceptions=True)
        finally:
            pool.close()
        logs: dict[str, Any] = {}
        for address, reply in zip(addresses, replies):
            if isinstance(reply, dict):
                logs[address] = reply.get("logs", [])
            else:
                logs[address] = [("ERROR", f"could not fetch the logs of {address}: "
                                           f"{type(reply).__name__}: {reply}")]
        return {"status": "OK", "logs": logs}


def _count(msg: dict[str, Any]) -> int | None:
    n = msg.get("n")
    return None if n is None else max(0, int(n))
