"""Kernel comm: publishes the kernel's Client live state model to the JupyterLab sidebar.

Theory of operation
-------------------
The sidebar (``labextension/src/kernel.ts``) opens a comm to the target :data:`TARGET` in the
kernel of the active notebook or console.  The target is registered by :func:`maybe_register`,
which ``Client._start`` calls when it runs inside an IPython kernel — so ``import futurelab`` and
``Client()`` are all a user does.  Registering also *announces* the kernel: it opens a short-lived
comm to the front-end target :data:`ANNOUNCE_TARGET`, and a sidebar that tried to connect before
any Client existed (and got its comm closed for an unknown target) connects again at once.

While at least one sidebar comm is open, a publisher thread (``futurelab-bridge``) sends
``{"type": "snapshot", "snapshot": LiveModel.snapshot() | None}`` to every open comm: on each model
change (the model's listener only sets an event), at most every :attr:`Bridge.interval` seconds,
plus a heartbeat every :attr:`Bridge.heartbeat` seconds so durations keep moving.  ``None`` means
"this kernel has no running Client" (the empty state).  The publisher looks up
:func:`futurelab.default_client` on every wake, so a new Client (or a closed one) is picked up by
itself.  With no comm open there is no thread, no listener and no model: the bridge costs nothing.

The sidebar sends ``{"type": "action", "id": n, "action": "cancel" | "retry" | "detail",
"key": key}`` and gets ``{"type": "reply", "id": n, "ok": bool, ...}`` on the same comm.  JupyterLab
4.6 runs the comm on a kernel *subshell* (ipykernel 7), so these handlers run in a subshell
thread, concurrently with the user's cell: they touch bridge state only under ``Bridge.lock`` and
use only the Client's thread-safe methods (``cancel``, ``retry``, reading ``client.futures``).
"""
from __future__ import annotations

import contextvars
import logging
import sys
import threading
import time
import traceback
from typing import Any

#: comm target the kernel registers; the sidebar opens comms to it
TARGET = "futurelab.sidebar"
#: comm target the front end registers; the kernel opens a comm to it to say "I have a Client now"
ANNOUNCE_TARGET = "futurelab.announce"
#: version of the message format (sent in every snapshot message)
PROTOCOL = 1

log = logging.getLogger("futurelab.bridge")

_bridge: Bridge | None = None
_bridge_lock = threading.Lock()


def _kernel() -> Any:
    """The running ipykernel kernel, or None (plain Python, terminal IPython, no kernel)."""
    if "ipykernel" not in sys.modules:
        return None
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    ip = get_ipython()
    return getattr(ip, "kernel", None) if ip is not None else None


def maybe_register() -> Bridge | None:
    """Register the sidebar comm target when running inside a kernel (idempotent, cheap).

    Called by ``Client._start``. Outside a kernel it does nothing and returns None.

    >>> maybe_register() is None  # not in a kernel here
    True
    """
    if _kernel() is None:
        return None
    global _bridge
    with _bridge_lock:
        created = _bridge is None
        if created:
            from comm import get_comm_manager
            _bridge = Bridge()
            get_comm_manager().register_target(TARGET, _bridge.on_open)
        bridge = _bridge
    assert bridge is not None
    bridge.announce()
    bridge.wake()
    return bridge


def get_bridge() -> Bridge | None:
    """The kernel's bridge if :func:`maybe_register` made one."""
    return _bridge


