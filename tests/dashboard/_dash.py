"""Helpers of the dashboard tests: an in-process cluster with its dashboard on a free loopback
port, HTTP requests and WebSocket reads with deadlines."""
from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import tornado.httpclient
import tornado.websocket

import futurelab

TIMEOUT = 60


def run_cluster(main: Callable[..., Awaitable[Any]], **kwargs: Any) -> Any:
    """``await main(client, dashboard, base_url)`` against a fresh in-process cluster."""
    async def wrapper() -> Any:
        opts: dict[str, Any] = {"n_workers": 1, "threads_per_worker": 2, "processes": False,
                                "dashboard_address": "127.0.0.1:0", **kwargs}
        async with futurelab.Client(asynchronous=True, **opts) as c:
            dash = c.cluster.scheduler.dashboard
            base = f"http://127.0.0.1:{dash.port}"
            return await asyncio.wait_for(main(c, dash, base), TIMEOUT)
    return asyncio.run(wrapper())


async def fetch(url: str, method: str = "GET", body: str | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, str, Any]:
    """``(status, body, headers)``, without raising on error statuses."""
    hdrs = dict(headers or {})
    if body is not None:
        hdrs.setdefault("Content-Type", "application/json")
    resp = await tornado.httpclient.AsyncHTTPClient().fetch(
        url, method=method, body=body, headers=hdrs, raise_error=False, request_timeout=20)
    return resp.code, resp.body.decode() if resp.body else "", resp.headers


async def get_json(url: str) -> Any:
    code, body, _ = await fetch(url)
    assert code == 200, (code, body)
    return json.loads(body)


async def connect(base: str) -> tornado.websocket.WebSocketClientConnection:
    return await tornado.websocket.websocket_connect(base.replace("http", "ws", 1) + "/ws")


async def until(ws: tornado.websocket.WebSocketClientConnection,
                pred: Callable[[dict[str, Any]], bool], timeout: float = 20.0,
                kind: str = "snapshot") -> dict[str, Any]:
    """Read messages until one of type ``kind`` satisfies ``pred``; return it."""
    async def read() -> dict[str, Any]:
        while True:
            text = await ws.read_message()
            assert text is not None, "the dashboard closed the WebSocket"
            msg = json.loads(text)
            if msg.get("type") != kind:
                continue
            if pred(msg["snapshot"] if kind == "snapshot" else msg):
                return msg["snapshot"] if kind == "snapshot" else msg
    return await asyncio.wait_for(read(), timeout)
