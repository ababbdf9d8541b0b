"""Side-by-side benchmarks: futurelab against dask.distributed and Ray.

Run ``python -m benchmarks`` (``make bench``); ``python -m benchmarks --help``
lists the options. Every workload runs in a fresh subprocess
(``python -m benchmarks.run_one``) so that one framework's threads, caches and
leftovers never touch another's figures.

Modules:
    _spec             what is measured: workloads, metrics, sizes, targets
    run_one           child entry point: one framework x mode x workload
    futures_workloads workloads through the dask.distributed futures API
                      (futurelab and dask run the very same code)
    ray_workloads     the Ray equivalents
    _measure          process-tree CPU, RSS, loopback socket copy, samples
    _tasks            task functions and the actor class the workers import
    _runner           the parent: warm-up, rounds, subprocesses, results
    _report           the table
"""
from __future__ import annotations
