"""``futurelab.progress``: the plain tracker, the terminal text bar, and the notebook path."""
from __future__ import annotations

import io
import threading
from typing import Any

import pytest
from _util import wait_for

import futurelab
from futurelab.jupyter import progress as P
from futurelab.jupyter import repr as R


def test_collect_futures_walks_containers_and_dedupes(client: futurelab.Client) -> None:
    a, b = client.submit(abs, -1), client.submit(abs, -2)
    found = P.collect_futures([a, [b, (a,)], {"x": b}, 3])
    assert [f.key for f in found] == [a.key, b.key]


def test_tracker_counts_by_prefix_or_all(client: futurelab.Client) -> None:
    def fails(x: int) -> None:
        raise ValueError(x)
    futs = client.map(abs, [-1, -2, -3]) + [client.submit(fails, 1)]
    futurelab.wait(futs)
    tracker = P.ProgressTracker(futs)
    assert tracker.counts() == {"abs": {"done": 3, "erred": 0, "cancelled": 0, "total": 3},
                                "fails": {"done": 0, "erred": 1, "cancelled": 0, "total": 1}}
    assert tracker.complete()
    single = P.ProgressTracker(futs, multi=False)
    assert single.counts() == {"all": {"done": 3, "erred": 1, "cancelled": 0, "total": 4}}


def test_text_bar() -> None:
    assert P.text_bar(0.5, width=10) == "[#####     ] |  50% Completed"
    assert P.text_bar(1.0, width=4) == "[####] | 100% Completed"


def test_text_progress_redraws_until_complete(client: futurelab.Client) -> None:
    gates = [threading.Event() for _ in range(4)]

    def step(i: int) -> int:
        gates[i].wait(10)
        return i

    futs = client.map(step, range(4))
    out = io.StringIO()

    def release() -> None:  # open each gate only after the bar has drawn the previous count
        for i, g in enumerate(gates):
            pct = f"{i / 4:4.0%} Completed"
            wait_for(lambda pct=pct: pct in out.getvalue(), what=f"{pct} drawn")
            g.set()
    releaser = threading.Thread(target=release)
    releaser.start()
    futurelab.progress(futs, notebook=False, file=out, width=8)  # blocks until all are done
    releaser.join()
    text = out.getvalue()
    assert all(f.done() for f in futs)
    frames = text.split("\r")
    assert "[##      ] |  25% Completed" in text and " 75% Completed" in text
    assert frames[-1].startswith("[########] | 100% Completed") and text.endswith("\n")
    assert not any(cb for f in futs for cb in f._state.callbacks)  # callbacks cleaned up


def test_text_progress_reports_errors_and_honours_timeout(client: futurelab.Client) -> None:
    gate = threading.Event()

    def fails() -> None:
        raise ValueError("x")
    bad = client.submit(fails)
    stuck = client.submit(gate.wait)
    futurelab.wait([bad])
    out = io.StringIO()
    bar = P.TextProgressBar(P.ProgressTracker([bad, stuck]), file=out, interval=0.01)
    assert bar.run(timeout=0.05) is False
    assert "1 erred" in out.getvalue() and " 50% Completed" in out.getvalue()
    gate.set()


def test_progress_in_a_notebook_displays_a_widget_and_returns_none(
        client: futurelab.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    import IPython.display

    from futurelab.jupyter.widgets import ProgressView
    shown: list[Any] = []
    monkeypatch.setattr(IPython.display, "display", lambda *objs, **kw: shown.extend(objs))
    monkeypatch.setattr(R, "in_kernel", lambda: True)
    futs = client.map(abs, [-1, -2])
    assert futurelab.progress(futs) is None
    assert len(shown) == 1 and isinstance(shown[0], ProgressView)
    view = shown[0]
    wait_for(lambda: view.bars["abs"].value == 2, what="bar complete")
    bundle = view._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert "2 / 2 done" in bundle["text/html"] and "abs: 2 / 2 done" == bundle["text/plain"]
