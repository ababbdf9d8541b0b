"""``%%submit``, ``%futures`` and ``%cancel`` in IPython's test shell."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from _util import wait_for
from IPython.core.error import UsageError
from IPython.testing import globalipapp
from IPython.utils.capture import capture_output

import futurelab
from futurelab.client.future import Future
from futurelab.jupyter.magics import free_names, run_cell


@pytest.fixture
def ip(client: futurelab.Client) -> Iterator[Any]:
    shell = globalipapp.get_ipython()  # the module rebinds get_ipython after the first call
    shell.run_line_magic("load_ext", "futurelab")
    before = set(shell.user_ns)
    active = shell.display_formatter.active_types
    shell.display_formatter.active_types = ["text/plain", "text/html"]  # as in a kernel
    yield shell
    shell.display_formatter.active_types = active
    for name in set(shell.user_ns) - before:
        del shell.user_ns[name]
    shell.user_ns.pop("_", None)


# ---------------------------------------------------------------------- free names (pure)
@pytest.mark.parametrize(("source", "expected"), [
    ("y = x + 1\nprint(y, z)", ["x", "z"]),
    ("x = x + 1", ["x"]),
    ("total += 1", ["total"]),
    ("for i in range(n):\n    acc = i\nacc", ["n"]),
    ("[a * j for j in b]", ["b", "a"]),
    ("def f(q=d):\n    return q + e + later\nlater = 1", ["d", "e"]),
    ("class C(Base):\n    v = w", ["Base", "w"]),
    ("import numpy as np\nfrom os import path\nnp.ones(3), path", []),
    ("with open(p) as fh:\n    fh.read()", ["p"]),
    ("try:\n    pass\nexcept Err as ex:\n    ex", ["Err"]),
    ("(k := 3) + k", []),
    ("f = lambda: zz\nf()", ["zz"]),
    ("len(range(3))", []),
])
def test_free_names(source: str, expected: list[str]) -> None:
    assert free_names(source) == expected


def test_run_cell_returns_the_last_expression() -> None:
    assert run_cell("<t>", "a = x * 2\na + 1", ("x",), 5) == 11
    assert run_cell("<t>", "a = 1", ()) is None
    assert run_cell("<t>", "", ()) is None


# ---------------------------------------------------------------------- %%submit
def test_submit_runs_the_cell_with_notebook_values(ip: Any, client: futurelab.Client) -> None:
    ip.user_ns["a"] = 5
    ip.user_ns["double"] = lambda v: 2 * v
    with capture_output() as cap:
        assert ip.run_cell_magic("submit", "res", "b = double(a)\nb + 1") is None
    fut = ip.user_ns["res"]
    assert isinstance(fut, Future) and fut.key.startswith("res-")
    assert fut.result(timeout=10) == 11
    assert any("res-" in o.data.get("text/plain", "") for o in cap.outputs)


def test_submit_binds_underscore_by_default_and_none_without_expression(ip: Any) -> None:
    ip.run_cell_magic("submit", "", "z = 3")
    fut = ip.user_ns["_"]
    assert isinstance(fut, Future) and fut.key.startswith("cell-")
    assert fut.result(timeout=10) is None


def test_submit_futures_become_dependencies_and_arrive_as_values(
        ip: Any, client: futurelab.Client) -> None:
    gate = threading.Event()

    def gated() -> list[int]:
        gate.wait(10)
        return [1, 2, 3]

    ip.user_ns["parts"] = client.submit(gated)
    ip.run_cell_magic("submit", "total", "sum(parts)")
    total = ip.user_ns["total"]
    assert total.status == "pending"
    gate.set()
    assert total.result(timeout=10) == 6


def test_submit_wait_shows_the_result(ip: Any) -> None:
    ip.user_ns["n"] = 20
    with capture_output() as cap:
        ip.run_cell_magic("submit", "r --wait", "n + 1")
    assert ip.user_ns["r"].status == "finished"
    assert [o.data["text/plain"] for o in cap.outputs][-1] == "21"


def test_submit_wait_raises_the_tasks_error(ip: Any) -> None:
    with capture_output(), pytest.raises(ZeroDivisionError):
        ip.run_cell_magic("submit", "--wait", "x = 1\n1 / 0")
    err = ip.user_ns["_"]
    assert err.status == "error"
    from futurelab.jupyter.repr import error_text
    text = error_text(err)
    assert "<%%submit _>" in text and "1 / 0" in text  # the cell's own line, from the worker


def test_submit_syntax_error_is_reported_and_nothing_submitted(
        ip: Any, client: futurelab.Client) -> None:
    keys = set(client.futures)
    with pytest.raises(UsageError) as info:
        ip.run_cell_magic("submit", "s", "x = 1\ny = (")
    msg = str(info.value)
    assert "syntax error at line 2" in msg and "Nothing was submitted" in msg
    assert set(client.futures) == keys and "s" not in ip.user_ns


def test_submit_undefined_names_are_reported_and_nothing_submitted(
        ip: Any, client: futurelab.Client) -> None:
    keys = set(client.futures)
    with pytest.raises(UsageError) as info:
        ip.run_cell_magic("submit", "s", "print(nowhere_1)\nnowhere_2 + len([])")
    assert "names not defined: nowhere_1, nowhere_2" in str(info.value)
    assert set(client.futures) == keys and "s" not in ip.user_ns
    with capture_output() as cap:  # through run_cell: a short message, no traceback
        ip.run_cell("%%submit s\nnowhere_3")
    assert "nowhere_3" in cap.stderr and "Traceback" not in cap.stderr


def test_submit_bad_name_is_a_usage_error(ip: Any) -> None:
    with pytest.raises(UsageError):
        ip.run_cell_magic("submit", "1abc", "1")


def test_submit_workers_restricts_placement(ip: Any, client: futurelab.Client) -> None:
    addr = sorted(client.scheduler_info()["workers"])[1]
    with capture_output():
        ip.run_cell_magic("submit", f"placed --workers {addr} --wait", "41 + 1")
    assert client.who_has(ip.user_ns["placed"]) == {ip.user_ns["placed"].key: [addr]}


def test_submit_pure_reuses_the_key(ip: Any) -> None:
    ip.user_ns["v"] = 3
    with capture_output():
        ip.run_cell_magic("submit", "p --pure", "v * 3")
        first = ip.user_ns["p"]
        ip.run_cell_magic("submit", "p --pure", "v * 3")
        ip.run_cell_magic("submit", "p", "v * 3")
    assert ip.user_ns["p"].key != first.key
    ip.run_cell_magic("submit", "p --pure", "v * 3")
    assert ip.user_ns["p"].key == first.key
    assert first.result(timeout=10) == 9


# ---------------------------------------------------------------------- %futures, %cancel
def test_futures_lists_keys_status_and_holders(ip: Any, client: futurelab.Client) -> None:
    single = client.submit(abs, -4)
    many = client.map(abs, [-5, -6])
    futurelab.wait([single, *many])
    ip.user_ns.update(single=single, many=many, by_name={"k": single})
    with capture_output() as cap:
        ip.run_line_magic("futures", "")
    html = cap.outputs[0].data["text/html"]
    text = cap.outputs[0].data["text/plain"]
    assert single.key in html and "finished" in html and "int" in html
    assert "single, by_name[&#x27;k&#x27;]" in html and "many[1]" in html
    assert "held by" in text and many[0].key in text


def test_futures_empty(ip: Any, client: futurelab.Client) -> None:
    with capture_output() as cap:
        ip.run_line_magic("futures", "")
    assert "No live futures" in cap.outputs[0].data["text/plain"]


def test_cancel_by_name_and_all(ip: Any, client: futurelab.Client) -> None:
    gate = threading.Event()
    ip.user_ns["slow"] = client.submit(gate.wait, 10)
    ip.user_ns["group"] = [client.submit(gate.wait, 11), client.submit(gate.wait, 12)]
    with capture_output() as cap:
        ip.run_line_magic("cancel", "slow")
    assert "cancelled 1 future" in cap.stdout
    wait_for(lambda: ip.user_ns["slow"].status == "cancelled", what="cancelled")
    assert all(f.status == "pending" for f in ip.user_ns["group"])
    with capture_output() as cap:
        ip.run_line_magic("cancel", "--all")
    assert "cancelled 2 futures" in cap.stdout
    wait_for(lambda: all(f.status == "cancelled" for f in ip.user_ns["group"]), what="all")
    gate.set()


def test_cancel_errors(ip: Any) -> None:
    with pytest.raises(UsageError, match="name the variables"):
        ip.run_line_magic("cancel", "")
    with pytest.raises(UsageError, match="not defined: ghost"):
        ip.run_line_magic("cancel", "ghost")
    ip.user_ns["plain"] = 3
    with pytest.raises(UsageError, match="no futures"):
        ip.run_line_magic("cancel", "plain")


def test_magics_without_a_client_say_so(ip: Any, client: futurelab.Client) -> None:
    client.close()
    with pytest.raises(UsageError, match="No clients found"):
        ip.run_line_magic("futures", "")
