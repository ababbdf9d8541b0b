"""Static HTML and SVG for the notebook: what a cell shows without widgets, and inside them.

Theory of operation
-------------------
Every view of futurelab in a notebook has two faces: a live ipywidget (``widgets.py``) and a
static HTML snapshot.  The snapshot is what nbviewer, GitHub and plain-HTML front ends show, and it
is also the *content* of the live widgets: a widget is an ``HTML`` widget whose value is refreshed
with these same functions from the live model's thread.  So everything here is a pure function of
plain data — dicts and lists from :class:`~futurelab.client.model.LiveModel` — returning a string;
no ipywidgets, no event loop, no clock (``now`` is passed in).

The ``*_mimebundle`` and ``client_html`` functions are the entry points ``Client`` and ``Future``
delegate their reprs to (clusters: :mod:`.cluster_widget`).  They return a live widget view
only inside a kernel, and always include ``text/html`` and ``text/plain``.
"""
from __future__ import annotations

import hashlib
import html
import math
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..client.client import Client
    from ..client.future import Future

#: colours of task prefixes (no reds: red marks errors)
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#c5b0d5", "#c49c94",
           "#f7b6d2", "#dbdb8d", "#9edae5", "#393b79", "#637939", "#8c6d31")
ERROR_COLOR = "#d62728"
#: colours of future statuses
STATUS_COLORS = {"pending": "#7f7f7f", "processing": "#1f77b4", "finished": "#2ca02c",
                 "error": ERROR_COLOR, "cancelled": "#ff7f0e", "lost": "#9467bd"}
_TABLE = "border-collapse:collapse;font-size:12px;text-align:left"
_CELL = "padding:2px 8px;text-align:left"


def esc(value: Any) -> str:
    """``value`` as text safe inside HTML."""
    return html.escape(str(value), quote=True)


def prefix_color(prefix: str) -> str:
    """A colour for a task prefix, the same in every process and session."""
    digest = hashlib.md5(prefix.encode(), usedforsecurity=False).digest()
    return PALETTE[int.from_bytes(digest[:4], "big") % len(PALETTE)]


