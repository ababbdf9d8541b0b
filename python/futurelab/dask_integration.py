"""dask collections on futurelab: graph conversion, and futurelab as dask's scheduler.

Theory of operation
-------------------
*Graphs.*  dask hands a scheduler an expression (``dask._expr.Expr``), a HighLevelGraph or a
plain mapping, plus the keys it wants.  :func:`materialize` turns any of these into dask's task
spec, ``{dask key: GraphNode}`` (``Task``, ``Alias``, ``DataNode`` from ``dask._task_spec``).
:func:`graph_to_tasks` makes each node one futurelab task whose function is :func:`run_node`:
its arguments are the node itself and ``{dependency's dask key: TaskRef}``, which the worker fills
with the dependencies' values before calling ``node(values)``, so dask's own code evaluates the
node.  futurelab keys are strings: a string dask key is kept as it is and any other key (e.g.
``("x-abc", 0)``) becomes its ``repr`` (:func:`key_str`), so the task stream shows dask's names.
A node holding a futurelab Future (a persisted collection) is not resubmitted: its dependents
point at the Future's key, which is already on the cluster.

*Scheduler hook.*  dask asks ``dask.config.get("scheduler")`` for a scheduler and skips it when
it is falsy.  futurelab puts one :class:`DaskScheduler` object there.  It is truthy, and routes
to a client, only when there is work for futurelab: inside a futurelab task (the worker's own
client) or while a default Client of this process is running (the most recent one).  Otherwise
it defers to whatever was configured before it, and when nothing was it is falsy, so dask
behaves exactly as if futurelab were absent.  Closing the last Client therefore unregisters it
without racing other code that edits dask's config.

Worker processes never create a Client before their first task runs, so futurelab installs the
object there once ``dask`` is imported: :func:`install_import_hook` (called when futurelab is
imported, and a no-op when dask is not installed) adds a one-shot import finder that runs
:func:`install_scheduler` right after ``import dask`` finishes.

dask is imported lazily: importing this module never imports dask.
"""
from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import logging
import sys
import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .taskspec import TaskRef

if TYPE_CHECKING:
    from .client.client import Client

logger = logging.getLogger("futurelab.dask")
_lock = threading.RLock()
#: default Clients of this process that dask may use, oldest first
_clients: list[weakref.ref[Client]] = []


# ---------------------------------------------------------------------------------- keys
def key_str(key: Any) -> str:
    """The futurelab key of a dask key: strings unchanged, anything else (tuples) its repr.

    >>> key_str("x-1"), key_str(("x-abc", 0))
    ('x-1', "('x-abc', 0)")
    """
    return key if type(key) is str else repr(key)


def flatten_keys(keys: Any) -> list[Any]:
    """The keys inside dask's nested key lists (tuples are keys, lists are nesting).

    >>> flatten_keys([["a", ("b", 0)], "c"])
    ['a', ('b', 0), 'c']
    """
    if isinstance(keys, list):
        return [k for sub in keys for k in flatten_keys(sub)]
    return [keys]


def pack(keys: Any, values: Mapping[Any, Any]) -> Any:
    """``keys`` (nested lists of dask keys) with each key replaced by ``values[key]``.

    >>> pack([["a"], "b"], {"a": 1, "b": 2})
    [[1], 2]
    """
    if isinstance(keys, list):
        return [pack(k, values) for k in keys]
    return values[keys]


# ---------------------------------------------------------------------------------- graphs
def materialize(dsk: Any) -> dict[Any, Any]:
    """dask's task spec for ``dsk``: ``{dask key: GraphNode}``.

    Args:
        dsk: an expression (what ``dask.compute`` hands a scheduler), a HighLevelGraph, or a
            mapping in either the task-spec or the legacy tuple format.
    """
    from dask._task_spec import GraphNode, convert_legacy_graph

    if hasattr(dsk, "__dask_graph__") and not isinstance(dsk, Mapping):
        dsk = dsk.__dask_graph__()
    if not isinstance(dsk, dict):
        dsk = dict(dsk)  # HighLevelGraph and other mappings
    if all(isinstance(v, GraphNode) for v in dsk.values()):
        return dsk
    return convert_legacy_graph(dsk)


def run_node(node: Any, values: dict[Any, Any]) -> Any:
    """Evaluate one dask graph node given its dependencies' values (runs on a worker)."""
    return node(values)


_future_ref_type: Any = None


