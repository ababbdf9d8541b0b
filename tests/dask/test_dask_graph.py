"""Graph conversion without a cluster: dask's task spec → futurelab task messages."""
from __future__ import annotations

from operator import add
from typing import Any

import pytest

pytest.importorskip("dask")

from futurelab import dask_integration as fd
from futurelab.taskspec import TaskRef


def inc(x: int) -> int:
    return x + 1


def convert(graph: Any, known: frozenset[str] = frozenset()) -> tuple[list[dict[str, Any]],
                                                                       dict[Any, str]]:
    return fd.graph_to_tasks(fd.materialize(graph), known.__contains__,
                             lambda args, key: args, "FUNC")


def test_key_str_keeps_strings_and_reprs_tuples() -> None:
    assert fd.key_str("x-1") == "x-1"
    assert fd.key_str(("x-abc", 0, 1)) == "('x-abc', 0, 1)"
    assert fd.key_str(("x", 0)) != fd.key_str(("x", "0"))


def test_flatten_and_pack_follow_dask_nesting() -> None:
    keys = [["a", ("b", 0)], [("b", 1)], "c"]
    assert fd.flatten_keys(keys) == ["a", ("b", 0), ("b", 1), "c"]
    values = {"a": 1, ("b", 0): 2, ("b", 1): 3, "c": 4}
    assert fd.pack(keys, values) == [[1, 2], [3], 4]
    assert fd.pack(("b", 0), values) == 2  # a tuple is a key, not nesting


def test_legacy_graph_becomes_tasks_dependencies_first() -> None:
    graph = {("y", 0): (add, ("x", 0), "w"), ("x", 0): (inc, 1), "w": 10}
    tasks, names = convert(graph)
    order = [t["key"] for t in tasks]
    assert set(order) == {"('y', 0)", "('x', 0)", "w"}
    assert order.index("('y', 0)") > max(order.index("('x', 0)"), order.index("w"))
    y = next(t for t in tasks if t["key"] == "('y', 0)")
    assert y["deps"] == sorted(["('x', 0)", "w"])
    _node, refs = y["args"]
    assert refs == {("x", 0): refs[("x", 0)], "w": refs["w"]}
    assert all(isinstance(r, TaskRef) for r in refs.values())
    assert names == {("y", 0): "('y', 0)", ("x", 0): "('x', 0)", "w": "w"}
    assert y["func"] == "FUNC" and y["retries"] == 0 and not y["actor"]


def test_run_node_evaluates_with_dependency_values() -> None:
    graph = fd.materialize({("y", 0): (add, ("x", 0), "w"), ("x", 0): (inc, 1), "w": 10})
    assert fd.run_node(graph[("x", 0)], {}) == 2
    assert fd.run_node(graph[("y", 0)], {("x", 0): 2, "w": 10}) == 12


def test_known_keys_are_not_resubmitted() -> None:
    tasks, _ = convert({"a": (inc, 1), "b": (inc, "a")}, known=frozenset({"a"}))
    assert [t["key"] for t in tasks] == ["b"]
    assert tasks[0]["deps"] == ["a"]


def test_aliases_to_keys_outside_the_graph_point_at_them() -> None:
    from dask._task_spec import Alias, Task
    from dask._task_spec import TaskRef as DaskRef

    graph = {("p", 0): Alias(("p", 0), "held-key"),
             "q": Task("q", inc, DaskRef(("p", 0)))}
    tasks, names = fd.graph_to_tasks(graph, lambda k: False, lambda a, k: a, "F")
    assert names[("p", 0)] == "held-key"
    assert [t["key"] for t in tasks] == ["q"]
    assert tasks[0]["deps"] == ["held-key"]


def test_materialize_accepts_collections_exprs_and_highlevelgraphs() -> None:
    import dask.array as da
    from dask._task_spec import GraphNode

    x = da.ones(4, chunks=2).sum()
    from dask.base import collections_to_expr
    for dsk in (x.__dask_graph__(), collections_to_expr([x]).optimize()):
        graph = fd.materialize(dsk)
        assert graph and all(isinstance(v, GraphNode) for v in graph.values())
