"""The sidebar bridge over a real kernel, without a browser.

A jupyter_client drives an ipykernel the way JupyterLab does: ``comm_open`` to the
``futurelab.sidebar`` target on the shell channel — on a kernel subshell for the action tests, as
JupyterLab 4.6 does (toolchain.md pitfall 6) — and reads snapshots and replies from iopub.
"""
from __future__ import annotations

import queue
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

jupyter_client = pytest.importorskip("jupyter_client")
pytest.importorskip("ipykernel")

from futurelab.jupyter.bridge import ANNOUNCE_TARGET, TARGET  # noqa: E402 - after the skips

Msg = dict[str, Any]


class KernelDriver:
    """A kernel plus an iopub reader that keeps every message for later matching."""

    def __init__(self) -> None:
        self.km, self.kc = jupyter_client.manager.start_new_kernel(kernel_name="python3")
        self.seen: list[Msg] = []

    def close(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)

    def execute(self, code: str, subshell_id: str | None = None) -> str:
        msg = self.kc.session.msg("execute_request", {
            "code": code, "silent": False, "store_history": False, "user_expressions": {},
            "allow_stdin": False, "stop_on_error": True})
        if subshell_id:
            msg["header"]["subshell_id"] = subshell_id
        self.kc.shell_channel.send(msg)
        return str(msg["header"]["msg_id"])

    def run(self, code: str, timeout: float = 30) -> Msg:
        """Execute and wait for the reply; fail on an error."""
        reply = self.wait_reply(self.execute(code), timeout)
        assert reply["content"]["status"] == "ok", reply["content"]
        return reply

    def wait_reply(self, msg_id: str, timeout: float = 30) -> Msg:
        deadline = time.monotonic() + timeout
        while True:
            reply = self.kc.get_shell_msg(timeout=max(0.01, deadline - time.monotonic()))
            if reply["parent_header"].get("msg_id") == msg_id:
                return reply  # type: ignore[no-any-return]

    def create_subshell(self) -> str:
        msg = self.kc.session.msg("create_subshell_request", {})
        self.kc.control_channel.send(msg)
        reply = self.kc.control_channel.get_msg(timeout=10)
        return str(reply["content"]["subshell_id"])

    def comm_open(self, target: str, data: Msg | None = None,
                  subshell_id: str | None = None) -> str:
        comm_id = uuid.uuid4().hex
        self._send_comm("comm_open", {"comm_id": comm_id, "target_name": target,
                                      "data": data or {}}, subshell_id)
        return comm_id

    def comm_msg(self, comm_id: str, data: Msg, subshell_id: str | None = None) -> None:
        self._send_comm("comm_msg", {"comm_id": comm_id, "data": data}, subshell_id)

    def _send_comm(self, kind: str, content: Msg, subshell_id: str | None) -> None:
        msg = self.kc.session.msg(kind, content)
        if subshell_id:
            msg["header"]["subshell_id"] = subshell_id
        self.kc.shell_channel.send(msg)

    def wait_iopub(self, pred: Callable[[Msg], bool], timeout: float = 20,
                   what: str = "message") -> Msg:
        """First iopub message (seen before or arriving within ``timeout``) matching ``pred``."""
        for m in self.seen:
            if pred(m):
                self.seen.remove(m)
                return m
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                m = self.kc.get_iopub_msg(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if pred(m):
                return m  # type: ignore[no-any-return]
            self.seen.append(m)
        raise AssertionError(f"no {what} within {timeout} s")

    def wait_snapshot(self, comm_id: str, pred: Callable[[Any], bool], timeout: float = 20,
                      what: str = "snapshot") -> Any:
        def match(m: Msg) -> bool:
            if m["msg_type"] != "comm_msg" or m["content"]["comm_id"] != comm_id:
                return False
            data = m["content"]["data"]
            return bool(data.get("type") == "snapshot" and pred(data["snapshot"]))
        return self.wait_iopub(match, timeout, what)["content"]["data"]["snapshot"]

    def wait_comm_reply(self, comm_id: str, req_id: int, timeout: float = 20) -> Msg:
        def match(m: Msg) -> bool:
            return bool(m["msg_type"] == "comm_msg" and m["content"]["comm_id"] == comm_id
                        and m["content"]["data"].get("type") == "reply"
                        and m["content"]["data"].get("id") == req_id)
        return self.wait_iopub(match, timeout, f"reply {req_id}")["content"]["data"]  # type: ignore[no-any-return]


SETUP = """
import time, threading, futurelab
from futurelab import Client
def slow(x, t=0.3):
    time.sleep(t)
    return x
def bad(x):
    raise ValueError(f"boom {x}")
"""


@pytest.fixture
def kernel() -> Iterator[KernelDriver]:
    k = KernelDriver()
    try:
        k.run(SETUP)
        yield k
    finally:
        k.close()


def test_sidebar_before_client_then_announce_and_live_futures(kernel: KernelDriver) -> None:
    # No Client yet: the target is not registered, so the kernel closes the sidebar's comm.
    early = kernel.comm_open(TARGET)
    kernel.wait_iopub(lambda m: m["msg_type"] == "comm_close"
                      and m["content"]["comm_id"] == early, what="comm_close of early comm")
    # Creating a Client registers the target and announces the kernel to the front end.
    kernel.run("client = Client(processes=False, n_workers=1, threads_per_worker=2)")
    kernel.wait_iopub(lambda m: m["msg_type"] == "comm_open"
                      and m["content"]["target_name"] == ANNOUNCE_TARGET, what="announce")
    # Costs nothing while no sidebar is open: no model, no publisher thread.
    kernel.run("assert client._model is None, client._model\n"
               "assert not any(t.name == 'futurelab-bridge' for t in threading.enumerate())")
    comm = kernel.comm_open(TARGET)
    snap = kernel.wait_snapshot(comm, lambda s: s is not None, what="first snapshot")
    assert snap["client"]["status"] == "running"
    assert len(snap["workers"]) == 1
    kernel.run("fs = client.map(slow, range(4))")
    # futures come from the Client's own state, the stream from the scheduler's event stream:
    # either may be a snapshot ahead of the other, so wait for both
    snap = kernel.wait_snapshot(comm, lambda s: s["nfutures"] == 4
                                and all(f["status"] == "finished" for f in s["futures"])
                                and len(s["stream"]) == 4,
                                what="4 finished futures and 4 stream bars")
    assert {f["prefix"] for f in snap["futures"]} == {"slow"}
    assert {t["prefix"] for t in snap["stream"]} == {"slow"}
    assert snap["progress"]["slow"] == {"done": 4, "erred": 0, "cancelled": 0, "total": 4}
    # Closing the Client: the empty state (snapshot None).
    kernel.run("client.close()")
    kernel.wait_snapshot(comm, lambda s: s is None, what="empty state after close")
    # A new Client is picked up by the already-open comm.
    kernel.run("client = Client(processes=False, n_workers=1, threads_per_worker=1)")
    kernel.wait_snapshot(comm, lambda s: s is not None and s["nfutures"] == 0,
                         what="snapshot of the new Client")


def test_cancel_on_subshell_while_cell_blocks(kernel: KernelDriver) -> None:
    kernel.run("client = Client(processes=False, n_workers=1, threads_per_worker=1)")
    sub = kernel.create_subshell()
    comm = kernel.comm_open(TARGET, subshell_id=sub)
    kernel.wait_snapshot(comm, lambda s: s is not None)
    cell = kernel.execute("f = client.submit(slow, 1, t=30)\nf.result()")
    snap = kernel.wait_snapshot(comm, lambda s: s["nfutures"] == 1
                                and s["futures"][0]["status"] == "processing",
                                what="processing future")
    key = snap["futures"][0]["key"]
    t0 = time.monotonic()
    kernel.comm_msg(comm, {"type": "action", "id": 7, "action": "cancel", "key": key},
                    subshell_id=sub)
    reply = kernel.wait_comm_reply(comm, 7, timeout=10)
    assert reply["ok"], reply
    assert time.monotonic() - t0 < 5, "the action waited behind the busy cell"
    result = kernel.wait_reply(cell, timeout=15)
    assert result["content"]["status"] == "error"
    assert result["content"]["ename"] == "CancelledError"


def test_detail_retry_and_errors(kernel: KernelDriver) -> None:
    kernel.run("client = Client(processes=False, n_workers=1, threads_per_worker=1)\n"
               "b = client.submit(bad, 3)\n"
               "futurelab.wait([b])")
    comm = kernel.comm_open(TARGET)
    snap = kernel.wait_snapshot(comm, lambda s: s is not None and s["nfutures"] == 1
                                and s["futures"][0]["status"] == "error")
    key = snap["futures"][0]["key"]
    assert "boom 3" in snap["futures"][0]["error"]
    kernel.comm_msg(comm, {"type": "action", "id": 1, "action": "detail", "key": key})
    detail = kernel.wait_comm_reply(comm, 1)
    assert detail["ok"] and detail["status"] == "error"
    assert detail["error"] == "ValueError: boom 3"
    assert "in bad" in detail["traceback"] and "Traceback" in detail["traceback"]
    kernel.comm_msg(comm, {"type": "action", "id": 2, "action": "retry", "key": key})
    assert kernel.wait_comm_reply(comm, 2)["ok"]
    kernel.comm_msg(comm, {"type": "action", "id": 3, "action": "cancel", "key": "nope-1"})
    bad_reply = kernel.wait_comm_reply(comm, 3)
    assert not bad_reply["ok"] and "not held" in bad_reply["error"]
    kernel.comm_msg(comm, {"type": "action", "id": 4, "action": "explode", "key": key})
    assert "unknown action" in kernel.wait_comm_reply(comm, 4)["error"]
