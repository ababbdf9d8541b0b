"""Live notebook views: Future card, progress bars, task stream, primitives board.

(A cluster's view, with its scale and adapt controls, is :mod:`.cluster_widget`.)

Theory of operation
-------------------
Views are thin.  Each one reads a plain model — the Client's
:class:`~futurelab.client.model.LiveModel`, a :class:`~.progress.ProgressTracker` —
renders it with the pure functions of :mod:`.repr`, and sets traits of built-in ipywidgets (HTML,
IntProgress, Button, IntText, boxes); there is no custom JavaScript.

Updates come from the live model's own thread (:meth:`LiveModel.add_listener`), at most ten a
second, never from the event loop or the user's thread, so a view keeps moving while the cell that
made it blocks in ``future.result()``.  A view that can finish (a Future, a progress bar) stops
listening once it has drawn its final state.

Every view also has a static face: its ``text/html`` snapshot.  Displaying a view (or returning it
as a cell's last expression) sends both the widget and the snapshot under a display id, and the
snapshot is re-sent when the view settles (finished, or the cluster idle), so a saved notebook
shows the final picture on nbviewer and GitHub, where widgets do not run.
"""
from __future__ import annotations

import threading
import time
import weakref
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from . import repr as r
from .progress import ProgressTracker

if TYPE_CHECKING:
    from ..client.client import Client
    from ..client.future import Future
    from ..client.model import LiveModel

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


class LiveView:
    """Base of the views: a root widget, a static HTML snapshot, display handles to refresh it."""

    #: the widget shown in a live notebook
    root: w.Widget

    def __init__(self) -> None:
        self._handles: list[Any] = []
        self._last_static = ""
        self._static_lock = threading.Lock()
        self.model: LiveModel | None = None

    # ------------------------------------------------------------------ to override
    def static_html(self) -> str:
        """The snapshot shown where widgets cannot render."""
        raise NotImplementedError

    def text(self) -> str:
        """The ``text/plain`` face."""
        return f"<{type(self).__name__}>"

    def update(self) -> None:
        """Redraw the widgets from the model (called from the model's thread)."""

    def settled(self) -> bool:
        """True when the view shows a state worth saving as its static snapshot."""
        return False

    def finished(self) -> bool:
        """True when the view will not change any more (it then stops listening)."""
        return False

    # ------------------------------------------------------------------ display
    def widget_bundle(self) -> dict[str, Any]:
        """The widget-view part of a mime bundle (the view now counts as displayed)."""
        _displayed.add(self)
        self.root._futurelab_view = self  # the view lives as long as its widgets do
        bundle = self.root._repr_mimebundle_()
        return {WIDGET_MIME: bundle[WIDGET_MIME]} if bundle and WIDGET_MIME in bundle else {}

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        bundle = {"text/plain": self.text(), "text/html": self.static_html(),
                  **self.widget_bundle()}
        return r._filter(bundle, include, exclude)

    def _ipython_display_(self) -> None:
        from IPython.display import display
        bundle = self._repr_mimebundle_()
        self._last_static = bundle["text/html"]
        handle = display(bundle, raw=True, display_id=True)
        if handle is not None:
            self._handles.append(handle)

    def refresh_static(self, force: bool = False) -> None:
        """Re-send the snapshot to every place this view was displayed (if it changed)."""
        with self._static_lock:
            if not self._handles:
                return
            bundle = self._repr_mimebundle_()
            if bundle["text/html"] == self._last_static and not force:
                return
            self._last_static = bundle["text/html"]
            for handle in self._handles:
                handle.update(bundle, raw=True)

    # ------------------------------------------------------------------ live updates
    def listen(self, model: LiveModel) -> None:
        self.model = model
        model.add_listener(self._on_model)

    def _on_model(self, model: LiveModel) -> None:
        self.update()
        if self.finished():
            self.close_listener()
        if self.settled():
            self.refresh_static()

    def close_listener(self) -> None:
        if self.model is not None:
            self.model.remove_listener(self._on_model)

    def sync(self, timeout: float = 10.0) -> bool:
        """Same as :func:`sync` (every displayed view, not only this one)."""
        return sync(timeout)

    def close(self) -> None:
        """Stop updating and close the widgets."""
        self.close_listener()
        self.root.close()


#: every view displayed so far (kept alive by its root widget, dropped when that is closed)
_displayed: weakref.WeakSet[LiveView] = weakref.WeakSet()


