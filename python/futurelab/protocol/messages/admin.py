"""Administration: ``Client.run``, restart, retire, datasets, metadata, versions (pure).

Part of the wire vocabulary (see :mod:`futurelab.protocol.messages`).  Requests that travel on the
client's stream are answered by ``primitive-reply`` (:class:`.tasks.PrimitiveReply`).
"""
from __future__ import annotations

import sys
from typing import Any, Literal, TypedDict

from ..serialize import Opaque
from ..vocabulary import Channel, message
from .tasks import StreamRequest

if sys.version_info >= (3, 11):
    from typing import NotRequired
else:  # pragma: no cover - Python 3.10
    from typing_extensions import NotRequired

SCHEDULER, WORKER = Channel.SCHEDULER, Channel.WORKER
CLIENT_STREAM, TO_CLIENT = Channel.CLIENT_STREAM, Channel.TO_CLIENT
WORKER_STREAM, TO_WORKER = Channel.WORKER_STREAM, Channel.TO_WORKER


@message(SCHEDULER)
class AdminWaitForWorkers(TypedDict):
    """Answer once ``n`` workers are connected, or at ``timeout`` seconds (reply: status, n)."""

    op: Literal["admin-wait-for-workers"]
    n: int
    timeout: NotRequired[float | None]


@message(SCHEDULER)
class AdminRunOnScheduler(TypedDict):
    """``Client.run_on_scheduler``: call ``function`` in the scheduler's process."""

    op: Literal["admin-run-on-scheduler"]
    function: Opaque
    args: NotRequired[Opaque | None]
    kwargs: NotRequired[Opaque | None]
    wait: NotRequired[bool]


@message(SCHEDULER)
class AdminNBytes(TypedDict):
    """Bytes per key, or per key prefix with ``summary``."""

    op: Literal["admin-nbytes"]
    keys: NotRequired[list[str] | None]
    summary: NotRequired[bool]


@message(SCHEDULER)
class AdminProcessing(TypedDict):
    """Keys processing per worker."""

    op: Literal["admin-processing"]
    workers: NotRequired[list[str] | None]


@message(SCHEDULER, WORKER)
class AdminVersions(TypedDict):
    """Versions of Python, futurelab and ``packages`` in this process."""

    op: Literal["admin-versions"]
    packages: NotRequired[list[str] | None]


@message(SCHEDULER)
class AdminSetMetadata(TypedDict):
    """``Client.set_metadata``: store small msgpack data at a nested path."""

    op: Literal["admin-set-metadata"]
    keys: list[Any]
    value: Any


@message(SCHEDULER)
class AdminGetMetadata(TypedDict):
    """``Client.get_metadata``: the value at a nested path (reply: status, value | missing)."""

    op: Literal["admin-get-metadata"]
    keys: list[Any]


@message(SCHEDULER)
class AdminRetireWorkers(TypedDict):
    """``Client.retire_workers``: copy what only they hold elsewhere, then close them."""

    op: Literal["admin-retire-workers"]
    workers: NotRequired[list[str] | None]
    names: NotRequired[list[Any] | None]
    close_workers: NotRequired[bool]
    timeout: NotRequired[float | None]


@message(SCHEDULER)
class AdminTerminate(TypedDict):
    """``Client.shutdown``: close the workers, then the scheduler."""

    op: Literal["admin-terminate"]


@message(SCHEDULER)
class DatasetGet(TypedDict):
    """Published datasets by name, for ``client`` (whose claim on their futures it records)."""

    op: Literal["dataset-get"]
    names: list[Any]
    client: str


@message(SCHEDULER)
class DatasetList(TypedDict):
    """The names of the published datasets."""

    op: Literal["dataset-list"]


@message(SCHEDULER)
class DatasetDelete(TypedDict):
    """Unpublish datasets by name."""

    op: Literal["dataset-delete"]
    names: list[Any]


@message(CLIENT_STREAM)
class AdminPublish(StreamRequest):
    """``Client.publish_dataset``: name → pickled data pinning ``keys``."""

    op: Literal["admin-publish"]
    names: list[Any]
    data: list[Any]
    keys: list[list[str]]
    override: NotRequired[bool]


@message(CLIENT_STREAM)
class AdminRestart(StreamRequest):
    """``Client.restart``: cancel every future, restart or clear every worker."""

    op: Literal["admin-restart"]
    timeout: NotRequired[float | None]
    wait_for_workers: NotRequired[bool]


@message(CLIENT_STREAM)
class AdminCancel(TypedDict):
    """The caller gave up waiting on an admin stream request."""

    op: Literal["admin-cancel"]
    cancel: NotRequired[int]
    name: NotRequired[Any]


@message(WORKER)
class AdminRun(TypedDict):
    """``Client.run``: call ``function`` in this worker's process."""

    op: Literal["admin-run"]
    function: Opaque
    args: NotRequired[Opaque | None]
    kwargs: NotRequired[Opaque | None]
    wait: NotRequired[bool]


@message(WORKER)
class AdminUploadFile(TypedDict):
    """``Client.upload_file``: write ``data`` as ``filename`` here, then import it."""

    op: Literal["admin-upload-file"]
    filename: str
    data: Any
    load: NotRequired[bool]


@message(WORKER)
class WorkerRestart(TypedDict):
    """``Client.restart``: exit for a fresh process (under a nanny) or let go of ``keys``."""

    op: Literal["admin-restart"]
    keys: NotRequired[list[str] | None]


@message(WORKER)
class AdminGather(TypedDict):
    """Fetch these keys from their holders (``{key: [worker, ...]}``) and hold them here."""

    op: Literal["admin-gather"]
    who_has: dict[str, list[str]]

