"""Stories from a running cluster: every stimulus numbered, every transition timed."""
from __future__ import annotations

import time

from futurelab import Client


def inc(x: int) -> int:
    return x + 1


def test_every_transition_names_a_unique_stimulus_and_its_time() -> None:
    t0 = time.time()
    with Client(processes=False, n_workers=1, threads_per_worker=1,
                dashboard_address=None) as client:
        a, b = client.submit(inc, 1), client.submit(inc, 2)
        assert client.gather([a, b]) == [2, 3]
        scheduler = client.cluster.scheduler
        stories = {f.key: scheduler.state.story(f.key) for f in (a, b)}
        worker_story = client.run(lambda dask_worker: [tuple(t) for t in
                                                       dask_worker.state.story(a.key)])
    finished = {k: next(t for t in s if t.finish == "memory") for k, s in stories.items()}
    # two task-finished messages: two different stimuli, each with its number
    ids = {t.stimulus_id for t in finished.values()}
    assert len(ids) == 2 and all(i.startswith("task-finished-") for i in ids)
    for story in stories.values():
        assert all(t0 <= t.time <= time.time() for t in story)
        assert [t.time for t in story] == sorted(t.time for t in story)
    (on_worker,) = worker_story.values()
    assert on_worker[-1][2] == "memory" and on_worker[-1][3].startswith("execute-success-")
    assert t0 <= on_worker[-1][4] <= time.time()
