"""Every message futurelab's processes exchange, declared once (pure).

This package is the wire vocabulary: one ``TypedDict`` per message, with its fields, grouped by
the channel it travels on (see :class:`~futurelab.protocol.vocabulary.Channel`):

- :mod:`.tasks`: registering, tasks in, results and failures out, data between workers;
- :mod:`.admin`: ``Client.run``, restart, retire, datasets, metadata, versions;
- :mod:`.primitives`: Queue, Variable, Lock, Semaphore, Event, Pub/Sub;
- :mod:`.deploy`: adaptive scaling and logs, for every cluster kind.

The shells dispatch from it (:func:`~futurelab.protocol.vocabulary.handlers_for`) and check every
incoming message against it (:func:`~futurelab.protocol.vocabulary.check`) before a handler runs;
tests check that every declared message has a handler and every handler a declaration.  To add a
message: declare it in the module of its family, re-export it here, handle it where it arrives,
and let the tests tell you what else must know.

Payloads the scheduler must never unpickle (functions, arguments, results, exceptions) are
:class:`~futurelab.protocol.serialize.Opaque`.  Keys are strings.  A stream carries batches
(lists) of these messages; a request is one message answered by one reply.

>>> from futurelab.protocol import messages as m
>>> from futurelab.protocol.vocabulary import spec
>>> [f.name for f in spec(m.TaskFinished).fields if f.required]
['key', 'nbytes', 'type', 'start', 'stop']
"""
from __future__ import annotations

