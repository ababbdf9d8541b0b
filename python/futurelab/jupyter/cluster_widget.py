"""A cluster in the notebook: its HTML snapshot, and a live widget with scale and adapt controls.

Works for every kind of cluster (:class:`~futurelab.deploy.Cluster`): both faces read the
cluster's ``scheduler_info`` (the scheduler's own identity, refreshed by the cluster every
``scheduler_sync_interval``), so a scheduler on another host shows the same as one in this
process.  The widget redraws when the cluster refreshes and runs ``scale`` / ``adapt`` in a
thread of its own, so the kernel stays responsive while workers start.
"""
from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from ..utils import format_bytes
from . import repr as r
from .widgets import LiveView

if TYPE_CHECKING:
    from ..deploy.cluster import Cluster


def cluster_info(cluster: Cluster) -> dict[str, Any]:
    """The cluster's scheduler identity (fresh from an in-process scheduler)."""
    sched = cluster.scheduler
    if sched is not None:
        for _ in range(3):  # the scheduler's loop may change its dicts meanwhile: retry
            try:
                return dict(sched.identity())
            except RuntimeError:
                continue
    return dict(cluster.scheduler_info)


def cluster_rows(info: dict[str, Any]) -> list[dict[str, Any]]:
    """Workers as rows: name, address, threads, memory limit, processing, results, memory."""
    rows = []
    for address, wi in info.get("workers", {}).items():
        metrics = wi.get("metrics", {})
        rows.append({"name": str(wi.get("name", address)), "address": address,
                     "nthreads": wi.get("nthreads", 0), "memory_limit": wi.get("memory_limit") or 0,
                     "processing": metrics.get("executing", 0),
                     "in_memory": metrics.get("in_memory", 0), "memory": metrics.get("memory", 0)})
    return sorted(rows, key=lambda row: row["name"])


def cluster_html(cluster: Cluster) -> str:
    """The cluster's HTML snapshot: kind, name, scheduler, totals, dashboard, workers table.

    >>> # cluster_html(LocalCluster(n_workers=1, processes=False))
    """
    rows = cluster_rows(cluster_info(cluster))
    threads = sum(row["nthreads"] for row in rows)
    limits = [row["memory_limit"] for row in rows]
    memory = f" &middot; memory {format_bytes(sum(limits))}" if limits and all(limits) else ""
    kind = "processes" if getattr(cluster, "processes", True) else "threads"
    link = cluster.dashboard_link
    dash = (f' &middot; <a href="{r.esc(link)}" target="_blank">dashboard</a>'
            if link else "")
    adaptive = getattr(cluster, "_adaptive", None)
    adapting = (f" &middot; adapting {adaptive.minimum}–{adaptive.maximum}"
                if adaptive is not None and adaptive.running else "")
    head = (f"<strong>{r.esc(type(cluster).__name__)}</strong> {r.esc(cluster.name)} &middot; "
            f"scheduler {r.esc(cluster.scheduler_address or 'not started')} &middot; "
            f"{len(rows)} workers ({kind}) &middot; {threads} threads{memory}{adapting}"
            f"{dash} &middot; status {r.esc(cluster.status)}")
    table = r.table([(row["name"], row["address"], row["nthreads"], row["processing"],
                      row["in_memory"], format_bytes(row["memory"]),
                      format_bytes(row["memory_limit"]) if row["memory_limit"] else "")
                     for row in rows],
                    ("worker", "address", "threads", "processing", "results", "memory",
                     "limit")) if rows else "<em>no workers</em>"
    return f'<div class="futurelab-cluster">{head}{table}</div>'


def cluster_mimebundle(cluster: Cluster, include: Any = None,
                       exclude: Any = None) -> dict[str, Any]:
    """A cluster's repr: the live widget inside a kernel, always the HTML and the text."""
    bundle: dict[str, Any] = {"text/plain": repr(cluster), "text/html": cluster_html(cluster)}
    if r.in_kernel():
        bundle.update(ClusterWidget(cluster).widget_bundle())
    return r._filter(bundle, include, exclude)


class ClusterWidget(LiveView):
    """Workers table, ``Scale`` to N, ``Adapt`` between a minimum and a maximum.

    >>> # ClusterWidget(cluster)   # what a cluster shows as a cell's value in a notebook
    """

    def __init__(self, cluster: Cluster) -> None:
        super().__init__()
        self.cluster = cluster
        self.table = w.HTML(cluster_html(cluster))
        self.n = w.IntText(value=len(cluster.workers), description="Workers",
                           layout=w.Layout(width="180px"))
        self.scale_button = w.Button(description="Scale", icon="arrows-v")
        self.minimum = w.IntText(value=0, description="Minimum", layout=w.Layout(width="180px"))
        self.maximum = w.IntText(value=max(1, len(cluster.workers)), description="Maximum",
                                 layout=w.Layout(width="180px"))
        self.adapt_button = w.Button(description="Adapt", icon="refresh")
        self.status = w.HTML()
        self.scale_button.on_click(lambda _: self.scale())
        self.adapt_button.on_click(lambda _: self.adapt())
        self.root = w.VBox([self.table,
                            w.HBox([self.n, self.scale_button]),
                            w.HBox([self.minimum, self.maximum, self.adapt_button]),
                            self.status])
        self._thread: threading.Thread | None = None
        listeners = getattr(cluster, "_listeners", None)
        if listeners is not None:  # redraw when the cluster refreshes its scheduler_info
            ref = weakref.ref(self)
            listeners.append(lambda: (view.refresh() if (view := ref()) is not None else None))

    # ------------------------------------------------------------------ actions
    def scale(self) -> threading.Thread:
        """Scale the cluster to the number in the box (in a thread; returns it)."""
        n = max(0, int(self.n.value))
        return self._act(f"scaling to {n}…", lambda: self.cluster.scale(n),
                         lambda: f"{len(self.cluster.workers)} workers")

    def adapt(self) -> threading.Thread:
        """Adapt between the minimum and maximum in the boxes (in a thread; returns it)."""
        lo, hi = int(self.minimum.value), int(self.maximum.value)
        return self._act(f"adapting between {lo} and {hi}…",
                         lambda: self.cluster.adapt(minimum=lo, maximum=hi),
                         lambda: f"adapting between {lo} and {hi} workers")

    def _act(self, doing: str, action: Any, done: Any) -> threading.Thread:
        for button in (self.scale_button, self.adapt_button):
            button.disabled = True
        self.status.value = doing

        def run() -> None:
            try:
                action()
                self.status.value = done()
            except Exception as e:  # noqa: BLE001 - show it instead of losing it in a thread
                self.status.value = (f'<span style="color:{r.ERROR_COLOR}">{r.esc(e)}</span>')
            finally:
                self.refresh()
                for button in (self.scale_button, self.adapt_button):
                    button.disabled = False
        self._thread = threading.Thread(target=run, daemon=True, name="futurelab-cluster-widget")
        self._thread.start()
        return self._thread

    # ------------------------------------------------------------------ views
    def update(self) -> None:
        self.table.value = cluster_html(self.cluster)

    def refresh(self) -> None:
        self.update()
        self.refresh_static()

    def static_html(self) -> str:
        return cluster_html(self.cluster)

    def text(self) -> str:
        return repr(self.cluster)
