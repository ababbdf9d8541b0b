"""The worker's state machine: events in, instructions out — pure Python, no I/O.

Theory of operation
-------------------
A worker holds two kinds of keys: tasks the scheduler asked it to *compute*, and *dependencies*
it must fetch from peers before those tasks can run.  Compute tasks go::

    waiting (for dependencies) ──► ready ──► executing ──► memory
                                               │   ╲
                                               │    ╲──► error
                                               ▼
                                          long-running (seceded; does not hold a thread slot)

and dependencies go ``fetch ──► flight ──► memory``.  At most ``nthreads`` tasks execute at once;
a task that secedes gives its slot back, and one that asks to rejoin waits until a slot is free
(rejoiners go before new tasks).

:meth:`WorkerState.handle` takes one event (a dataclass below) and returns a list of
instructions for the I/O shell: :class:`Execute`, :class:`GatherDep`, :class:`Send` (to the
scheduler), :class:`Resume` (a seceded thread may continue) and :class:`Drop` (delete data).
The shell owns the data itself; this machine only tracks which keys are where.
"""
from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..protocol import messages as m
from ..protocol.story import Transition

#: at most this many peers are fetched from at the same time
MAX_CONCURRENT_FETCHES = 8


# --------------------------------------------------------------------------- events
@dataclass
class WorkerEvent:
    stimulus_id: str = field(default="", kw_only=True)


@dataclass
class ComputeTask(WorkerEvent):
    key: str
    run_spec: dict[str, Any]
    priority: tuple[int, ...] = ()
    who_has: dict[str, list[str]] = field(default_factory=dict)
    nbytes: dict[str, int] = field(default_factory=dict)
    actor: bool = False


@dataclass
class FreeKeys(WorkerEvent):
    keys: list[str]


@dataclass
class ExecuteSuccess(WorkerEvent):
    key: str
    nbytes: int = 0
    type: str = ""
    start: float = 0.0
    stop: float = 0.0
    #: a small result to ship inline with the report, or None
    inline: Any = None
    #: which of the worker's threads ran it (a small index, for the task stream)
    thread: int = 0
    #: the result's type (an Opaque), for Future.type on the client
    typeobj: Any = None


@dataclass
class ExecuteFailure(WorkerEvent):
    key: str
    exception: Any = None
    traceback: Any = None
    text: str = ""
    start: float = 0.0
    stop: float = 0.0
    thread: int = 0


@dataclass
class GatherDepDone(WorkerEvent):
    worker: str
    #: keys now stored by the shell, with their sizes
    fetched: dict[str, int]
    #: keys the peer did not have
    missing: list[str]


@dataclass
class GatherDepFailed(WorkerEvent):
    worker: str
    keys: list[str]


@dataclass
class UpdateData(WorkerEvent):
    """Data was put here directly (scatter)."""

    nbytes: dict[str, int]


@dataclass
class SetPaused(WorkerEvent):
    """Memory is short (or fine again): start no new tasks while paused."""

    paused: bool


@dataclass
class StealRequest(WorkerEvent):
    """The scheduler wants this task back if it has not started."""

    key: str


@dataclass
class PeerGone(WorkerEvent):
    """The scheduler declared ``worker`` gone: it is nobody's source of data any more."""

    worker: str


@dataclass
class Secede(WorkerEvent):
    key: str


@dataclass
class RejoinRequest(WorkerEvent):
    key: str


# --------------------------------------------------------------------------- from the wire
FROM_SCHEDULER: dict[type, Callable[[Any], WorkerEvent]] = {
    m.ComputeTask: lambda msg: ComputeTask(
        msg["key"], {"func": msg["func"], "args": msg["args"], "kwargs": msg["kwargs"]},
        tuple(msg["priority"]), msg.get("who_has", {}), msg.get("nbytes", {}),
        bool(msg.get("actor")), stimulus_id="compute-task"),
    m.FreeKeys: lambda msg: FreeKeys(msg["keys"], stimulus_id="free-keys"),
    m.StealRequest: lambda msg: StealRequest(msg["key"], stimulus_id="steal"),
    m.WorkerGone: lambda msg: PeerGone(msg["address"], stimulus_id="worker-gone"),
}
"""The event of each message from the scheduler that feeds the state machine."""


