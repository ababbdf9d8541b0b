"""Cluster managers: adaptive scaling and logs, the same for every cluster kind (pure).

Part of the wire vocabulary (see :mod:`futurelab.protocol.messages`).
"""
from __future__ import annotations

import sys
from typing import Literal, TypedDict

from ..vocabulary import Channel, message

if sys.version_info >= (3, 11):
    from typing import NotRequired
else:  # pragma: no cover - Python 3.10
    from typing_extensions import NotRequired

SCHEDULER, WORKER = Channel.SCHEDULER, Channel.WORKER


@message(SCHEDULER)
class AdaptiveRecommend(TypedDict):
    """One step of ``adapt``: what cluster ``id`` should do now (reply: status, action
    "up" | "down" | "same", n, close: the workers to retire)."""

    op: Literal["adaptive-recommend"]
    id: str
    minimum: NotRequired[int | float]
    maximum: NotRequired[int | float | None]
    wait_count: NotRequired[int]
    target_duration: NotRequired[float]
    #: workers (or jobs) the cluster has asked for so far
    planned: NotRequired[int]
    threads: NotRequired[int | None]
    memory: NotRequired[int | None]


@message(SCHEDULER)
class AdaptiveStop(TypedDict):
    """``adapt`` of cluster ``id`` ended: forget its streak of recommendations."""

    op: Literal["adaptive-stop"]
    id: str


@message(SCHEDULER)
class WorkersToClose(TypedDict):
    """Which ``n`` workers to retire first (reply: status, workers)."""

    op: Literal["workers-to-close"]
    n: int


@message(SCHEDULER, WORKER)
class GetLogs(TypedDict):
    """This process's most recent ``n`` log lines, newest first (reply: status, logs)."""

    op: Literal["get-logs"]
    n: NotRequired[int | None]


@message(SCHEDULER)
class GetWorkerLogs(TypedDict):
    """Each worker's (all, or ``workers``) recent log lines (reply: status, logs by address)."""

    op: Literal["get-worker-logs"]
    n: NotRequired[int | None]
    workers: NotRequired[list[str] | None]
