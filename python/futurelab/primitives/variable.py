"""The client proxy of the variable primitive: Variable (see
:mod:`futurelab.scheduler.primitives.variable` for its scheduler half and theory of operation).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..protocol.messages.primitives import Item
from ._proxy import Proxy, check_timeout, decode, encode

if TYPE_CHECKING:
    from ..client.client import Client


class Variable(Proxy):
    """A cluster-wide variable holding one future or small (msgpack-encodable) value.

    Args:
        name: the variable's name (every Variable of that name is the same); None makes a
            unique name.
        client: the Client to use (default: the current one, or the worker's inside a task).

    >>> # var = Variable("stopping-criterion")
    >>> # var.set(False)
    >>> # var.get()
    >>> # False
    """

    kind = "variable"

    def __init__(self, name: str | None = None, client: Client | None = None) -> None:
        super().__init__(name, client)

    def set(self, value: Any, **kwargs: Any) -> Any:
        """Set the value (a Future keeps its data alive until replaced or deleted).

        Raises:
            TypeError: when ``value`` is neither a Future nor msgpack-encodable.
        """
        item = encode(value, "Variable.set")
        return self.client.sync(self._set, item, value)

    async def _set(self, item: Item, value: Any = None) -> None:
        # ``value`` keeps a Future alive until the variable holds it (async callers may drop it)
        await self._request("set", item=item)
        del value

    def get(self, timeout: float | None = None, **kwargs: Any) -> Any:
        """The value, waiting until one is set.

        Args:
            timeout: seconds to wait at most (None: forever).

        Raises:
            TimeoutError: when no value was set within ``timeout``.
        """
        return self.client.sync(self._get, check_timeout(timeout))

    async def _get(self, timeout: float | None = None) -> Any:
        ext = self._ext
        reply = await self._request("get", lambda r: ext.release_keys([r["item"]] if r.get("item")
                                                                      else []), timeout=timeout)
        if not reply["ok"]:
            raise TimeoutError(f"Variable {self.name!r} not set after {timeout} s")
        return decode(reply["item"], self.client)

    def delete(self) -> Any:
        """Delete the value (and let go of its future)."""
        return self.client.sync(self._delete)

    async def _delete(self) -> None:
        await self._request("delete")
