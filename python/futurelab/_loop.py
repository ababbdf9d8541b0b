"""The event loops futurelab starts itself: uvloop where it is installed, else asyncio's.

futurelab's processes spend most of their time in their event loop (reading a message, handling
it, writing the reply), and on a loopback round trip uvloop's libuv loop costs well under half of
the standard selector loop (``make bench`` shows both).  It is used only for loops futurelab owns:
the background loop of synchronous clients and the loop of ``futurelab scheduler`` / ``worker``
processes.  An asynchronous client runs on its caller's loop, whatever that is.

``FUTURELAB_EVENT_LOOP=asyncio`` forces the standard loop (e.g. to compare, or to debug).
"""
from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

ENV = "FUTURELAB_EVENT_LOOP"


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    """The function that makes a new event loop of the configured kind.

    Raises:
        ValueError: when ``FUTURELAB_EVENT_LOOP`` names an unknown kind.
        ImportError: when it asks for uvloop and uvloop is not installed.
    """
    kind = os.environ.get(ENV, "").strip().lower()
    if kind not in ("", "uvloop", "asyncio"):
        raise ValueError(f"{ENV}={kind!r}: expected 'uvloop' or 'asyncio'")
    if kind == "asyncio":
        return asyncio.new_event_loop
    try:
        import uvloop
    except ImportError:
        if kind == "uvloop":
            raise
        return asyncio.new_event_loop
    return uvloop.new_event_loop  # type: ignore[no-any-return]


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A new event loop of the configured kind (see the module docstring)."""
    return loop_factory()()


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)`` on a loop of the configured kind."""
    factory = loop_factory()
    if hasattr(asyncio, "Runner"):  # Python >= 3.11
        with asyncio.Runner(loop_factory=factory) as runner:
            return runner.run(main)
    loop = factory()  # Python 3.10: what asyncio.run does, minus the policy
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(main)
    finally:
        try:
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()