def format_bytes(n: float) -> str:
    """``1234567`` → ``"1.23 MB"``."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1000
    return f"{n:.2f} PB"  # pragma: no cover - unreachable


def format_seconds(s: float | None) -> str:
    """``0.0123`` → ``"12.3 ms"``, ``75`` → ``"1 min 15 s"``."""
    if s is None:
        return ""
    if s < 1e-3:
        return f"{s * 1e6:.0f} µs"
    if s < 1:
        return f"{s * 1e3:.1f} ms"
    if s < 60:
        return f"{s:.2f} s"
    return f"{int(s // 60)} min {int(s % 60)} s"


def table(rows: Iterable[Iterable[Any]], header: Iterable[str] | None = None,
          escape: bool = True) -> str:
    """A small HTML table (cells escaped unless ``escape`` is False)."""
    out = [f'<table style="{_TABLE}">']
    if header is not None:
        out.append("<tr>" + "".join(f'<th style="{_CELL}">{esc(h)}</th>' for h in header)
                   + "</tr>")
    for row in rows:
        cells = (esc(c) if escape else str(c) for c in row)
        out.append("<tr>" + "".join(f'<td style="{_CELL}">{c}</td>' for c in cells) + "</tr>")
    out.append("</table>")
    return "".join(out)


def _badge(status: str) -> str:
    color = STATUS_COLORS.get(status, "#7f7f7f")
    return (f'<span style="background:{color};color:white;border-radius:3px;padding:0 5px">'
            f"{esc(status)}</span>")


# ---------------------------------------------------------------------- Client
def client_summary(client: Client) -> dict[str, Any]:
    """What the Client repr shows: address, status, workers, threads, memory, futures held."""
    info: dict[str, Any] = {"scheduler": client.scheduler_address, "status": client.status,
                            "futures": len(client.futures)}
    workers: dict[str, Any] | None = None
    model = getattr(client, "_model", None)
    if model is not None and model.started:
        with model.lock:
            workers = {a: dict(w) for a, w in model.workers.items()}
    elif client.status == "running" and not client.asynchronous:
        from ..client.sync import in_loop_thread
        if not in_loop_thread(client.loop):
            try:
                ident = client.scheduler_info()
                workers = {a: {"nthreads": w.get("nthreads", 0),
                               "memory": w.get("metrics", {}).get("memory", 0),
                               "memory_limit": w.get("memory_limit", 0)}
                           for a, w in ident.get("workers", {}).items()}
            except Exception:  # noqa: BLE001 - a repr never raises
                workers = None
    if workers is not None:
        info["workers"] = len(workers)
        info["threads"] = sum(int(w.get("nthreads", 0)) for w in workers.values())
        info["memory"] = sum(int(w.get("memory", 0)) for w in workers.values())
        info["memory_limit"] = sum(int(w.get("memory_limit", 0) or 0) for w in workers.values())
    return info


def client_html(client: Client) -> str:
    """The Client's HTML repr: a summary table, with the link to the scheduler's dashboard."""
    info = client_summary(client)
    rows: list[tuple[str, Any]] = [("Scheduler", esc(info["scheduler"])),
                                   ("Status", esc(info["status"]))]
    link = getattr(client, "dashboard_link", None)
    if isinstance(link, str) and link:
        rows.append(("Dashboard", f'<a href="{esc(link)}" target="_blank" rel="noopener">'
                                  f"{esc(link)}</a>"))
    if "workers" in info:
        memory = format_bytes(info["memory"])
        if info["memory_limit"]:
            memory += f" / {format_bytes(info['memory_limit'])}"
        rows += [("Workers", esc(info["workers"])), ("Threads", esc(info["threads"])),
                 ("Memory (results held)", esc(memory))]
    rows.append(("Futures held", esc(info["futures"])))
    name = f" {esc(client.name)}" if client.name else ""
    return (f'<div class="futurelab-client"><strong>futurelab Client{name}</strong>'
            + table(rows, escape=False) + "</div>")


# ---------------------------------------------------------------------- Future
def future_info(future: Future, now: float, since: float | None = None) -> dict[str, Any]:
    """What a Future view shows: status, key, type, worker, elapsed, error.

    Args:
        future: the Future.
        now: the current time (``time.time()``).
        since: when the view started watching (the elapsed time of a task that has not started).
    """
    st = future._state
    client = future.client
    model = getattr(client, "_model", None)
    task = model.tasks.get(future.key) if model is not None else None
    status = st.status
    if status in ("pending", "lost") and task is not None and task.state == "processing":
        status = "processing"
    worker = task.worker if task is not None and task.worker else (st.who_has[0]
                                                                    if st.who_has else "")
    if worker and model is not None:
        worker = model.workers.get(worker, {}).get("name", worker)
    if task is not None and task.stop and st.done():
        elapsed: float | None = task.stop - task.start
    elif since is not None and not st.done():
        elapsed = max(0.0, now - since)
    else:
        elapsed = None
    return {"key": future.key, "status": status, "type": st.type or "", "worker": worker,
            "elapsed": elapsed, "error": st.error_text if st.status == "error" else ""}


def future_html(info: Mapping[str, Any], traceback_text: str = "", details: bool = True) -> str:
    """One Future as a compact HTML card.

    An erred one shows its error, and with ``details`` the traceback behind a ``<details>`` that
    opens on click without JavaScript (the live widget uses a button instead).
    """
    parts = [f"<strong>Future</strong> {_badge(info['status'])}",
             f"key <code>{esc(info['key'])}</code>"]
    if info.get("type"):
        parts.append(f"type <code>{esc(info['type'])}</code>")
    if info.get("worker"):
        parts.append(f"worker {esc(info['worker'])}")
    if info.get("elapsed") is not None:
        label = "took" if info["status"] in ("finished", "error") else "elapsed"
        parts.append(f"{label} {format_seconds(info['elapsed'])}")
    out = '<div class="futurelab-future">' + " &middot; ".join(parts)
    if info.get("error") and not details:
        out += f'<div style="color:{ERROR_COLOR}">{esc(info["error"])}</div>'
    elif info.get("error"):
        out += (f'<details><summary style="color:{ERROR_COLOR}">{esc(info["error"])}</summary>'
                f"<pre>{esc(traceback_text or info['error'])}</pre></details>")
    return out + "</div>"


def error_text(future: Future) -> str:
    """An erred Future's exception and traceback as printed text ("" when it did not err)."""
    import traceback as tb_mod
    st = future._state
    if st.status != "error":
        return ""
    try:
        exc = st.get_exception()
        tb = st.get_traceback()
    except Exception:  # noqa: BLE001 - the error could not be unpickled here
        return st.error_text
    if tb is not None and not hasattr(tb, "tb_frame"):
        tb = None
    lines = tb_mod.format_exception(type(exc), exc, tb)
    return "".join(lines).rstrip() or st.error_text


def future_mimebundle(future: Future, include: Any = None, exclude: Any = None
                      ) -> dict[str, Any]:
    """Future's repr: a live widget in a kernel, plus static HTML and text."""
    info = future_info(future, time.time())
    bundle: dict[str, Any] = {"text/plain": repr(future),
                              "text/html": future_html(info, error_text(future))}
    if in_kernel():
        from .widgets import FutureView
        bundle.update(FutureView(future).widget_bundle())
    return _filter(bundle, include, exclude)


