"""The scheduler's task state machine: pure Python, no I/O, no clock.

Theory of operation
-------------------
The scheduler knows every task a client asked for (and their dependencies), who wants each task
(clients, plus pseudo-clients such as ``fire-and-forget`` or a Queue holding a future), which
workers hold each result, and which worker is computing each task.  A task is in one of these
states::

    released ──► waiting ──► queued ──► processing ──► memory
        ▲            │          │            │   ╲
        └────────────┴──────────┴────────────┘    ╲──► erred
    (anything that nobody needs any more)  ──►  forgotten

``SchedulerState.handle(event)`` reacts to one stimulus (a dataclass from this module) and returns
the messages the I/O shell must send, as an :class:`Outbox` of per-client and per-worker lists.
Inside, a stimulus produces *recommendations* ``{key: new_state}``; each is carried out by the
transition function registered in ``TRANSITIONS[(start, finish)]``, which may recommend more.
Every transition is logged with the stimulus that caused it; :meth:`SchedulerState.story` returns
a key's history and :meth:`SchedulerState.validate` checks the invariants (the tests call it after
every scenario).

Worker choice and the queue of ready tasks live in :mod:`futurelab.scheduler.policy`.
"""
from __future__ import annotations

import heapq
import itertools
import sys
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from .._memory import Interned, Peak
from ..errors import InvalidTransition
from ..protocol.story import Transition as Transition
from . import events, policy, stealing, transitions
from .events import (
    AddKeys,
    AddWorker,
    CancelKeys,
    ClientDesiresKeys,
    ClientReleasesKeys,
    Event,
    LongRunning,
    MissingData,
    RemoveClient,
    RemoveWorker,
    Reschedule,
    RetryKeys,
    ScatterData,
    StealResponse,
    TaskErred,
    TaskFinished,
    TaskSpec,
    UpdateGraph,
)
from .invariants import validate
from .tasks import EMPTY
from .tasks import Msg as Msg
from .tasks import Outbox as Outbox
from .tasks import TaskState as TaskState
from .tasks import WorkerInfo as WorkerInfo
from .tasks import key_prefix as key_prefix
from .transitions import TRANSITIONS

ALLOWED_FAILURES = 3
#: clients that are not real clients: they pin keys for some other holder
FIRE_AND_FORGET = events.FIRE_AND_FORGET

Recs = dict[str, str]