# --------------------------------------------------------------------------- instructions
@dataclass
class Instruction:
    pass


@dataclass
class Execute(Instruction):
    key: str


@dataclass
class GatherDep(Instruction):
    worker: str
    keys: list[str]


@dataclass
class Send(Instruction):
    msg: dict[str, Any]


@dataclass
class Resume(Instruction):
    """A seceded task asked to rejoin and now holds a thread slot again."""

    key: str


@dataclass
class Drop(Instruction):
    keys: list[str]


# --------------------------------------------------------------------------- state
class WTask:
    """One key on this worker."""

    __slots__ = ("key", "state", "run_spec", "priority", "dependencies", "dependents",
                 "waiting_for", "who_has", "nbytes", "actor", "compute", "cancelled")

    def __init__(self, key: str, *, compute: bool) -> None:
        self.key = key
        self.state = "released"
        self.run_spec: dict[str, Any] | None = None
        self.priority: tuple[int, ...] = ()
        self.dependencies: set[WTask] = set()
        self.dependents: set[WTask] = set()
        #: dependencies not yet in memory here
        self.waiting_for: set[WTask] = set()
        #: peers holding this key (for fetching)
        self.who_has: set[str] = set()
        self.nbytes = 0
        self.actor = False
        #: True for a task to compute here, False for a dependency to fetch
        self.compute = compute
        #: freed by the scheduler while it was running or in flight: drop the outcome
        self.cancelled = False

    def __lt__(self, other: WTask) -> bool:
        return self.priority < other.priority

    def __repr__(self) -> str:
        return f"<WTask {self.key!r} {self.state}>"


