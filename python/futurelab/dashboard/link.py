"""The dashboard's URL as a user should open it (pure; no tornado imported).

By default ``http://{host}:{port}/status``.  Behind JupyterHub or Binder the scheduler's port is
not reachable from the browser, but jupyter-server-proxy forwards ``/proxy/<port>/`` of the
notebook server to it; set the template in ``$FUTURELAB_DASHBOARD_LINK``, formatted with the
environment plus ``host`` and ``port``::

    export FUTURELAB_DASHBOARD_LINK='{JUPYTERHUB_SERVICE_PREFIX}proxy/{port}/status'
"""
from __future__ import annotations

import logging
import os
from collections.abc import Mapping

ENV_LINK = "FUTURELAB_DASHBOARD_LINK"
DEFAULT_LINK = "http://{host}:{port}/status"
WILDCARDS = ("", "0.0.0.0", "::", "[::]")

logger = logging.getLogger("futurelab.dashboard")


def dashboard_link(host: str, port: int, template: str | None = None,
                   environ: Mapping[str, str] | None = None) -> str:
    """Format the dashboard link template (``$FUTURELAB_DASHBOARD_LINK`` or the default).

    >>> dashboard_link("127.0.0.1", 8787, environ={})
    'http://127.0.0.1:8787/status'
    >>> dashboard_link("127.0.0.1", 8787, environ={
    ...     "FUTURELAB_DASHBOARD_LINK": "{JUPYTERHUB_SERVICE_PREFIX}proxy/{port}/status",
    ...     "JUPYTERHUB_SERVICE_PREFIX": "/user/ada/"})
    '/user/ada/proxy/8787/status'
    """
    env = os.environ if environ is None else environ
    template = template or env.get(ENV_LINK) or DEFAULT_LINK
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    try:
        return template.format(**{**env, "host": host, "port": port})
    except (KeyError, IndexError, ValueError) as e:
        logger.warning("cannot format the dashboard link template %r (%s); using the default",
                       template, e)
        return DEFAULT_LINK.format(host=host, port=port)


def reachable_host(bind_host: str, scheduler_address: str | None) -> str:
    """The host a client should use: the bind host, or the scheduler's host for a wildcard.

    >>> reachable_host("0.0.0.0", "tcp://10.1.2.3:8786"), reachable_host("127.0.0.1", None)
    ('10.1.2.3', '127.0.0.1')
    """
    if bind_host not in WILDCARDS:
        return bind_host
    if scheduler_address and "://" in scheduler_address:
        rest = scheduler_address.split("://", 1)[1]
        host = rest.rsplit(":", 1)[0].strip("[]") if ":" in rest else rest
        if host and host not in WILDCARDS and not scheduler_address.startswith("inproc"):
            return host
    import socket
    return socket.gethostname()
