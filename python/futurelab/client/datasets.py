"""Published datasets: named objects (futures, collections) that any client can fetch by name.

A mixin of :class:`~futurelab.client.client.Client` (through
:class:`~futurelab.client.admin.AdminMixin`).  The publisher pickles each object here, noting the
keys of every Future inside; the scheduler keeps the bytes and pins those keys
(:mod:`futurelab.scheduler.admin`), so the data outlives the publisher's own Futures.  A reader
unpickles with itself as the current client, so the Futures inside are its own.
"""
from __future__ import annotations

import io
import pickle
from collections.abc import Iterator, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

import cloudpickle  # type: ignore[import-untyped]

from .future import Future

if TYPE_CHECKING:
    from .client import Client


class _NoDefault:
    """The "no default given" marker (``get_dataset(name)`` raises KeyError)."""

    def __repr__(self) -> str:
        return "<no default>"


no_default: Any = _NoDefault()


def pickle_dataset(obj: Any, name: Any) -> tuple[bytes, list[str]]:
    """``obj`` pickled, and the keys of the Futures found anywhere inside it.

    Raises:
        TypeError: when ``obj`` cannot be pickled.
    """
    keys: dict[str, None] = {}

    class _Pickler(cloudpickle.Pickler):  # type: ignore[misc]
        def persistent_id(self, o: Any) -> None:
            if isinstance(o, Future):
                keys[o.key] = None
            return None  # pickled as usual: by key, rebound to the reading client

    buf = io.BytesIO()
    try:
        _Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
    except Exception as e:
        raise TypeError(f"Could not serialize dataset {name!r} ({type(obj).__name__}) to "
                        f"publish it: {e}") from e
    return buf.getvalue(), list(keys)


def _split_datasets(args: tuple[Any, ...], name: Any, kwargs: dict[str, Any]
                    ) -> tuple[list[Any], list[Any]]:
    """publish_dataset's three call forms → ``(names, objects)``.

    Raises:
        ValueError: for a call matching none of them.
    """
    names: list[Any] = list(kwargs)
    data: list[Any] = list(kwargs.values())
    if name is not None:
        if not args:
            raise ValueError("If name is provided, expecting call signature like "
                             "publish_dataset(df, name='ds')")
        names.append(name)
        data.append(args[0] if len(args) == 1 else args)
    elif args:
        if len(args) != 1 or not isinstance(args[0], Mapping):
            raise ValueError("If name is omitted, positional argument must be a "
                             "{name: value} dict")
        names.extend(args[0])
        data.extend(args[0].values())
    if not names:
        raise ValueError("publish_dataset needs something to publish: "
                         "publish_dataset(x, name='x'), publish_dataset({'x': x}) or "
                         "publish_dataset(x=x)")
    return names, data


