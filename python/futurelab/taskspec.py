"""How a task's arguments refer to other tasks' results.

The client replaces every Future found in a task's arguments (also nested inside lists, tuples,
sets and dicts) by a :class:`TaskRef`; the worker puts the dependency's value in its place before
calling the function.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

_SCALARS = (int, float, str, bytes, bool, type(None), complex)


class TaskRef:
    """A placeholder for the result of ``key`` inside a task's arguments."""

    __slots__ = ("key",)

    def __init__(self, key: str) -> None:
        self.key = key

    def __reduce__(self) -> tuple[type[TaskRef], tuple[str]]:
        return (TaskRef, (self.key,))

    def __repr__(self) -> str:
        return f"TaskRef({self.key!r})"


def replace_futures(obj: Any, future_type: type, deps: dict[str, Any]) -> Any:
    """``obj`` with every ``future_type`` instance turned into a TaskRef; adds them to ``deps``.

    >>> replace_futures([1, (2, "x")], type(None), {})
    [1, (2, 'x')]
    """
    typ = type(obj)
    if typ in _SCALARS:
        return obj
    if isinstance(obj, future_type):
        deps[obj.key] = obj
        return TaskRef(obj.key)
    if typ is list or typ is tuple or typ is set or typ is frozenset:
        items = [replace_futures(x, future_type, deps) for x in obj]
        if all(a is b for a, b in zip(items, obj)):
            return obj
        return items if typ is list else typ(items)
    if typ is dict:
        new = {k: replace_futures(v, future_type, deps) for k, v in obj.items()}
        if all(new[k] is v for k, v in obj.items()):
            return obj
        return new
    return obj


def substitute(obj: Any, lookup: Callable[[str], Any]) -> Any:
    """``obj`` with every TaskRef replaced by ``lookup(key)`` (the worker's side)."""
    typ = type(obj)
    if typ is TaskRef:
        return lookup(obj.key)
    if typ is list or typ is tuple or typ is set or typ is frozenset:
        return typ(substitute(x, lookup) for x in obj)
    if typ is dict:
        return {k: substitute(v, lookup) for k, v in obj.items()}
    return obj
