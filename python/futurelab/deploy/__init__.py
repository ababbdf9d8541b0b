"""Clusters: one interface (:class:`Cluster`), several kinds that start and stop workers.

- :class:`LocalCluster`: workers as processes or threads on this machine;
- :class:`SSHCluster`: a scheduler and workers on hosts reached over SSH;
- batch systems (SLURM, PBS) build on :class:`Cluster` the same way.

>>> from futurelab.deploy import Cluster, LocalCluster
"""
from __future__ import annotations

from typing import Any

from .adaptive import Adaptive as Adaptive
from .cluster import Cluster as Cluster
from .cluster import ClusterError as ClusterError
from .cluster import Log as Log
from .cluster import Logs as Logs
from .local import LocalCluster as LocalCluster


def __getattr__(name: str) -> Any:
    if name == "SSHCluster":  # asyncssh is an optional extra: import it only when asked
        from .ssh import SSHCluster
        return SSHCluster
    raise AttributeError(f"module 'futurelab.deploy' has no attribute {name!r}")


__all__ = ["Adaptive", "Cluster", "ClusterError", "LocalCluster", "Log", "Logs", "SSHCluster"]
