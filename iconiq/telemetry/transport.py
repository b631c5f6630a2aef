"""Talking to the collection server (``POST /v1/batch``, ``DELETE /v1/installs/{id}``).

Only the flusher and the ``iconiq telemetry`` commands import this (httpx is
never on a plain command's path). Errors are drawn as:

    SendError                 any failure to deliver; ``reason`` is a short category
    ├── Retryable             408, 429, 5xx, timeouts, connection and TLS errors
    │                         (``retry_after`` seconds when the server said so)
    ├── TooLarge              413: split the batch and try the halves
    └── Refused               other 4xx, or an endpoint we will not talk to
"""

from __future__ import annotations

import gzip
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

import httpx

from iconiq import __version__
from iconiq.telemetry.decision import endpoint_problem

TIMEOUT = httpx.Timeout(connect=5.0, read=15.0, write=15.0, pool=5.0)
RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


class SendError(Exception):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class Retryable(SendError):
    pass


class TooLarge(SendError):
    pass


class Refused(SendError):
    pass


@dataclass
class Outcome:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[int] = field(default_factory=list)


def client() -> httpx.Client:
    return httpx.Client(
        timeout=TIMEOUT,
        headers={"User-Agent": f"iconiq/{__version__}"},
        follow_redirects=False,
    )


def retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def encode(bodies: list[str]) -> bytes:
    """The gzip'd ``{"events": [...]}`` body made of the spooled JSON texts as they are."""
    return gzip.compress(('{"events":[' + ",".join(bodies) + "]}").encode(), compresslevel=5)


def post_batch(http: httpx.Client, base_url: str, bodies: list[str]) -> Outcome:
    """Send one batch; return what the server did with it, or raise a ``SendError``."""
    problem = endpoint_problem(base_url)
    if problem:
        raise Refused(problem)
    try:
        response = http.post(
            f"{base_url}/v1/batch",
            content=encode(bodies),
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
        )
    except httpx.TimeoutException as exc:
        raise Retryable("timeout") from exc
    except httpx.TransportError as exc:
        raise Retryable(_transport_reason(exc)) from exc
    status = response.status_code
    if 200 <= status < 300:
        return _outcome(response, len(bodies))
    wait = retry_after(response.headers.get("Retry-After"))
    if status == 413:
        raise TooLarge("HTTP 413")
    if status in RETRYABLE_STATUS or status >= 500:
        raise Retryable(f"HTTP {status}", wait)
    raise Refused(f"HTTP {status}", wait)


def _outcome(response: httpx.Response, sent: int) -> Outcome:
    try:
        data = response.json()
    except ValueError:
        return Outcome(accepted=sent)
    if not isinstance(data, dict):
        return Outcome(accepted=sent)
    rejected = []
    for item in data.get("rejected") or []:
        index = item.get("index") if isinstance(item, dict) else None
        if isinstance(index, int) and 0 <= index < sent:
            rejected.append(index)
    return Outcome(
        accepted=_as_int(data.get("accepted")),
        duplicates=_as_int(data.get("duplicates")),
        rejected=sorted(set(rejected)),
    )


def _as_int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _transport_reason(exc: Exception) -> str:
    text = str(exc).lower()
    if "ssl" in text or "certificate" in text or "tls" in text:
        return "tls error"
    if isinstance(exc, httpx.ConnectError):
        return "connection failed"
    return "network error"


def delete_install(http: httpx.Client, base_url: str, install_id: str) -> None:
    """Ask the server to erase every event of this install (any 2xx is success)."""
    problem = endpoint_problem(base_url)
    if problem:
        raise Refused(problem)
    try:
        response = http.delete(f"{base_url}/v1/installs/{install_id}")
    except httpx.TimeoutException as exc:
        raise Retryable("timeout") from exc
    except httpx.TransportError as exc:
        raise Retryable(_transport_reason(exc)) from exc
    if 200 <= response.status_code < 300:
        return
    wait = retry_after(response.headers.get("Retry-After"))
    if response.status_code in RETRYABLE_STATUS or response.status_code >= 500:
        raise Retryable(f"HTTP {response.status_code}", wait)
    raise Refused(f"HTTP {response.status_code}", wait)