class WorkerState:
    """Which keys this worker computes, fetches and holds, and what to do next."""

    def __init__(self, address: str, nthreads: int, *, log_size: int = 10_000) -> None:
        self.address = address
        self.nthreads = nthreads
        self.tasks: dict[str, WTask] = {}
        self.ready: list[WTask] = []
        #: tasks holding a thread slot
        self.executing: set[WTask] = set()
        self.long_running: set[WTask] = set()
        #: seceded tasks waiting for a slot to rejoin, first come first served
        self.rejoining: deque[WTask] = deque()
        #: peers we are fetching from now
        self.in_flight_workers: dict[str, set[WTask]] = {}
        #: dependencies waiting to be fetched
        self.fetching: set[WTask] = set()
        #: no new tasks start while paused (memory is short); running ones go on
        self.paused = False
        self.log: deque[Transition] = deque(maxlen=log_size)
        self._stimulus = ""
        self._now = 0.0

    # ------------------------------------------------------------------ entry point
    def handle(self, ev: WorkerEvent, now: float = 0.0) -> list[Instruction]:
        """Apply one event (at wall-clock time ``now``); return what the shell must do, in
        order."""
        self._stimulus = ev.stimulus_id or type(ev).__name__
        self._now = now
        out: list[Instruction] = []
        method = getattr(self, "_on_" + type(ev).__name__)
        method(ev, out)
        self._ensure_computing(out)
        self._ensure_communicating(out)
        return out

    def story(self, key: str) -> list[Transition]:
        """Logged transitions of ``key``, oldest first:
        ``[(key, start, finish, stimulus_id, time), …]``."""
        return [t for t in self.log if t[0] == key]

    def _set(self, ts: WTask, state: str) -> None:
        self.log.append(Transition(ts.key, ts.state, state, self._stimulus, self._now))
        if ts.state == "fetch":
            self.fetching.discard(ts)
        elif state == "fetch":
            self.fetching.add(ts)
        ts.state = state

    # ------------------------------------------------------------------ events
    def _on_ComputeTask(self, ev: ComputeTask, out: list[Instruction]) -> None:
        ts = self.tasks.get(ev.key)
        if ts is not None and ts.state == "memory":
            ts.compute = True
            ts.cancelled = False
            out.append(Send({"op": "task-finished", "key": ts.key, "nbytes": ts.nbytes,
                             "type": "", "start": 0.0, "stop": 0.0}))
            return
        if ts is not None and (ts.state in ("executing", "long-running")
                               or (ts.compute and ts.state in ("waiting", "ready"))):
            # asked again while already under way (perhaps freed meanwhile): keep going
            ts.compute = True
            ts.cancelled = False
            ts.run_spec = ev.run_spec
            return
        unreachable = [k for k, holders in ev.who_has.items()
                       if k not in self.tasks and not set(holders) - {self.address}]
        if unreachable:
            # told to fetch from ourselves what we do not have: give the task back
            for k in unreachable:
                out.append(Send({"op": "missing-data", "key": k, "holder": self.address}))
            out.append(Send({"op": "reschedule", "key": ev.key}))
            return
        if ts is None:
            ts = self.tasks[ev.key] = WTask(ev.key, compute=True)
        elif ts.state == "flight":
            # its data was lost on the way: compute it here instead (a late copy is dropped)
            for flight in self.in_flight_workers.values():
                flight.discard(ts)
        ts.compute = True
        ts.cancelled = False
        ts.run_spec = ev.run_spec
        ts.priority = tuple(ev.priority)
        ts.actor = ev.actor
        ts.waiting_for = set()
        for dep_key, holders in ev.who_has.items():
            dep = self.tasks.get(dep_key)
            if dep is None:
                dep = self.tasks[dep_key] = WTask(dep_key, compute=False)
                dep.nbytes = ev.nbytes.get(dep_key, 0)
            dep.who_has.update(h for h in holders if h != self.address)
            ts.dependencies.add(dep)
            dep.dependents.add(ts)
            if dep.state != "memory":
                ts.waiting_for.add(dep)
                if dep.state == "released":
                    self._set(dep, "fetch")
        if ts.waiting_for:
            self._set(ts, "waiting")
        else:
            self._make_ready(ts)

    def _make_ready(self, ts: WTask) -> None:
        self._set(ts, "ready")
        heapq.heappush(self.ready, ts)

    def _on_FreeKeys(self, ev: FreeKeys, out: list[Instruction]) -> None:
        drop: list[str] = []
        for key in ev.keys:
            ts = self.tasks.get(key)
            if ts is None:
                continue
            if ts.compute:
                ts.compute = False
                ts.run_spec = None
            if any(d.compute for d in ts.dependents):
                ts.cancelled = True  # a local task still needs it as input: drop it after
                continue
            self._release(ts, drop)
        if drop:
            out.append(Drop(drop))

    def _release(self, ts: WTask, drop: list[str]) -> None:
        """Forget ``ts`` (or mark it cancelled if something is running with it)."""
        if ts.state in ("executing", "long-running", "flight"):
            ts.cancelled = True
            return
        if ts.state == "memory":
            drop.append(ts.key)
        self._set(ts, "released")
        del self.tasks[ts.key]
        for dep in ts.dependencies:
            dep.dependents.discard(ts)
            if not dep.dependents and not dep.compute and dep.state in ("fetch", "released"):
                self._release(dep, drop)
        ts.dependencies = set()
        ts.waiting_for = set()

    def _on_ExecuteSuccess(self, ev: ExecuteSuccess, out: list[Instruction]) -> None:
        ts = self.tasks.get(ev.key)
        if ts is None or ts.state not in ("executing", "long-running"):
            return
        self._free_slot(ts)
        ts.nbytes = ev.nbytes
        if ts.cancelled:
            ts.cancelled = False
            self._set(ts, "memory")
            drop: list[str] = []
            self._release(ts, drop)
            out.append(Drop(drop))
            return
        self._set(ts, "memory")
        self._wake_dependents(ts)
        msg: dict[str, Any] = {"op": "task-finished", "key": ts.key, "nbytes": ev.nbytes,
                               "type": ev.type, "start": ev.start, "stop": ev.stop,
                               "thread": ev.thread}
        if ev.inline is not None:
            msg["data"] = ev.inline
        if ev.typeobj is not None:
            msg["typeobj"] = ev.typeobj
        out.append(Send(msg))
        self._inputs_done(ts, out)

    def _on_ExecuteFailure(self, ev: ExecuteFailure, out: list[Instruction]) -> None:
        ts = self.tasks.get(ev.key)
        if ts is None or ts.state not in ("executing", "long-running"):
            return
        self._free_slot(ts)
        if ts.cancelled:
            ts.cancelled = False
            self._set(ts, "error")
            self._release(ts, [])
            return
        self._set(ts, "error")
        out.append(Send({"op": "task-erred", "key": ts.key, "exception": ev.exception,
                         "traceback": ev.traceback, "text": ev.text, "start": ev.start,
                         "stop": ev.stop, "thread": ev.thread}))
        self._inputs_done(ts, out)

    def _inputs_done(self, ts: WTask, out: list[Instruction]) -> None:
        """``ts`` ran: fetched inputs nothing else needs are dropped (the scheduler frees them)."""
        drop: list[str] = []
        for dep in list(ts.dependencies):
            dep.dependents.discard(ts)
            if dep.cancelled and not dep.dependents and dep.state == "memory":
                dep.cancelled = False
                self._release(dep, drop)
        ts.dependencies = set()
        if drop:
            out.append(Drop(drop))

    def _free_slot(self, ts: WTask) -> None:
        self.executing.discard(ts)
        self.long_running.discard(ts)
        if ts in self.rejoining:
            self.rejoining.remove(ts)

    def _on_GatherDepDone(self, ev: GatherDepDone, out: list[Instruction]) -> None:
        flight = self.in_flight_workers.pop(ev.worker, set())
        added: list[str] = []
        drop: list[str] = []
        for key, nbytes in ev.fetched.items():
            ts = self.tasks.get(key)
            if ts is None:
                drop.append(key)
                continue
            if ts.state != "flight":
                if ts.state != "memory":  # e.g. scattered here meanwhile: keep that copy
                    drop.append(key)
                continue
            ts.nbytes = nbytes
            self._set(ts, "memory")
            if not ts.dependents:
                ts.cancelled = False
                self._release(ts, drop)
                continue
            added.append(key)
            self._wake_dependents(ts)
        if added:
            out.append(Send({"op": "add-keys", "keys": added}))
        if drop:
            out.append(Drop(drop))
        self._lost(ev.worker, [k for k in ev.missing if k in self.tasks], out, tell=True)
        # anything asked of this peer and neither fetched nor missing goes back to fetch
        for ts in flight:
            if ts.state == "flight":
                self._set(ts, "fetch")

    def _wake_dependents(self, ts: WTask) -> None:
        """``ts`` is in memory here: local tasks waiting for it may be ready now."""
        for dependent in ts.dependents:
            dependent.waiting_for.discard(ts)
            if dependent.state == "waiting" and not dependent.waiting_for:
                self._make_ready(dependent)

    def _on_PeerGone(self, ev: PeerGone, out: list[Instruction]) -> None:
        # keys in flight from it fail with their fetch (its connections were aborted)
        keys = [k for k, ts in self.tasks.items()
                if ts.state == "fetch" and ev.worker in ts.who_has]
        self._lost(ev.worker, keys, out, tell=False)
        for ts in self.tasks.values():
            ts.who_has.discard(ev.worker)

    def _on_GatherDepFailed(self, ev: GatherDepFailed, out: list[Instruction]) -> None:
        self.in_flight_workers.pop(ev.worker, None)
        self._lost(ev.worker, ev.keys, out, tell=True)

    def _lost(self, worker: str, keys: list[str], out: list[Instruction], *, tell: bool) -> None:
        for key in keys:
            ts = self.tasks.get(key)
            if ts is None or ts.state not in ("flight", "fetch"):
                continue
            ts.who_has.discard(worker)
            if tell:
                out.append(Send({"op": "missing-data", "key": key, "holder": worker}))
            if ts.cancelled or not ts.dependents:
                self._set(ts, "fetch")
                self._release(ts, [])
            elif ts.who_has:
                self._set(ts, "fetch")
            else:
                # nobody left to fetch from: give the dependents back to the scheduler
                self._set(ts, "fetch")
                drop: list[str] = []
                for dependent in list(ts.dependents):
                    out.append(Send({"op": "reschedule", "key": dependent.key}))
                    dependent.compute = False
                    self._release(dependent, drop)
                if drop:
                    out.append(Drop(drop))

    def _on_UpdateData(self, ev: UpdateData, out: list[Instruction]) -> None:
        for key, nbytes in ev.nbytes.items():
            ts = self.tasks.get(key)
            if ts is None:
                ts = self.tasks[key] = WTask(key, compute=False)
            ts.nbytes = nbytes
            for flight in self.in_flight_workers.values():
                flight.discard(ts)
            if ts.state != "memory":
                self._set(ts, "memory")
            self._wake_dependents(ts)

    def _on_SetPaused(self, ev: SetPaused, out: list[Instruction]) -> None:
        self.paused = ev.paused

    def _on_StealRequest(self, ev: StealRequest, out: list[Instruction]) -> None:
        ts = self.tasks.get(ev.key)
        ok = ts is not None and ts.compute and ts.state in ("ready", "waiting")
        if ok:
            assert ts is not None
            ts.compute = False
            ts.run_spec = None
            drop: list[str] = []
            self._release(ts, drop)
            if drop:
                out.append(Drop(drop))
        out.append(Send({"op": "steal-response", "key": ev.key, "ok": ok}))

    def _on_Secede(self, ev: Secede, out: list[Instruction]) -> None:
        ts = self.tasks.get(ev.key)
        if ts is None or ts not in self.executing:
            return
        self.executing.discard(ts)
        self.long_running.add(ts)
        self._set(ts, "long-running")
        out.append(Send({"op": "long-running", "key": ts.key}))

    def _on_RejoinRequest(self, ev: RejoinRequest, out: list[Instruction]) -> None:
        ts = self.tasks.get(ev.key)
        if ts is None or ts not in self.long_running:
            out.append(Resume(ev.key))  # not seceded (or already gone): nothing to wait for
            return
        self.rejoining.append(ts)

    # ------------------------------------------------------------------ scheduling
    def _ensure_computing(self, out: list[Instruction]) -> None:
        if self.paused:
            return
        while len(self.executing) < self.nthreads and self.rejoining:
            ts = self.rejoining.popleft()
            self.long_running.discard(ts)
            self.executing.add(ts)
            self._set(ts, "executing")
            out.append(Resume(ts.key))
        while len(self.executing) < self.nthreads and self.ready:
            ts = heapq.heappop(self.ready)
            if ts.state != "ready" or self.tasks.get(ts.key) is not ts:
                continue
            self.executing.add(ts)
            self._set(ts, "executing")
            out.append(Execute(ts.key))

    def _ensure_communicating(self, out: list[Instruction]) -> None:
        if len(self.in_flight_workers) >= MAX_CONCURRENT_FETCHES:
            return
        by_worker: dict[str, list[WTask]] = {}
        for ts in sorted(self.fetching, key=lambda t: t.key):
            if not ts.who_has:
                continue
            free = [w for w in ts.who_has if w not in self.in_flight_workers]
            if not free:
                continue
            # prefer a peer we are already asking for something else in this round
            worker = next((w for w in free if w in by_worker), min(free))
            by_worker.setdefault(worker, []).append(ts)
        for worker, tss in by_worker.items():
            if len(self.in_flight_workers) >= MAX_CONCURRENT_FETCHES:
                break
            for ts in tss:
                self._set(ts, "flight")
            self.in_flight_workers[worker] = set(tss)
            out.append(GatherDep(worker, [ts.key for ts in tss]))

    # ------------------------------------------------------------------ invariants
    def validate(self) -> None:
        """Check the invariants; raises AssertionError naming the first one broken."""
        assert len(self.executing) <= self.nthreads, self.executing
        for key, ts in self.tasks.items():
            assert ts.key == key
            if ts.state == "waiting":
                assert ts.waiting_for, ts
            if ts.state == "executing":
                assert ts in self.executing, ts
            for dep in ts.waiting_for:  # fetched from a peer, or computed here
                assert dep.state in ("fetch", "flight") or dep.compute, (ts, dep)
            for dep in ts.dependencies:
                assert ts in dep.dependents, (ts, dep)
            if ts.state == "flight":
                assert any(ts in s for s in self.in_flight_workers.values()), ts
