"""Growing and shrinking a cluster: the steps ``scale`` and ``adapt`` share.

Growing starts the new jobs together and keeps those that started.  Shrinking drops jobs whose
worker has not registered yet first (they hold nothing), then retires registered workers
through the scheduler (``admin-retire-workers``: what they alone hold is copied to the
workers that stay, then they close), then stops their jobs.  One scaling step runs at a time
per cluster.
"""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from .cluster import ClusterError

if TYPE_CHECKING:
    from .cluster import Cluster


async def scale_up(cluster: Cluster, n: int) -> None:
    """Start jobs until ``cluster`` has ``n``.

    Raises:
        ClusterError: naming each worker that could not start, and why (the others stay).

    >>> # await scale_up(cluster, 4)
    """
    if cluster.status in ("closing", "closed"):
        raise ClusterError(f"cluster {cluster.name} is {cluster.status}")
    assert cluster._scaling is not None
    async with cluster._scaling:
        names = [cluster._new_worker_name() for _ in range(n - len(cluster.workers))]
        if not names:
            return
        cluster._log(f"starting {len(names)} worker(s): {', '.join(names)}")
        results = await asyncio.gather(*(cluster._start_worker(nm) for nm in names),
                                       return_exceptions=True)
        failed = []
        for name, result in zip(names, results):
            if isinstance(result, BaseException):
                failed.append(f"{name}: {result}")
            else:
                cluster.workers[name] = result
        await cluster._refresh()
        if failed:
            cluster._log("could not start " + "; ".join(failed))
            raise ClusterError(f"could not start {len(failed)} of {len(names)} worker(s): "
                               + "; ".join(failed))


async def scale_down(cluster: Cluster, n: int, close: list[str] | None = None,
                     force: bool = False) -> list[str]:
    """Shrink toward ``n``: unregistered jobs first, then retire registered workers.

    Args:
        cluster: the cluster to shrink.
        n: the size to shrink to.
        close: addresses to retire (default: the scheduler's choice, idle and least data
            first).
        force: also stop workers whose data could not be moved (their tasks are
            recomputed if needed); without it they stay.

    Returns:
        The names of the workers stopped.

    >>> # await scale_down(cluster, 1)   # the scheduler picks idle workers, least data first
    """
    assert cluster._scaling is not None
    async with cluster._scaling:
        surplus = len(cluster.workers) - n
        if surplus <= 0:
            return []
        registered = cluster._registered() if cluster.scheduler is not None else \
            {str(w.get("name")): a for a, w in (await cluster._refresh())["workers"].items()}
        ours = {a: nm for nm, a in registered.items() if nm in cluster.workers}
        pending = [nm for nm in reversed(list(cluster.workers)) if nm not in registered]
        stop = pending[:surplus]
        rest = surplus - len(stop)
        if rest > 0:
            if close is None:
                close = (await cluster._request({"op": "workers-to-close", "n": rest}))[
                    "workers"]
            chosen = [a for a in close if a in ours][:rest]
            if force and len(chosen) < rest:
                chosen += [a for a in reversed(list(ours)) if a not in chosen][
                    :rest - len(chosen)]
            if chosen:
                reply = await cluster._request({"op": "admin-retire-workers",
                                                "workers": chosen, "close_workers": True},
                                               timeout=cluster.timeout + 15)
                retired = set(reply.get("workers", {}))
                kept = [a for a in chosen if a not in retired]
                if kept and not force:
                    cluster._log(f"kept {len(kept)} worker(s) whose data could not move")
                stop += [ours[a] for a in chosen if a in retired or force]
        if stop:
            cluster._log(f"stopping {len(stop)} worker(s): {', '.join(stop)}")
        await stop_jobs(cluster, [(name, cluster.workers.pop(name)) for name in stop],
                        cluster.timeout)
        await cluster._refresh()
        return stop


async def stop_jobs(cluster: Cluster, jobs: list[tuple[str, Any]], timeout: float) -> None:
    """Stop these ``(name, handle)`` jobs together, each within ``timeout``; log failures.

    >>> # await stop_jobs(cluster, [("LocalCluster-0", handle)], 10)
    """
    results = await asyncio.gather(
        *(asyncio.wait_for(cluster._stop_worker(name, handle), timeout)
          for name, handle in jobs), return_exceptions=True)
    for (name, _), result in zip(jobs, results):
        if isinstance(result, BaseException):
            cluster._log(f"stopping worker {name} failed: {type(result).__name__}: {result}")