from ..vocabulary import Channel as Channel
from .admin import (
    AdminCancel as AdminCancel,
)
from .admin import (
    AdminGather as AdminGather,
)
from .admin import (
    AdminGetMetadata as AdminGetMetadata,
)
from .admin import (
    AdminNBytes as AdminNBytes,
)
from .admin import (
    AdminProcessing as AdminProcessing,
)
from .admin import (
    AdminPublish as AdminPublish,
)
from .admin import (
    AdminRestart as AdminRestart,
)
from .admin import (
    AdminRetireWorkers as AdminRetireWorkers,
)
from .admin import (
    AdminRun as AdminRun,
)
from .admin import (
    AdminRunOnScheduler as AdminRunOnScheduler,
)
from .admin import (
    AdminSetMetadata as AdminSetMetadata,
)
from .admin import (
    AdminTerminate as AdminTerminate,
)
from .admin import (
    AdminUploadFile as AdminUploadFile,
)
from .admin import (
    AdminVersions as AdminVersions,
)
from .admin import (
    AdminWaitForWorkers as AdminWaitForWorkers,
)
from .admin import (
    DatasetDelete as DatasetDelete,
)
from .admin import (
    DatasetGet as DatasetGet,
)
from .admin import (
    DatasetList as DatasetList,
)
from .admin import (
    WorkerRestart as WorkerRestart,
)
from .deploy import (
    AdaptiveRecommend as AdaptiveRecommend,
)
from .deploy import (
    AdaptiveStop as AdaptiveStop,
)
from .deploy import (
    GetLogs as GetLogs,
)
from .deploy import (
    GetWorkerLogs as GetWorkerLogs,
)
from .deploy import (
    WorkersToClose as WorkersToClose,
)
from .primitives import (
    EventCancel as EventCancel,
)
from .primitives import (
    EventClear as EventClear,
)
from .primitives import (
    EventIsSet as EventIsSet,
)
from .primitives import (
    EventSet as EventSet,
)
from .primitives import (
    EventWait as EventWait,
)
from .primitives import (
    Item as Item,
)
from .primitives import (
    LockAcquire as LockAcquire,
)
from .primitives import (
    LockCancel as LockCancel,
)
from .primitives import (
    LockLocked as LockLocked,
)
from .primitives import (
    LockRelease as LockRelease,
)
from .primitives import (
    PubSubCancel as PubSubCancel,
)
from .primitives import (
    PubSubMessage as PubSubMessage,
)
from .primitives import (
    PubSubPut as PubSubPut,
)
from .primitives import (
    PubSubSubscribe as PubSubSubscribe,
)
from .primitives import (
    PubSubUnsubscribe as PubSubUnsubscribe,
)
from .primitives import (
    QueueCancel as QueueCancel,
)
from .primitives import (
    QueueCreate as QueueCreate,
)
from .primitives import (
    QueueGet as QueueGet,
)
from .primitives import (
    QueuePut as QueuePut,
)
from .primitives import (
    QueueQsize as QueueQsize,
)
from .primitives import (
    SemaphoreAcquire as SemaphoreAcquire,
)
from .primitives import (
    SemaphoreCancel as SemaphoreCancel,
)
from .primitives import (
    SemaphoreClose as SemaphoreClose,
)
from .primitives import (
    SemaphoreCreate as SemaphoreCreate,
)
from .primitives import (
    SemaphoreGetValue as SemaphoreGetValue,
)
from .primitives import (
    SemaphoreRelease as SemaphoreRelease,
)
from .primitives import (
    VariableCancel as VariableCancel,
)
from .primitives import (
    VariableDelete as VariableDelete,
)
from .primitives import (
    VariableGet as VariableGet,
)
from .primitives import (
    VariableSet as VariableSet,
)
from .tasks import (
    ActorAttribute as ActorAttribute,
)
from .tasks import (
    ActorCall as ActorCall,
)
from .tasks import (
    AddKeys as AddKeys,
)
from .tasks import (
    CancelKeys as CancelKeys,
)
from .tasks import (
    CancelledKeys as CancelledKeys,
)
from .tasks import (
    ClientDesiresKeys as ClientDesiresKeys,
)
from .tasks import (
    ClientReleasesKeys as ClientReleasesKeys,
)
from .tasks import (
    ClientTaskErred as ClientTaskErred,
)
from .tasks import (
    CloseWorker as CloseWorker,
)
from .tasks import (
    Closing as Closing,
)
from .tasks import (
    ClusterSnapshot as ClusterSnapshot,
)
from .tasks import (
    ComputeTask as ComputeTask,
)
from .tasks import (
    EventMessage as EventMessage,
)
from .tasks import (
    FireAndForget as FireAndForget,
)
from .tasks import (
    FreeKeys as FreeKeys,
)
from .tasks import (
    GetData as GetData,
)
from .tasks import (
    HasWhat as HasWhat,
)
from .tasks import (
    Heartbeat as Heartbeat,
)
from .tasks import (
    Identity as Identity,
)
from .tasks import (
    KeyInMemory as KeyInMemory,
)
from .tasks import (
    KeyLost as KeyLost,
)
from .tasks import (
    LongRunning as LongRunning,
)
from .tasks import (
    MissingData as MissingData,
)
from .tasks import (
    NCores as NCores,
)
from .tasks import (
    PrimitiveReply as PrimitiveReply,
)
from .tasks import (
    PrimitivesState as PrimitivesState,
)
from .tasks import (
    RegisterClient as RegisterClient,
)
from .tasks import (
    RegisterWorker as RegisterWorker,
)
from .tasks import (
    ReleaseTransit as ReleaseTransit,
)
from .tasks import (
    Reschedule as Reschedule,
)
from .tasks import (
    RetireWorkersNow as RetireWorkersNow,
)
from .tasks import (
    Retry as Retry,
)
from .tasks import (
    ScatterDone as ScatterDone,
)
from .tasks import (
    SchedulerInfo as SchedulerInfo,
)
from .tasks import (
    StealRequest as StealRequest,
)
from .tasks import (
    StealResponse as StealResponse,
)
from .tasks import (
    StreamRequest as StreamRequest,
)
from .tasks import (
    SubscribeEvents as SubscribeEvents,
)
from .tasks import (
    TaskDef as TaskDef,
)
from .tasks import (
    TaskErred as TaskErred,
)
from .tasks import (
    TaskFinished as TaskFinished,
)
from .tasks import (
    UnsubscribeEvents as UnsubscribeEvents,
)
from .tasks import (
    UpdateData as UpdateData,
)
from .tasks import (
    UpdateGraph as UpdateGraph,
)
from .tasks import (
    WhoHas as WhoHas,
)
from .tasks import (
    WorkerGone as WorkerGone,
)
from .tasks import (
    WorkerIdentity as WorkerIdentity,
)

SCHEDULER, WORKER = Channel.SCHEDULER, Channel.WORKER
CLIENT_STREAM, TO_CLIENT = Channel.CLIENT_STREAM, Channel.TO_CLIENT
WORKER_STREAM, TO_WORKER = Channel.WORKER_STREAM, Channel.TO_WORKER
KERNEL_COMM, DASHBOARD = Channel.KERNEL_COMM, Channel.DASHBOARD