# ---------------------------------------------------------------------- progress
def progress_html(counts: Mapping[str, Mapping[str, int]], elapsed: float | None = None) -> str:
    """Static progress bars, one per task prefix: done/erred/cancelled out of total."""
    rows = []
    for prefix, c in counts.items():
        total = max(int(c.get("total", 0)), 1)
        done, erred, cancelled = (int(c.get(k, 0)) for k in ("done", "erred", "cancelled"))
        segs = "".join(
            f'<div style="width:{100 * n / total:.2f}%;background:{color};height:100%"></div>'
            for n, color in ((done, "#2ca02c"), (erred, ERROR_COLOR), (cancelled, "#ff7f0e"))
            if n)
        bar = (f'<div style="display:flex;width:300px;height:14px;background:#eee;'
               f'border-radius:2px;overflow:hidden">{segs}</div>')
        rows.append((f"<code>{esc(prefix)}</code>", bar, esc(progress_label(c))))
    foot = f"<div>elapsed {format_seconds(elapsed)}</div>" if elapsed is not None else ""
    return ('<div class="futurelab-progress">' + table(rows, escape=False) + foot + "</div>")


def progress_label(c: Mapping[str, int]) -> str:
    """``"7 / 10 done, 1 erred"``."""
    text = f"{c.get('done', 0)} / {c.get('total', 0)} done"
    if c.get("erred"):
        text += f", {c['erred']} erred"
    if c.get("cancelled"):
        text += f", {c['cancelled']} cancelled"
    return text


# ---------------------------------------------------------------------- task stream
def _nice_step(span: float, ticks: int = 6) -> float:
    raw = max(span, 1e-6) / ticks
    mag = 10 ** math.floor(math.log10(raw))
    return float(next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw))


def task_stream_svg(records: Sequence[Mapping[str, Any]], rows: Sequence[tuple[str, Any]],
                    row_labels: Mapping[tuple[str, Any], str], width: int = 800,
                    row_height: int = 16) -> str:
    """A task-stream chart: one row per worker thread, a bar per task over time.

    Args:
        records: finished tasks: dicts with ``key, prefix, worker, thread, start, stop, state``.
        rows: the ``(worker, thread)`` rows, top to bottom.
        row_labels: the label of each row.
        width: the width of the whole chart in pixels.
        row_height: pixels per row.

    Bars take their prefix's colour; erred tasks get a red outline and hatching.  The time axis
    counts seconds from the first task shown.
    """
    left, right, top, axis = 130, 10, 4, 28
    height = top + max(len(rows), 1) * row_height + axis
    out = [(f'<svg xmlns="http://www.w3.org/2000/svg" class="futurelab-task-stream" '
            f'width="{width}" height="{height}" font-family="sans-serif" font-size="10">'),
           ('<defs><pattern id="flab-hatch" width="4" height="4" patternUnits="userSpaceOnUse" '
            'patternTransform="rotate(45)"><line x1="0" y1="0" x2="0" y2="4" '
            f'stroke="{ERROR_COLOR}" stroke-width="2"/></pattern></defs>')]
    if not records:
        out.append(f'<text x="{left}" y="{top + row_height}" fill="#777">'
                   "no finished tasks yet</text></svg>")
        return "".join(out)
    t0 = min(r["start"] for r in records)
    t1 = max(r["stop"] for r in records)
    span = max(t1 - t0, 1e-3)
    plot_w = width - left - right
    index = {row: i for i, row in enumerate(rows)}
    for i, row in enumerate(rows):
        y = top + i * row_height
        if i % 2:
            out.append(f'<rect x="{left}" y="{y}" width="{plot_w}" height="{row_height}" '
                       'fill="#f6f6f6"/>')
        out.append(f'<text x="{left - 4}" y="{y + row_height - 4}" text-anchor="end">'
                   f"{esc(row_labels.get(row, row[0]))}</text>")
    for r in records:
        row_index = index.get((r["worker"], r["thread"]))
        if row_index is None:
            continue
        x = left + (r["start"] - t0) / span * plot_w
        w = max((r["stop"] - r["start"]) / span * plot_w, 1.0)
        y = top + row_index * row_height + 2
        h = row_height - 4
        tip = (f"<title>{esc(r['key'])} ({esc(r['state'])}, "
               f"{format_seconds(r['stop'] - r['start'])})</title>")
        color = prefix_color(r["prefix"])
        if r["state"] == "erred":
            out.append(f'<g class="erred"><rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{h}" '
                       f'fill="{color}" stroke="{ERROR_COLOR}" stroke-width="2"/>'
                       f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{h}" '
                       f'fill="url(#flab-hatch)">{tip}</rect></g>')
        else:
            out.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{h}" '
                       f'fill="{color}" stroke="white" stroke-width="0.5">{tip}</rect>')
    base = top + len(rows) * row_height
    out.append(f'<line x1="{left}" y1="{base}" x2="{left + plot_w}" y2="{base}" stroke="#333"/>')
    step = _nice_step(span)
    tick = 0.0
    while tick <= span + 1e-9:
        x = left + tick / span * plot_w
        label = f"{tick:g} s" if step >= 1 else f"{tick * 1000:g} ms"
        out.append(f'<line x1="{x:.1f}" y1="{base}" x2="{x:.1f}" y2="{base + 4}" stroke="#333"/>'
                   f'<text x="{x:.1f}" y="{base + 15}" text-anchor="middle">{label}</text>')
        tick = round(tick + step, 9)
    out.append("</svg>")
    return "".join(out)