class Bridge:
    """Open sidebar comms of this kernel and the publisher thread feeding them."""

    def __init__(self, interval: float = 0.2, heartbeat: float = 1.0) -> None:
        #: minimum seconds between two snapshots
        self.interval = interval
        #: seconds between snapshots when nothing changes (running durations, "held for")
        self.heartbeat = heartbeat
        self.lock = threading.Lock()
        self.comms: dict[str, Any] = {}
        self._contexts: dict[str, contextvars.Context] = {}
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._client: Any = None
        self._model: Any = None
        self._sent_empty = False

    # ------------------------------------------------------------------ comms (any thread)
    def on_open(self, comm: Any, msg: dict[str, Any]) -> None:
        """Comm target handler: a sidebar connected."""
        comm.on_msg(lambda m: self._on_msg(comm, m))
        comm.on_close(lambda m: self._on_close(comm))
        # ipykernel routes the front end's next comm_msg to the subshell of the *parent* of the
        # comm's last send; from our thread that parent would be whatever the kernel ran last
        # (often the busy main shell's cell). Sending inside this context (whose parent is the
        # comm_open, on the sidebar's subshell) keeps the sidebar's actions on its subshell.
        context = contextvars.copy_context()
        with self.lock:
            self.comms[comm.comm_id] = comm
            self._contexts[comm.comm_id] = context
            self._sent_empty = False  # the new sidebar needs the empty state too
            if self._thread is None:
                self._thread = threading.Thread(target=self._publish_loop, daemon=True,
                                                name="futurelab-bridge")
                self._thread.start()
        self.wake()

    def _on_close(self, comm: Any) -> None:
        with self.lock:
            self.comms.pop(comm.comm_id, None)
            self._contexts.pop(comm.comm_id, None)
        self.wake()

    def wake(self) -> None:
        """Publish soon (a change, a new Client, a new sidebar)."""
        self._wake.set()

    def announce(self) -> None:
        """Tell front ends this kernel has a Client (they open their comm if not yet open)."""
        try:
            from comm import create_comm
            c = create_comm(target_name=ANNOUNCE_TARGET, data={"protocol": PROTOCOL})
            c.close()
        except Exception:  # no front end listening is fine
            log.debug("announce failed", exc_info=True)

    # ------------------------------------------------------------------ actions (subshell thread)
    def _on_msg(self, comm: Any, msg: dict[str, Any]) -> None:
        data = msg.get("content", {}).get("data") or {}
        kind = data.get("type")
        if kind == "refresh":
            with self.lock:
                self._sent_empty = False
            self.wake()
            return
        if kind != "action":
            return
        try:
            reply = {"ok": True, **self.act(str(data.get("action")), str(data.get("key")))}
        except Exception as e:  # noqa: BLE001 - every failure goes back to the sidebar
            reply = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        comm.send({"type": "reply", "id": data.get("id"), "action": data.get("action"),
                   "key": data.get("key"), **reply})
        self.wake()

    def act(self, action: str, key: str) -> dict[str, Any]:
        """Run one sidebar action on the kernel's Client; returns the reply's fields."""
        client = _current_client()
        if client is None:
            raise RuntimeError("this kernel has no running Client")
        from ..client.future import Future
        if action == "detail":
            return _detail(client, key)
        if action not in ("cancel", "retry"):
            raise ValueError(f"unknown action {action!r}")
        with client._lock:  # no release can slip in between the check and the new reference
            if key not in client.futures:
                raise KeyError(f"{key} is not held by this kernel's Client")
            fut = Future(key, client)
        if action == "cancel":
            client.cancel([fut])
        else:
            client.retry([fut])
        return {}

    # ------------------------------------------------------------------ publisher thread
    def _publish_loop(self) -> None:
        while True:
            self._wake.wait(self.heartbeat)
            self._wake.clear()
            with self.lock:
                comms = [(c, self._contexts[i]) for i, c in self.comms.items()]
                if not comms:
                    self._thread = None
                    self._bind(None)
                    return
            try:
                self._publish(comms)
            except Exception:  # keep publishing after a bad snapshot
                log.exception("futurelab sidebar snapshot failed")
            time.sleep(self.interval)

    def _publish(self, comms: list[tuple[Any, contextvars.Context]]) -> None:
        client = _current_client()
        self._bind(client)
        if client is None:
            with self.lock:
                if self._sent_empty:
                    return
                self._sent_empty = True
            snap = None
        else:
            self._sent_empty = False
            snap = self._model.snapshot()
        msg = {"type": "snapshot", "protocol": PROTOCOL, "snapshot": snap}
        for c, context in comms:
            try:
                context.copy().run(c.send, msg)
            except Exception:  # a comm closing under us
                log.debug("send failed", exc_info=True)

    def _bind(self, client: Any) -> None:
        """Listen to ``client``'s live model (and stop listening to the previous one)."""
        if client is self._client:
            return
        if self._model is not None:
            self._model.remove_listener(self._on_change)
        self._client, self._model = client, None
        if client is not None:
            self._model = client.live_model()
            self._model.add_listener(self._on_change)

    def _on_change(self, model: Any) -> None:
        self._wake.set()


def _current_client() -> Any:
    from ..client.client import default_client
    try:
        client = default_client()
    except ValueError:
        return None
    return client if client.status == "running" else None


def _detail(client: Any, key: str) -> dict[str, Any]:
    """Status, error and formatted traceback of one of the client's futures."""
    st = client.futures.get(key)
    if st is None:
        raise KeyError(f"{key} is not held by this kernel's Client")
    out: dict[str, Any] = {"status": st.status, "error": "", "traceback": ""}
    if st.status in ("error", "cancelled"):
        exc = st.get_exception()
        tb = st.get_traceback() if st.status == "error" else None
        out["error"] = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        try:
            out["traceback"] = "".join(traceback.format_exception(type(exc), exc, tb))
        except Exception:  # noqa: BLE001 - a traceback we cannot format
            out["traceback"] = st.error_text or out["error"]
    return out