def future_ref(future: Any) -> Any:
    """A dask ``TaskRef`` to a futurelab Future: what persisted collections' graphs hold.

    dask treats it like a distributed Future (a reference to data already on the cluster, kept
    alive by the graph), so its optimizations never inline it as data.
    """
    global _future_ref_type
    if _future_ref_type is None:
        from dask._task_spec import TaskRef as DaskTaskRef

        class FutureRef(DaskTaskRef):
            """A dask reference to the result of a futurelab Future (which it keeps alive)."""

            __slots__ = ("future",)

            def __init__(self, future: Any) -> None:
                super().__init__(future.key)
                self.future = future

            def __reduce__(self) -> Any:
                return (future_ref, (self.future,))

            def __repr__(self) -> str:
                return f"FutureRef({self.future!r})"

        _future_ref_type = FutureRef
    return _future_ref_type(future)


def _held_future(node: Any) -> Any:
    """The futurelab Future a DataNode stands for (a user put one in a graph), else None."""
    from .client.future import Future

    value = getattr(node, "value", None)
    return value if isinstance(value, Future) else None


def _external_target(node: Any, graph: Mapping[Any, Any]) -> Any:
    """The key an Alias points to when it is outside the graph (data on the cluster)."""
    from dask._task_spec import Alias

    if isinstance(node, Alias) and node.target not in graph:
        return node.target
    return None


def _order(graph: Mapping[Any, Any]) -> list[Any]:
    """The graph's keys, dependencies first, in dask's preferred order when it can give one."""
    try:
        from dask.order import order

        priority = order(graph)
        return sorted(graph, key=priority.__getitem__)
    except Exception:  # noqa: BLE001 - fall back to a plain topological order
        done: set[Any] = set()
        out: list[Any] = []
        for root in graph:
            stack = [(root, False)]
            while stack:
                key, expanded = stack.pop()
                if key in done or key not in graph:
                    continue
                if expanded:
                    done.add(key)
                    out.append(key)
                    continue
                stack.append((key, True))
                stack.extend((d, False) for d in graph[key].dependencies if d not in done)
        return out


def graph_to_tasks(graph: Mapping[Any, Any], known: Callable[[str], bool],
                   pickle_args: Callable[[tuple[Any, ...], str], Any], func_op: Any,
                   workers: list[str] | None = None, retries: int = 0,
                   ) -> tuple[list[dict[str, Any]], dict[Any, str]]:
    """futurelab task messages for a dask graph, dependencies first.

    Args:
        graph: ``{dask key: GraphNode}`` (from :func:`materialize`).
        known: true for futurelab keys the client already has (those are not resubmitted).
        pickle_args: turns a task's argument tuple into its wire form (the client's
            serialization).
        func_op: the wire form of :func:`run_node`.
        workers, retries: as for ``Client.submit``.

    Returns:
        The ``update-graph`` task dicts, and ``{dask key: futurelab key}`` for every node.
    """
    names: dict[Any, str] = {}
    on_cluster: set[Any] = set()
    for key, node in graph.items():
        held = _held_future(node)
        target = _external_target(node, graph) if held is None else None
        if held is not None:
            names[key] = held.key
        elif target is not None:
            names[key] = key_str(target)
        else:
            names[key] = key_str(key)
            continue
        on_cluster.add(key)
    tasks: list[dict[str, Any]] = []
    for key in _order(graph):
        node = graph[key]
        name = names[key]
        if key in on_cluster or known(name):
            continue
        refs = {dep: TaskRef(names.get(dep) or key_str(dep)) for dep in node.dependencies}
        tasks.append({"key": name, "func": func_op, "args": pickle_args((node, refs), name),
                      "kwargs": None, "deps": sorted({r.key for r in refs.values()}),
                      "workers": workers, "actor": False, "retries": retries})
    return tasks, names


def futures_of(collection: Any) -> list[Any]:
    """The futurelab Futures a (persisted) dask collection's graph holds.

    >>> # wait(futures_of(client.persist(array)))
    """
    from dask.base import is_dask_collection

    from .client.future import Future

    if not is_dask_collection(collection):
        return []
    out: dict[str, Any] = {}
    for value in dict(collection.__dask_graph__()).values():
        value = getattr(value, "value", value)  # a DataNode
        value = getattr(value, "future", value)  # a FutureRef
        if isinstance(value, Future):
            out[value.key] = value
    return list(out.values())


# ---------------------------------------------------------------------------------- scheduler
def _in_task() -> bool:
    from .worker.executor import thread_state

    return getattr(thread_state, "worker", None) is not None


def current_client() -> Client | None:
    """The Client dask work should go to here, or None (then dask uses its own schedulers)."""
    if _in_task():
        from .worker.executor import get_worker

        return get_worker().get_client()  # type: ignore[no-any-return]
    with _lock:
        for ref in reversed(_clients):
            client = ref()
            if client is not None and client.status == "running":
                return client
    return None


