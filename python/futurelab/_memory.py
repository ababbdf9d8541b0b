"""Giving memory back after a burst: right-sized containers, and free pages to the OS.

Python's dicts and sets never shrink as items leave, so a scheduler that held 100,000 tasks
keeps tables sized for 100,000 after they are all released; and freed memory stays with the
C allocator.  :class:`Peak` says when a container has shrunk enough to be worth rebuilding, and
:func:`release_free_memory` asks glibc to return its free pages (a no-op elsewhere).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import sys
from typing import Any, Generic, TypeVar

H = TypeVar("H")

#: containers smaller than this at their peak are never worth rebuilding
MIN_PEAK = 10_000


class Peak:
    """The high-water mark of a size, and whether the size has fallen far below it.

    >>> p = Peak()
    >>> p.shrunk(20_000), p.shrunk(4_000)
    (False, True)
    >>> p.shrunk(3_000)  # the mark was reset to 4,000
    False
    """

    __slots__ = ("peak",)

    def __init__(self) -> None:
        self.peak = 0

    def shrunk(self, size: int) -> bool:
        """Record ``size``; True (and reset the mark) when it is a quarter of a big peak."""
        if size > self.peak:
            self.peak = size
            return False
        if self.peak >= MIN_PEAK and size * 4 <= self.peak:
            self.peak = size
            return True
        return False


class Interned(Generic[H]):
    """One shared copy per equal immutable value (a task prefix, a set of holders).

    Bounded: past ``limit`` distinct values the table starts afresh, so rare values simply
    stop being shared instead of piling up.

    >>> shared = Interned[str]()
    >>> a = shared("".join(["in", "c"])); b = shared("".join(["i", "nc"]))
    >>> a is b
    True
    """

    __slots__ = ("limit", "table")

    def __init__(self, limit: int = 4096) -> None:
        self.limit = limit
        self.table: dict[H, H] = {}

    def __call__(self, value: H) -> H:
        shared = self.table.get(value)
        if shared is None:
            if len(self.table) >= self.limit:
                self.table.clear()
            shared = self.table[value] = value
        return shared


_libc: Any = None


def release_free_memory() -> bool:
    """Return the C allocator's free pages to the OS (glibc's ``malloc_trim``); True if done."""
    global _libc
    if not sys.platform.startswith("linux"):
        return False
    if _libc is None:
        try:
            _libc = ctypes.CDLL(ctypes.util.find_library("c") or None)
            _libc.malloc_trim.argtypes = [ctypes.c_size_t]
        except (OSError, AttributeError):  # not glibc (e.g. musl has no malloc_trim)
            _libc = False
    if not _libc:
        return False
    _libc.malloc_trim(0)
    return True
