"""The scheduler's administration extension: datasets, metadata, restart, retire, terminate.

Installed into every :class:`~futurelab.scheduler.server.Scheduler` by :func:`install`.

Theory of operation
-------------------
*Datasets* are named, pickled objects (the client pickles them; the scheduler keeps the bytes and
never unpickles them) together with the keys of the futures inside.  Each dataset pins its keys
with a pseudo-client ``published-<name>``, as a client holding Futures would, so the data stays
on the workers until the dataset is unpublished.  Publishing travels on the publisher's ordered
stream (like the primitives' requests), so the futures it names are known when it lands; a
reader's copies are pinned "in transit" until its own claim arrives
(:func:`~futurelab.scheduler.primitives.transit_holder`).

*Restart* drops every holder's claim on every task (their futures are cancelled), forgets the
datasets, then asks each worker to restart: a worker under a nanny exits and its nanny starts a
fresh process, which registers anew; a worker without one frees the released keys (its data is
dropped) and stays.  *Retire* copies the keys held only by the retiring workers to the others
(``admin-gather`` on the receiving worker), then closes the retiring workers.

*Metadata* is a nested dict of msgpack data.  ``run_on_scheduler`` is the one request whose
payload the scheduler unpickles: the function to run, which only an authenticated client can send.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import msgpack  # type: ignore[import-untyped]

from ..calls import call_function
from ..protocol import messages as m
from ..rpc import ConnectionPool
from ..versions import get_versions
from . import events as ev
from .primitives import transit_holder
from .tasks import key_prefix

if TYPE_CHECKING:
    from ..comm import Comm
    from .server import Scheduler

logger = logging.getLogger("futurelab.scheduler")

#: how often conditions on the set of workers are checked while waiting for them
POLL = 0.02
#: seconds a terminating scheduler waits for its workers to close
TERMINATE_GRACE = 5.0


def install(scheduler: Scheduler) -> AdminExtension:
    """Register the administration handlers on ``scheduler``.

    >>> # install(Scheduler())  # done by Scheduler.__init__
    """
    return AdminExtension(scheduler)


def dataset_holder(name: Any) -> str:
    """The pseudo-client pinning the futures of dataset ``name``."""
    return f"published-{name}"


class AdminExtension:
    """Datasets, metadata and the cluster-wide operations of ``Client``'s admin methods."""

    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler
        #: name → {"data": pickled bytes, "keys": [key, ...]}
        self.datasets: dict[Any, dict[str, Any]] = {}
        #: Client.set_metadata's nested dict
        self.metadata: dict[Any, Any] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        scheduler.extensions["admin"] = self
        scheduler.add_handlers(handlers={
            m.AdminWaitForWorkers: self.wait_for_workers,
            m.AdminRunOnScheduler: self.run_on_scheduler,
            m.AdminNBytes: lambda msg, c: self.nbytes(msg.get("keys"),
                                                      bool(msg.get("summary"))),
            m.AdminProcessing: lambda msg, c: self.processing(msg.get("workers")),
            m.AdminVersions: lambda msg, c: get_versions(msg.get("packages") or ()),
            m.AdminSetMetadata: lambda msg, c: self.set_metadata(msg["keys"], msg["value"]),
            m.AdminGetMetadata: lambda msg, c: self.get_metadata(msg["keys"]),
            m.AdminRetireWorkers: self.retire_workers,
            m.AdminTerminate: self.terminate,
            m.DatasetGet: lambda msg, c: self.get_datasets(msg["names"], msg["client"]),
            m.DatasetList: lambda msg, c: sorted(self.datasets, key=str),
            m.DatasetDelete: lambda msg, c: self.unpublish(msg["names"]),
        }, client_stream={
            m.AdminPublish: self._stream_request(self.publish),
            m.AdminRestart: self._stream_request(self.restart),
            m.AdminCancel: lambda client, msg: None,  # a caller gave up: nothing to undo
        })

    # ------------------------------------------------------------------ requests on the stream
    def _stream_request(self, fn: Callable[..., Awaitable[Any]]
                        ) -> Callable[[str, dict[str, Any]], None]:
        """A stream handler running ``fn(client, msg)`` and answering ``primitive-reply``."""
        def handle(client: str, msg: dict[str, Any]) -> None:
            async def answer() -> None:
                rid = msg.get("rid")
                try:
                    payload = {"ok": True, "value": await fn(client, msg)}
                except Exception as e:  # noqa: BLE001 - the caller gets the error
                    etype = type(e).__name__
                    if etype not in ("ValueError", "TypeError", "KeyError", "TimeoutError"):
                        logger.exception("%s from %s failed", msg.get("op"), client)
                        etype = "RuntimeError"
                    payload = {"error": e.args[0] if len(e.args) == 1 else str(e),
                               "etype": etype}
                self.scheduler.send_to_client(client, {"op": "primitive-reply", "rid": rid,
                                                       **payload})
            self._spawn(answer())
        return handle

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ workers
    async def wait_for_workers(self, msg: dict[str, Any], comm: Comm) -> dict[str, Any]:
        """Answer once ``msg["n"]`` workers are connected, or at ``msg["timeout"]``."""
        n, timeout = int(msg["n"]), msg.get("timeout")
        deadline = None if timeout is None else time.monotonic() + float(timeout)
        workers = self.scheduler.state.workers
        while len(workers) < n and not comm.closed():
            if deadline is not None and time.monotonic() >= deadline:
                break
            await asyncio.sleep(POLL)
        return {"status": "OK", "n": len(workers)}

    async def run_on_scheduler(self, msg: dict[str, Any], comm: Comm) -> dict[str, Any]:
        """Call a client's function here, with ``dask_scheduler=`` this Scheduler."""
        return await call_function(msg, {"dask_scheduler": self.scheduler},
                                   serialize=not comm.peer_address.startswith("inproc://"),
                                   where="the scheduler")

    def nbytes(self, keys: list[str] | None, summary: bool) -> dict[str, int]:
        """Bytes of each key in memory (summed by key prefix with ``summary``)."""
        tasks = self.scheduler.state.tasks
        chosen = [tasks[k] for k in keys if k in tasks] if keys is not None \
            else list(tasks.values())
        sizes = {ts.key: ts.nbytes for ts in chosen if ts.state == "memory"}
        if not summary:
            return sizes
        out: dict[str, int] = {}
        for key, n in sizes.items():
            prefix = key_prefix(key)
            out[prefix] = out.get(prefix, 0) + n
        return out

    def processing(self, workers: list[str] | None) -> dict[str, list[str]]:
        """The keys each worker is computing (unknown workers: none)."""
        ws_all = self.scheduler.state.workers
        addrs = workers if workers is not None else list(ws_all)
        return {a: sorted(ts.key for ts in ws_all[a].processing) if a in ws_all else []
                for a in addrs}

    async def _ask_workers(self, addresses: list[str], msg: dict[str, Any]) -> list[Any]:
        """Send ``msg`` to each worker; the replies, or the exceptions, in order."""
        pool = ConnectionPool(security=self.scheduler.security)
        try:
            return await asyncio.gather(*(pool.request(a, msg) for a in addresses),
                                        return_exceptions=True)
        finally:
            pool.close()

    async def restart(self, client: str, msg: dict[str, Any]) -> None:
        """Cancel every task, forget the datasets, and restart the workers (see module doc).

        Raises:
            TimeoutError: when the restarted workers are not all back within ``timeout``.
        """
        sched = self.scheduler
        state = sched.state
        timeout = float(msg.get("timeout") or 60.0)
        deadline = time.monotonic() + timeout
        n_workers = len(state.workers)
        known = list(state.tasks)
        wanted = [ts.key for ts in state.tasks.values() if ts.who_wants]
        if wanted:
            sched.stimulus(ev.CancelKeys(client, wanted, force=True, stimulus_id="restart"))
        self.unpublish(list(self.datasets))
        old = list(sched.worker_streams)
        for address in old:
            sched._retiring[address] = True  # leaving on purpose
        replies = await self._ask_workers(old, {"op": "admin-restart", "keys": known})
        restarting = []
        for address, reply in zip(old, replies):
            if isinstance(reply, dict) and reply.get("restarting"):
                restarting.append(address)
            elif not isinstance(reply, dict):
                logger.warning("restart: worker %s did not answer: %s", address, reply)
                sched._retiring.pop(address, None)
            else:
                sched._retiring.pop(address, None)
        wait = bool(msg.get("wait_for_workers", True))
        while (any(a in state.workers for a in restarting)
               or (wait and len(state.workers) < n_workers)):
            if time.monotonic() >= deadline:
                back = len([a for a in state.workers if a not in restarting])
                raise TimeoutError(
                    f"Waited for {n_workers} worker(s) to come back after restarting, but "
                    f"after {timeout} s only {back} have. Consider a longer timeout, or "
                    f"`wait_for_workers=False`.")
            await asyncio.sleep(POLL)

    async def retire_workers(self, msg: dict[str, Any], comm: Comm) -> dict[str, Any]:
        """Move data off some workers, then close them; answer ``{address: info}`` retired.

        ``workers`` (addresses) or ``names``; neither: the idle workers, keeping one where data
        would have no other home.  A worker holding data that cannot move (no other worker
        left, or the copy failed) stays, and is not in the answer.
        """
        sched = self.scheduler
        state = sched.state
        workers, names = msg.get("workers"), msg.get("names")
        if workers is not None:
            chosen = [a for a in dict.fromkeys(workers) if a in state.workers]
        elif names is not None:
            wanted = {str(n) for n in names}
            chosen = [a for a, ws in state.workers.items() if str(ws.name) in wanted]
        else:
            chosen = [a for a, ws in state.workers.items() if not ws.processing]
            if len(chosen) == len(state.workers) and any(state.workers[a].has_what
                                                         for a in chosen):
                keep = max(chosen, key=lambda a: state.workers[a].nbytes)
                chosen.remove(keep)
        retiring = set(chosen)
        stay = [a for a in state.workers if a not in retiring]
        plan: dict[str, dict[str, list[str]]] = {}
        planned: set[str] = set()
        stuck: set[str] = set()
        load = {a: state.workers[a].nbytes for a in stay}
        for address in chosen:
            for ts in state.workers[address].has_what:
                if ts.actor or not ts.who_has <= retiring or ts.key in planned:
                    continue
                planned.add(ts.key)
                if not load:
                    stuck.update(ts.who_has)
                    continue
                target = min(load, key=load.__getitem__)
                load[target] += ts.nbytes
                plan.setdefault(target, {})[ts.key] = sorted(ts.who_has)
        targets = list(plan)
        replies = await asyncio.gather(*(self._gather_into(t, plan[t]) for t in targets))
        for target, copied in zip(targets, replies):
            for key, holders in plan[target].items():
                if key not in copied:
                    stuck.update(holders)
        info = sched.identity()["workers"]
        done = {a: info[a] for a in chosen if a not in stuck and a in info}
        if msg.get("close_workers", True):
            for address in done:
                sched._retiring[address] = True
                bs = sched.worker_streams.get(address)
                if bs is not None:
                    bs.send({"op": "close"})
            deadline = time.monotonic() + float(msg.get("timeout") or 10.0)
            while any(a in state.workers for a in done) and time.monotonic() < deadline:
                await asyncio.sleep(POLL)
        return {"status": "OK", "workers": done}

    async def _gather_into(self, target: str, who_has: dict[str, list[str]]) -> set[str]:
        """Have ``target`` copy ``who_has`` keys from their holders; the keys it now holds."""
        [reply] = await self._ask_workers([target], {"op": "admin-gather", "who_has": who_has})
        if not isinstance(reply, dict):
            logger.warning("retire_workers: worker %s could not take data: %s", target, reply)
            return set()
        held = [k for k in reply.get("nbytes", {}) if k in who_has]
        self.scheduler.stimulus(ev.AddKeys(target, held, stimulus_id="retire-workers"))
        state = self.scheduler.state
        return {k for k in held if k in state.tasks and target in state.tasks[k].who_has}

    async def terminate(self, msg: dict[str, Any], comm: Comm) -> None:
        """Answer, close every worker, then close the scheduler (``Client.shutdown``)."""
        sched = self.scheduler
        msg["reply"] = False  # answered here, before the listener closes
        await comm.write({"status": "OK"})
        for address, bs in list(sched.worker_streams.items()):
            sched._retiring[address] = True
            bs.send({"op": "close"})
        deadline = time.monotonic() + TERMINATE_GRACE
        while sched.worker_streams and time.monotonic() < deadline:
            await asyncio.sleep(POLL)
        logger.info("scheduler %s terminating on a client's request", sched.address)
        await sched.close()

    # ------------------------------------------------------------------ datasets
    async def publish(self, client: str, msg: dict[str, Any]) -> None:
        """``admin-publish``: store datasets ``names`` (pickled ``data``, their ``keys``).

        Raises:
            KeyError: a name is taken and ``override`` is false (nothing is published then).
            TypeError: a name is not a string or a number.
        """
        names, data, keys = list(msg["names"]), list(msg["data"]), list(msg["keys"])
        if not len(names) == len(data) == len(keys):
            raise ValueError("publish needs as many names, data and key lists")
        for name in names:
            if not isinstance(name, (str, int, float)) or isinstance(name, bool):
                raise TypeError(f"a dataset name must be a string or a number, not {name!r}")
            if name in self.datasets and not msg.get("override"):
                raise KeyError(f"Dataset {name} already exists")
        for name, blob, ks in zip(names, data, keys):
            self.unpublish([name])
            self.datasets[name] = {"data": blob, "keys": list(ks)}
            if ks:
                self.scheduler.stimulus(ev.ClientDesiresKeys(dataset_holder(name), list(ks),
                                                             stimulus_id="publish"))

    def get_datasets(self, names: list[Any], client: str) -> dict[str, Any]:
        """``dataset-get``: each dataset's pickled data (None when unknown).

        Its keys stay pinned for ``client`` until the client's own claim arrives.
        """
        sched = self.scheduler
        out: list[dict[str, Any] | None] = []
        for name in names:
            found = self.datasets.get(name) if isinstance(name, (str, int, float)) else None
            if found is not None and found["keys"] and client in sched.client_streams:
                sched.stimulus(ev.ClientDesiresKeys(transit_holder(client), found["keys"],
                                                    stimulus_id="get-dataset"))
            out.append(None if found is None else {"data": found["data"],
                                                   "keys": found["keys"]})
        return {"status": "OK", "datasets": out}

    def unpublish(self, names: list[Any]) -> dict[str, Any]:
        """``dataset-delete``: forget these datasets and let go of their keys."""
        for name in names:
            if isinstance(name, (str, int, float)) and self.datasets.pop(name, None) is not None:
                self.scheduler.stimulus(ev.RemoveClient(dataset_holder(name),
                                                        stimulus_id="unpublish"))
        return {"status": "OK"}

    # ------------------------------------------------------------------ metadata
    def set_metadata(self, keys: list[Any], value: bytes) -> dict[str, Any]:
        """Store ``value`` (msgpack bytes) at the nested path ``keys``, making dicts on the way."""
        if not isinstance(keys, list) or not keys:
            raise ValueError("set_metadata needs a key or a non-empty list of keys")
        node = self.metadata
        for key in keys[:-1]:
            if not isinstance(node.get(key), dict):
                node[key] = {}
            node = node[key]
        node[keys[-1]] = msgpack.unpackb(value, raw=False, strict_map_key=False)
        return {"status": "OK"}

    def get_metadata(self, keys: list[Any]) -> dict[str, Any]:
        """The msgpack bytes at the nested path ``keys``, or ``found: False``."""
        node: Any = self.metadata
        for key in keys:
            if not isinstance(node, dict) or key not in node:
                return {"status": "OK", "found": False}
            node = node[key]
        return {"status": "OK", "found": True, "value": msgpack.packb(node, use_bin_type=True)}
