"""Batch-system clusters: each worker is a batch job (SLURM; PBS and SGE by template).

:mod:`.script` renders job scripts and reads the batch system's answers (pure);
:mod:`.cluster` submits, watches and cancels the jobs.

>>> from futurelab.jobqueue import SLURMCluster
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes

if TYPE_CHECKING:
    from .cluster import JobQueueCluster as JobQueueCluster
    from .cluster import PBSCluster as PBSCluster
    from .cluster import SGECluster as SGECluster
    from .cluster import SLURMCluster as SLURMCluster

# loaded on first use: the command line's parser (jobqueue.cli) needs none of the cluster code
__getattr__, __dir__ = lazy_attributes(__name__, dict.fromkeys(
    ["JobQueueCluster", "PBSCluster", "SGECluster", "SLURMCluster"], ".cluster"), globals())

__all__ = ["JobQueueCluster", "PBSCluster", "SGECluster", "SLURMCluster"]
