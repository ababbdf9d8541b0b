"""The task traffic: tasks in, results and failures out, data between workers (pure).

Part of the wire vocabulary (see :mod:`futurelab.protocol.messages`).
"""
from __future__ import annotations

import sys
from typing import Any, Literal, TypedDict

from ..serialize import Opaque
from ..vocabulary import Channel, message

if sys.version_info >= (3, 11):
    from typing import NotRequired
else:  # pragma: no cover - Python 3.10
    from typing_extensions import NotRequired

SCHEDULER, WORKER = Channel.SCHEDULER, Channel.WORKER
CLIENT_STREAM, TO_CLIENT = Channel.CLIENT_STREAM, Channel.TO_CLIENT
WORKER_STREAM, TO_WORKER = Channel.WORKER_STREAM, Channel.TO_WORKER
STREAMS = (CLIENT_STREAM, TO_CLIENT, WORKER_STREAM, TO_WORKER)


# ====================================================================== records
class TaskDef(TypedDict):
    """One task of a client's graph."""

    key: str
    func: Opaque
    args: Opaque
    kwargs: Opaque | None
    #: keys this task's arguments refer to
    deps: list[str]
    #: restrict to these worker addresses (None: anywhere)
    workers: list[str] | None
    actor: bool
    retries: int


# ====================================================================== every stream
@message(*STREAMS)
class Heartbeat(TypedDict):
    """"Still here": both ends of every stream send one every 0.5 s."""

    op: Literal["heartbeat"]


# ====================================================================== requests to the scheduler
@message(SCHEDULER)
class RegisterClient(TypedDict):
    """A client's first message: the connection becomes its stream (reply: status, address,
    id, dashboard)."""

    op: Literal["register-client"]
    client: str


@message(SCHEDULER)
class RegisterWorker(TypedDict):
    """A worker's first message: the connection becomes its stream (reply: status)."""

    op: Literal["register-worker"]
    address: str
    nthreads: int
    name: NotRequired[str]
    pid: NotRequired[int]
    memory_limit: NotRequired[int]


@message(SCHEDULER)
class Identity(TypedDict):
    """The scheduler's identity and its workers (also ``scheduler_info``)."""

    op: Literal["identity"]


@message(SCHEDULER)
class SchedulerInfo(TypedDict):
    """``Client.scheduler_info()``: the scheduler's identity and its workers."""

    op: Literal["scheduler_info"]


@message(SCHEDULER)
class WhoHas(TypedDict):
    """``{key: [worker, ...]}`` for these keys (None: every key held somewhere)."""

    op: Literal["who_has"]
    keys: NotRequired[list[str] | None]


@message(SCHEDULER)
class HasWhat(TypedDict):
    """``{worker: [key, ...]}`` for these workers (None: all)."""

    op: Literal["has_what"]
    workers: NotRequired[list[str] | None]


@message(SCHEDULER)
class NCores(TypedDict):
    """``{worker: nthreads}``."""

    op: Literal["ncores"]


@message(SCHEDULER)
class ScatterDone(TypedDict):
    """A client put data on workers directly (``update-data``); the scheduler records it."""

    op: Literal["scatter-done"]
    client: str
    who_has: dict[str, list[str]]
    nbytes: NotRequired[dict[str, int]]
    types: NotRequired[dict[str, str]]


@message(SCHEDULER)
class RetireWorkersNow(TypedDict):
    """Ask workers (default: all) to close cleanly (the CLI and LocalCluster use it)."""

    op: Literal["retire-workers"]
    workers: NotRequired[list[str] | None]


@message(SCHEDULER)
class PrimitivesState(TypedDict):
    """A snapshot of every coordination primitive: ``{plural kind: {name: state}}``."""

    op: Literal["primitives-state"]


@message(SCHEDULER, CLIENT_STREAM)
class ClusterSnapshot(TypedDict):
    """The live model's first view: tasks (of these keys), workers.  On the stream the answer
    comes back as an ``event`` of topic "snapshot"."""

    op: Literal["cluster-snapshot"]
    keys: NotRequired[list[str] | None]