def _widget_tree(widget: w.Widget) -> list[w.Widget]:
    out = [widget]
    layout = getattr(widget, "layout", None)
    if isinstance(layout, w.Widget):
        out.append(layout)
    for child in getattr(widget, "children", ()):
        out += _widget_tree(child)
    return out


_UNFINISHED = frozenset({"released", "waiting", "queued", "no-worker", "processing"})


def _caught_up(model: LiveModel, unknown_ok: bool) -> bool:
    """True when the model has heard how every finished future of its client ended.

    With ``unknown_ok``, futures the model never heard of at all count as heard (they may have
    ended before it subscribed, and then they never will be).
    """
    with model.lock:
        streamed = {rec["key"] for rec in model.stream}
        tasks = dict(model.tasks)
    for key, st in list(model.client.futures.items()):
        if not st.done() or st.status == "cancelled" or key in streamed:
            continue
        task = tasks.get(key)
        if task is None and not unknown_ok:
            return False
        if task is not None and task.state in _UNFINISHED:
            return False
    return True


def sync(timeout: float = 10.0) -> bool:
    """Bring every displayed view up to date now, and send its whole state again.

    In a live notebook there is no need for this.  A notebook executed headless (nbclient,
    ``jupyter nbconvert --execute``) keeps only the widget updates that arrived while some cell was
    running, so it should end with a cell calling ``sync()``: the saved file then shows each
    view's final state, in its widgets and in its static HTML.

    Returns:
        False when the live models did not answer within ``timeout`` seconds.

    >>> # from futurelab.jupyter.widgets import sync
    >>> # sync()
    """
    views = [v for v in list(_displayed) if getattr(v.root, "comm", None) is not None]
    models = {id(v.model): v.model for v in views
              if v.model is not None and v.model.client.status == "running"}
    deadline = time.monotonic() + timeout
    ok = True
    grace = time.monotonic() + 1.0
    for model in models.values():
        # the scheduler batches task events ~0.1 s apart: give the last ones time to arrive
        while (not _caught_up(model, unknown_ok=time.monotonic() > grace)
               and time.monotonic() < deadline):
            time.sleep(0.01)
        drawn = threading.Event()

        def once(m: LiveModel, drawn: threading.Event = drawn) -> None:
            # listeners run in order: every view registered before this one has just redrawn
            m.remove_listener(once)
            drawn.set()
        model.add_listener(once)
        ok = drawn.wait(max(0.0, deadline - time.monotonic())) and ok
    for view in views:
        view.update()
        for widget in _widget_tree(view.root):
            if widget.comm is not None:
                widget.send_state()
        view.refresh_static(force=True)
    return ok


# ---------------------------------------------------------------------- Future
class FutureView(LiveView):
    """A Future's live card: status, key, type, worker, elapsed; an erred one gets a button that
    shows its exception and traceback.

    It holds the Future's state, not the Future, so it never keeps a result alive.
    """

    def __init__(self, future: Future) -> None:
        super().__init__()
        self._future_ref = _FutureRef(future)
        self.since = time.time()
        self.card = w.HTML()
        self.button = w.Button(description="Show traceback", icon="bug",
                               layout=w.Layout(display="none", width="auto"))
        self.details = w.HTML(layout=w.Layout(display="none"))
        self.button.on_click(self._toggle)
        self.root = w.VBox([self.card, w.HBox([self.button]), self.details])
        self._error_text: str | None = None
        self._done_at: float | None = None
        self.update()
        if not self.finished():
            model = future.client.live_model()
            self.listen(model)
            self._unhook = _on_done(future._state, model.touch)

    def _f(self) -> Any:
        return self._future_ref

    def info(self) -> dict[str, Any]:
        return r.future_info(self._f(), time.time(), self.since)

    def _traceback(self) -> str:
        if self._error_text is None:
            self._error_text = r.error_text(self._f())
        return self._error_text

    def update(self) -> None:
        info = self.info()
        self.card.value = r.future_html(info, details=False)
        if info["error"]:
            self.details.value = f"<pre>{r.esc(self._traceback())}</pre>"
            self.button.layout.display = ""

    def _toggle(self, _: Any = None) -> None:
        shown = self.details.layout.display != "none"
        self.details.layout.display = "none" if shown else ""
        self.button.description = "Show traceback" if shown else "Hide traceback"

    def static_html(self) -> str:
        info = self.info()
        return r.future_html(info, self._traceback() if info["error"] else "")

    def text(self) -> str:
        info = self.info()
        return f"<Future: status: {info['status']}, key: {info['key']}>"

    def finished(self) -> bool:
        """Done, and the model has the task's timings (or they are not coming: 2 s grace).

        The model may hear of the task only after the client does (its events are batched), or
        not at all (the task ended before the model subscribed).
        """
        ref = self._future_ref
        if not ref._state.done():
            return False
        if self._done_at is None:
            self._done_at = time.monotonic()
        model = getattr(ref.client, "_model", None)
        task = model.tasks.get(ref.key) if model is not None else None
        return ((task is not None and task.state not in _UNFINISHED)
                or time.monotonic() - self._done_at > 2.0)

    def settled(self) -> bool:
        return self._future_ref._state.done()

    def close_listener(self) -> None:
        super().close_listener()
        unhook = getattr(self, "_unhook", None)
        if unhook is not None:
            unhook()


