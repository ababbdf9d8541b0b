"""The pure HTML/SVG renderers and the repr entry points (no kernel, no widgets)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import threading

import futurelab
from futurelab.jupyter import repr as r


def test_prefix_color_is_stable_across_processes() -> None:
    code = "from futurelab.jupyter.repr import prefix_color; print(prefix_color('inc'))"
    env = {**os.environ, "PYTHONHASHSEED": "123",
           "PYTHONPATH": os.path.dirname(os.path.dirname(futurelab.__file__))}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == r.prefix_color("inc")
    assert r.prefix_color("inc") in r.PALETTE
    assert r.ERROR_COLOR not in r.PALETTE


def test_format_helpers() -> None:
    assert r.format_bytes(0) == "0 B"
    assert r.format_bytes(1_234_567) == "1.23 MB"
    assert r.format_seconds(0.0123) == "12.3 ms"
    assert r.format_seconds(75) == "1 min 15 s"
    assert r.format_seconds(None) == ""
    assert r.esc("<b>") == "&lt;b&gt;"


def _rec(key: str, worker: str, thread: int, start: float, stop: float,
         state: str = "memory") -> dict[str, object]:
    return {"key": key, "prefix": key.rsplit("-", 1)[0], "worker": worker, "thread": thread,
            "start": start, "stop": stop, "state": state}


def test_task_stream_svg_draws_bars_rows_axis_and_errors() -> None:
    records = [_rec("inc-1", "w1", 0, 100.0, 100.5), _rec("inc-2", "w1", 1, 100.2, 100.9),
               _rec("dec-1", "w2", 0, 100.1, 101.0, "erred")]
    rows = [("w1", 0), ("w1", 1), ("w2", 0)]
    labels = {("w1", 0): "alice #0", ("w1", 1): "alice #1", ("w2", 0): "bob #0"}
    svg = r.task_stream_svg(records, rows, labels, width=600)
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert svg.count("<title>") == 3
    assert "alice #1" in svg and "bob #0" in svg
    assert svg.count('class="erred"') == 1 and "url(#flab-hatch)" in svg
    assert f'fill="{r.prefix_color("inc")}"' in svg
    # the axis starts at 0 and covers the 1 s span
    assert ">0 ms<" in svg and ">800 ms<" in svg
    # bars start at the left margin for the earliest task
    first = re.search(r'<rect x="([\d.]+)" y="\d+" width="[\d.]+" height="12" fill', svg)
    assert first is not None and float(first.group(1)) == 130.0


def test_task_stream_svg_empty() -> None:
    svg = r.task_stream_svg([], [], {})
    assert "no finished tasks yet" in svg


def test_progress_html_and_label() -> None:
    counts = {"inc": {"done": 7, "erred": 1, "cancelled": 0, "total": 10}}
    out = r.progress_html(counts, elapsed=1.5)
    assert "7 / 10 done, 1 erred" in out
    assert "width:70.00%" in out and "width:10.00%" in out
    assert "elapsed 1.50 s" in out


def test_primitives_html_renders_unknown_fields_generically() -> None:
    me = "Client-" + "a" * 32
    other = "Client-" + "b" * 32
    prims = {
        "locks": {"db": {"name": "db", "locked": True, "holder": me, "held_since": 1.7e9 - 5,
                         "waiters": [other], "brand_new_field": 7}},
        "lock": {"cache": {"locked": False, "holder": None}},
        "queue": {"jobs": {"depth": 3, "head": [{"type": "int", "repr": "1"}] * 4}},
        "event": {"gone": None},
    }
    out = r.primitives_html(prims, now=1.7e9, me=me)
    assert out.count("<strong>lock</strong>") == 1  # plural and singular kinds merged
    assert "(2)" in out
    assert "brand_new_field" in out and ">7<" in out
    assert "this client" in out
    assert "1: [Client-bbbbbbbb]" in out
    assert "5.00 s ago" in out
    assert "4: [1, 1, 1, …]" in out
    assert "gone" not in out
    assert "No coordination primitives" in r.primitives_html({"event": {}}, 0.0)


def test_future_html_with_error_has_clickable_details() -> None:
    info = {"key": "f-1", "status": "error", "type": "", "worker": "w", "elapsed": 0.5,
            "error": "ValueError: 1"}
    out = r.future_html(info, "Traceback ...\nValueError: 1")
    assert "<details>" in out and "Traceback ..." in out and "took 500.0 ms" in out
    assert "<details>" not in r.future_html(info, details=False)


def test_client_html_lists_workers_threads_memory_futures(client: futurelab.Client) -> None:
    futs = client.map(lambda x: x + 1, range(3))
    futurelab.wait(futs)
    out = client._repr_html_()
    for text in ("Scheduler", client.scheduler_address, "Workers", "Threads", "Memory",
                 "Futures held"):
        assert text in out
    # the dashboard link is the one link of the repr
    assert out.count("<a ") == 1 and f'href="{client.dashboard_link}"' in out
    summary = r.client_summary(client)
    assert summary["workers"] == 2 and summary["threads"] == 4 and summary["futures"] == 3
    client.live_model()  # with a live model the summary comes from it
    assert r.client_summary(client)["threads"] == 4


def test_future_mimebundle_outside_a_kernel_is_static(client: futurelab.Client) -> None:
    def fail() -> None:
        raise ValueError("nope")
    fut = client.submit(fail)
    futurelab.wait([fut])
    bundle = fut._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html"}
    assert "ValueError: nope" in bundle["text/html"] and "<details>" in bundle["text/html"]
    assert "Traceback" in bundle["text/html"]
    assert set(fut._repr_mimebundle_(include={"text/plain"})) == {"text/plain"}


def test_mimebundles_carry_a_widget_inside_a_kernel(client: futurelab.Client,
                                                    monkeypatch: object) -> None:
    monkeypatch.setattr(r, "in_kernel", lambda: True)  # type: ignore[attr-defined]
    gate = threading.Event()
    fut = client.submit(gate.wait)
    bundle = fut._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert "pending" in bundle["text/html"] or "processing" in bundle["text/html"]
    cluster_bundle = client.cluster._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in cluster_bundle
    assert "LocalCluster-0" in cluster_bundle["text/html"]
    gate.set()
