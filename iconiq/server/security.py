"""Admin access for the dashboard and metrics API.

A request is an admin when it carries ``Authorization: Bearer <ICONIQ_ADMIN_TOKEN>``
or the cookie ``iconiq_session`` set by the dashboard login, whose value is
``session_cookie_value(token)``. Comparisons are constant-time. Without a
configured token, only requests reaching a loopback-bound server are admins
(``create_app`` refuses to serve a non-loopback host without a token).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress

from fastapi import HTTPException, Request

COOKIE_NAME = "iconiq_session"


def session_cookie_value(token: str) -> str:
    """The dashboard session cookie value for an admin token."""
    return hmac.new(token.encode(), b"iconiq-dashboard", hashlib.sha256).hexdigest()


def is_loopback_host(host: str) -> bool:
    if host in {"localhost", "localhost.localdomain"}:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def is_admin(request: Request) -> bool:
    settings = request.app.state.settings
    token: str | None = settings.admin_token
    if not token:
        return is_loopback_host(settings.host)
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
        return True
    cookie = request.cookies.get(COOKIE_NAME, "")
    return hmac.compare_digest(cookie.encode(), session_cookie_value(token).encode())


def require_admin(request: Request) -> None:
    """FastAPI dependency: 401 unless the request is an admin's."""
    if not is_admin(request):
        raise HTTPException(
            status_code=401,
            detail="admin token required",
            headers={"WWW-Authenticate": "Bearer"},
        )