class _FutureRef:
    """What :func:`repr.future_info` needs of a Future, without holding the Future itself
    (holding it would keep its result alive on the cluster)."""

    __slots__ = ("_state", "client", "key")

    def __init__(self, future: Future) -> None:
        self.key, self.client, self._state = future.key, future.client, future._state


def _on_done(state: Any, fn: Any) -> Any:
    """Call ``fn()`` when ``state`` completes (from the loop thread); returns the undo."""
    def cb(_: Any) -> None:
        fn()
    state.add_callback(cb)

    def remove() -> None:
        try:
            state.remove_callback(cb)
        except ValueError:
            pass
    return remove


# ---------------------------------------------------------------------- progress
class ProgressView(LiveView):
    """A live progress bar per task prefix: done, erred and cancelled out of the total.

    Args:
        tracker: the futures to follow.
        complete: keep showing groups that have finished.
    """

    def __init__(self, tracker: ProgressTracker, complete: bool = True) -> None:
        super().__init__()
        self.tracker = tracker
        self.complete = complete
        #: per prefix: the bar (value = finished tasks, max = total) and its label
        self.bars: dict[str, w.IntProgress] = {}
        self.labels: dict[str, w.HTML] = {}
        rows = []
        for prefix, c in tracker.counts().items():
            bar = w.IntProgress(value=0, min=0, max=max(c["total"], 1),
                                layout=w.Layout(width="300px"))
            label = w.HTML()
            self.bars[prefix], self.labels[prefix] = bar, label
            rows.append(w.HBox([w.HTML(f"<code>{r.esc(prefix)}</code>",
                                       layout=w.Layout(width="140px")), bar, label]))
        self.footer = w.HTML()
        self.rows = rows
        self.root = w.VBox([*rows, self.footer])
        self.update()
        if tracker.client is not None and not tracker.complete():
            model = tracker.client.live_model()
            self.listen(model)
            self._unhook = tracker.on_change(model.touch)

    def update(self) -> None:
        counts = self.tracker.counts()
        complete = self.tracker.complete()
        for (prefix, c), row in zip(counts.items(), self.rows):
            finished = c["done"] + c["erred"] + c["cancelled"]
            bar = self.bars[prefix]
            bar.value = finished
            bar.bar_style = ("danger" if c["erred"] else "warning" if c["cancelled"] else
                             "success" if finished == c["total"] else "info")
            self.labels[prefix].value = r.esc(r.progress_label(c))
            if not self.complete and finished == c["total"]:
                row.layout.display = "none"
        elapsed = r.format_seconds(self.tracker.elapsed(time.time()))
        self.footer.value = (f"Finished in {elapsed}" if complete else f"Running: {elapsed}")

    def static_html(self) -> str:
        return r.progress_html(self.tracker.counts(), self.tracker.elapsed(time.time()))

    def text(self) -> str:
        return "\n".join(f"{p}: {r.progress_label(c)}" for p, c in self.tracker.counts().items())

    def finished(self) -> bool:
        return self.tracker.complete()

    settled = finished

    def close_listener(self) -> None:
        super().close_listener()
        unhook = getattr(self, "_unhook", None)
        if unhook is not None:
            unhook()


# ---------------------------------------------------------------------- cluster-wide views
class _ClientView(LiveView):
    """A view of a whole Client: live while the client runs, settled when it has no work."""

    def __init__(self, client: Client) -> None:
        super().__init__()
        self.client = client

    def settled(self) -> bool:
        return all(st.done() for st in list(self.client.futures.values()))


