"""Who may open the dashboard: pure policy, no sockets (tested with made-up addresses).

Theory of operation
-------------------
On a loopback address (the default, ``127.0.0.1:8787``) the dashboard is open to this machine, like
the scheduler itself without a secret.  On any other address every request — pages, static files,
the JSON API and the WebSocket — must carry the dashboard *token*, and a dashboard with no token
(the cluster has no secret) refuses to listen there at all.

The token is derived from the cluster's shared secret, ``HMAC-SHA256(secret, LABEL)`` in hex, so a
user holding the secret (``--auth-file``) computes it with :func:`dashboard_token` and the secret
itself never travels in URLs or cookies.  A browser presents it once as ``?token=…``; the
dashboard then sets a cookie so the page's own requests and WebSocket carry it.  Scripts may send
``Authorization: token …`` instead.
"""
from __future__ import annotations

import hashlib
import hmac
from typing import Any

from ..security import is_loopback

#: what the secret signs to make the dashboard token (changing it revokes every token)
LABEL = b"futurelab-dashboard-v1"
#: name of the cookie carrying the token, suffixed with the port (one per dashboard)
COOKIE = "futurelab-dashboard-token"


def dashboard_token(secret: bytes | Any) -> str:
    """The dashboard token of a cluster secret (a ``bytes`` secret or a Security object).

    >>> dashboard_token(b"0" * 32)[:12]
    '54777926c4e0'
    """
    raw = getattr(secret, "secret", secret)
    if not isinstance(raw, bytes) or not raw:
        raise ValueError("the dashboard token is derived from a cluster secret; this cluster "
                         "has none")
    return hmac.new(raw, LABEL, hashlib.sha256).hexdigest()


def needs_token(bind_host: str) -> bool:
    """Whether a dashboard bound to ``bind_host`` must check tokens ("" = every interface).

    >>> needs_token("127.0.0.1"), needs_token("0.0.0.0"), needs_token("")
    (False, True, True)
    """
    if bind_host in ("", "0.0.0.0", "::", "[::]"):
        return True
    return not is_loopback(bind_host)


def check_bind(bind_host: str, token: str | None) -> None:
    """Refuse to serve beyond loopback without a token to ask for.

    Raises:
        PermissionError: naming the address and what to do.
    """
    if needs_token(bind_host) and not token:
        raise PermissionError(
            f"refusing to serve the dashboard on {bind_host or 'every interface'} without a "
            f"token: give the cluster a shared secret (--auth-file PATH, or "
            f"security=Security.from_file(PATH)), bind it to 127.0.0.1, or disable it "
            f"(dashboard_address=None / --no-dashboard)")


def authorized(required: str | None, presented: list[str | None]) -> bool:
    """Whether a request may be served.

    Args:
        required: the token this dashboard asks for, or None when it asks for none (loopback).
        presented: tokens the request carries (query argument, cookie, Authorization header).

    >>> authorized(None, []), authorized("abc", ["abc"]), authorized("abc", [None, "abd"])
    (True, True, False)
    """
    if required is None:
        return True
    want = required.encode()
    return any(p is not None and hmac.compare_digest(p.encode(), want) for p in presented)


def token_from_header(value: str | None) -> str | None:
    """The token of an ``Authorization: token <t>`` (or ``Bearer <t>``) header."""
    if not value:
        return None
    scheme, _, rest = value.strip().partition(" ")
    return rest.strip() or None if scheme.lower() in ("token", "bearer") else None