class DatasetsMixin:
    """publish_dataset, get_dataset, list_datasets, unpublish_dataset and ``client.datasets``."""

    id: str
    asynchronous: bool

    if TYPE_CHECKING:  # provided by Client (and TransferMixin)
        def sync(self, func: Any, *args: Any, **kwargs: Any) -> Any: ...

        async def _scheduler_request(self, msg: dict[str, Any]) -> Any: ...

        def _send(self, *msgs: dict[str, Any]) -> None: ...

    def publish_dataset(self, *args: Any, name: Any = None, override: bool = False,
                        **kwargs: Any) -> Any:
        """Publish named datasets (futures, collections, any picklable object) on the scheduler.

        The scheduler holds the futures inside for as long as the dataset is published, so
        other clients can fetch them by name with :meth:`get_dataset`.

        Args:
            *args: the object to publish under ``name`` (several: a tuple of them); or, without
                ``name``, a single ``{name: object}`` dict.
            name: the name to publish ``args`` under.
            override: replace a dataset of the same name instead of raising KeyError.
            **kwargs: more datasets, ``name=object``.

        Raises:
            KeyError: a dataset of that name exists and ``override`` is false.
            ValueError: for a call matching none of the forms above.
            TypeError: an object cannot be pickled, or a name is not a string or a number.

        >>> # client.publish_dataset(client.scatter([1, 2, 3]), name="numbers")
        >>> # Client(address).get_dataset("numbers")   # → the futures, in another client
        """
        names, data = _split_datasets(args, name, kwargs)
        pickled = [pickle_dataset(obj, n) for n, obj in zip(names, data)]
        return self.sync(self._publish_dataset, {
            "op": "admin-publish", "names": names, "data": [p[0] for p in pickled],
            "keys": [p[1] for p in pickled], "override": bool(override)}, data)

    async def _publish_dataset(self, msg: dict[str, Any], objects: list[Any]) -> None:
        from ..primitives._proxy import PrimitivesClient
        # on the ordered stream: the futures it names reach the scheduler first; `objects`
        # keeps them alive (unreleased) until the dataset holds them
        await PrimitivesClient.of(self).request(msg)  # type: ignore[arg-type]
        del objects

    def get_dataset(self, name: Any, default: Any = no_default, **kwargs: Any) -> Any:
        """The dataset published as ``name`` (a list of names: a list of datasets).

        Futures inside belong to this client from now on.

        Raises:
            KeyError: when there is no such dataset and no ``default`` was given.

        >>> # numbers = client.get_dataset("numbers")
        """
        return self.sync(self._get_dataset, name, default)

    async def _get_dataset(self, name: Any, default: Any) -> Any:
        names = name if isinstance(name, list) else [name]
        reply = await self._scheduler_request({"op": "dataset-get", "names": names,
                                               "client": self.id})
        found = reply["datasets"]
        # the scheduler pins these for us until our own claims, sent while unpickling, arrive
        pinned = [k for f in found if f is not None for k in f["keys"]]
        out = []
        try:
            for n, f in zip(names, found):
                if f is None:
                    if default is no_default:
                        raise KeyError(f"Dataset '{n}' not found")
                    out.append(default)
                    continue
                with self.as_current():  # type: ignore[attr-defined]
                    out.append(pickle.loads(f["data"]))
        finally:
            if pinned:
                self._send({"op": "release-transit", "keys": pinned})
        return out if isinstance(name, list) else out[0]

    def list_datasets(self, **kwargs: Any) -> Any:
        """The names of the published datasets, sorted.

        >>> # client.list_datasets()
        >>> # ['numbers']
        """
        return self.sync(self._scheduler_request, {"op": "dataset-list"})

    def unpublish_dataset(self, name: Any, **kwargs: Any) -> Any:
        """Remove the dataset ``name`` (or a list of names); unknown names are ignored.

        Its futures are released unless someone else holds them.

        >>> # client.unpublish_dataset("numbers")
        """
        names = name if isinstance(name, list) else [name]
        return self.sync(self._unpublish_dataset, names)

    async def _unpublish_dataset(self, names: list[Any]) -> None:
        await self._scheduler_request({"op": "dataset-delete", "names": names})

    @property
    def datasets(self) -> Datasets:
        """The published datasets as a mapping: ``client.datasets["x"] = future`` publishes.

        >>> # client.datasets["numbers"] = client.scatter([1, 2, 3])
        >>> # list(client.datasets)
        >>> # ['numbers']
        """
        return Datasets(self)  # type: ignore[arg-type]


class Datasets(MutableMapping[Any, Any]):
    """A dict-like view of the published datasets (every access asks the scheduler)."""

    __slots__ = ("_client",)

    def __init__(self, client: Client) -> None:
        self._client = client

    def __getitem__(self, key: Any) -> Any:
        return self._client.get_dataset(key)

    def __setitem__(self, key: Any, value: Any) -> None:
        self._client.publish_dataset(value, name=key)

    def __delitem__(self, key: Any) -> None:
        self._client.unpublish_dataset(key)

    def _names(self) -> list[Any]:
        if self._client.asynchronous:
            raise TypeError("client.datasets cannot be iterated over by an asynchronous "
                            "client; use `await client.list_datasets()`")
        return list(self._client.list_datasets())

    def __iter__(self) -> Iterator[Any]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())

    def __contains__(self, key: object) -> bool:
        return key in self._names()

    def __repr__(self) -> str:
        return f"<Datasets: {self._names() if not self._client.asynchronous else '...'}>"