class TaskStreamView(_ClientView):
    """A live task-stream chart: a row per worker thread, a bar per finished task over time.

    Bars are coloured by task prefix (the same colour for a prefix everywhere), erred tasks are
    outlined in red and hatched.

    Args:
        client: whose cluster to show.
        width: pixels.
        limit: the most recent tasks to draw.
        window: only tasks that ended in the last ``window`` seconds of the stream.
    """

    def __init__(self, client: Client, width: int = 800, limit: int = 1000,
                 window: float | None = None) -> None:
        super().__init__(client)
        self.width, self.limit, self.window = width, limit, window
        self.chart = w.HTML()
        self.root = w.VBox([self.chart])
        self._drawn: tuple[Any, ...] = ()
        self.listen(client.live_model())
        self.update()

    def html(self) -> str:
        model = self.model
        assert model is not None
        with model.lock:
            records = list(model.stream)[-self.limit:]
            workers = {a: dict(info) for a, info in model.workers.items()}
        if self.window is not None and records:
            end = max(x["stop"] for x in records)
            records = [x for x in records if x["stop"] >= end - self.window]
        rows: list[tuple[str, Any]] = []
        labels: dict[tuple[str, Any], str] = {}
        for addr, info in sorted(workers.items(), key=lambda kv: str(kv[1].get("name", kv[0]))):
            for t in range(int(info.get("nthreads", 1) or 1)):
                rows.append((addr, t))
                labels[(addr, t)] = f"{info.get('name', addr)} #{t}"
        for x in records:
            row = (x["worker"], x["thread"])
            if row not in labels:
                rows.append(row)
                name = workers.get(x["worker"], {}).get("name", x["worker"])
                labels[row] = f"{name} #{x['thread']}"
        prefixes = list(dict.fromkeys(x["prefix"] for x in records))
        erred = sum(1 for x in records if x["state"] == "erred")
        head = (f'<div style="font-size:12px"><strong>Task stream</strong> &middot; '
                f"{len(records)} tasks &middot; {len(workers)} workers"
                + (f' &middot; <span style="color:{r.ERROR_COLOR}">{erred} erred</span>'
                   if erred else "") + "</div>")
        svg = r.task_stream_svg(records, rows, labels, width=self.width)
        return head + svg + r.legend_html(prefixes, erred=bool(erred))

    def update(self) -> None:
        model = self.model
        assert model is not None
        with model.lock:
            last = model.stream[-1]["key"] if model.stream else None
            state = (len(model.stream), last, tuple(sorted(model.workers)))
        if state != self._drawn:
            self._drawn = state
            self.chart.value = self.html()

    def static_html(self) -> str:
        return self.html()

    def text(self) -> str:
        return f"<TaskStream: {len(self.model.stream) if self.model else 0} tasks>"


class PrimitivesBoard(_ClientView):
    """A live table of the cluster's coordination primitives, one section per kind.

    Each primitive's state is shown field by field as the scheduler reports it, so new fields
    appear without changes here.
    """

    def __init__(self, client: Client) -> None:
        super().__init__(client)
        self.board = w.HTML()
        self.root = w.VBox([w.HTML("<strong>Coordination primitives</strong>"), self.board])
        self.listen(client.live_model())
        self.update()

    def primitives(self) -> dict[str, Any]:
        model = self.model
        assert model is not None
        with model.lock:
            return {k: dict(v) if isinstance(v, dict) else v
                    for k, v in model.primitives.items()}

    def update(self) -> None:
        self.board.value = r.primitives_html(self.primitives(), time.time(), self.client.id)

    def static_html(self) -> str:
        return ("<div><strong>Coordination primitives</strong></div>"
                + r.primitives_html(self.primitives(), time.time(), self.client.id))

    def text(self) -> str:
        kinds = r.normalize_primitives(self.primitives())
        return "<PrimitivesBoard: " + ", ".join(f"{len(v)} {k}" for k, v in kinds.items()) + ">"


# ---------------------------------------------------------------------- entry points
def task_stream(client: Client, **kwargs: Any) -> TaskStreamView:
    """A live task-stream chart of ``client``'s cluster (what ``client.task_stream()`` returns).

    >>> # client.task_stream(width=600, window=30)
    """
    return TaskStreamView(client, **kwargs)


def primitives_board(client: Client, **kwargs: Any) -> PrimitivesBoard:
    """A live board of the coordination primitives (what ``client.primitives_board()`` returns).

    >>> # client.primitives_board()
    """
    return PrimitivesBoard(client, **kwargs)
