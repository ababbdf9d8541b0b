"""The client proxy of the queue primitive: Queue (see
:mod:`futurelab.scheduler.primitives.queue` for its scheduler half and theory of operation).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..protocol.messages.primitives import Item
from ._proxy import Proxy, check_timeout, decode, encode

if TYPE_CHECKING:
    from ..client.client import Client


class Queue(Proxy):
    """A cluster-wide FIFO queue of futures and small (msgpack-encodable) data.

    Args:
        name: the queue's name (every Queue of that name is the same queue); None makes a
            unique name (pass the object to tasks to share it).
        client: the Client to use (default: the current one, or the worker's inside a task).
        maxsize: the most items it holds (0: unbounded); the first creation of a name fixes it.

    >>> # queue = Queue()
    >>> # queue.put(client.submit(inc, 1))   # tasks may put too: queue pickles by name
    >>> # queue.get(timeout=5).result()
    >>> # 2
    """

    kind = "queue"

    def __init__(self, name: str | None = None, client: Client | None = None,
                 maxsize: int = 0) -> None:
        if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 0:
            raise ValueError(f"maxsize must be a non-negative integer, not {maxsize!r}")
        super().__init__(name, client)
        self.maxsize = maxsize
        if self._client is not None:  # else created on first use
            self._send("create", maxsize=maxsize)

    def _pickle_args(self) -> tuple[Any, ...]:
        return (self.name, self.maxsize)

    def _restore(self, name: str, *args: Any) -> None:
        super()._restore(name)
        self.maxsize = int(args[0])

    def put(self, value: Any, timeout: float | None = None, **kwargs: Any) -> Any:
        """Append ``value`` (a Future or msgpack-encodable data), waiting while the queue is full.

        Args:
            value: a Future (its data stays alive while queued) or small data.
            timeout: seconds to wait for room at most (None: forever).

        Raises:
            TypeError: when ``value`` is neither a Future nor msgpack-encodable.
            TimeoutError: when ``timeout`` passed with the queue still full.
        """
        item = encode(value, "Queue.put")
        return self.client.sync(self._put, item, check_timeout(timeout), value)

    async def _put(self, item: Item, timeout: float | None = None, value: Any = None) -> None:
        # ``value`` keeps a Future alive until the queue holds it (async callers may drop theirs)
        reply = await self._request("put", item=item, timeout=timeout, maxsize=self.maxsize)
        if not reply["ok"]:
            raise TimeoutError(f"Queue {self.name!r} still full after {timeout} s")

    def get(self, timeout: float | None = None, batch: bool | int = False, **kwargs: Any) -> Any:
        """Take the oldest item, waiting for one if needed.

        Args:
            timeout: seconds to wait at most (None: forever).
            batch: False for one item; True for a list of every item there is now (no
                waiting); an integer ``n`` for a list of ``n`` items (waits until there are).

        Returns:
            The item (a Future or the data), or a list of them with ``batch``.

        Raises:
            TimeoutError: when ``timeout`` passed first.
        """
        if batch is True:
            n: int | None = None
        elif batch is False:
            n = 1
        elif isinstance(batch, int) and batch >= 1:
            n = batch
        else:
            raise ValueError(f"batch must be True, False or a positive integer, not {batch!r}")
        return self.client.sync(self._get, check_timeout(timeout), n, batch is not False)

    async def _get(self, timeout: float | None = None, n: int | None = 1,
                   as_list: bool = False) -> Any:
        ext = self._ext
        reply = await self._request("get", lambda r: ext.release_keys(r.get("items", [])),
                                    timeout=timeout, n=n, maxsize=self.maxsize)
        if not reply["ok"]:
            raise TimeoutError(f"no item in Queue {self.name!r} after {timeout} s")
        values = [decode(item, self.client) for item in reply["items"]]
        return values if as_list else values[0]

    def qsize(self) -> Any:
        """How many items the queue holds now."""
        return self.client.sync(self._qsize)

    async def _qsize(self) -> int:
        return int((await self._request("qsize"))["qsize"])
