"""Task functions and the actor class that benchmark workers run.

They live in an importable module (not in ``__main__``) so that every framework
pickles them by reference; the parent puts the repository root on PYTHONPATH
of each child so that workers can import ``benchmarks._tasks``.
"""
from __future__ import annotations

from typing import Any


def inc(x: int) -> int:
    return x + 1


def add(x: int, y: int) -> int:
    return x + y


def make_array(nbytes: int, seed: int) -> Any:
    import numpy as np

    return np.random.default_rng(seed).integers(0, 256, nbytes, dtype=np.uint8)


class Counter:
    """The spec's actor example."""

    n = 0

    def __init__(self) -> None:
        self.n = 0

    def increment(self) -> int:
        self.n += 1
        return self.n


def scheduler_task_count(dask_scheduler: Any = None) -> int:
    """Run on the scheduler (``client.run_on_scheduler``): how many tasks it still tracks."""
    tasks = getattr(dask_scheduler, "tasks", None)
    if tasks is None:
        raise RuntimeError("the scheduler does not expose its tasks")
    return len(tasks)


def pid() -> int:
    import os

    return os.getpid()


def collect_garbage() -> int:
    """gc.collect(), then glibc's malloc_trim(0): hand freed heap pages back to the OS so
    that RSS shows live memory rather than what the allocator keeps for later."""
    import ctypes
    import gc

    found = gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    return found
