"""What the benchmark suite measures: frameworks, modes, workloads, metrics, sizes, targets.

Pure data shared by the parent runner and the child processes. Changing a size
or adding a metric happens here; the workload code reads it from here.
"""
from __future__ import annotations

from dataclasses import dataclass

#: framework name -> the module a user imports
FRAMEWORKS: dict[str, str] = {"futurelab": "futurelab", "dask": "distributed", "ray": "ray"}
PEERS: tuple[str, ...] = ("dask", "ray")

#: mode -> cluster shape. Ray has only the processes shape (num_cpus=2).
MODES: dict[str, str] = {
    "processes": "2 worker processes x 1 thread",
    "threads": "1 worker x 2 threads, in-process",
}
MODE_FRAMEWORKS: dict[str, tuple[str, ...]] = {
    "processes": ("futurelab", "dask", "ray"),
    "threads": ("futurelab", "dask"),
}


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    unit: str
    higher_is_better: bool
    #: futurelab's absolute target from issue 11, e.g. (">=", 10_000); None if it has none
    target: tuple[str, float] | None = None
    #: modes the target applies to
    target_modes: tuple[str, ...] = ("processes", "threads")
    #: a yardstick measured beside the framework (no futurelab/peer ratio)
    reference: bool = False

    def meets(self, value: float) -> bool:
        assert self.target is not None
        op, bound = self.target
        return value >= bound if op == ">=" else value <= bound


@dataclass(frozen=True)
class Workload:
    name: str
    title: str
    metrics: tuple[Metric, ...]
    #: seconds the parent waits for one child before killing it: (full, quick)
    timeout: tuple[float, float] = (240.0, 90.0)


_LOWER_US = "us"

WORKLOADS: tuple[Workload, ...] = (
    Workload("map", "map of {map_tasks:,} trivial tasks + gather", (
        Metric("map_tasks_per_s", "map+gather", "tasks/s", True, (">=", 10_000), ("processes",)),
        Metric("map_cpu_us_per_task", "CPU per task, all cluster processes", "us", False,
               ("<=", 100)),
    ), timeout=(300.0, 90.0)),
    Workload("roundtrip", "{roundtrips:,} sequential submit -> result", (
        Metric("rt_sync_us", "submit->result (median)", _LOWER_US, False, ("<=", 500)),
        Metric("rt_async_us", "await submit (median)", _LOWER_US, False, ("<=", 500)),
        Metric("thread_handoff_us", "thread hand-off round trip (machine)", _LOWER_US, False,
               reference=True),
        Metric("process_handoff_us", "process hand-off round trip (machine)", _LOWER_US,
               False, reference=True),
    )),
    Workload("graph", "{chain_tasks:,}-task chain, {tree_leaves:,}-leaf tree reduction", (
        Metric("chain_tasks_per_s", "chain", "tasks/s", True),
        Metric("tree_tasks_per_s", "tree reduction (all tasks)", "tasks/s", True),
    ), timeout=(300.0, 90.0)),
    Workload("transfer", "scatter/gather of a {transfer_mb:.0f} MB numpy array", (
        Metric("scatter_MBps", "scatter", "MB/s", True),
        Metric("gather_MBps", "gather", "MB/s", True),
        Metric("socket_MBps", "raw loopback TCP copy (the limit)", "MB/s", True, reference=True),
        Metric("scatter_pct_socket", "scatter / socket copy", "%", True, (">=", 50)),
        Metric("gather_pct_socket", "gather / socket copy", "%", True, (">=", 50)),
    )),
    Workload("actor", "{actor_calls:,} actor method round trips", (
        Metric("actor_us", "counter.increment().result()", _LOWER_US, False, ("<=", 200)),
    )),
    Workload("primitives", "coordination primitives, {primitive_pairs:,} pairs each", (
        Metric("queue_us", "Queue put+get", _LOWER_US, False, ("<=", 150)),
        Metric("variable_us", "Variable set+get", _LOWER_US, False, ("<=", 150)),
        Metric("lock_us", "Lock acquire+release", _LOWER_US, False, ("<=", 150)),
        Metric("event_us", "Event set+wait", _LOWER_US, False, ("<=", 150)),
        Metric("semaphore_us", "Semaphore acquire+release", _LOWER_US, False, ("<=", 150)),
    )),
    Workload("startup", "client lifecycle", (
        Metric("start_s", "start to first result", "s", False, ("<=", 0.5)),
        Metric("close_s", "close", "s", False),
        Metric("import_s", "import (fresh process)", "s", False),
    ), timeout=(120.0, 90.0)),
    Workload("memory", "scheduler memory, {memory_tasks:,} held tasks", (
        Metric("mem_held_B_per_task", "RSS per held task", "B/task", False, ("<=", 1024)),
        Metric("mem_released_B_per_task", "RSS left after release", "B/task", False,
               ("<=", 100)),
    ), timeout=(300.0, 120.0)),
)

WORKLOAD_NAMES: tuple[str, ...] = tuple(w.name for w in WORKLOADS)


def workload(name: str) -> Workload:
    for w in WORKLOADS:
        if w.name == name:
            return w
    raise KeyError(f"unknown workload {name!r}; choose from {', '.join(WORKLOAD_NAMES)}")


#: sizes: name -> (full run, --quick). The full sizes are issue 11's.
SIZES: dict[str, tuple[int, int]] = {
    "map_tasks": (10_000, 500),
    "roundtrips": (500, 50),
    "chain_tasks": (2_000, 100),
    "tree_leaves": (4_096, 128),
    "transfer_bytes": (100_000_000, 100_000_000),
    "actor_calls": (500, 100),
    "primitive_pairs": (500, 50),
    "memory_tasks": (100_000, 2_000),
    # seconds to wait for the held tasks to finish before measuring anyway, and for the
    # scheduler to forget them after release
    "memory_finish_wait_s": (10, 3),
    "memory_release_wait_s": (10, 5),
    # untimed tasks run first in each child (imports, connections, code paths)
    "warmup_tasks": (200, 20),
    # a child starts another repeat of a measurement only if it should end within this
    "repeat_budget_s": (10, 3),
}


def size(name: str, quick: bool) -> int:
    full, short = SIZES[name]
    return short if quick else full


def sizes(quick: bool) -> dict[str, int]:
    return {name: size(name, quick) for name in SIZES}


def title(wl: Workload, used: dict[str, int]) -> str:
    """The workload's title with the sizes a run used filled in."""
    return wl.title.format(transfer_mb=used["transfer_bytes"] / 1e6, **used)
