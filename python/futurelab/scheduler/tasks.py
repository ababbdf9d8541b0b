"""What the scheduler keeps per task and per worker, and the outbox a stimulus fills.

Plain records with ``__slots__`` (the scheduler holds one TaskState per key it knows, so their
size matters); all behaviour lives in :mod:`.state` and :mod:`.transitions`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .._memory import Interned

Msg = dict[str, Any]
#: what a task runs: (func, args, kwargs) as Opaque payloads (kwargs may be None)
RunSpec = tuple[Any, Any, Any]

#: the shared empty set of a TaskState's sets until something is added (never mutated)
EMPTY: Any = frozenset()
#: task prefixes, shared: a map of 100,000 tasks has one prefix string, not 100,000 copies
_prefixes: Interned[str] = Interned(10_000)


class TaskState:
    """Everything the scheduler knows about one key."""

    __slots__ = (
        "actor",
        "dependencies",
        "dependents",
        "error_kind",
        "error_text",
        "exception",
        "key",
        "last_worker",
        "nbytes",
        "prefix",
        "priority",
        "processing_on",
        "retries",
        "run_spec",
        "seceded",
        "start",
        "state",
        "stealing",
        "stop",
        "suspicious",
        "thread",
        "traceback",
        "type",
        "typeobj",
        "waiting_on",
        "who_has",
        "who_wants",
        "workers",
    )

    def __init__(self, key: str, run_spec: RunSpec | None, priority: tuple[int, ...]) -> None:
        self.key = key
        #: current state name
        self.state = "released"
        #: (func, args, kwargs) of opaque payloads, or None for scattered data
        self.run_spec = run_spec
        # the sets start as one shared empty frozenset and become real sets on first add:
        # most tasks never need some of them, and an empty set costs 216 bytes.  who_wants and
        # who_has stay frozensets, interned by the state: most tasks share {client}/{worker}
        self.dependencies: set[TaskState] = EMPTY
        self.dependents: set[TaskState] = EMPTY
        #: dependencies not yet in memory (only while waiting/queued)
        self.waiting_on: set[TaskState] = EMPTY
        #: clients (or pseudo-clients) holding a Future of this key (interned, never mutated)
        self.who_wants: frozenset[str] = EMPTY
        #: workers holding the result (interned, never mutated)
        self.who_has: frozenset[str] = EMPTY
        self.processing_on: str | None = None
        self.exception: Any = None
        self.traceback: Any = None
        self.error_text = ""
        #: "task" (raised by the task), "lost" (data lost), "killed" (KilledWorker)
        self.error_kind = ""
        self.priority = priority
        self.nbytes = 0
        self.type = ""
        #: times a worker died while computing this task
        self.suspicious = 0
        #: restriction to these worker addresses, or None
        self.workers: set[str] | None = None
        self.actor = False
        self.prefix = key_prefix(key)
        self.start = 0.0
        self.stop = 0.0
        #: remaining automatic retries on error
        self.retries = 0
        self.seceded = False
        #: the worker that last ran it, and which of its threads (for the task stream)
        self.last_worker = ""
        self.thread = 0
        #: the result's type, pickled by the worker (for Future.type)
        self.typeobj: Any = None
        #: "" , "asked" (a steal request is out) or "refused" (asked once per assignment)
        self.stealing = ""

    def __repr__(self) -> str:
        return f"<TaskState {self.key!r} {self.state}>"

    def __lt__(self, other: TaskState) -> bool:
        return self.priority < other.priority


class WorkerInfo:
    """What the scheduler knows about one worker."""

    __slots__ = (
        "address",
        "has_what",
        "last_seen",
        "memory_limit",
        "name",
        "nbytes",
        "nthreads",
        "pid",
        "processing",
        "queued_heap",
        "seceded",
    )

    def __init__(self, address: str, nthreads: int, name: str, memory_limit: int = 0,
                 pid: int = 0) -> None:
        self.address = address
        self.nthreads = nthreads
        self.name = name
        #: tasks assigned to this worker and not finished
        self.processing: set[TaskState] = set()
        #: keys whose results this worker holds
        self.has_what: set[TaskState] = set()
        self.nbytes = 0
        self.memory_limit = memory_limit
        self.pid = pid
        #: tasks running here that seceded from the thread pool
        self.seceded = 0
        self.last_seen = 0.0
        self.queued_heap: list[TaskState] = []

    def __repr__(self) -> str:
        return (f"<WorkerInfo {self.address} nthreads={self.nthreads} "
                f"processing={len(self.processing)}>")


def key_prefix(key: str) -> str:
    """The task prefix of a key: ``"inc-9f3a…"`` → ``"inc"``."""
    head, sep, _ = key.rpartition("-")
    prefix = head if sep and head else key
    return _prefixes(prefix)


@dataclass
class Outbox:
    """Messages produced by one stimulus, grouped by recipient."""

    clients: dict[str, list[Msg]] = field(default_factory=dict)
    workers: dict[str, list[Msg]] = field(default_factory=dict)

    def to_client(self, client: str, msg: Msg) -> None:
        self.clients.setdefault(client, []).append(msg)

    def to_worker(self, worker: str, msg: Msg) -> None:
        self.workers.setdefault(worker, []).append(msg)
