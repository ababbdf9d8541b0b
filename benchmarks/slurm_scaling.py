"""SLURMCluster's scaling on a real SLURM on this machine (the test harness's; needs root).

``python -m benchmarks.slurm_scaling [--svg PATH]`` measures

1. the time from ``scale(n)`` to n registered workers (n = 1, 2, 4; a few repeats), and
2. ``adapt(minimum=0, maximum=4)`` on a bursty workload: bursts of short tasks separated by
   idle spells, sampled every 100 ms — registered workers, jobs in squeue, tasks not done —
   printed as a table and drawn as an SVG step chart.

The SLURM is the one of ``tests/jobqueue/_slurm.py`` (one node, 4 declared CPUs, loopback), so
the figures show futurelab's and SLURM's own latencies, not a real queue's waits.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "jobqueue"))

from _slurm import Slurm  # noqa: E402


def _sleepy(x: float) -> float:
    time.sleep(x)
    return x


def scale_times(tmp: Path, repeats: int) -> dict[int, list[float]]:
    from futurelab.jobqueue import SLURMCluster
    times: dict[int, list[float]] = {}
    for n in (1, 2, 4):
        for _ in range(repeats):
            with SLURMCluster(cores=1, memory="400MB", walltime="00:10:00", host="127.0.0.1",
                              dashboard_address=None, poll_interval="1s",
                              shared_temp_directory=str(tmp),
                              log_directory=str(tmp / "logs")) as cluster:
                t0 = time.perf_counter()
                cluster.scale(n)
                cluster.wait_for_workers(n, timeout=120)
                times.setdefault(n, []).append(time.perf_counter() - t0)
    return times


def adapt_timeline(slurm: Slurm, tmp: Path, bursts: int, tasks: int, task_seconds: float,
                   idle: float) -> tuple[list[tuple[float, int, int, int]], list[float]]:
    from futurelab import Client, wait
    from futurelab.jobqueue import SLURMCluster
    samples: list[tuple[float, int, int, int]] = []
    marks: list[float] = []
    with SLURMCluster(cores=1, memory="400MB", walltime="00:10:00", host="127.0.0.1",
                      dashboard_address=None, poll_interval="1s",
                      shared_temp_directory=str(tmp), log_directory=str(tmp / "logs"),
                      ) as cluster, Client(cluster) as client:
        cluster.adapt(minimum=0, maximum=4, interval="500ms", wait_count=3,
                      target_duration="2s")
        pending: list[Any] = []
        stop = threading.Event()
        t0 = time.perf_counter()

        def sample() -> None:
            while not stop.is_set():
                workers = len(cluster.scheduler.state.workers)
                jobs = len(slurm.jobs())
                left = sum(not f.done() for f in list(pending))
                samples.append((time.perf_counter() - t0, workers, jobs, left))
                stop.wait(0.1)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        time.sleep(2)
        for _ in range(bursts):
            marks.append(time.perf_counter() - t0)
            futures = client.map(_sleepy, [task_seconds] * tasks, pure=False)
            pending[:] = futures
            wait(futures, timeout=300)
            client.gather(futures)
            del futures
            pending.clear()  # results taken: nothing holds the workers any more
            time.sleep(idle)
        stop.set()
        sampler.join(10)
    return samples, marks


def svg(samples: list[tuple[float, int, int, int]], marks: list[float], path: Path) -> None:
    """A step chart: workers (blue), jobs in squeue (orange, dashed), bursts (grey)."""
    w, h, left, bottom = 760, 260, 50, 30
    tmax = max(s[0] for s in samples)
    ymax = max(4, max(max(s[1], s[2]) for s in samples))

    def x(t: float) -> float:
        return left + (w - left - 10) * t / tmax

    def y(v: float) -> float:
        return h - bottom - (h - bottom - 10) * v / ymax

    def steps(col: int) -> str:
        pts = []
        for i, s in enumerate(samples):
            if i:
                pts.append(f"{x(s[0]):.1f},{y(samples[i - 1][col]):.1f}")
            pts.append(f"{x(s[0]):.1f},{y(s[col]):.1f}")
        return " ".join(pts)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
             f'font-family="sans-serif" font-size="11">',
             f'<rect width="{w}" height="{h}" fill="white"/>']
    for m in marks:
        parts.append(f'<line x1="{x(m):.1f}" y1="10" x2="{x(m):.1f}" y2="{y(0):.1f}" '
                     f'stroke="#bbb"/><text x="{x(m) + 2:.1f}" y="20" fill="#888">burst</text>')
    for v in range(ymax + 1):
        parts.append(f'<text x="{left - 8}" y="{y(v) + 4:.1f}" text-anchor="end">{v}</text>'
                     f'<line x1="{left}" y1="{y(v):.1f}" x2="{w - 10}" y2="{y(v):.1f}" '
                     f'stroke="#eee"/>')
    for t in range(0, int(tmax) + 1, 10):
        parts.append(f'<text x="{x(t):.1f}" y="{h - 10}" text-anchor="middle">{t}s</text>')
    parts.append(f'<polyline fill="none" stroke="#e67e22" stroke-dasharray="4 3" '
                 f'stroke-width="2" points="{steps(2)}"/>')
    parts.append(f'<polyline fill="none" stroke="#2c6fbb" stroke-width="2" '
                 f'points="{steps(1)}"/>')
    parts.append(f'<rect x="{w - 175}" y="{h - bottom - 58}" width="160" height="36" '
                 f'fill="white" stroke="#ddd"/>'
                 f'<text x="{w - 168}" y="{h - bottom - 44}" fill="#2c6fbb">workers '
                 f'registered</text><text x="{w - 168}" y="{h - bottom - 28}" '
                 f'fill="#e67e22">jobs in squeue</text></svg>')
    path.write_text("\n".join(parts))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--svg", default="slurm-adapt.svg")
    args = parser.parse_args()
    slurm = Slurm().start()
    os.environ["SLURM_CONF"] = str(slurm.conf)
    tmp = slurm.root / "shared"
    try:
        for n, ts in scale_times(tmp, args.repeats).items():
            print(f"scale({n}) -> {n} workers: median {statistics.median(ts):.2f} s "
                  f"(min {min(ts):.2f}, max {max(ts):.2f}, {len(ts)} runs)")
        samples, marks = adapt_timeline(slurm, tmp, bursts=3, tasks=40, task_seconds=0.25,
                                        idle=12)
        print("\n  t (s)  workers  jobs  tasks left")
        last = None
        for t, workers, jobs, left in samples:
            if (workers, jobs, left > 0) != last:
                print(f"{t:7.1f}  {workers:7d}  {jobs:4d}  {left:10d}")
                last = (workers, jobs, left > 0)
        print("bursts at", ", ".join(f"{m:.1f}" for m in marks), "s")
        svg(samples, marks, Path(args.svg))
        print(f"chart: {args.svg}")
    finally:
        slurm.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
