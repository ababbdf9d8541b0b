"""Running dask collections on futurelab (``compute``, ``persist``, ``get``).

A mixin of :class:`~futurelab.client.client.Client`; dask is optional and imported lazily, only
when one of these methods is called.  The graph conversion and the hook that makes a Client
dask's default scheduler live in :mod:`futurelab.dask_integration`.
"""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from .. import dask_integration as _dask
from ..protocol.serialize import Opaque
from .future import Future

if TYPE_CHECKING:
    from .client import Client

# (``import futurelab`` installs the hook that makes dask's default scheduler futurelab inside
# tasks once dask is imported: see futurelab/__init__.py)


def on_client_start(client: Client) -> None:
    """Called by ``Client._start``: a default Client becomes dask's scheduler until it closes.

    Cheap: it imports nothing from dask (dask's config picks the Client up when dask is
    imported, see :mod:`futurelab.dask_integration`).
    """
    if not client._set_as_default:
        return  # e.g. a worker's own client: tasks find it themselves
    _dask.register_client(client)
    reader = getattr(client, "_reader", None)
    if reader is not None:  # the scheduler stream's reader ends when the client closes
        ref = _weak(client)
        reader.add_done_callback(lambda _: _unregister(ref))


def _weak(client: Client) -> Any:
    import weakref
    return weakref.ref(client)


def _unregister(ref: Any) -> None:
    client = ref()
    if client is not None:
        _dask.unregister_client(client)


def _is_sequence(obj: Any) -> bool:
    return isinstance(obj, (list, tuple, set, frozenset))


