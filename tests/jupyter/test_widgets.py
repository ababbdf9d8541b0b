"""Widget traits change as tasks run (in-process cluster; tasks gated by events, no sleeps)."""
from __future__ import annotations

import threading
from typing import Any

from _util import wait_for

import futurelab
from futurelab.jupyter import widgets
from futurelab.jupyter.progress import ProgressTracker


class FakeHandle:
    """Stands in for IPython's DisplayHandle: records the bundles a view re-sends."""

    def __init__(self) -> None:
        self.updates: list[dict[str, Any]] = []

    def update(self, bundle: dict[str, Any], raw: bool = False) -> None:
        self.updates.append(bundle)


def _listening(view: widgets.LiveView) -> bool:
    assert view.model is not None
    return view._on_model in view.model._listeners


def test_future_view_changes_in_place_when_the_task_finishes(client: futurelab.Client) -> None:
    gate = threading.Event()

    def gated(x: int) -> int:
        gate.wait(10)
        return x + 1

    fut = client.submit(gated, 1)
    view = widgets.FutureView(fut)
    handle = FakeHandle()
    view._handles.append(handle)
    assert "finished" not in view.card.value and fut.key in view.card.value
    assert not view.finished() and _listening(view)
    gate.set()
    wait_for(lambda: "finished" in view.card.value and "type <code>int</code>" in view.card.value,
             what="finished shown")
    wait_for(lambda: "took" in view.card.value and "LocalCluster-" in view.card.value,
             what="worker and duration shown")
    wait_for(lambda: not _listening(view), what="listener removed once final")
    assert view.button.layout.display == "none"
    assert handle.updates and "finished" in handle.updates[-1]["text/html"]
    assert fut.result() == 2


def test_erred_future_view_shows_traceback_on_click(client: futurelab.Client) -> None:
    gate = threading.Event()

    def explode() -> None:
        gate.wait(10)
        raise ValueError("boom at the worker")

    fut = client.submit(explode)
    view = widgets.FutureView(fut)
    assert view.button.layout.display == "none"
    gate.set()
    wait_for(lambda: view.button.layout.display == "", what="traceback button shown")
    assert "error" in view.card.value and "ValueError: boom at the worker" in view.card.value
    assert view.details.layout.display == "none"
    view.button.click()
    assert view.details.layout.display == ""
    assert "Traceback" in view.details.value and "explode" in view.details.value
    assert view.button.description == "Hide traceback"
    view.button.click()
    assert view.details.layout.display == "none"
    assert "<details>" in view.static_html()


def test_future_view_does_not_keep_the_future_alive(client: futurelab.Client) -> None:
    fut = client.submit(lambda: 1)
    key = fut.key
    view = widgets.FutureView(fut)
    del fut
    wait_for(lambda: key not in client.futures, what="released")
    assert view.info()["key"] == key


def test_progress_bars_move_while_the_user_thread_blocks(client: futurelab.Client) -> None:
    gates = [threading.Event() for _ in range(8)]

    def step(i: int) -> int:
        gates[i].wait(10)
        return i

    futs = client.map(step, range(8))
    view = widgets.ProgressView(ProgressTracker(futs))
    bar = view.bars["step"]
    assert (bar.value, bar.max) == (0, 8)
    values: list[tuple[int, str]] = []
    bar.observe(lambda ch: values.append((ch.new, threading.current_thread().name)), "value")

    def release() -> None:  # lets tasks finish one by one, each after the bar showed the last
        for i, g in enumerate(gates):
            wait_for(lambda i=i: bar.value == i, what=f"bar at {i}")
            g.set()
    releaser = threading.Thread(target=release)
    releaser.start()
    assert futs[-1].result(timeout=20) == 7  # the test's own thread blocks here
    releaser.join()
    wait_for(lambda: bar.value == 8 and bar.bar_style == "success", what="bar complete")
    assert [v for v, _ in values] == list(range(1, 9))
    assert {name for _, name in values} == {"futurelab-model"}
    assert view.labels["step"].value == "8 / 8 done"
    assert view.footer.value.startswith("Finished in")
    wait_for(lambda: not _listening(view), what="listener removed")


def test_progress_marks_errors_and_hides_complete_groups(client: futurelab.Client) -> None:
    def bad(x: int) -> None:
        raise KeyError(x)

    gate = threading.Event()
    errs = client.map(bad, range(2))
    oks = client.map(lambda x: gate.wait(10) and x, range(3), key=[f"ok-{i}" for i in range(3)])
    view = widgets.ProgressView(ProgressTracker([errs, {"o": oks}]), complete=False)
    handle = FakeHandle()
    view._handles.append(handle)
    gate.set()
    wait_for(lambda: view.bars["bad"].bar_style == "danger", what="danger style")
    wait_for(lambda: view.bars["ok"].value == 3, what="ok done")
    assert "0 / 2 done, 2 erred" in view.labels["bad"].value
    wait_for(lambda: all(row.layout.display == "none" for row in view.rows), what="rows hidden")
    wait_for(lambda: bool(handle.updates), what="static snapshot re-sent")
    assert "0 / 2 done, 2 erred" in handle.updates[-1]["text/html"]


def test_task_stream_draws_each_task_and_marks_errors(client: futurelab.Client) -> None:
    view = client.task_stream(width=500)
    assert isinstance(view, widgets.TaskStreamView)

    def inc(x: int) -> int:
        return x + 1

    def broken(x: int) -> None:
        raise RuntimeError(x)

    futs = client.map(inc, range(6)) + [client.submit(broken, 1)]
    futurelab.wait(futs)
    wait_for(lambda: view.chart.value.count("<title>") == 7, what="7 bars")
    html = view.chart.value
    assert html.count('class="erred"') == 1 and "1 erred" in html
    assert "LocalCluster-0 #0" in html and "LocalCluster-1 #1" in html
    assert "inc</span>" in html and "broken</span>" in html  # the legend
    assert view.static_html() == html
    assert view.sync(timeout=5)
    view.close()
    assert not _listening(view)


def test_primitives_board_follows_a_lock(client: futurelab.Client) -> None:
    from futurelab import Lock
    board = client.primitives_board()
    lock = Lock("board-test-lock")
    lock.acquire()
    wait_for(lambda: "board-test-lock" in board.board.value, what="lock shown")
    assert "this client" in board.board.value and "lock" in board.text()
    lock.release()
    wait_for(lambda: "board-test-lock" not in board.board.value
             or ">no<" in board.board.value, what="lock released")


def test_sync_resends_the_state_of_every_displayed_view(client: futurelab.Client) -> None:
    fut = client.submit(abs, -3)
    view = widgets.FutureView(fut)
    view.widget_bundle()  # as when displayed
    handle = FakeHandle()
    view._handles.append(handle)
    view._last_static = "stale"
    sent: list[str] = []
    view.card.send_state = lambda *a, **k: sent.append(view.card.value)  # type: ignore[method-assign]
    fut.result()
    assert widgets.sync(timeout=10)
    assert sent and "finished" in sent[-1]
    assert handle.updates and "finished" in handle.updates[-1]["text/html"]
