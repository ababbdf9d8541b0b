"""``futurelab.progress``: live progress of futures — a widget in a notebook, a text bar elsewhere.

Theory of operation
-------------------
:class:`ProgressTracker` is the plain model: the futures' shared states grouped by task prefix,
counted on demand (done / erred / cancelled / total).  It holds the futures' *states*, not the
Futures, so watching a result never keeps it alive.  Two views read it:

- in a notebook, :class:`~futurelab.jupyter.widgets.ProgressView`, refreshed from the Client's live
  model thread (so the bars move while the cell blocks in ``future.result()``); ``progress``
  displays it wherever it is called in the cell and returns None, as dask's does;
- in a terminal, :class:`TextProgressBar`, which redraws one line in the calling thread, woken by
  the futures' completion callbacks, until every future is done.
"""
from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterable
from typing import IO, TYPE_CHECKING, Any

from ..scheduler.state import key_prefix
from .repr import format_seconds

if TYPE_CHECKING:
    from ..client.client import Client
    from ..client.future import Future, FutureState


def collect_futures(objs: Iterable[Any]) -> list[Future]:
    """The Futures in ``objs`` and in the lists, tuples, sets and dicts among them (in order)."""
    from ..client.future import Future
    found: dict[Any, Future] = {}

    def walk(obj: Any) -> None:
        if isinstance(obj, Future):
            found.setdefault((obj.key, id(obj.client)), obj)
        elif isinstance(obj, (list, tuple, set, frozenset)):
            for x in obj:
                walk(x)
        elif isinstance(obj, dict):
            for x in obj.values():
                walk(x)
    for obj in objs:
        walk(obj)
    return list(found.values())


class ProgressTracker:
    """Counts of a fixed set of futures by task prefix (the model both progress views read).

    Args:
        futures: the Futures to follow.
        multi: one group per task prefix (True) or a single group for all (False).

    >>> # tracker = ProgressTracker(client.map(inc, range(10)))
    >>> # tracker.counts()
    >>> # {'inc': {'done': 10, 'erred': 0, 'cancelled': 0, 'total': 10}}
    """

    def __init__(self, futures: Iterable[Future], multi: bool = True) -> None:
        futs = collect_futures(futures)
        self.client: Client | None = futs[0].client if futs else None
        #: prefix → the states of its futures
        self.groups: dict[str, list[FutureState]] = {}
        for f in futs:
            name = key_prefix(f.key) if multi else "all"
            self.groups.setdefault(name, []).append(f._state)
        self.started = time.time()
        self.finished: float | None = None

    @property
    def states(self) -> list[FutureState]:
        return [st for group in self.groups.values() for st in group]

    def counts(self) -> dict[str, dict[str, int]]:
        """``{prefix: {"done", "erred", "cancelled", "total"}}``."""
        out = {}
        for name, group in self.groups.items():
            c = {"done": 0, "erred": 0, "cancelled": 0, "total": len(group)}
            for st in group:
                s = st.status
                if s == "finished":
                    c["done"] += 1
                elif s == "error":
                    c["erred"] += 1
                elif s == "cancelled":
                    c["cancelled"] += 1
            out[name] = c
        return out

    def complete(self) -> bool:
        """True once every future is finished, erred or cancelled (and notes when)."""
        done = all(st.done() for st in self.states)
        if done and self.finished is None:
            self.finished = time.time()
        return done

    def elapsed(self, now: float) -> float:
        return (self.finished or now) - self.started

    def on_change(self, fn: Any) -> Any:
        """Call ``fn()`` (from the client's loop thread — keep it tiny) when a future completes.

        Returns:
            a function that stops the calls.
        """
        def cb(_: Any) -> None:
            fn()
        states = self.states
        for st in states:
            st.add_callback(cb)

        def remove() -> None:
            for st in states:
                try:
                    st.remove_callback(cb)
                except ValueError:
                    pass
        return remove


def text_bar(fraction: float, width: int = 40) -> str:
    """``[########                                ] | 20% Completed``."""
    n = round(width * min(max(fraction, 0.0), 1.0))
    return f"[{'#' * n}{' ' * (width - n)}] | {fraction:4.0%} Completed"


class TextProgressBar:
    """A one-line text progress bar redrawn in place until all futures are done.

    Args:
        tracker: what to show.
        width: characters of the bar.
        interval: seconds between redraws at most.
        file: where to write (default ``sys.stdout``).
    """

    def __init__(self, tracker: ProgressTracker, width: int = 40, interval: float = 0.1,
                 file: IO[str] | None = None) -> None:
        self.tracker = tracker
        self.width = width
        self.interval = interval
        self.file = file

    def line(self, now: float) -> str:
        counts = self.tracker.counts()
        total = sum(c["total"] for c in counts.values())
        finished = sum(c["done"] + c["erred"] + c["cancelled"] for c in counts.values())
        frac = finished / total if total else 1.0
        extra = ""
        erred = sum(c["erred"] for c in counts.values())
        if erred:
            extra = f" | {erred} erred"
        return f"{text_bar(frac, self.width)} | {format_seconds(self.tracker.elapsed(now))}{extra}"

    def run(self, timeout: float | None = None) -> bool:
        """Redraw until every future is done (or ``timeout`` passes); True when complete."""
        out = self.file or sys.stdout
        wake = threading.Event()
        stop = self.tracker.on_change(wake.set)
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while True:
                complete = self.tracker.complete()
                out.write("\r" + self.line(time.time()))
                out.flush()
                if complete:
                    out.write("\n")
                    out.flush()
                    return True
                if deadline is not None and time.monotonic() >= deadline:
                    out.write("\n")
                    return False
                wake.wait(self.interval)
                wake.clear()
        finally:
            stop()


def progress(*futures: Any, notebook: bool | None = None, multi: bool = True,
             complete: bool = True, **kwargs: Any) -> None:
    """Show the progress of futures: live bars per task prefix in a notebook, text in a terminal.

    Args:
        futures: Futures, or lists/dicts of them.
        notebook: force the widget (True) or the text bar (False); default: widget in a kernel.
        multi: one bar per task prefix (True) or a single bar (False).
        complete: in a notebook, keep bars of groups that have finished (False hides them).
        kwargs: ``width``, ``interval`` and ``file`` for the text bar.

    Returns:
        None. In a notebook the widget is displayed at once (also when ``progress`` is not the
        cell's last line); in a terminal the call returns when every future is done.

    >>> # futs = client.map(slow_inc, range(100))
    >>> # progress(futs)
    >>> # [########################################] | 100% Completed |  2.03 s
    """
    from .repr import in_kernel
    tracker = ProgressTracker(futures, multi=multi)
    if notebook is None:
        notebook = in_kernel()
    if notebook:
        from IPython.display import display

        from .widgets import ProgressView
        display(ProgressView(tracker, complete=complete))
        return
    TextProgressBar(tracker, **kwargs).run()
    return