def legend_html(prefixes: Iterable[str], erred: bool = False) -> str:
    """Colour swatches naming the task prefixes (and the error mark when ``erred``)."""
    items = [f'<span style="margin-right:10px"><span style="display:inline-block;width:10px;'
             f'height:10px;background:{prefix_color(p)}"></span> {esc(p)}</span>'
             for p in prefixes]
    if erred:
        items.append(f'<span><span style="display:inline-block;width:10px;height:10px;'
                     f'border:2px solid {ERROR_COLOR}"></span> erred</span>')
    return f'<div style="font-size:11px">{"".join(items)}</div>'


# ---------------------------------------------------------------------- primitives
def normalize_primitives(prims: Mapping[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """``{kind: {name: state}}`` with plural kinds merged into singular ones, gone ones dropped."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for kind, section in prims.items():
        if not isinstance(section, Mapping):
            continue
        kind = kind[:-1] if kind.endswith("s") and len(kind) > 1 else kind
        merged = out.setdefault(kind, {})
        for name, state in section.items():
            if isinstance(state, Mapping):
                merged[str(name)] = dict(state)
            elif state is not None:
                merged[str(name)] = {"state": state}
    return {k: v for k, v in sorted(out.items()) if v}


_CLIENT_ID = re.compile(r"Client-([0-9a-f]{8})[0-9a-f]{24}")


def format_value(value: Any, now: float, me: str | None = None) -> str:
    """One field of a primitive's state, short.

    Lists are counted, epoch times become ages, ``{"type", "repr"}`` values show their repr,
    client ids are shortened and ``me`` (this client's id) reads "this client".
    """
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value > 1e9:
        return f"{format_seconds(max(0.0, now - value))} ago"
    if isinstance(value, (list, tuple, set)):
        items = [format_value(v, now, me) for v in list(value)[:3]]
        more = ", …" if len(value) > 3 else ""
        return f"{len(value)}: [{', '.join(items)}{more}]" if value else "0"
    if isinstance(value, Mapping):
        if "repr" in value:
            return format_value(str(value["repr"]), now, me)
        return ", ".join(f"{k}={format_value(v, now, me)}" for k, v in list(value.items())[:4])
    text = str(value)
    if me is not None and text == me:
        return "this client"
    text = _CLIENT_ID.sub(r"Client-\1", text)
    return text if len(text) <= 40 else text[:39] + "…"


def primitives_html(prims: Mapping[str, Any], now: float, me: str | None = None) -> str:
    """A table per primitive kind: one row per primitive, one column per field of its state.

    Fields are whatever the scheduler reports, so a new field shows up without changes here.
    """
    kinds = normalize_primitives(prims)
    if not kinds:
        return ('<div class="futurelab-primitives"><em>No coordination primitives in use.'
                "</em></div>")
    out = ['<div class="futurelab-primitives">']
    for kind, section in kinds.items():
        fields: list[str] = []
        for state in section.values():
            fields += [f for f in state if f != "name" and f not in fields]
        rows = [[name] + [format_value(state.get(f), now, me) for f in fields]
                for name, state in sorted(section.items())]
        out.append(f"<div><strong>{esc(kind)}</strong> ({len(section)})</div>")
        out.append(table(rows, ["name"] + fields))
    out.append("</div>")
    return "".join(out)


# ---------------------------------------------------------------------- helpers
def in_kernel() -> bool:
    """True inside a Jupyter kernel with ipywidgets importable (where widgets can render)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    ip = get_ipython()
    if ip is None or getattr(ip, "kernel", None) is None:
        return False
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


def _filter(bundle: dict[str, Any], include: Any, exclude: Any) -> dict[str, Any]:
    if include:
        bundle = {k: v for k, v in bundle.items() if k in include}
    if exclude:
        bundle = {k: v for k, v in bundle.items() if k not in exclude}
    return bundle