class CollectionsMixin:
    """dask collection support for the Client: ``compute``, ``persist`` and ``get``."""

    _lock: threading.RLock
    _serializing: bool
    asynchronous: bool
    futures: dict[str, Any]

    if TYPE_CHECKING:  # provided by Client and TransferMixin (later in the MRO)
        def _send(self, *msgs: dict[str, Any]) -> None: ...

        def gather(self, futures: Any, errors: str = "raise", direct: bool | None = None,
                   asynchronous: bool | None = None) -> Any: ...

    # ------------------------------------------------------------------ graph → futures
    def _graph_to_futures(self, graph: dict[Any, Any], keys: list[Any],
                          workers: Any = None, retries: int = 0) -> dict[Any, Future]:
        """Submit a materialized dask graph; return a Future for each of ``keys``."""
        from .transfer import _pickle_checked
        from .transfer import pickle_args as pickle_checked_args

        client: Client = self  # type: ignore[assignment]
        if self._serializing:
            func_op = _pickle_checked(_dask.run_node, "futurelab.dask_integration.run_node")
            pickle_args = pickle_checked_args
        else:
            func_op = Opaque(_dask.run_node)

            def pickle_args(args: tuple[Any, ...], key: str) -> Opaque:
                return Opaque(args)
        if isinstance(workers, str):
            workers = [workers]
        with self._lock:
            known = set(self.futures)
            tasks, names = _dask.graph_to_tasks(graph, known.__contains__, pickle_args,
                                                func_op, list(workers) if workers else None,
                                                retries)
            futures = {k: Future(names.get(k) or _dask.key_str(k), client, inform=False)
                       for k in keys}
        if tasks or futures:
            self._send({"op": "update-graph", "tasks": tasks,
                        "keys": sorted({f.key for f in futures.values()})})
        return futures

    def _gather_in_task(self, futures: Any) -> Any:
        """``gather``, seceding from the worker's thread pool meanwhile when inside a task."""
        from ..worker.executor import rejoin, secede, thread_state

        seceding = (getattr(thread_state, "key", None) is not None
                    and not getattr(thread_state, "seceded", False))
        if seceding:
            secede()
        try:
            return self.gather(futures)
        finally:
            if seceding:
                rejoin()

    # ------------------------------------------------------------------ public
    def get(self, dsk: Any, keys: Any, workers: Any = None, retries: int = 0,
            sync: bool = True, asynchronous: bool | None = None, **kwargs: Any) -> Any:
        """Compute a dask graph on the cluster: the scheduler entry point dask calls.

        Inside a task this secedes from the worker's thread pool while it waits, then rejoins,
        so it cannot deadlock a worker with one thread.

        Args:
            dsk: a dask graph: an expression, a HighLevelGraph or a mapping of dask keys to
                tasks.
            keys: a key, or (nested) lists of keys, to return.
            workers: restrict the graph's tasks to these worker addresses.
            retries: times to rerun a failed task.
            sync: False to return Futures (in the shape of ``keys``) instead of values.
            **kwargs: other scheduler options dask forwards are accepted and ignored.

        Returns:
            The values (or Futures) of ``keys``, in the shape of ``keys``.

        Raises:
            Exception: the first failed task's own exception.

        >>> # client.get({"x": 1, "y": (inc, "x")}, "y")
        >>> # 2
        """
        graph = _dask.materialize(dsk)
        futures = self._graph_to_futures(graph, _dask.flatten_keys(keys), workers, retries)
        packed = _dask.pack(keys, futures)
        if not sync:
            return packed
        if self.asynchronous:
            return self.gather(packed)
        return self._gather_in_task(packed)

    def compute(self, collections: Any, sync: bool = False, optimize_graph: bool = True,
                workers: Any = None, retries: int = 0, traverse: bool = True,
                **kwargs: Any) -> Any:
        """Start computing dask collections on the cluster; return a Future for each.

        Each Future's result is what ``collection.compute()`` returns (a NumPy array for a dask
        array, a pandas DataFrame for a dask DataFrame, ...).  Results stay on the workers until
        gathered.

        Args:
            collections: a dask collection or a list of them (other items pass through).
            sync: True to wait and return the results instead of Futures.
            optimize_graph: False to skip dask's graph optimizations.
            workers, retries: as for ``submit``.

        Returns:
            A Future (or values when ``sync``), or a list of them for a list of collections.

        >>> # future = client.compute(dask.array.ones(10, chunks=5).sum())
        >>> # future.result()
        >>> # 10.0
        """
        from dask._expr import FinalizeCompute
        from dask.base import collections_to_expr, is_dask_collection

        single = not _is_sequence(collections)
        items = [collections] if single else list(collections)
        colls = [c for c in items if is_dask_collection(c)]
        out = list(items)
        if colls:
            expr = FinalizeCompute(collections_to_expr(colls, optimize_graph)).optimize()
            per_coll = expr.__dask_keys__()
            final_keys = []
            for ckeys in per_coll:
                flat = _dask.flatten_keys(ckeys)
                if len(flat) != 1:
                    raise RuntimeError(f"dask finalized a collection to {len(flat)} keys, "
                                       f"expected one")
                final_keys.append(flat[0])
            futures = self._graph_to_futures(_dask.materialize(expr), final_keys, workers,
                                             retries)
            done = iter(futures[k] for k in final_keys)
            out = [next(done) if is_dask_collection(c) else c for c in items]
        result = out[0] if single else out
        if sync:
            return self.gather(result) if self.asynchronous else self._gather_in_task(result)
        return result

    def persist(self, collections: Any, optimize_graph: bool = True, workers: Any = None,
                retries: int = 0, **kwargs: Any) -> Any:
        """Start computing dask collections; return the same collections backed by Futures.

        Returns at once: the new collections' graphs hold Futures of the results, which stay
        on the workers (``futurelab.dask_integration.futures_of`` lists them).  Computing them
        later reuses those results.

        Args:
            collections: a dask collection or a list of them (other items pass through).
            optimize_graph: False to skip dask's graph optimizations.
            workers, retries: as for ``submit``.

        >>> # x = client.persist(dask.array.ones(10, chunks=5) + 1)
        >>> # x.sum().compute()
        >>> # 20.0
        """
        from dask.base import collections_to_expr, is_dask_collection

        single = not _is_sequence(collections)
        items = [collections] if single else list(collections)
        colls = [c for c in items if is_dask_collection(c)]
        if not colls:
            return collections if single else items
        expr = collections_to_expr(colls, optimize_graph).optimize()
        per_coll = expr.__dask_keys__()
        flat = _dask.flatten_keys(per_coll)
        futures = self._graph_to_futures(_dask.materialize(expr), flat, workers, retries)
        rebuilt = []
        for coll, ckeys, cexpr in zip(colls, per_coll, _operands(expr, len(colls))):
            held = {k: _dask.future_ref(futures[k]) for k in _dask.flatten_keys(ckeys)}
            rebuilt.append(_rebuild(coll, cexpr, held))
        done = iter(rebuilt)
        out = [next(done) if is_dask_collection(c) else c for c in items]
        return out[0] if single else out


def _operands(expr: Any, n: int) -> list[Any]:
    from dask._expr import _ExprSequence

    ops = list(expr.operands) if isinstance(expr, _ExprSequence) else [expr]
    return ops if len(ops) == n else [None] * n


def _rebuild(coll: Any, cexpr: Any, held: dict[Any, Any]) -> Any:
    """``coll`` rebuilt over ``held`` (dask key → FutureRef), as dask's persist does."""
    from dask._expr import CompositeExpr

    if isinstance(cexpr, CompositeExpr):  # collections made of several child expressions
        from dask.base import _rebuild_composite_collection

        return _rebuild_composite_collection(coll, cexpr, held, cull_to_child_keys=True)
    rebuild, state = coll.__dask_postpersist__()
    return rebuild(held, *state)
