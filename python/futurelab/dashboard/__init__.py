"""The scheduler's web dashboard: the lab sidebar's views, live, in any browser.

``Scheduler(dashboard_address="127.0.0.1:8787")`` (the default; ``None`` disables it) serves the
page, a WebSocket feed and a small JSON API; see :mod:`.server`, :mod:`.model` (the cluster-wide
state, pure) and :mod:`.auth` (who may open it).  ``client.dashboard_link`` gives the URL.

>>> # from futurelab import Client
>>> # Client().dashboard_link
>>> # 'http://127.0.0.1:8787/status'
"""
from __future__ import annotations

from .auth import dashboard_token as dashboard_token
from .link import dashboard_link as dashboard_link

__all__ = ["dashboard_link", "dashboard_token"]
