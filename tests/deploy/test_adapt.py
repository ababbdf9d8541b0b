"""adapt() on a bursty workload: grows with the work, shrinks back to the minimum when idle,
loses no data and recomputes nothing.  Real workers (threads and processes); the number of
workers is sampled over time and printed as figures and a chart (``pytest -s``)."""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from _util import wait_for

from futurelab import Client, LocalCluster, wait

pytestmark = pytest.mark.timeout(240)

MINIMUM, MAXIMUM = 1, 4


def work(i: int) -> int:
    time.sleep(0.2)
    return i * i


class Sampler:
    """Workers connected to the scheduler, every 20 ms, in a thread (a record, not a sync)."""

    def __init__(self, cluster: LocalCluster) -> None:
        self.cluster = cluster
        self.samples: list[tuple[float, int]] = []
        self.t0 = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.samples.append((time.monotonic() - self.t0,
                                 len(self.cluster.scheduler.state.workers)))

    def now(self) -> float:
        return time.monotonic() - self.t0

    def first(self, since: float, n: int) -> float:
        """Seconds from ``since`` until ``n`` workers were first seen."""
        return next(t for t, k in self.samples if t >= since and k == n) - since

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def chart(self, width: int = 72) -> str:
        """Workers over time, one column per time slice (the most seen in the slice)."""
        end = self.samples[-1][0]
        cols = [0] * width
        for t, k in self.samples:
            col = min(width - 1, int(t / end * width))
            cols[col] = max(cols[col], k)
        rows = [f"{level:>2} |" + "".join("#" if c >= level else " " for c in cols)
                for level in range(max(cols), 0, -1)]
        return "\n".join([*rows, "   +" + "-" * width, f"    0 s{'':>{width - 12}}{end:5.1f} s"])


@pytest.fixture(params=[False, True], ids=["threads", "processes"])
def cluster(request: pytest.FixtureRequest) -> Iterator[LocalCluster]:
    with LocalCluster(n_workers=0, threads_per_worker=1, processes=request.param,
                      dashboard_address=None) as c:
        yield c


def test_bursty_workload_grows_and_shrinks_without_losing_data(cluster: LocalCluster) -> None:
    sampler = Sampler(cluster)
    adaptive = cluster.adapt(minimum=MINIMUM, maximum=MAXIMUM, interval="100ms", wait_count=5,
                             target_duration="1s")
    held = []
    figures = []
    try:
        with Client(cluster) as client:
            wait_for(lambda: len(cluster.workers) == MINIMUM, timeout=60,
                     what="the minimum of workers")
            for burst in range(2):
                t_submit = sampler.now()
                futures = client.map(work, range(40 * burst, 40 * burst + 40), pure=False)
                held += futures
                wait_for(lambda: len(cluster.scheduler.state.workers) == MAXIMUM, timeout=60,
                         what=f"growth to {MAXIMUM} workers in burst {burst}")
                wait(futures, timeout=120)
                t_done = sampler.now()
                wait_for(lambda: len(cluster.scheduler.state.workers) == MINIMUM
                         and len(cluster.workers) == MINIMUM, timeout=60,
                         what=f"shrink to {MINIMUM} worker when idle after burst {burst}")
                wait_for(lambda: sampler.samples[-1][0] > sampler.now() - 0.1, timeout=5)
                figures.append((sampler.first(t_submit, MAXIMUM),
                                sampler.first(t_done, MINIMUM), t_done - t_submit))
            # every result is still there, and none was computed twice
            assert client.gather(held) == [i * i for i in range(80)]
            state = cluster.scheduler.state
            for fut in held:
                story = state.story(fut.key)
                assert sum(1 for t in story if t[2] == "memory") == 1, story
            retired = [entry for _, entry in adaptive.log if entry["status"] == "down"]
            assert retired, "adapt never shrank the cluster"
    finally:
        adaptive.stop()
        sampler.stop()
    kind = "processes" if cluster.processes else "threads"
    print(f"\n[adapt, {kind}] minimum {MINIMUM}, maximum {MAXIMUM}, interval 100 ms, "
          f"wait_count 5, target_duration 1 s; 40 tasks of 0.2 s per burst")
    for i, (grow, shrink, busy) in enumerate(figures):
        print(f"  burst {i}: {MINIMUM}->{MAXIMUM} workers in {grow:.2f} s after submit; "
              f"burst done in {busy:.2f} s; back to {MINIMUM} in {shrink:.2f} s after the "
              f"last result")
    print(sampler.chart())
