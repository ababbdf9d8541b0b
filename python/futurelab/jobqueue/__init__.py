"""Batch-system clusters: each worker is a batch job (SLURM; PBS and SGE by template).

:mod:`.script` renders job scripts and reads the batch system's answers (pure);
:mod:`.cluster` submits, watches and cancels the jobs.
"""
