"""The dashboard's cluster-wide model, fed recorded event payloads (no scheduler, no loop)."""
from __future__ import annotations

from futurelab.dashboard.model import ClusterModel


def rec(key: str, state: str, worker: str = "w1", start: float = 0.0, stop: float = 0.0,
        typ: str = "", error: str = "", thread: int = 0) -> list[object]:
    return [key, state, worker, thread, start, stop, typ, error]


def test_snapshot_has_the_sidebar_shape_plus_actors() -> None:
    m = ClusterModel("tcp://s:1")
    snap = m.snapshot(now=5.0)
    assert set(snap) == {"client", "version", "time", "workers", "futures", "nfutures",
                         "progress", "stream", "primitives", "actors"}
    assert snap["client"] == {"id": "cluster", "scheduler": "tcp://s:1", "status": "running"}
    assert snap["time"] == 5.0 and snap["futures"] == [] and snap["nfutures"] == 0


def test_load_then_transitions_keep_progress_stream_and_rows() -> None:
    m = ClusterModel()
    m.load({"workers": {"w1": {"name": "a", "nthreads": 2}},
            "tasks": [rec("inc-1", "memory", start=1, stop=2, typ="int"),
                      rec("inc-2", "processing", start=1.5),
                      rec("dec-1", "waiting", worker="")]},
           {"locks": {"db": {"locked": False}}})
    assert m.progress()["inc"] == {"done": 1, "erred": 0, "cancelled": 0, "processing": 1,
                                   "waiting": 0, "total": 2}
    assert [t["key"] for t in m.stream] == ["inc-1"]  # finished tasks seed the task stream
    v = m.version
    m.apply("tasks", {"transitions": [rec("inc-2", "memory", start=1.5, stop=3, typ="int"),
                                      rec("dec-1", "processing", start=3),
                                      rec("dec-1", "erred", start=3, stop=3.5,
                                          error="ValueError: boom")]})
    assert m.version > v
    assert m.progress()["inc"]["done"] == 2
    assert m.progress()["dec"] == {"done": 0, "erred": 1, "cancelled": 0, "processing": 0,
                                   "waiting": 0, "total": 1}
    snap = m.snapshot(now=4.0)
    # most recently changed first; statuses as the views know them
    assert [(f["key"], f["status"]) for f in snap["futures"]] == [
        ("dec-1", "error"), ("inc-2", "finished"), ("inc-1", "finished")]
    assert snap["futures"][0]["error"] == "ValueError: boom"
    assert snap["futures"][1]["duration"] == 1.5 and snap["futures"][1]["type"] == "int"
    assert [t["key"] for t in snap["stream"]] == ["inc-1", "inc-2", "dec-1"]
    assert snap["primitives"] == {"locks": {"db": {"locked": False}}}


def test_forgotten_tasks_leave_the_model_and_progress() -> None:
    m = ClusterModel()
    m.apply("tasks", {"transitions": [rec("x-1", "memory", stop=1), rec("x-2", "memory", stop=1)]})
    m.apply("tasks", {"transitions": [rec("x-1", "released"), rec("x-1", "forgotten"),
                                      rec("x-2", "released"), rec("x-2", "forgotten")]})
    assert m.tasks == {} and m.counts == {} and m.progress() == {}
    assert len(m.stream) == 2  # history stays


def test_stream_and_futures_are_bounded() -> None:
    m = ClusterModel(stream_size=10)
    m.apply("tasks", {"transitions": [rec(f"t-{i}", "memory", start=i, stop=i + 1)
                                      for i in range(100)]})
    snap = m.snapshot(now=0, futures_limit=7, stream_limit=5)
    assert len(m.stream) == 10 and len(snap["stream"]) == 5 and snap["stream"][-1]["key"] == "t-99"
    assert len(snap["futures"]) == 7 and snap["nfutures"] == 100
    assert snap["futures"][0]["key"] == "t-99"
    assert [f["key"] for f in m.futures(limit=3, states=["memory"], prefix="t")] == [
        "t-99", "t-98", "t-97"]


def test_workers_and_primitives_events() -> None:
    m = ClusterModel()
    m.apply("workers", {"added": {"w1": {"nthreads": 2, "processing": 0}}})
    m.apply("workers", {"metrics": {"w1": {"processing": 2}, "gone": {"processing": 1}}})
    assert m.workers == {"w1": {"nthreads": 2, "processing": 2}}
    m.apply("primitives", {"kind": "lock", "name": "db", "state": {"locked": True,
                                                                   "holder": "Client-1"}})
    assert m.primitives["locks"]["db"]["holder"] == "Client-1"
    m.apply("primitives", {"kind": "lock", "name": "db", "state": None})
    assert m.primitives["locks"] == {}
    m.apply("workers", {"removed": {"w1": {}}})
    assert m.workers == {}
    v = m.version
    m.apply("snapshot", {})  # not the model's topic: ignored
    assert m.version == v


def test_actors_are_asked_once_per_key_and_leave_when_forgotten() -> None:
    asked: list[str] = []

    def is_actor(key: str) -> bool:
        asked.append(key)
        return key.startswith("Counter")

    m = ClusterModel(is_actor=is_actor)
    m.apply("tasks", {"transitions": [rec("Counter-1", "memory", worker="w2", typ="Counter"),
                                      rec("inc-1", "memory")]})
    m.apply("tasks", {"transitions": [rec("Counter-1", "memory", worker="w2", typ="Counter")]})
    assert m.snapshot(now=0)["actors"] == [
        {"key": "Counter-1", "class": "Counter", "worker": "w2"}]
    assert asked.count("Counter-1") == 1  # known actors are not asked again
    m.apply("tasks", {"transitions": [rec("Counter-1", "forgotten")]})
    assert m.snapshot(now=0)["actors"] == []
