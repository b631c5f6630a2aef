"""Talking to the collection server (``POST /v1/batch``, ``DELETE /v1/installs/{id}``).

Only the flusher and the ``iconiq telemetry`` commands import this. The
network is reached through one seam, ``iconiq.telemetry.sender`` (``send(method,
url, body, headers, timeout) -> Answer``; ``client()`` makes the standard one);
what an answer means is decided here, once, for every caller. Errors are drawn as:

    SendError                 any failure to deliver; ``reason`` is a short category
    ├── Retryable             408, 429, 5xx, timeouts, connection and TLS errors
    │                         (``retry_after`` seconds when the server said so)
    ├── TooLarge              413: split the batch and try the halves (``size`` bytes sent)
    ├── NotTheApi             an answer that is not iconiq-server's outcome: a 2xx that
    │                         does not parse as the outcome covering exactly the events
    │                         sent (an HTML page from a captive portal or a proxy), a 3xx
    └── Refused               other 4xx, or an endpoint we will not talk to

Only ``post_batch`` returning an ``Outcome`` lets events leave the spool; every
``SendError`` keeps them. ``reason`` is stored in the spool and shown by
``iconiq telemetry status``: whatever came from the network in it is made
printable and short first.
"""

from __future__ import annotations

import gzip
import json
import time
from typing import TYPE_CHECKING

from iconiq import __version__
from iconiq.telemetry.decision import endpoint_problem
from iconiq.telemetry.sender import MAX_ANSWER_BYTES, HttpSender, NetworkError, Sender

if TYPE_CHECKING:
    from typing import TypeGuard

# Each socket operation (send, wait for the answer); connecting: at most 5 s.
TIMEOUT_S = 15.0
USER_AGENT = f"iconiq/{__version__}"
RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
NOT_THE_API = "the answer was not iconiq-server's"


class SendError(Exception):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class Retryable(SendError):
    pass


class TooLarge(SendError):
    def __init__(self, size: int) -> None:
        super().__init__(f"the server refuses request bodies of {size} bytes (HTTP 413)")
        self.size = size


class NotTheApi(SendError):
    def __init__(self, detail: str) -> None:
        super().__init__(f"{NOT_THE_API} ({printable(detail)})")


class Refused(SendError):
    pass


class Outcome:
    """What the server did with one batch (a plain class: ``dataclasses`` costs the
    flusher ~9 ms of CPU to import). Every event sent that is neither a duplicate nor
    rejected was accepted."""

    __slots__ = ("duplicates", "rejected", "first_rejection")

    def __init__(
        self,
        duplicates: int = 0,
        rejected: list[int] | None = None,
        first_rejection: str | None = None,
    ) -> None:
        self.duplicates = duplicates
        self.rejected = [] if rejected is None else rejected
        # The server's message for the first rejected event (printable, short).
        self.first_rejection = first_rejection

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Outcome):
            return NotImplemented
        mine = (self.duplicates, self.rejected, self.first_rejection)
        return mine == (other.duplicates, other.rejected, other.first_rejection)

    def __repr__(self) -> str:
        return (
            f"Outcome(duplicates={self.duplicates}, rejected={self.rejected},"
            f" first_rejection={self.first_rejection!r})"
        )


def printable(text: str, limit: int = 80) -> str:
    """``text`` from the network, safe to store and show: no control characters, short."""
    clean = "".join(c if c.isprintable() else "?" for c in text[: limit + 1])
    return clean if len(clean) <= limit else clean[: limit - 3] + "..."


def client() -> HttpSender:
    """The standard sender (HTTP/1.1 on a socket; never follows redirects). A context manager."""
    return HttpSender()


def retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime  # ~10 ms of import: only for a date

    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def encode(bodies: list[str]) -> bytes:
    """The gzip'd ``{"events": [...]}`` body made of the spooled JSON texts as they are."""
    return gzip.compress(('{"events":[' + ",".join(bodies) + "]}").encode(), compresslevel=5)


def _send(
    http: Sender, method: str, url: str, body: bytes | None, headers: dict[str, str]
) -> tuple[int, dict[str, str], bytes]:
    try:
        answer = http.send(method, url, body, {"User-Agent": USER_AGENT, **headers}, TIMEOUT_S)
    except NetworkError as exc:
        raise Retryable(exc.kind) from exc
    return answer.status, answer.headers, answer.body


def post_batch(http: Sender, base_url: str, bodies: list[str]) -> Outcome:
    """Send one batch; return what the server did with it, or raise a ``SendError``."""
    problem = endpoint_problem(base_url)
    if problem:
        raise Refused(problem)
    body = encode(bodies)
    headers = {
        "Content-Type": "application/json",
        "Content-Encoding": "gzip",
        "Accept": "application/json",
    }
    status, answer_headers, raw = _send(http, "POST", f"{base_url}/v1/batch", body, headers)
    if not 200 <= status < 300:
        raise _failure(status, answer_headers, len(body))
    if len(raw) > MAX_ANSWER_BYTES:
        raise NotTheApi(f"an answer larger than {MAX_ANSWER_BYTES} bytes")
    return parse_outcome(answer_headers.get("content-type", ""), raw, len(bodies))


def _failure(status: int, headers: dict[str, str], size: int | None) -> SendError:
    """What an answer other than 2xx means, for every request: the error to raise
    (a 413 is ``TooLarge`` only for a request that sent a body of ``size`` bytes)."""
    wait = retry_after(headers.get("retry-after"))
    if status == 413 and size is not None:
        return TooLarge(size)
    if status in RETRYABLE_STATUS or status >= 500:
        return Retryable(f"HTTP {status}", wait)
    if 300 <= status < 400:
        return NotTheApi(f"HTTP {status} redirect")
    return Refused(f"HTTP {status}", wait)


def parse_outcome(content_type: str, raw: bytes, sent: int) -> Outcome:
    """The batch outcome in a 2xx answer to ``sent`` events, or ``NotTheApi``.

    It must be a JSON object ``{"accepted": n, "duplicates": n, "rejected": [{"index": i,
    ...}]}`` whose counts cover exactly the events sent, each index valid and unique.
    """
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind != "application/json":
        raise NotTheApi(kind or "no Content-Type")
    try:
        data = json.loads(raw)
    except ValueError:
        raise NotTheApi("invalid JSON") from None
    if not isinstance(data, dict):
        raise NotTheApi("JSON without the batch outcome")
    accepted, duplicates, items = data.get("accepted"), data.get("duplicates"), data.get("rejected")
    if not (_count(accepted) and _count(duplicates) and isinstance(items, list)):
        raise NotTheApi("JSON without the batch outcome")
    rejected: list[int] = []
    first: str | None = None
    for item in items:
        index = item.get("index") if isinstance(item, dict) else None
        if not _count(index) or index >= sent or index in rejected:
            raise NotTheApi("a rejected index that was not sent")
        rejected.append(index)
        if first is None and isinstance(item, dict) and isinstance(item.get("error"), str):
            first = printable(item["error"])
    covered = accepted + duplicates + len(rejected)
    if covered != sent:
        raise NotTheApi(f"it accounts for {covered} of {sent} events")
    return Outcome(duplicates, sorted(rejected), first)


def _count(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def delete_install(http: Sender, base_url: str, install_id: str) -> None:
    """Ask the server to erase every event of this install (any 2xx is success)."""
    problem = endpoint_problem(base_url)
    if problem:
        raise Refused(problem)
    status, headers, _ = _send(http, "DELETE", f"{base_url}/v1/installs/{install_id}", None, {})
    if not 200 <= status < 300:
        raise _failure(status, headers, None)