# ====================================================================== client → scheduler stream
@message(CLIENT_STREAM)
class UpdateGraph(TypedDict):
    """New tasks, and the keys the client holds Futures for."""

    op: Literal["update-graph"]
    tasks: list[TaskDef]
    keys: list[str]


@message(CLIENT_STREAM)
class ClientDesiresKeys(TypedDict):
    """The client holds Futures of these (already known) keys."""

    op: Literal["client-desires-keys"]
    keys: list[str]


@message(CLIENT_STREAM)
class ClientReleasesKeys(TypedDict):
    """The client dropped its last Future of these keys."""

    op: Literal["client-releases-keys"]
    keys: list[str]


@message(CLIENT_STREAM)
class CancelKeys(TypedDict):
    """Cancel keys and their dependents (``force``: for every client holding them)."""

    op: Literal["cancel-keys"]
    keys: list[str]
    force: NotRequired[bool]


@message(CLIENT_STREAM)
class Retry(TypedDict):
    """Run erred keys (and their erred dependencies) again."""

    op: Literal["retry"]
    keys: list[str]


@message(CLIENT_STREAM)
class FireAndForget(TypedDict):
    """Compute these keys even when no Future refers to them any more."""

    op: Literal["fire-and-forget"]
    keys: list[str]


@message(CLIENT_STREAM)
class SubscribeEvents(TypedDict):
    """Send this client the events of these topics (tasks, workers, primitives)."""

    op: Literal["subscribe-events"]
    topics: list[str]


@message(CLIENT_STREAM)
class UnsubscribeEvents(TypedDict):
    """Stop sending this client the events of these topics."""

    op: Literal["unsubscribe-events"]
    topics: list[str]


@message(CLIENT_STREAM)
class ReleaseTransit(TypedDict):
    """Futures handed to this client by a primitive are registered: drop their transit pins."""

    op: Literal["release-transit"]
    keys: list[str]


class StreamRequest(TypedDict):
    """A request on the client's stream, answered by ``primitive-reply`` with the same rid."""

    rid: NotRequired[int]


# ====================================================================== scheduler → client stream
@message(TO_CLIENT)
class KeyInMemory(TypedDict):
    """A key the client wants is computed: where it is, its type and size (small results
    travel inline as ``data``)."""

    op: Literal["key-in-memory"]
    key: str
    type: str
    nbytes: int
    who_has: list[str]
    data: NotRequired[Opaque]
    typeobj: NotRequired[Opaque]
    actor: NotRequired[bool]


@message(TO_CLIENT)
class ClientTaskErred(TypedDict):
    """A key the client wants failed (``kind``: "task", "killed", "lost", …)."""

    op: Literal["task-erred"]
    key: str
    exception: Opaque | None
    traceback: Opaque | None
    text: str
    kind: str


@message(TO_CLIENT)
class CancelledKeys(TypedDict):
    """These keys were cancelled (or are unknown): their Futures are cancelled."""

    op: Literal["cancelled-keys"]
    keys: list[str]
    reason: NotRequired[str]


@message(TO_CLIENT)
class KeyLost(TypedDict):
    """The data of a finished key was lost; it is being recomputed."""

    op: Literal["key-lost"]
    key: str


@message(TO_CLIENT, TO_WORKER)
class WorkerGone(TypedDict):
    """The scheduler removed this worker: end every wait on it now."""

    op: Literal["worker-gone"]
    address: str


@message(TO_CLIENT)
class PrimitiveReply(TypedDict):
    """The answer to a request on the client's stream (rid): ``ok`` and the op's fields, or
    ``error`` with its exception type name ``etype``."""

    op: Literal["primitive-reply"]
    rid: int | None
    ok: NotRequired[bool]
    error: NotRequired[str]
    etype: NotRequired[str]