class SchedulerState:
    """The pure scheduler: tasks, workers, clients and the transitions between task states."""

    def __init__(self, *, allowed_failures: int = ALLOWED_FAILURES, log_size: int = 20_000,
                 validate: bool = False) -> None:
        self.tasks: dict[str, TaskState] = {}
        self.workers: dict[str, WorkerInfo] = {}
        #: client id → keys it wants
        self.clients: dict[str, set[TaskState]] = {FIRE_AND_FORGET: set()}
        #: ready tasks with no free worker, as a heap of (priority, task): the priorities are
        #: tuples, so the heap compares them in C (entries of tasks no longer queued are stale
        #: and skipped when popped)
        self.queued: list[tuple[tuple[int, ...], TaskState]] = []
        #: ready tasks restricted to workers that are not there
        self.unrunnable: set[TaskState] = set()
        self.allowed_failures = allowed_failures
        #: steal requests sent and not yet answered
        self.steals_in_flight = 0
        self.transition_log: deque[Transition] = deque(maxlen=log_size)
        #: mean duration (s) per task prefix, for the worker-saturation policy
        self.durations: dict[str, float] = {}
        self.validate_each = validate
        self._generation = itertools.count()
        self._size = Peak()
        #: times the containers were rebuilt smaller after a mass release (see flush)
        self.compactions = 0
        #: interned holder sets (see :meth:`_shared`)
        self._frozen: Interned[frozenset[str]] = Interned()
        self._out = Outbox()
        self._stimulus = ""
        self._now = 0.0
        #: observers of transitions: f(key, start, finish, ts) — the event stream hooks here
        self.plugins: list[Callable[[TaskState, str, str], None]] = []
        self._handlers: dict[type, Callable[[Any], Recs]] = {
            UpdateGraph: self._on_update_graph,
            ClientReleasesKeys: self._on_client_releases,
            ClientDesiresKeys: self._on_client_desires,
            CancelKeys: self._on_cancel,
            RetryKeys: self._on_retry,
            RemoveClient: self._on_remove_client,
            AddWorker: self._on_add_worker,
            RemoveWorker: self._on_remove_worker,
            TaskFinished: self._on_task_finished,
            TaskErred: self._on_task_erred,
            AddKeys: self._on_add_keys,
            ScatterData: self._on_scatter,
            MissingData: self._on_missing_data,
            Reschedule: self._on_reschedule,
            LongRunning: self._on_long_running,
            StealResponse: lambda ev: stealing.on_steal_response(self, ev),
        }

    # ------------------------------------------------------------------ entry point
    def handle(self, event: Event, now: float = 0.0) -> Outbox:
        """Apply one stimulus and return the messages to send (:meth:`apply` + :meth:`flush`).

        Raises:
            InvalidTransition: if the stimulus asks for a transition the table does not allow.
        """
        self.apply(event, now)
        return self.flush()

    def apply(self, event: Event, now: float = 0.0) -> None:
        """Apply one stimulus; its messages wait in the outbox until :meth:`flush`.

        Ready tasks are queued, not yet placed: a shell that receives stimuli in batches (a
        worker's stream delivers a batch of finished tasks at a time) applies them all, then
        flushes once, so placement and stealing run once per batch instead of once per task.

        Raises:
            InvalidTransition: if the stimulus asks for a transition the table does not allow.
        """
        self._stimulus, self._now = event.stimulus_id, now
        self._transitions(self._handlers[type(event)](event))

    def flush(self) -> Outbox:
        """Place queued tasks on free workers and return every message since the last flush."""
        self._fill_workers()
        if not self.queued:
            stealing.balance(self)
        if self._size.shrunk(len(self.tasks)):
            self._compact()
        if self.validate_each:
            self.validate()
        out, self._out = self._out, Outbox()
        return out

    def _compact(self) -> None:
        """Rebuild the big containers at their present size (dicts and sets never shrink)."""
        self.tasks = dict(self.tasks)
        self.clients = {c: set(keys) for c, keys in self.clients.items()}
        for ws in self.workers.values():
            ws.has_what = set(ws.has_what)
            ws.processing = set(ws.processing)
        self.unrunnable = set(self.unrunnable)
        self.queued = list(self.queued)
        self._frozen = Interned()
        self.compactions += 1

    def _transitions(self, recs: Recs) -> None:
        # first recommended, first carried out; a later recommendation for a key replaces an
        # earlier one. (A deque, not next(iter(dict)): popping a dict's front leaves holes that
        # every later scan walks past, which made a 100,000-task graph quadratic.)
        order = deque(recs)
        while order:
            key = order.popleft()
            finish = recs.pop(key, None)
            if finish is None:
                continue
            ts = self.tasks.get(key)
            if ts is None or ts.state == finish:
                continue
            start = ts.state
            direct = TRANSITIONS.get((start, finish))
            via = direct is None
            # pairs with no direct edge go through "released"
            func = TRANSITIONS.get((start, "released")) if via else direct
            if func is None or (via and ("released", finish) not in TRANSITIONS):
                raise InvalidTransition(key, start, finish, self._stimulus)
            new = func(self, ts)
            self._log(ts, start, ts.state)
            if via and ts.state == "released":
                new.setdefault(key, finish)
            for k, v in new.items():
                if k not in recs:
                    order.append(k)
                recs[k] = v

    def _log(self, ts: TaskState, start: str, finish: str) -> None:
        if start == finish:
            return
        self.transition_log.append(Transition(ts.key, start, finish, self._stimulus, self._now))
        for plugin in self.plugins:
            plugin(ts, start, finish)

    def story(self, *keys: str) -> list[Transition]:
        """The logged transitions of these keys, oldest first:
        ``[(key, start, finish, stimulus_id, time), …]``."""
        wanted = set(keys)
        return [t for t in self.transition_log if t[0] in wanted]

    # ------------------------------------------------------------------ needs
    def _needed(self, ts: TaskState) -> bool:
        if ts.who_wants:
            return True
        return any(d.state in ("waiting", "queued", "processing") for d in ts.dependents)

    def _release_if_unneeded(self, ts: TaskState, recs: Recs) -> None:
        if not self._needed(ts):
            recs[ts.key] = "forgotten" if not self._has_live_dependents(ts) else "released"

    @staticmethod
    def _has_live_dependents(ts: TaskState) -> bool:
        return any(d.state != "forgotten" for d in ts.dependents)

    # ------------------------------------------------------------------ stimuli
    def _on_update_graph(self, ev: UpdateGraph) -> Recs:
        recs: Recs = {}
        gen = next(self._generation)
        wanted = self.clients.setdefault(ev.client, set())
        for i, spec in enumerate(ev.tasks):
            self._add_task(spec, (gen, i))
        for key in ev.keys:
            ts = self.tasks.get(key)
            if ts is None:
                # asked for a key with no definition: it was forgotten meanwhile
                self._out.to_client(ev.client, {"op": "cancelled-keys", "keys": [key],
                                                "reason": "unknown key"})
                continue
            ts.who_wants = self._shared(ts.who_wants | {ev.client})
            wanted.add(ts)
            self._wake(ts, ev.client, recs)
        return recs

    def _add_task(self, spec: TaskSpec, priority: tuple[int, ...]) -> None:
        ts = self.tasks.get(spec.key)
        if ts is None:
            ts = self.tasks[spec.key] = TaskState(spec.key, spec.run_spec, priority)
        elif ts.state in ("released", "forgotten") and ts.run_spec is None:
            ts.run_spec = spec.run_spec
        else:
            return  # already known: same key means same computation
        ts.workers = set(spec.workers) if spec.workers else None
        ts.actor = spec.actor
        ts.retries = spec.retries
        for dep_key in spec.dependencies:
            dep = self.tasks.get(dep_key)
            if dep is None:
                # the client holds a Future for it, so it existed; treat as lost
                dep = self.tasks[dep_key] = TaskState(dep_key, None, priority)
            if not ts.dependencies:
                ts.dependencies = set()
            ts.dependencies.add(dep)
            if not dep.dependents:
                dep.dependents = set()
            dep.dependents.add(ts)

    def _wake(self, ts: TaskState, client: str, recs: Recs) -> None:
        """Tell ``client`` where ``ts`` stands and start computing it if idle."""
        if ts.state == "memory":
            self._report_memory(ts, [client])
        elif ts.state == "erred":
            self._report_erred(ts, [client])
        elif ts.state in ("released", "forgotten"):
            recs[ts.key] = "waiting"

    def _on_client_desires(self, ev: ClientDesiresKeys) -> Recs:
        return self._on_update_graph(UpdateGraph(ev.client, [], ev.keys, ev.stimulus_id))

    def _on_client_releases(self, ev: ClientReleasesKeys) -> Recs:
        recs: Recs = {}
        wanted = self.clients.get(ev.client, set())
        for key in ev.keys:
            ts = self.tasks.get(key)
            if ts is None or ev.client not in ts.who_wants:
                continue
            ts.who_wants = self._shared(ts.who_wants - {ev.client})
            wanted.discard(ts)
            self._release_if_unneeded(ts, recs)
        return recs

    def _on_remove_client(self, ev: RemoveClient) -> Recs:
        keys = [ts.key for ts in self.clients.get(ev.client, ())]
        recs = self._on_client_releases(ClientReleasesKeys(ev.client, keys, ev.stimulus_id))
        if ev.client != FIRE_AND_FORGET:
            self.clients.pop(ev.client, None)
        return recs

    def _on_cancel(self, ev: CancelKeys) -> Recs:
        recs: Recs = {}
        for key in ev.keys:
            ts = self.tasks.get(key)
            if ts is None:
                continue
            if ev.force:
                holders = set(ts.who_wants)
            else:
                holders = {ev.client} & ts.who_wants
            self._cancel(ts, holders, recs)
        return recs

    def _cancel(self, ts: TaskState, holders: set[str], recs: Recs) -> None:
        """Drop ``holders``' claim on ts and on every dependent they hold, telling them."""
        stack = [ts]
        seen: set[TaskState] = set()
        while stack:
            t = stack.pop()
            if t in seen:
                continue
            seen.add(t)
            stack.extend(t.dependents)
            for client in holders & t.who_wants:
                t.who_wants = self._shared(t.who_wants - {client})
                self.clients.get(client, set()).discard(t)
                self._out.to_client(client, {"op": "cancelled-keys", "keys": [t.key]})
        for t in seen:
            if t.state != "forgotten":
                self._release_if_unneeded(t, recs)

    def _on_retry(self, ev: RetryKeys) -> Recs:
        recs: Recs = {}
        stack = [self.tasks[k] for k in ev.keys if k in self.tasks]
        seen: set[TaskState] = set()
        while stack:
            ts = stack.pop()
            if ts in seen:
                continue
            seen.add(ts)
            # the root cause may sit behind dependencies already released
            stack.extend(d for d in ts.dependencies if d.state != "memory")
            if ts.state == "erred":
                self._clear_error(ts)
                ts.state = "released"
                self._log(ts, "erred", "released")
                if ts.who_wants or any(d in seen for d in ts.dependents):
                    recs[ts.key] = "waiting"
        return recs

    def _on_add_worker(self, ev: AddWorker) -> Recs:
        self.workers[ev.address] = WorkerInfo(ev.address, ev.nthreads, ev.name,
                                              ev.memory_limit, ev.pid)
        # restricted tasks that had no eligible worker may run now
        recs: Recs = {ts.key: "processing" for ts in self.unrunnable
                      if ts.workers is not None and ev.address in ts.workers}
        return recs

    def _on_remove_worker(self, ev: RemoveWorker) -> Recs:
        ws = self.workers.pop(ev.address, None)
        recs: Recs = {}
        if ws is None:
            return recs
        for ts in list(ws.processing):
            ts.processing_on = None
            if ts.stealing == "asked":
                self.steals_in_flight -= 1
            ts.stealing = ""
            ts.seceded = False
            ts.suspicious += 1
            if ev.expected or ts.suspicious <= self.allowed_failures:
                ts.state = "released"
                self._log(ts, "processing", "released")
                recs[ts.key] = "waiting"
            else:
                self._set_error(ts, None, None,
                                f"Attempted to run task {ts.key!r} on {ts.suspicious} different "
                                f"workers, but all those workers died while running it. The last "
                                f"worker was {ev.address}.", "killed")
                recs[ts.key] = "erred"
        for ts in list(ws.has_what):
            recs.update(self._lose_replica(ts, ws, f"worker {ev.address} left"))
        return recs

    def _lose_replica(self, ts: TaskState, ws: WorkerInfo, why: str) -> Recs:
        """``ws`` no longer holds ``ts``; if that was the last copy, recompute or fail it."""
        ts.who_has = self._shared(ts.who_has - {ws.address})
        if ws.has_what is not None and ts in ws.has_what:
            ws.has_what.discard(ts)
            ws.nbytes -= ts.nbytes
        if ts.who_has or ts.state != "memory":
            return {}
        if ts.run_spec is None:
            self._set_error(ts, None, None,
                            f"The data of key {ts.key!r} was lost ({why}): it was the only copy "
                            f"of scattered data, which cannot be recomputed.", "lost")
            return {ts.key: "erred"}
        return {ts.key: "released"}  # _memory_released recomputes it if still needed

    def _on_task_finished(self, ev: TaskFinished) -> Recs:
        ts = self.tasks.get(ev.key)
        ws = self.workers.get(ev.worker)
        if ts is None or ws is None or ts.state != "processing" or ts.processing_on != ev.worker:
            # a late report of a task released meanwhile: let the worker drop the data
            if ws is not None and (ts is None or ts.state in ("released", "forgotten")):
                self._out.to_worker(ev.worker, {"op": "free-keys", "keys": [ev.key]})
            elif ts is not None and ts.state == "memory" and ws is not None:
                self._add_replica(ts, ws)
            return {}
        ts.nbytes = ev.nbytes
        ts.type = sys.intern(ev.type)  # one "int", not one per message
        ts.typeobj = ev.typeobj
        ts.start, ts.stop = ev.start, ev.stop
        ts.thread = ev.thread
        self._record_duration(ts.prefix, ev.stop - ev.start)
        self._finished_data = ev.data
        return {ts.key: "memory"}

    _finished_data: Any = None

    def _record_duration(self, prefix: str, duration: float) -> None:
        if duration <= 0:
            return  # no timing reported
        old = self.durations.get(prefix)
        self.durations[prefix] = duration if old is None else 0.8 * old + 0.2 * duration

    def _on_task_erred(self, ev: TaskErred) -> Recs:
        ts = self.tasks.get(ev.key)
        if ts is None or ts.state != "processing" or ts.processing_on != ev.worker:
            return {}
        if ts.retries > 0:
            ts.retries -= 1
            self._unassign(ts)
            ts.state = "released"
            self._log(ts, "processing", "released")
            return {ts.key: "waiting"}
        ts.start, ts.stop = ev.start, ev.stop
        ts.thread = ev.thread
        self._set_error(ts, ev.exception, ev.traceback, ev.text, "task")
        return {ts.key: "erred"}

    def _on_add_keys(self, ev: AddKeys) -> Recs:
        ws = self.workers.get(ev.worker)
        if ws is None:
            return {}
        for key in ev.keys:
            ts = self.tasks.get(key)
            if ts is not None and ts.state == "memory":
                self._add_replica(ts, ws)
            else:
                self._out.to_worker(ev.worker, {"op": "free-keys", "keys": [key]})
        return {}

    def _on_scatter(self, ev: ScatterData) -> Recs:
        recs: Recs = {}
        wanted = self.clients.setdefault(ev.client, set())
        gen = next(self._generation)
        for key, workers in ev.who_has.items():
            ts = self.tasks.get(key)
            if ts is None:
                ts = self.tasks[key] = TaskState(key, None, (gen, 0))
            ts.nbytes = ev.nbytes.get(key, 0)
            ts.type = ev.types.get(key, "")
            for addr in workers:
                ws = self.workers.get(addr)
                if ws is not None:
                    self._add_replica(ts, ws)
            if ts.state != "memory" and ts.who_has:
                if ts.state == "erred":
                    self._clear_error(ts)
                old = ts.state
                ts.state = "memory"
                self._log(ts, old, "memory")
                for dep in ts.dependents:
                    if dep.state in ("waiting",) and ts in dep.waiting_on:
                        dep.waiting_on.discard(ts)
                        if not dep.waiting_on:
                            recs[dep.key] = "processing"
            ts.who_wants = self._shared(ts.who_wants | {ev.client})
            wanted.add(ts)
            self._report_memory(ts, [ev.client])
        return recs

    def _on_missing_data(self, ev: MissingData) -> Recs:
        ts = self.tasks.get(ev.key)
        ws = self.workers.get(ev.holder)
        if ts is None or ws is None or ws.address not in ts.who_has:
            return {}
        return self._lose_replica(ts, ws, f"worker {ev.holder} did not have it")

    def _on_reschedule(self, ev: Reschedule) -> Recs:
        ts = self.tasks.get(ev.key)
        if ts is None or ts.state != "processing" or ts.processing_on != ev.worker:
            return {}
        self._unassign(ts)
        ts.state = "released"
        self._log(ts, "processing", "released")
        recs = {ts.key: "waiting"}
        for dep in ts.dependencies:
            if dep.state != "memory" and dep.state != "erred":
                recs[dep.key] = "waiting"
        return recs

    def _on_long_running(self, ev: LongRunning) -> Recs:
        ts = self.tasks.get(ev.key)
        ws = self.workers.get(ev.worker)
        if ts is not None and ws is not None and ts in ws.processing and not ts.seceded:
            ts.seceded = True
            ws.seceded += 1
        return {}

    # ------------------------------------------------------------------ helpers
    def _add_replica(self, ts: TaskState, ws: WorkerInfo) -> None:
        if ws.address not in ts.who_has:
            ts.who_has = self._shared(ts.who_has | {ws.address})
            ws.has_what.add(ts)
            ws.nbytes += ts.nbytes

    def _shared(self, names: frozenset[str]) -> frozenset[str]:
        """The one shared copy of this set of names (most tasks have the same holders)."""
        if not names:
            return EMPTY  # type: ignore[no-any-return]
        return self._frozen(names)

    def _drop_fire_and_forget(self, ts: TaskState) -> None:
        """A fire-and-forget task is done: its pin has served its purpose."""
        if FIRE_AND_FORGET in ts.who_wants:
            ts.who_wants = self._shared(ts.who_wants - {FIRE_AND_FORGET})
            self.clients[FIRE_AND_FORGET].discard(ts)

    def _unassign(self, ts: TaskState) -> None:
        if ts.processing_on is not None:
            ws = self.workers.get(ts.processing_on)
            if ws is not None:
                ws.processing.discard(ts)
                if ts.seceded:
                    ws.seceded -= 1
            ts.processing_on = None
        if ts.stealing == "asked":
            self.steals_in_flight -= 1
        ts.stealing = ""
        ts.seceded = False

    def _set_error(self, ts: TaskState, exc: Any, tb: Any, text: str, kind: str) -> None:
        ts.exception, ts.traceback, ts.error_text, ts.error_kind = exc, tb, text, kind

    def _clear_error(self, ts: TaskState) -> None:
        ts.exception = ts.traceback = None
        ts.error_text = ts.error_kind = ""

    def _report_memory(self, ts: TaskState, clients: Iterable[str], data: Any = None) -> None:
        msg: Msg = {"op": "key-in-memory", "key": ts.key, "type": ts.type, "nbytes": ts.nbytes,
                    "who_has": sorted(ts.who_has)}
        if data is not None:
            msg["data"] = data
        if ts.typeobj is not None:
            msg["typeobj"] = ts.typeobj
        if ts.actor:
            msg["actor"] = True
        for client in clients:
            if client != FIRE_AND_FORGET:
                self._out.to_client(client, msg)

    def _report_erred(self, ts: TaskState, clients: Iterable[str]) -> None:
        msg: Msg = {"op": "task-erred", "key": ts.key, "exception": ts.exception,
                    "traceback": ts.traceback, "text": ts.error_text, "kind": ts.error_kind}
        for client in clients:
            if client != FIRE_AND_FORGET:
                self._out.to_client(client, msg)

    def _fill_workers(self) -> None:
        """Hand queued tasks, in priority order, to workers with free capacity."""
        queued = self.queued
        while queued and queued[0][1].state != "queued":
            heapq.heappop(queued)
        if not queued or not self.workers:
            return
        # free slots per worker, sized for the head of the queue, computed once per flush
        prefix = queued[0][1].prefix
        free = {ws: n for ws in self.workers.values()
                if (n := policy.capacity(ws, self.durations, prefix) - len(ws.processing)) > 0}
        while queued and free:
            entry = heapq.heappop(queued)
            ts = entry[1]
            if ts.state != "queued":
                continue
            if ts.dependencies:
                ws = policy.decide_worker(ts, self.workers, self.durations)
                if ws is None:
                    heapq.heappush(queued, entry)
                    return
            else:
                ws = max(free, key=free.__getitem__)
            transitions.assign(self, ts, ws)
            self._log(ts, "queued", "processing")
            if ws in free:
                free[ws] -= 1
                if free[ws] <= 0:
                    del free[ws]

    # ------------------------------------------------------------------ invariants
    def validate(self) -> None:
        """Check the cross-references between tasks, workers and clients.

        Raises:
            AssertionError: naming the first broken invariant.
        """
        validate(self)
