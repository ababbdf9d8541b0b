"""The dashboard's HTTP and WebSocket handlers against a real scheduler (no browser)."""
from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import tornado.websocket
from _dash import connect, fetch, get_json, run_cluster, until

import futurelab
from futurelab.dashboard.server import Dashboard, Feed, parse_address
from futurelab.primitives.lock import Lock
from futurelab.scheduler.server import Scheduler


def slow(x: int, t: float = 0.3) -> int:
    time.sleep(t)
    return x


#: set at the end of a test to let its blocked tasks go (in-process workers share this module)
RELEASE = threading.Event()


def blocked(x: int) -> int:
    RELEASE.wait(30)
    return x


@pytest.fixture(autouse=True)
def _release_blocked_tasks() -> Iterator[None]:
    RELEASE.clear()
    yield
    RELEASE.set()  # even when a test fails: no worker thread left sleeping


def bad(x: int) -> int:
    raise ValueError(f"boom {x}")


class Counter:
    def __init__(self) -> None:
        self.n = 0

    def incr(self) -> int:
        self.n += 1
        return self.n


def by_prefix(snap: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    return [f for f in snap["futures"] if f["prefix"] == prefix]


def test_json_api_answers() -> None:
    async def main(c: Any, dash: Dashboard, base: str) -> None:
        futs = c.map(slow, range(4), t=0.01)
        assert await c.gather(futs) == [0, 1, 2, 3]
        workers = await get_json(base + "/api/v1/workers")
        (addr, info), = workers.items()
        assert info["nthreads"] == 2 and info["address"] == addr
        snap = await get_json(base + "/api/v1/snapshot")
        assert snap["progress"]["slow"] == {"done": 4, "erred": 0, "cancelled": 0,
                                            "processing": 0, "waiting": 0, "total": 4}
        assert snap["nfutures"] == 4 and len(snap["stream"]) == 4
        assert snap["client"]["scheduler"] == c.scheduler_address
        tasks = await get_json(base + "/api/v1/tasks?state=finished&prefix=slow&limit=3")
        assert len(tasks) == 3 and all(t["status"] == "finished" for t in tasks)
        assert all(t["who_has"] == [addr] for t in tasks)
        one = await get_json(f"{base}/api/v1/tasks/{futs[0].key}")
        assert one["key"] == futs[0].key and one["wanted_by"] == [c.id]
        assert any(step[2] == "memory" for step in one["story"])
        code, body, _ = await fetch(base + "/api/v1/tasks/nope")
        assert code == 404 and "nope" in body
        assert (await get_json(base + "/api/v1/progress"))["slow"]["done"] == 4
        assert (await get_json(base + "/api/v1/identity"))["services"] == {"dashboard": dash.port}
        lock = Lock("api-lock")
        await lock.acquire()
        prims = await get_json(base + "/api/v1/primitives")
        assert prims["locks"]["api-lock"]["holder"] == c.id
        await lock.release()
        code, body, headers = await fetch(base + "/status")
        assert code == 200 and "static/dashboard.js" in body
        assert "default-src 'self'" in headers["Content-Security-Policy"]
        code, body, headers = await fetch(base + "/static/dashboard.js")
        assert code == 200 and len(body) > 10_000

    run_cluster(main)


def test_websocket_snapshot_then_live_updates_and_a_lock_holder() -> None:
    async def main(c: Any, dash: Dashboard, base: str) -> None:
        ws = await connect(base)
        first = await until(ws, lambda s: True)
        assert first["futures"] == [] and len(first["workers"]) == 1
        futs = c.map(slow, range(6), t=0.3)  # 2 threads: 3 rounds
        running = await until(ws, lambda s: any(f["status"] == "processing"
                                                for f in by_prefix(s, "slow")))
        assert len(by_prefix(running, "slow")) == 6
        done = await until(ws, lambda s: s["progress"].get("slow", {}).get("done") == 6)
        assert {f["status"] for f in by_prefix(done, "slow")} == {"finished"}
        assert len([t for t in done["stream"] if t["prefix"] == "slow"]) == 6
        lock = Lock("db")
        await lock.acquire()
        held = await until(ws, lambda s: s["primitives"].get("locks", {}).get("db", {})
                           .get("locked") is True)
        assert held["primitives"]["locks"]["db"]["holder"] == c.id
        await lock.release()
        await until(ws, lambda s: not s["primitives"].get("locks", {}).get("db", {})
                    .get("locked"))
        actor = await c.submit(Counter, actor=True)
        assert await actor.incr() == 1
        with_actor = await until(ws, lambda s: bool(s["actors"]))
        (info,) = with_actor["actors"]
        assert info["class"] == "Counter" and info["key"] == actor.key
        del futs
        ws.close()

    run_cluster(main)


def test_websocket_actions_cancel_retry_detail() -> None:
    async def main(c: Any, dash: Dashboard, base: str) -> None:
        ws = await connect(base)
        await until(ws, lambda s: True)
        erred = c.submit(bad, 1)
        with pytest.raises(ValueError):
            await erred
        await until(ws, lambda s: any(f["key"] == erred.key and f["status"] == "error"
                                      for f in s["futures"]))
        await ws.write_message(json.dumps({"type": "action", "id": 1, "action": "detail",
                                           "key": erred.key}))
        reply = await until(ws, lambda m: m["id"] == 1, kind="reply")
        assert reply["ok"] and reply["status"] == "error" and "boom 1" in reply["error"]
        await ws.write_message(json.dumps({"type": "action", "id": 2, "action": "retry",
                                           "key": erred.key}))
        reply = await until(ws, lambda m: m["id"] == 2, kind="reply")
        assert reply["ok"], reply
        # the retry went through the state machine: the task ran (and erred) again
        await until(ws, lambda s: sum(1 for t in s["stream"] if t["key"] == erred.key) == 2)
        assert any(step[3].startswith("dashboard-retry-")
                   for step in dash.scheduler.state.story(erred.key))
        blocker = c.submit(blocked, 1)
        await until(ws, lambda s: any(f["key"] == blocker.key and f["status"] == "processing"
                                      for f in s["futures"]))
        await ws.write_message(json.dumps({"type": "action", "id": 3, "action": "cancel",
                                           "key": blocker.key}))
        reply = await until(ws, lambda m: m["id"] == 3, kind="reply")
        assert reply["ok"]
        for _ in range(500):  # the holder's future is cancelled (CancelKeys force=True)
            if blocker.status == "cancelled":
                break
            await asyncio.sleep(0.01)
        assert blocker.status == "cancelled"
        await ws.write_message(json.dumps({"type": "action", "id": 4, "action": "retry",
                                           "key": "no-such-key"}))
        reply = await until(ws, lambda m: m["id"] == 4, kind="reply")
        assert not reply["ok"] and "no-such-key" in reply["error"]
        ws.close()

    run_cluster(main)


def test_post_actions_need_json_and_the_same_origin() -> None:
    async def main(c: Any, dash: Dashboard, base: str) -> None:
        fut = c.submit(blocked, 2)
        while dash.scheduler.state.tasks.get(fut.key) is None or \
                dash.scheduler.state.tasks[fut.key].state != "processing":
            await asyncio.sleep(0.01)
        body = json.dumps({"keys": [fut.key]})
        code, _, _ = await fetch(base + "/api/v1/cancel", "POST", body,
                                 {"Content-Type": "application/x-www-form-urlencoded"})
        assert code == 415
        code, _, _ = await fetch(base + "/api/v1/cancel", "POST", body,
                                 {"Origin": "http://evil.example"})
        assert code == 403
        code, text, _ = await fetch(base + "/api/v1/retry", "POST", body)
        assert code == 409 and "not erred" in text
        code, text, _ = await fetch(base + "/api/v1/cancel", "POST", body)
        assert code == 200 and json.loads(text)["done"] == [fut.key]
        for _ in range(500):
            if fut.status == "cancelled":
                break
            await asyncio.sleep(0.01)
        assert fut.status == "cancelled"

    run_cluster(main)


def test_nobody_listening_costs_nothing_and_a_closed_socket_detaches() -> None:
    async def main(c: Any, dash: Dashboard, base: str) -> None:
        sched = dash.scheduler
        await c.gather(c.map(slow, range(5), t=0))
        assert not sched.event_subscribers.get("tasks") and sched.events.buffer == []
        ws = await connect(base)
        await until(ws, lambda s: True)
        assert dash.model is not None and len(sched.local_listeners) == 1
        assert sched.event_subscribers["tasks"]
        ws.close()
        for _ in range(500):
            if not dash.feeds:
                break
            await asyncio.sleep(0.01)
        assert not dash.feeds and dash.model is None and not sched.local_listeners
        assert not any(sched.event_subscribers.values())
        await c.gather(c.map(slow, range(5, 10), t=0))
        assert sched.events.buffer == []

    run_cluster(main)


class _NeverDone:
    def __init__(self) -> None:
        self.callbacks: list[Any] = []

    def done(self) -> bool:
        return False

    def add_done_callback(self, fn: Any) -> None:
        self.callbacks.append(fn)


def test_feed_keeps_one_write_and_the_newest_snapshot() -> None:
    writes: list[str] = []
    futs: list[Any] = []

    def write(text: str) -> Any:
        writes.append(text)
        fut = asyncio.Future(loop=loop)
        futs.append(fut)
        return fut

    loop = asyncio.new_event_loop()
    try:
        feed = Feed(write, max_replies=2)
        feed.offer("s1")
        for i in range(2, 100):
            feed.offer(f"s{i}")
        for i in range(5):
            feed.reply(f"r{i}")
        assert writes == ["s1"] and feed.pending == "s99" and len(feed.replies) == 2
        assert feed.dropped == 97 + 3
        futs[-1].set_result(None)
        loop.run_until_complete(asyncio.sleep(0))
        assert writes == ["s1", "r3"]  # replies first, then the freshest snapshot
        futs[-1].set_result(None)
        loop.run_until_complete(asyncio.sleep(0))
        futs[-1].set_result(None)
        loop.run_until_complete(asyncio.sleep(0))
        assert writes == ["s1", "r3", "r4", "s99"] and feed.pending is None
        futs[-1].set_exception(tornado.websocket.WebSocketClosedError())
        loop.run_until_complete(asyncio.sleep(0))
        assert feed.closed
        feed.offer("after")
        assert writes[-1] == "s99"
    finally:
        loop.close()


def test_a_consumer_that_never_reads_does_not_slow_the_scheduler() -> None:
    async def main(c: Any, dash: Dashboard, base: str) -> None:
        dash.interval = 0.005  # push as often as possible
        dash.heartbeat = 0.01
        # big snapshots: many tasks with long keys in memory
        keep = c.map(slow, range(400), t=0, key=[f"payload-{'x' * 150}-{i}" for i in range(400)])
        await c.gather(keep)
        # a WebSocket client that completes the handshake and then never reads a byte
        port = dash.port
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        await loop.sock_connect(sock, ("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        await loop.sock_sendall(sock, (
            f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += await loop.sock_recv(sock, 1)
        assert head.startswith(b"HTTP/1.1 101")
        for _ in range(1000):
            if dash.feeds:
                break
            await asyncio.sleep(0.01)
        (handler, feed), = dash.feeds.items()
        size = len(dash._snapshot_message())
        # the scheduler keeps serving while the reader is stuck, and the feed starts dropping
        t0 = time.monotonic()
        rounds = 0
        while feed.dropped < 20 or rounds < 3:
            futs = c.map(slow, range(50), t=0, key=[f"r{rounds}-{i}" for i in range(50)])
            assert len(await c.gather(futs)) == 50
            rounds += 1
            assert time.monotonic() - t0 < 40, f"only {feed.dropped} drops"
        elapsed = (time.monotonic() - t0) / rounds
        assert elapsed < 2.0, f"{elapsed:.2f} s per 50 tasks"
        assert feed.busy  # stuck on the write that cannot reach the reader
        # bounded: one message in tornado's buffer at most, one snapshot waiting
        stream = handler.ws_connection.stream  # type: ignore[union-attr]
        assert len(stream._write_buffer) <= 2 * size + 1024
        assert isinstance(feed.pending, str) and len(feed.replies) == 0
        sock.close()
        for _ in range(1000):
            if not dash.feeds:
                break
            await asyncio.sleep(0.01)
        assert not dash.feeds and not dash.scheduler.local_listeners

    run_cluster(main)


def test_dashboard_address_none_disables_it() -> None:
    async def main() -> None:
        async with futurelab.Client(asynchronous=True, processes=False, n_workers=1,
                                    dashboard_address=None) as c:
            assert c.cluster.scheduler.dashboard is None
            assert c.dashboard_link is None and c.cluster.dashboard_link is None
            assert c.cluster.scheduler.identity()["services"] == {}
            assert "Dashboard" not in c._repr_html_()
    asyncio.run(asyncio.wait_for(main(), 30))


def test_port_taken_means_the_next_free_port() -> None:
    async def main() -> None:
        taken = socket.socket()
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        try:
            async with Scheduler("inproc://", dashboard_address=f"127.0.0.1:{port}") as s:
                assert port < s.dashboard.port < port + 100
                code, _, _ = await fetch(f"http://127.0.0.1:{s.dashboard.port}/api/v1/workers")
                assert code == 200
        finally:
            taken.close()
    asyncio.run(asyncio.wait_for(main(), 30))


def test_parse_address() -> None:
    assert parse_address("127.0.0.1:8787") == ("127.0.0.1", 8787)
    assert parse_address(":8787") == ("", 8787)
    assert parse_address(8790) == ("127.0.0.1", 8790)
    assert parse_address("http://localhost:0/") == ("localhost", 0)
    assert parse_address("[::1]:9") == ("::1", 9)
    with pytest.raises(ValueError):
        parse_address("localhost")


def test_dashboard_link_template_and_client_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    async def main(c: Any, dash: Dashboard, base: str) -> None:
        assert c.dashboard_link == f"http://127.0.0.1:{dash.port}/status"
        assert c.cluster.dashboard_link == c.dashboard_link
        monkeypatch.setenv("FUTURELAB_DASHBOARD_LINK",
                           "{JUPYTERHUB_SERVICE_PREFIX}proxy/{port}/status")
        monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/ada/")
        assert c.dashboard_link == f"/user/ada/proxy/{dash.port}/status"
        html = c._repr_html_()
        assert f'href="/user/ada/proxy/{dash.port}/status"' in html

    run_cluster(main)


def test_cli_scheduler_prints_and_serves_the_dashboard() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "futurelab", "scheduler", "--port", "0", "--dashboard-address",
         "127.0.0.1:0", "--log-level", "warning"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline(), proc.stdout.readline()]
        assert lines[0].startswith("futurelab scheduler at tcp://127.0.0.1:")
        assert lines[1].startswith("futurelab dashboard at http://127.0.0.1:")
        url = lines[1].split(" at ", 1)[1].strip()
        import urllib.request
        with urllib.request.urlopen(url.replace("/status", "/api/v1/workers"), timeout=10) as r:
            assert json.loads(r.read()) == {}
    finally:
        proc.terminate()
        proc.wait(10)
