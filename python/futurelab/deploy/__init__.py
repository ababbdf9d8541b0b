"""Clusters: one interface (:class:`Cluster`), several kinds that start and stop workers.

- :class:`LocalCluster`: workers as processes or threads on this machine;
- :class:`SSHCluster`: a scheduler and workers on hosts reached over SSH;
- batch systems (SLURM, PBS) build on :class:`Cluster` the same way.

The names load on first use (PEP 562), so the command line's parsers (``ssh_cli``) import none
of the client and scheduler code a ``futurelab scheduler`` or ``worker`` process never needs.

>>> from futurelab.deploy import Cluster, LocalCluster
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes

if TYPE_CHECKING:
    from .adaptive import Adaptive as Adaptive
    from .cluster import Cluster as Cluster
    from .cluster import ClusterError as ClusterError
    from .cluster import Log as Log
    from .cluster import Logs as Logs
    from .local import LocalCluster as LocalCluster
    from .ssh import SSHCluster as SSHCluster

_LAZY = {"Adaptive": ".adaptive", "Cluster": ".cluster", "ClusterError": ".cluster",
         "Log": ".cluster", "Logs": ".cluster", "LocalCluster": ".local",
         # asyncssh is an optional extra: imported only when asked for
         "SSHCluster": ".ssh"}

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals())


__all__ = ["Adaptive", "Cluster", "ClusterError", "LocalCluster", "Log", "Logs", "SSHCluster"]
