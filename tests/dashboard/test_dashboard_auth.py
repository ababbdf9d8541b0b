"""Who may open the dashboard: the policy with made-up addresses (nothing binds off-loopback),
and the handlers enforcing a token on a loopback dashboard told to require one."""
from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest
import tornado.httpclient
import tornado.websocket
from _dash import fetch, run_cluster

from futurelab.dashboard import auth, dashboard_token
from futurelab.dashboard.server import Dashboard
from futurelab.security import Security

SECRET = bytes(range(32))


@pytest.mark.parametrize("host, needs", [
    ("127.0.0.1", False), ("127.0.0.2", False), ("::1", False), ("localhost", False),
    ("0.0.0.0", True), ("", True), ("::", True), ("10.1.2.3", True), ("192.168.0.7", True),
    ("2001:db8::1", True), ("dashboard.example.org", True),
])
def test_needs_token_off_loopback_only(host: str, needs: bool) -> None:
    assert auth.needs_token(host) is needs


def test_token_is_an_hmac_of_the_secret_anyone_holding_it_can_compute() -> None:
    want = hmac.new(SECRET, b"futurelab-dashboard-v1", hashlib.sha256).hexdigest()
    assert dashboard_token(SECRET) == want == dashboard_token(Security(secret=SECRET))
    assert dashboard_token(SECRET) != dashboard_token(bytes(32))
    with pytest.raises(ValueError, match="no"):
        dashboard_token(Security())


def test_no_token_no_serving_off_loopback() -> None:
    with pytest.raises(PermissionError, match="without a token"):
        auth.check_bind("10.1.2.3", None)
    auth.check_bind("10.1.2.3", "t")
    auth.check_bind("127.0.0.1", None)


def test_authorized_and_header_parsing() -> None:
    assert auth.authorized(None, [])
    assert auth.authorized("t0k", [None, "nope", "t0k"])
    assert not auth.authorized("t0k", [None, "", "t0K"])
    assert auth.token_from_header("token abc") == "abc"
    assert auth.token_from_header("Bearer abc") == "abc"
    assert auth.token_from_header("Basic abc") is None and auth.token_from_header(None) is None


class _FakeScheduler:
    def __init__(self, secret: bytes | None) -> None:
        self.security = Security(secret=secret) if secret else None


def test_a_dashboard_off_loopback_requires_the_clusters_token_and_refuses_without_one() -> None:
    # constructed only: nothing binds a non-loopback address in the tests
    d = Dashboard(_FakeScheduler(SECRET), "0.0.0.0:8787")  # type: ignore[arg-type]
    assert d.required_token == dashboard_token(SECRET)
    assert Dashboard(_FakeScheduler(SECRET), "127.0.0.1:0").required_token is None  # type: ignore[arg-type]
    with pytest.raises(PermissionError):
        Dashboard(_FakeScheduler(None), "10.1.2.3:0").start()  # type: ignore[arg-type]


def test_every_route_needs_the_token_when_required() -> None:
    async def main(c: Any, dash: Dashboard, base: str) -> None:
        dash.required_token = token = "s3cret-token"  # as off-loopback (policy tested above)
        for path in ("/status", "/", "/static/dashboard.js", "/api/v1/snapshot",
                     "/api/v1/workers", "/api/v1/tasks", "/api/v1/primitives"):
            code, _, _ = await fetch(base + path)
            assert code == 403, path
        code, _, _ = await fetch(base + "/api/v1/cancel", method="POST",
                                 body=json.dumps({"keys": ["x"]}))
        assert code == 403
        with pytest.raises(tornado.httpclient.HTTPClientError) as err:
            await tornado.websocket.websocket_connect(base.replace("http", "ws") + "/ws")
        assert err.value.code == 403
        # ?token= once: the page, and a cookie for what follows
        code, body, headers = await fetch(f"{base}/status?token={token}")
        assert code == 200 and "futurelab" in body
        cookie = headers.get("Set-Cookie", "")
        assert cookie.startswith(f"{dash.cookie}={token}") and "HttpOnly" in cookie
        assert "SameSite=Strict" in cookie
        jar = {"Cookie": cookie.split(";")[0]}
        code, _, _ = await fetch(base + "/api/v1/snapshot", headers=jar)
        assert code == 200
        code, _, _ = await fetch(base + "/api/v1/snapshot",
                                 headers={"Authorization": f"token {token}"})
        assert code == 200
        code, _, _ = await fetch(base + "/api/v1/snapshot?token=wrong")
        assert code == 403
        ws = await tornado.websocket.websocket_connect(tornado.httpclient.HTTPRequest(
            base.replace("http", "ws") + "/ws", headers=jar))
        first = json.loads(await ws.read_message())
        assert first["type"] == "snapshot"
        ws.close()

    run_cluster(main)