class DaskScheduler:
    """What futurelab puts in ``dask.config["scheduler"]``: a ``get`` that finds its Client.

    Truthy only when it has somewhere to send work (see the module docstring), so dask skips it
    otherwise.  ``persist`` follows dask's protocol for schedulers that keep results remote.
    """

    def __init__(self, previous: Any = None) -> None:
        #: the scheduler configured before futurelab's (used when no Client applies)
        self.previous = previous

    def __bool__(self) -> bool:
        return bool(self.previous) or current_client() is not None

    def _client(self) -> Client | None:
        client = current_client()
        if client is not None and client.asynchronous:
            raise RuntimeError("Attempting to use an asynchronous futurelab Client in a "
                               "synchronous context of `dask.compute`; use `client.compute` "
                               "and `await client.gather(...)` instead")
        return client

    def _previous(self) -> Any:
        from dask.base import get_scheduler

        if not self.previous:
            raise RuntimeError("no futurelab Client is running and no other dask scheduler "
                               "is configured")
        return get_scheduler(scheduler=self.previous)

    def __call__(self, dsk: Any, keys: Any, **kwargs: Any) -> Any:
        client = self._client()
        if client is None:
            return self._previous()(dsk, keys, **kwargs)
        return client.get(dsk, keys, **kwargs)

    def persist(self, collections: Sequence[Any], **kwargs: Any) -> Any:
        client = self._client()
        if client is None:
            import dask

            return list(dask.persist(*collections, scheduler=self.previous, traverse=False,
                                     **kwargs))
        return client.persist(list(collections), **kwargs)

    def __repr__(self) -> str:
        return f"<futurelab DaskScheduler active={bool(self)}>"


def install_scheduler() -> DaskScheduler:
    """Put futurelab's :class:`DaskScheduler` into dask's config (once; returns it)."""
    import dask

    with _lock:
        current = dask.config.get("scheduler", None)
        if isinstance(current, DaskScheduler):
            return current
        scheduler = DaskScheduler(current)
        dask.config.set(scheduler=scheduler)
        return scheduler


def register_client(client: Client) -> None:
    """Make ``client`` dask's scheduler in this process until it closes.

    Imports nothing: if dask is not imported yet, the import hook installs the scheduler when
    it is (importing dask here cost a new Client 0.3 s).
    """
    dask = sys.modules.get("dask")
    if dask is not None and hasattr(dask, "config"):
        install_scheduler()
    else:
        install_import_hook()
    ref = weakref.ref(client)
    with _lock:
        _clients[:] = [r for r in _clients if r() is not None and r() is not client]
        _clients.append(ref)


def unregister_client(client: Client) -> None:
    """Stop sending dask work to ``client``."""
    with _lock:
        _clients[:] = [r for r in _clients if r() is not None and r() is not client]


def registered_clients() -> list[Client]:
    """The Clients dask may use, most recent last."""
    with _lock:
        return [c for c in (r() for r in _clients) if c is not None]


# ---------------------------------------------------------------------------------- import hook
class _AfterDaskImport(importlib.abc.MetaPathFinder):
    """One-shot finder: lets ``import dask`` run normally, then installs the scheduler."""

    def __init__(self) -> None:
        self._busy = False

    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname != "dask" or self._busy:
            return None
        self._busy = True
        try:
            spec = importlib.util.find_spec(fullname)
        except Exception:  # noqa: BLE001 - leave the import to the normal machinery
            return None
        finally:
            self._busy = False
        loader = spec.loader if spec is not None else None
        exec_module = getattr(loader, "exec_module", None)
        if spec is None or exec_module is None:
            return None

        def exec_then_install(module: Any) -> None:
            exec_module(module)
            _remove_import_hook()
            try:
                install_scheduler()
            except Exception:
                logger.warning("futurelab could not register as dask's scheduler",
                               exc_info=True)

        loader.exec_module = exec_then_install  # type: ignore[method-assign,union-attr]
        return spec


_hook: _AfterDaskImport | None = None


def install_import_hook() -> None:
    """Install the scheduler when dask gets imported (now, if it already is; cheap otherwise)."""
    global _hook
    if "dask" in sys.modules:
        if hasattr(sys.modules["dask"], "config"):  # fully imported
            install_scheduler()
        return
    with _lock:
        if _hook is not None:
            return
        try:
            if importlib.util.find_spec("dask") is None:
                return
        except (ImportError, ValueError):
            return
        _hook = _AfterDaskImport()
        sys.meta_path.insert(0, _hook)


def _remove_import_hook() -> None:
    global _hook
    with _lock:
        if _hook is not None:
            try:
                sys.meta_path.remove(_hook)
            except ValueError:
                pass
            _hook = None

