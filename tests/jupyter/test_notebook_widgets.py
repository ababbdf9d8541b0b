"""Execute notebooks/04-widgets-and-magics.ipynb headless and check outputs and saved widgets.

Besides the saved notebook, the test records every widget update the kernel sends, with the cell
that was running when it arrived: the progress bar must move while the cell that made it is still
blocked in ``client.gather``.
"""
from __future__ import annotations

import ast
import os
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import futurelab

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("ipywidgets")

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "04-widgets-and-magics.ipynb"


class RecordingClient(nbclient.NotebookClient):  # type: ignore[misc]
    """A NotebookClient that also keeps each widget update: (cell index, comm id, state)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.updates: list[tuple[int, str, dict[str, Any]]] = []

    def handle_comm_msg(self, outs: Any, msg: dict[str, Any], cell_index: int) -> None:
        data = msg["content"].get("data", {})
        if "state" in data:
            self.updates.append((cell_index, msg["content"]["comm_id"], dict(data["state"])))
        super().handle_comm_msg(outs, msg, cell_index)


def _cell(nb: Any, start: str) -> tuple[int, Any]:
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and cell.source.startswith(start):
            return i, cell
    raise AssertionError(f"no code cell starts with {start!r}")


def _text(cell: Any) -> str:
    parts = []
    for out in cell.outputs:
        if out.output_type == "stream":
            parts.append(out.text)
        elif "data" in out:
            parts.append(out.data.get("text/plain", "") + out.data.get("text/html", ""))
    return "\n".join(parts)


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, RecordingClient, float]:
    # the kernel must import the futurelab under test: an editable install works as is, a
    # source checkout needs its python/ directory on the kernel's PYTHONPATH
    root = str(Path(futurelab.__file__).resolve().parents[1])
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (root, old) if p)
    try:
        nb = nbformat.read(NOTEBOOK, as_version=4)
        client = RecordingClient(nb, timeout=120, kernel_name="python3",
                                 resources={"metadata": {"path": str(NOTEBOOK.parent)}})
        start = time.monotonic()
        client.execute()
        took = time.monotonic() - start
    finally:
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old
    out = tmp_path_factory.mktemp("nb") / NOTEBOOK.name
    nbformat.write(nb, out)  # kept for inspection
    return nb, client, took


def _states(nb: Any) -> dict[str, dict[str, Any]]:
    saved = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    return {mid: entry["state"] for mid, entry in saved.items()}


def test_notebook_runs_quickly_and_cleanly(executed: tuple[Any, RecordingClient, float]) -> None:
    nb, _, took = executed
    assert took < 60
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not [o for o in cell.outputs if o.output_type == "error"], cell.source


def test_reprs_in_the_notebook(executed: tuple[Any, RecordingClient, float]) -> None:
    nb, _, _ = executed
    _, cell = _cell(nb, "import time")
    assert "Futures held" in _text(cell) and "Threads" in _text(cell)
    _, cell = _cell(nb, "client.cluster")
    data = cell.outputs[0].data
    assert "application/vnd.jupyter.widget-view+json" in data and "LocalCluster-1" in data[
        "text/html"]
    _, cell = _cell(nb, "def fail")
    assert "application/vnd.jupyter.widget-view+json" in cell.outputs[0].data


def test_saved_widget_state_is_final(executed: tuple[Any, RecordingClient, float]) -> None:
    nb, _, _ = executed
    states = _states(nb)
    bars = [s for s in states.values() if s["_model_name"] == "IntProgressModel"]
    assert [(b["value"], b["max"], b["bar_style"]) for b in bars] == [(24, 24, "success")]
    html = [s.get("value", "") for s in states.values() if s["_model_name"] == "HTMLModel"]
    stream = [v for v in html if "futurelab-task-stream" in v]
    assert stream and "<svg" in stream[-1]
    # f, bad, 24 squares, parts, scaled and the waiter each drew a bar
    bars = Counter(t.rsplit("-", 1)[0] for t in re.findall(r"<title>([^<]*)</title>", stream[-1]))
    assert bars == {"slow_inc": 1, "fail": 1, "square_slowly": 24, "parts": 1, "scaled": 1,
                    "wait_for_go": 1}
    assert 'class="erred"' in stream[-1]
    for prefix in bars:
        assert f"{prefix}</span>" in stream[-1]  # in the legend
    cards = [v for v in html if "futurelab-future" in v]
    assert any("finished" in v and "slow_inc-" in v and "type <code>int</code>" in v
               for v in cards)
    assert any("ValueError: cannot handle 42" in v for v in cards)
    assert any("cancelled" in v and "sleepy-" in v for v in cards)
    tracebacks = [v for v in html if v.startswith("<pre>") and "cannot handle 42" in v]
    assert tracebacks and "Traceback" in tracebacks[0]
    board = [v for v in html if "futurelab-primitives" in v]
    assert board and "jobs" in board[-1] and "go" in board[-1]
    buttons = [s for s in states.values() if s["_model_name"] == "ButtonModel"]
    assert {b["description"] for b in buttons} >= {"Scale", "Show traceback"}


def test_static_snapshots_are_saved_for_viewers_without_widgets(
        executed: tuple[Any, RecordingClient, float]) -> None:
    nb, _, _ = executed
    _, cell = _cell(nb, "def square_slowly")
    bars = [o for o in cell.outputs if "data" in o and "text/html" in o.data]
    # displayed while running, re-sent under its display id once complete
    assert "24 / 24 done" in bars[0].data["text/html"]
    _, cell = _cell(nb, "%%submit parts")
    assert "finished" in cell.outputs[0].data["text/html"]


def test_progress_moved_while_the_cell_was_blocked(
        executed: tuple[Any, RecordingClient, float]) -> None:
    nb, client, _ = executed
    index, cell = _cell(nb, "def square_slowly")
    # 1. what a model listener saw, printed by the cell itself after gather() returned
    line = next(x for x in _text(cell).splitlines() if x.startswith("done counts seen"))
    seen = ast.literal_eval(line.split(":", 1)[1].strip())
    assert any(0 < n < 24 for n in seen), seen
    # 2. the progress bar's own updates, as received while that cell was executing
    bar_id = next(mid for mid, s in _states(nb).items() if s["_model_name"] == "IntProgressModel")
    values = [s["value"] for i, mid, s in client.updates
              if mid == bar_id and i == index and "value" in s]
    assert any(0 < v < 24 for v in values), values
    assert values == sorted(values)


def test_magics_outputs(executed: tuple[Any, RecordingClient, float]) -> None:
    nb, _, _ = executed
    _, cell = _cell(nb, "%%submit scaled --wait")
    assert cell.outputs[-1].data["text/plain"] == "100"
    _, cell = _cell(nb, "%futures")
    html = cell.outputs[0].data["text/html"]
    assert "parts" in html and "scaled" in html and "squares[23]" in html
    _, cell = _cell(nb, "%%submit\nprint(undefined_thing)")
    text = _text(cell)
    assert "undefined_thing" in text and "Nothing was submitted" in text
    _, cell = _cell(nb, "%cancel sleepy")
    assert "cancelled 1 future" in _text(cell)
