"""Admin access for the dashboard and metrics API, and the headers every answer carries.

A request is an admin's when all of these hold:

1. its ``Host`` is one the server answers to (``host_allowed``): a name listed in
   ``ICONIQ_ALLOWED_HOSTS``, or the address the connection came in on with its
   port, or ``localhost``/``127.0.0.1``/``[::1]`` with the port when that address
   is a loopback one. This refuses DNS-rebinding pages (their ``Host`` is the
   attacker's name). The collection API, ``/healthz`` and client erasure do not
   check ``Host``: clients reach them through any public name.
2. it carries ``Authorization: Bearer <ICONIQ_ADMIN_TOKEN>`` or a valid, unrevoked
   dashboard session cookie (``iconiq.server.sessions``). There is always a token:
   ``serve`` makes a random one when none is configured.

A wrong bearer token or sign-in counts against the client address in the
``AuthBrake`` (``iconiq.server.ratelimit``): past ``ICONIQ_AUTH_FAILURE_LIMIT`` the
answer is 429 with ``Retry-After``; while the limit store is down, 503 (fail
closed). Token comparisons are constant-time.
"""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass, field

from fastapi import HTTPException, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from iconiq.server import geo, sessions
from iconiq.server.ratelimit import Address, StoreUnavailable

COOKIE_NAME = sessions.COOKIE_NAME
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def is_loopback_host(host: str) -> bool:
    if host in {"localhost", "localhost.localdomain"}:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def split_host(raw: str) -> tuple[str, int | None] | None:
    """``(name, port)`` of a Host header value (``[::1]:8787``, ``a.example``), or None."""
    raw = raw.strip()
    if raw.startswith("["):
        end = raw.find("]")
        if end < 0:
            return None
        name, rest = raw[1:end], raw[end + 1 :]
        if rest and not rest.startswith(":"):
            return None
        port_text = rest[1:] if rest else ""
    elif raw.count(":") > 1:
        return None  # a bare IPv6 address must be bracketed
    else:
        name, _, port_text = raw.partition(":")
    if not name or (port_text and not (port_text.isascii() and port_text.isdigit())):
        return None
    return name.lower().rstrip("."), int(port_text) if port_text else None


def host_allowed(request: Request) -> bool:
    """Whether the dashboard and metrics may answer this request's ``Host``."""
    parsed = split_host(request.headers.get("host", ""))
    if parsed is None:
        return False
    name, port = parsed
    if name in request.app.state.settings.allowed_hosts:
        return True
    server = request.scope.get("server")
    if not server:
        return False
    local, local_port = str(server[0]).lower(), server[1]
    if (port if port is not None else 80) != local_port:
        return False
    return name == local or (name in LOOPBACK_NAMES and is_loopback_host(local))


def _peer(request: Request) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(request.client.host) if request.client else None
    except ValueError:
        return None


def client_address(request: Request) -> Address:
    """The request's client address, believing X-Forwarded-For only from trusted proxies."""
    peer = request.client.host if request.client else None
    forwarded = request.headers.get("x-forwarded-for")
    return geo.client_address(peer, forwarded, request.app.state.settings.trusted_proxies)


def is_https(request: Request) -> bool:
    """Over HTTPS directly, or per X-Forwarded-Proto from a trusted proxy."""
    if request.url.scheme == "https":
        return True
    peer = _peer(request)
    proxies = request.app.state.settings.trusted_proxies
    if peer is None or not any(peer in net for net in proxies):
        return False
    proto = request.headers.get("x-forwarded-proto", "").rsplit(",", 1)[-1]
    return proto.strip().lower() == "https"


def token_matches(request: Request, given: str) -> bool:
    token: str | None = request.app.state.settings.admin_token
    return bool(token) and hmac.compare_digest(given.encode(), str(token).encode())


@dataclass(frozen=True)
class Refusal:
    """Why a request is not an admin's: the status, a one-line reason, headers."""

    status: int
    message: str
    headers: dict[str, str] = field(default_factory=dict)


NO_CREDENTIAL = Refusal(401, "admin token required", {"WWW-Authenticate": "Bearer"})
BAD_HOST = Refusal(403, "this server does not answer to that Host (see ICONIQ_ALLOWED_HOSTS)")


def braked(request: Request) -> Refusal | None:
    """429 while the client is over its failed-credential limit; 503 if that is unknown."""
    try:
        wait = request.app.state.brake.blocked(client_address(request))
    except StoreUnavailable:
        return Refusal(503, "sign-in is unavailable, retry later", {"Retry-After": "30"})
    if wait is None:
        return None
    return Refusal(429, "too many failed credentials, retry later", {"Retry-After": str(int(wait))})


def failed_credential(request: Request) -> None:
    request.app.state.brake.failed(client_address(request))


def session_of(request: Request) -> tuple[str, int] | None:
    """The (id, expiry) of the request's valid, unrevoked session cookie, else None."""
    token: str | None = request.app.state.settings.admin_token
    value = request.cookies.get(COOKIE_NAME, "")
    parsed = sessions.parse(token, value) if token and value else None
    if parsed is None or sessions.is_revoked(request.app.state.store, parsed[0]):
        return None
    return parsed


def admin_refusal(request: Request) -> Refusal | None:
    """None when the request is an admin's, else why not (403, 401, 429 or 503)."""
    if not host_allowed(request):
        return BAD_HOST
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        refused = braked(request)
        if refused is not None:
            return refused
        if token_matches(request, given.strip()):
            return None
        failed_credential(request)
        return Refusal(401, "wrong admin token", NO_CREDENTIAL.headers)
    return None if session_of(request) is not None else NO_CREDENTIAL


def require_admin(request: Request) -> None:
    """FastAPI dependency: 401/403/429/503 unless the request is an admin's."""
    refused = admin_refusal(request)
    if refused is not None:
        raise HTTPException(refused.status, detail=refused.message, headers=refused.headers)


_HEADERS = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)


class SecurityHeaders:
    """ASGI middleware: every HTTP answer (error pages too) carries the CSP and friends."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(k, v) for k, v in _HEADERS if k not in present]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
