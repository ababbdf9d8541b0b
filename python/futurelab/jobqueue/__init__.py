"""Batch-system clusters: each worker is a batch job (SLURM; PBS and SGE by template).

:mod:`.script` renders job scripts and reads the batch system's answers (pure);
:mod:`.cluster` submits, watches and cancels the jobs.

>>> from futurelab.jobqueue import SLURMCluster
"""
from __future__ import annotations

from .cluster import JobQueueCluster as JobQueueCluster
from .cluster import PBSCluster as PBSCluster
from .cluster import SGECluster as SGECluster
from .cluster import SLURMCluster as SLURMCluster

__all__ = ["JobQueueCluster", "PBSCluster", "SGECluster", "SLURMCluster"]
