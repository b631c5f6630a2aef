"""The one seam between telemetry and the network: send a request, get the answer.

    Sender.send(method, url, body, headers, timeout) -> Answer(status, headers, body)

``HttpSender`` is the implementation everything uses (the detached flusher and
the ``iconiq telemetry`` commands): the standard library's ``http.client``, one
keep-alive connection per server, TLS set up only for an ``https://`` URL (the
CA bundle is certifi's, as httpx would use). It is chosen over httpx for CPU:
importing httpx costs a process about 160 ms of CPU here (it loads its own
command-line module, and with it click, rich and pygments) and ``httpx.Client()``
loads the CA bundle even for ``http://`` (see docs/telemetry.md, "What it
costs"); ``http.client`` costs about 30 ms. Tests may pass any object with this
``send`` method instead.

What the sender knows about is the wire only; what an answer *means* (2xx
outcome, 413, retries) is decided above it, in ``iconiq.telemetry.transport``.
Failures to get any answer are drawn as:

    NetworkError        ``kind``: "timeout", "connection failed", "tls error", "network error"
"""

from __future__ import annotations

import http.client
import socket
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import ssl

# Answer bodies are read up to this many bytes; anything longer is cut there (the
# caller sees len(body) > max_answer and treats it as not the API's answer). The
# outcome of 500 events, each rejected with a message, is well under this.
MAX_ANSWER_BYTES = 1 << 20
CONNECT_TIMEOUT_S = 5.0


class NetworkError(Exception):
    """No answer: the request could not be sent or the answer not read."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class Answer:
    """An HTTP answer: status, headers (names in lower case), body (bounded)."""

    __slots__ = ("status", "headers", "body")

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def __repr__(self) -> str:
        return f"Answer(status={self.status}, {len(self.body)} bytes)"


class Sender(Protocol):
    def send(
        self, method: str, url: str, body: bytes | None, headers: dict[str, str], timeout: float
    ) -> Answer: ...

    def close(self) -> None: ...


class HttpSender:
    """``http.client`` behind the ``Sender`` seam; use as a context manager."""

    def __init__(self, max_answer: int = MAX_ANSWER_BYTES) -> None:
        self.max_answer = max_answer
        self._conn: http.client.HTTPConnection | None = None
        self._key: tuple[str, str, int | None] | None = None
        self._tls: ssl.SSLContext | None = None

    def __enter__(self) -> HttpSender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn, self._key = None, None

    def send(
        self, method: str, url: str, body: bytes | None, headers: dict[str, str], timeout: float
    ) -> Answer:
        """One request; ``timeout`` bounds each socket operation (connect: at most 5 s)."""
        try:
            parts = urlsplit(url)
            key = (parts.scheme, parts.hostname or "", parts.port)
        except ValueError:
            raise NetworkError("network error") from None
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        reused = self._conn is not None and self._key == key
        for attempt in (1, 2):
            conn = self._connection(key, timeout)
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read(self.max_answer + 1)
                if len(data) > self.max_answer or response.will_close:
                    self.close()  # the rest is not read: never reuse this connection
                return Answer(
                    response.status, {k.lower(): v for k, v in response.getheaders()}, data
                )
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                self.close()
                if attempt == 1 and reused:  # a kept-alive connection the server had closed
                    continue
                raise NetworkError("network error") from exc
            except BaseException as exc:
                self.close()
                if isinstance(exc, Exception):
                    raise NetworkError(_kind(exc)) from exc
                raise
        raise NetworkError("network error")

    def _connection(
        self, key: tuple[str, str, int | None], timeout: float
    ) -> http.client.HTTPConnection:
        if self._conn is not None and self._key == key:
            self._conn.timeout = timeout
            if self._conn.sock is not None:
                self._conn.sock.settimeout(timeout)
            return self._conn
        self.close()
        scheme, host, port = key
        connect = min(timeout, CONNECT_TIMEOUT_S)
        conn: http.client.HTTPConnection
        try:
            if scheme == "https":
                conn = http.client.HTTPSConnection(
                    host, port, timeout=connect, context=self._tls_context()
                )
            elif scheme == "http":
                conn = http.client.HTTPConnection(host, port, timeout=connect)
            else:
                raise NetworkError("network error")
            conn.connect()
        except NetworkError:
            raise
        except Exception as exc:  # noqa: BLE001 - drawn as a NetworkError
            raise NetworkError(_kind(exc, connecting=True)) from exc
        if conn.sock is not None:
            conn.sock.settimeout(timeout)
        conn.timeout = timeout
        self._conn, self._key = conn, key
        return conn

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            import ssl

            try:
                import certifi

                cafile: str | None = certifi.where()
            except ImportError:
                cafile = None
            self._tls = ssl.create_default_context(cafile=cafile)
        return self._tls


def _kind(exc: BaseException, connecting: bool = False) -> str:
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timeout"
    name = type(exc).__name__.lower()
    text = str(exc).lower()
    if "ssl" in name or "certificate" in name or "ssl" in text or "certificate" in text:
        return "tls error"
    if connecting and isinstance(exc, OSError):
        return "connection failed"
    if isinstance(exc, ConnectionRefusedError):
        return "connection failed"
    return "network error"
