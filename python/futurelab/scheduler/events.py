"""Stimuli the scheduler's state machine reacts to.

Each is a small dataclass built by the I/O shell from one wire message (or a connection event) and
passed to :meth:`futurelab.scheduler.state.SchedulerState.handle`.  Every stimulus carries a
``stimulus_id`` so a transition can be traced back to what caused it: its default names the
category ("task-finished"), and the shell makes it unique by numbering every stimulus it applies
("task-finished-18342"), passing the time along with it.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..protocol import messages as m


@dataclass
class TaskSpec:
    """One task of a graph sent by a client."""

    key: str
    #: (func, args, kwargs): Opaque payloads (kwargs may be None); None for scattered data
    run_spec: tuple[Any, Any, Any] | None
    dependencies: Sequence[str] = ()
    workers: Sequence[str] | None = None
    actor: bool = False
    retries: int = 0


@dataclass
class Event:
    """Base of all stimuli."""

    if TYPE_CHECKING:  # every subclass declares it, with a default, as its last field
        @property
        def stimulus_id(self) -> str: ...

        @stimulus_id.setter
        def stimulus_id(self, value: str) -> None: ...


@dataclass
class UpdateGraph(Event):
    client: str
    tasks: list[TaskSpec]
    #: keys the client holds Futures for
    keys: Sequence[str]
    stimulus_id: str = "update-graph"


@dataclass
class ClientDesiresKeys(Event):
    client: str
    keys: Sequence[str]
    stimulus_id: str = "client-desires-keys"


@dataclass
class ClientReleasesKeys(Event):
    client: str
    keys: Sequence[str]
    stimulus_id: str = "client-releases-keys"


@dataclass
class CancelKeys(Event):
    client: str
    keys: Sequence[str]
    force: bool = False
    stimulus_id: str = "cancel"


@dataclass
class RetryKeys(Event):
    client: str
    keys: Sequence[str]
    stimulus_id: str = "retry"


@dataclass
class RemoveClient(Event):
    client: str
    stimulus_id: str = "remove-client"


@dataclass
class AddWorker(Event):
    address: str
    nthreads: int
    name: str = ""
    memory_limit: int = 0
    pid: int = 0
    stimulus_id: str = "add-worker"


@dataclass
class RemoveWorker(Event):
    address: str
    #: a clean shutdown, not a crash: running tasks are not held against the task
    expected: bool = False
    stimulus_id: str = "remove-worker"


@dataclass
class TaskFinished(Event):
    worker: str
    key: str
    nbytes: int = 0
    type: str = ""
    start: float = 0.0
    stop: float = 0.0
    #: small results travel inline to the clients that want them (never unpickled here)
    data: Any = None
    thread: int = 0
    #: the result's type, pickled (passed on to clients, never unpickled here)
    typeobj: Any = None
    stimulus_id: str = "task-finished"


@dataclass
class TaskErred(Event):
    worker: str
    key: str
    exception: Any = None
    traceback: Any = None
    text: str = ""
    start: float = 0.0
    stop: float = 0.0
    thread: int = 0
    stimulus_id: str = "task-erred"


@dataclass
class AddKeys(Event):
    """A worker now holds replicas of these keys (it fetched them as dependencies)."""

    worker: str
    keys: Sequence[str]
    stimulus_id: str = "add-keys"


@dataclass
class ScatterData(Event):
    client: str
    who_has: dict[str, list[str]]
    nbytes: dict[str, int] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)
    stimulus_id: str = "scatter"


@dataclass
class MissingData(Event):
    """A worker asked ``holder`` for ``key`` and did not get it."""

    key: str
    holder: str
    stimulus_id: str = "missing-data"


@dataclass
class Reschedule(Event):
    """The worker gives a task back (e.g. it could not fetch a dependency)."""

    worker: str
    key: str
    stimulus_id: str = "reschedule"


@dataclass
class LongRunning(Event):
    """A running task seceded from its worker's thread pool."""

    worker: str
    key: str
    stimulus_id: str = "long-running"


@dataclass
class StealResponse(Event):
    """A worker answers a steal request: ``ok`` when it gave the (not yet started) task back."""

    worker: str
    key: str
    ok: bool
    stimulus_id: str = "steal-response"


# --------------------------------------------------------------------------- from the wire
#: the stimulus of each client stream message (``FIRE_AND_FORGET`` pins for a pseudo-client)
FIRE_AND_FORGET = "fire-and-forget"


def update_graph(client: str, msg: m.UpdateGraph) -> UpdateGraph:
    """The stimulus of an ``update-graph`` message."""
    return UpdateGraph(client, [TaskSpec(t["key"], (t["func"], t["args"], t["kwargs"]),
                                         t["deps"], t["workers"], t["actor"], t["retries"])
                                for t in msg["tasks"]], msg["keys"])


FROM_CLIENT: dict[type, Callable[[str, Any], Event]] = {
    m.UpdateGraph: update_graph,
    m.ClientReleasesKeys: lambda c, msg: ClientReleasesKeys(c, msg["keys"]),
    m.ClientDesiresKeys: lambda c, msg: ClientDesiresKeys(c, msg["keys"]),
    m.CancelKeys: lambda c, msg: CancelKeys(c, msg["keys"], bool(msg.get("force"))),
    m.Retry: lambda c, msg: RetryKeys(c, msg["keys"]),
    m.FireAndForget: lambda c, msg: ClientDesiresKeys(FIRE_AND_FORGET, msg["keys"]),
}

FROM_WORKER: dict[type, Callable[[str, Any], Event]] = {
    m.TaskFinished: lambda w, msg: TaskFinished(
        w, msg["key"], msg["nbytes"], msg["type"], msg["start"], msg["stop"], msg.get("data"),
        msg.get("thread", 0), msg.get("typeobj")),
    m.TaskErred: lambda w, msg: TaskErred(
        w, msg["key"], msg["exception"], msg["traceback"], msg["text"], msg["start"],
        msg["stop"], msg.get("thread", 0)),
    m.AddKeys: lambda w, msg: AddKeys(w, msg["keys"]),
    m.MissingData: lambda w, msg: MissingData(msg["key"], msg["holder"]),
    m.Reschedule: lambda w, msg: Reschedule(w, msg["key"]),
    m.LongRunning: lambda w, msg: LongRunning(w, msg["key"]),
    m.StealResponse: lambda w, msg: StealResponse(w, msg["key"], msg["ok"]),
}
"""The stimulus of each message a worker's stream carries (all but heartbeats)."""
