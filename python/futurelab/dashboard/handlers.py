"""The dashboard's tornado handlers: pages, static files, JSON API and the WebSocket.

Every handler checks access first (:func:`check_access`, policy in :mod:`.auth`); the work is
done by :class:`~.server.Dashboard`.  Routes are listed in :func:`make_app` and documented in the
README's "Web dashboard" section.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import tornado.escape
import tornado.web
import tornado.websocket

from . import auth
from .server import HERE, STATIC, Feed, dumps, logger

if TYPE_CHECKING:
    from .server import Dashboard


class Base(tornado.web.RequestHandler):
    """Every handler checks the token first (pages, static files, API, WebSocket)."""

    dashboard: Dashboard

    def initialize(self, dashboard: Dashboard) -> None:
        self.dashboard = dashboard

    def set_default_headers(self) -> None:
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Referrer-Policy", "no-referrer")
        self.set_header("Cache-Control", "no-store")

    def prepare(self) -> None:
        check_access(self)


def check_access(handler: tornado.web.RequestHandler) -> None:
    """Let the request through, setting the token cookie after ``?token=``, or answer 403."""
    dashboard: Dashboard = handler.dashboard  # type: ignore[attr-defined]
    required = dashboard.required_token
    if required is None:
        return
    query = handler.get_query_argument("token", None)
    presented = [query, handler.get_cookie(dashboard.cookie),
                 auth.token_from_header(handler.request.headers.get("Authorization"))]
    if auth.authorized(required, presented):
        if query is not None:
            handler.set_cookie(dashboard.cookie, query, httponly=True, samesite="Strict")
        return
    handler.set_status(403)
    handler.set_header("Content-Type", "text/plain; charset=utf-8")
    handler.finish("403: this futurelab dashboard needs its token: open it with ?token=… "
                   "(futurelab.dashboard.dashboard_token(secret) of the cluster's secret)\n")
    raise tornado.web.Finish()


class PageHandler(Base):
    def get(self) -> None:
        page = (HERE / "page.html").read_text()
        js = STATIC / "dashboard.js"
        if not js.exists():
            self.set_status(500)
            self.set_header("Content-Type", "text/plain; charset=utf-8")
            self.finish("the dashboard's front end is not built: run `jlpm build` (or "
                        "`make build-labextension`) in the futurelab source tree\n")
            return
        version = str(int(js.stat().st_mtime))
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Content-Security-Policy",
                        "default-src 'self'; connect-src 'self' ws: wss:; "
                        "style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                        "object-src 'none'; base-uri 'none'")
        self.finish(page.replace("{{version}}", version)
                    .replace("{{scheduler}}", tornado.escape.xhtml_escape(
                        str(self.dashboard.scheduler.address))))


class StaticHandler(tornado.web.StaticFileHandler):
    def initialize(self, path: str, dashboard: Dashboard) -> None:  # type: ignore[override]
        super().initialize(path)
        self.dashboard = dashboard

    def prepare(self) -> None:
        check_access(self)


class JSONHandler(Base):
    def set_default_headers(self) -> None:
        super().set_default_headers()
        self.set_header("Content-Type", "application/json")

    def reply(self, obj: Any) -> None:
        self.finish(dumps(obj))

    def fail(self, status: int, message: str) -> None:
        self.set_status(status)
        self.finish(dumps({"ok": False, "error": message}))


class SnapshotAPI(JSONHandler):
    def get(self) -> None:
        limit = _int_arg(self, "limit", self.dashboard.futures_limit)
        self.reply(self.dashboard.snapshot(futures_limit=limit))


class WorkersAPI(JSONHandler):
    def get(self) -> None:
        self.reply(self.dashboard.workers())


class TasksAPI(JSONHandler):
    def get(self, key: str | None = None) -> None:
        if key:
            try:
                self.reply(self.dashboard.task(key))
            except KeyError:
                self.fail(404, f"the scheduler knows no task {key!r}")
            return
        states = self.get_query_arguments("state") or None
        self.reply(self.dashboard.tasks(states, self.get_query_argument("prefix", None),
                                        _int_arg(self, "limit", 1000)))


class ProgressAPI(JSONHandler):
    def get(self) -> None:
        self.reply(self.dashboard.current_model().progress())


class PrimitivesAPI(JSONHandler):
    def get(self) -> None:
        self.reply(self.dashboard.primitives())


class IdentityAPI(JSONHandler):
    def get(self) -> None:
        self.reply(self.dashboard.scheduler.identity())


class ActionAPI(JSONHandler):
    """``POST /api/v1/cancel`` / ``/api/v1/retry`` with ``{"keys": [...]}`` (JSON only: a
    cross-site form cannot send it)."""

    def post(self, action: str) -> None:
        ctype = self.request.headers.get("Content-Type", "").split(";")[0].strip()
        if ctype != "application/json":
            self.fail(415, "send the keys as JSON: Content-Type: application/json")
            return
        origin = self.request.headers.get("Origin")
        if origin and urlparse(origin).netloc != self.request.host:
            self.fail(403, "cross-origin action refused")
            return
        try:
            body = json.loads(self.request.body or b"{}")
            keys = body.get("keys") if isinstance(body, dict) else None
            if isinstance(keys, str):
                keys = [keys]
            if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
                raise ValueError
        except ValueError:
            self.fail(400, 'expected {"keys": ["key", ...]}')
            return
        result = self.dashboard.act_many(action, keys)
        if not result["ok"]:
            self.set_status(404 if action == "cancel" else 409)
        self.reply(result)


class DashboardSocket(tornado.websocket.WebSocketHandler):
    """The page's live feed (same-origin only: tornado's default ``check_origin``)."""

    dashboard: Dashboard

    def initialize(self, dashboard: Dashboard) -> None:
        self.dashboard = dashboard
        self.feed: Feed | None = None

    def prepare(self) -> None:
        check_access(self)

    def open(self, *args: Any, **kwargs: Any) -> None:
        self.set_nodelay(True)
        self.feed = self.dashboard.attach(self)

    def on_message(self, message: str | bytes) -> None:
        feed = self.feed
        if feed is None:
            return
        try:
            data = json.loads(message)
        except ValueError:
            return
        if not isinstance(data, dict):
            return
        if data.get("type") == "refresh":
            feed.offer(self.dashboard._snapshot_message())
            return
        if data.get("type") != "action":
            return
        action, key = str(data.get("action")), str(data.get("key"))
        try:
            reply = {"ok": True, **self.dashboard.act(action, key)}
        except (KeyError, ValueError) as e:
            reply = {"ok": False, "error": str(e.args[0] if e.args else e)}
        feed.reply(dumps({"type": "reply", "id": data.get("id"), "action": action, "key": key,
                          **reply}))
        if action != "detail":
            self.dashboard.push()

    def on_close(self) -> None:
        self.dashboard.detach(self)


def _int_arg(handler: tornado.web.RequestHandler, name: str, default: int) -> int:
    value = handler.get_query_argument(name, None)
    try:
        return max(0, int(value)) if value is not None else default
    except ValueError:
        return default


def make_app(dashboard: Dashboard) -> tornado.web.Application:
    """The dashboard's routes (see the module docstring and README "Web dashboard")."""
    d = {"dashboard": dashboard}
    return tornado.web.Application([
        (r"/", PageHandler, d),
        (r"/status", PageHandler, d),
        (r"/static/(.*)", StaticHandler, {"path": str(STATIC), **d}),
        (r"/ws", DashboardSocket, d),
        (r"/api/v1/snapshot", SnapshotAPI, d),
        (r"/api/v1/workers", WorkersAPI, d),
        (r"/api/v1/tasks", TasksAPI, d),
        (r"/api/v1/tasks/(.+)", TasksAPI, d),
        (r"/api/v1/progress", ProgressAPI, d),
        (r"/api/v1/primitives", PrimitivesAPI, d),
        (r"/api/v1/identity", IdentityAPI, d),
        (r"/api/v1/(cancel|retry)", ActionAPI, d),
    ], websocket_max_message_size=64 * 1024, log_function=_log)


def _log(handler: tornado.web.RequestHandler) -> None:
    status = handler.get_status()
    if status >= 400:
        logger.info("%d %s %s", status, handler.request.method, handler.request.uri)