@message(TO_CLIENT)
class EventMessage(TypedDict):
    """An event of a topic the client subscribed to (tasks, workers, primitives, snapshot)."""

    op: Literal["event"]
    topic: str
    payload: Any


# ====================================================================== worker → scheduler stream
@message(WORKER_STREAM)
class TaskFinished(TypedDict):
    """A task ran: its result stays here (small ones also travel inline as ``data``)."""

    op: Literal["task-finished"]
    key: str
    nbytes: int
    type: str
    start: float
    stop: float
    thread: NotRequired[int]
    data: NotRequired[Opaque]
    typeobj: NotRequired[Opaque]


@message(WORKER_STREAM)
class TaskErred(TypedDict):
    """A task raised: the exception and traceback, pickled, and their text."""

    op: Literal["task-erred"]
    key: str
    exception: Opaque | None
    traceback: Opaque | None
    text: str
    start: float
    stop: float
    thread: NotRequired[int]


@message(WORKER_STREAM)
class AddKeys(TypedDict):
    """This worker now holds replicas of these keys (it fetched them)."""

    op: Literal["add-keys"]
    keys: list[str]


@message(WORKER_STREAM)
class MissingData(TypedDict):
    """``holder`` did not have ``key`` when asked for it."""

    op: Literal["missing-data"]
    key: str
    holder: str


@message(WORKER_STREAM)
class Reschedule(TypedDict):
    """This worker gives the task back (it could not fetch a dependency)."""

    op: Literal["reschedule"]
    key: str


@message(WORKER_STREAM)
class LongRunning(TypedDict):
    """The task seceded from the worker's thread pool."""

    op: Literal["long-running"]
    key: str


@message(WORKER_STREAM)
class StealResponse(TypedDict):
    """The answer to ``steal-request``: ``ok`` when the task was given back unstarted."""

    op: Literal["steal-response"]
    key: str
    ok: bool


@message(WORKER_STREAM)
class Closing(TypedDict):
    """The worker closes its stream on purpose."""

    op: Literal["closing"]


# ====================================================================== scheduler → worker stream
@message(TO_WORKER)
class ComputeTask(TypedDict):
    """Run this task here; its dependencies are held by ``who_has``."""

    op: Literal["compute-task"]
    key: str
    priority: list[int]
    func: Opaque
    args: Opaque
    kwargs: Opaque | None
    who_has: NotRequired[dict[str, list[str]]]
    nbytes: NotRequired[dict[str, int]]
    actor: NotRequired[bool]


@message(TO_WORKER)
class FreeKeys(TypedDict):
    """Nobody needs these keys here any more: drop them (or stop computing them)."""

    op: Literal["free-keys"]
    keys: list[str]


@message(TO_WORKER)
class StealRequest(TypedDict):
    """Give this task back if it has not started."""

    op: Literal["steal-request"]
    key: str


@message(TO_WORKER)
class CloseWorker(TypedDict):
    """Close cleanly (retire)."""

    op: Literal["close"]


# ====================================================================== requests to a worker
@message(WORKER)
class GetData(TypedDict):
    """The values of these keys, if held here (reply: status, data, errors)."""

    op: Literal["get-data"]
    keys: list[str]


@message(WORKER)
class UpdateData(TypedDict):
    """Hold these values (scatter): ``{key: value}`` (reply: status, nbytes, types)."""

    op: Literal["update-data"]
    data: dict[str, Any]


@message(WORKER)
class WorkerIdentity(TypedDict):
    """Who this worker is (reply: type, address, name, nthreads)."""

    op: Literal["identity"]


@message(WORKER)
class ActorCall(TypedDict):
    """Call a method of the actor ``key`` hosted here."""

    op: Literal["actor-call"]
    key: str
    method: str
    args: NotRequired[Opaque | None]
    kwargs: NotRequired[Opaque | None]


@message(WORKER)
class ActorAttribute(TypedDict):
    """Read an attribute of the actor ``key`` hosted here."""

    op: Literal["actor-attribute"]
    key: str
    attribute: str
