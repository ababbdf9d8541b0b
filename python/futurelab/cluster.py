"""``futurelab.cluster``: where LocalCluster was first defined; it now lives in
:mod:`futurelab.deploy` (with the :class:`~futurelab.deploy.Cluster` interface every kind
shares).  These names stay importable from here.

>>> from futurelab.cluster import LocalCluster
"""
from __future__ import annotations

from .deploy.cluster import Cluster as Cluster
from .deploy.cluster import ClusterError as ClusterError
from .deploy.local import LocalCluster as LocalCluster
from .deploy.local import default_shape as default_shape

__all__ = ["Cluster", "ClusterError", "LocalCluster", "default_shape"]
