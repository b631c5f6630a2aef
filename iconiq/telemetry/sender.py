"""The one seam between telemetry and the network: send a request, get the answer.

    Sender.send(method, url, body, headers, timeout) -> Answer(status, headers, body)

``HttpSender`` is the implementation everything uses (the detached flusher and
the ``iconiq telemetry`` commands): HTTP/1.1 written over a ``socket``, one
keep-alive connection per server, TLS set up only for an ``https://`` URL (the
CA bundle is certifi's, as httpx would use). It is chosen for CPU, which the
flusher pays on every run: importing httpx costs a process about 160 ms here (it
loads its own command-line module, and with it click, rich and pygments) and
``httpx.Client()`` loads the CA bundle even for ``http://``; ``http.client``
imports ``email.parser`` and ``ssl`` whatever the URL, about 40 ms of the
flusher's ~85 ms, against ~11 ms for ``socket`` (docs/telemetry.md, "What it
costs"). What it speaks is the small part of HTTP/1.1 a request and its answer
need: a status line, headers, a body by ``Content-Length``, chunks or the end of
the connection, each bounded as ``http.client`` bounds them (a line, 100
headers, ``max_answer`` bytes). Tests may pass any object with this ``send``
method instead.

What the sender knows about is the wire only; what an answer *means* (2xx
outcome, 413, retries) is decided above it, in ``iconiq.telemetry.transport``.
Failures to get any answer are drawn as:

    NetworkError        ``kind``: "timeout", "connection failed", "tls error", "network error"
"""

from __future__ import annotations

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
    """HTTP/1.1 over a plain socket (TLS for ``https://``) behind the ``Sender`` seam: one
    keep-alive connection per server. Use as a context manager."""

    def __init__(self, max_answer: int = MAX_ANSWER_BYTES) -> None:
        self.max_answer = max_answer
        self._sock: socket.socket | None = None
        self._key: tuple[str, str, int] | None = None
        self._buf = b""  # bytes read past the last answer (none from a well-behaved server)
        self._tls: ssl.SSLContext | None = None

    def __enter__(self) -> HttpSender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
        self._sock, self._key, self._buf = None, None, b""

    def send(
        self, method: str, url: str, body: bytes | None, headers: dict[str, str], timeout: float
    ) -> Answer:
        """One request; ``timeout`` bounds each socket operation (connect: at most 5 s)."""
        key, target = _split(url)
        request = _request(method, key, target, body, headers)
        reused = self._sock is not None and self._key == key
        for attempt in (1, 2):
            sock = self._connection(key, timeout)
            try:
                sock.sendall(request)
                return self._answer(sock, method)
            except (_Closed, ConnectionResetError, BrokenPipeError) as exc:
                self.close()
                if attempt == 1 and reused:  # a kept-alive connection the server had closed
                    continue
                raise NetworkError("network error") from exc
            except NetworkError:
                self.close()
                raise
            except BaseException as exc:
                self.close()
                if isinstance(exc, Exception):
                    raise NetworkError(_kind(exc)) from exc
                raise
        raise NetworkError("network error")

    def _answer(self, sock: socket.socket, method: str) -> Answer:
        reader = _Reader(sock, self._buf)
        while True:  # interim (1xx) answers are skipped
            version, status = _status_line(reader.line())
            headers = reader.headers()
            if not 100 <= status < 200:
                break
        limit = self.max_answer + 1
        length = headers.get("content-length", "").strip()
        bounded = True  # the answer's end is known without closing the connection
        if method == "HEAD" or status in (204, 304):
            data = b""
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            data = reader.chunked(limit)
        elif length.isdigit():
            data = reader.exact(min(int(length), limit))
        else:  # the answer ends when the server closes the connection
            data, bounded = reader.until_close(limit), False
        keep = (
            bounded
            and len(data) < limit
            and "close" not in headers.get("connection", "").lower()
            and (version != "HTTP/1.0" or "keep-alive" in headers.get("connection", "").lower())
        )
        if keep:
            self._buf = reader.rest()
        else:
            self.close()  # the rest is not read: never reuse this connection
        return Answer(status, headers, data[: self.max_answer + 1])

    def _connection(self, key: tuple[str, str, int], timeout: float) -> socket.socket:
        if self._sock is not None and self._key == key:
            self._sock.settimeout(timeout)
            return self._sock
        self.close()
        scheme, host, port = key
        try:
            sock = socket.create_connection((host, port), timeout=min(timeout, CONNECT_TIMEOUT_S))
        except Exception as exc:  # noqa: BLE001 - drawn as a NetworkError
            raise NetworkError(_kind(exc, connecting=True)) from exc
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if scheme == "https":
                sock = self._tls_context().wrap_socket(sock, server_hostname=host)
        except Exception as exc:  # noqa: BLE001 - drawn as a NetworkError
            sock.close()
            raise NetworkError(_kind(exc, connecting=True)) from exc
        sock.settimeout(timeout)
        self._sock, self._key, self._buf = sock, key, b""
        return sock

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


# What an answer may hold before it is not an answer (as ``http.client`` bounds it).
MAX_LINE = 65536
MAX_HEADERS = 100
_PORTS = {"http": 80, "https": 443}


class _Closed(Exception):
    """The server closed the connection before the first byte of its answer."""


def _split(url: str) -> tuple[tuple[str, str, int], str]:
    """((scheme, host, port), request target) of an http(s) URL, or NetworkError."""
    try:
        parts = urlsplit(url)
        scheme, host, port = parts.scheme, parts.hostname or "", parts.port
    except ValueError:
        raise NetworkError("network error") from None
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if scheme not in _PORTS or not host or any(c <= " " or c == "\x7f" for c in target):
        raise NetworkError("network error")
    return (scheme, host, port or _PORTS[scheme]), target


def _request(
    method: str, key: tuple[str, str, int], target: str, body: bytes | None, headers: dict[str, str]
) -> bytes:
    scheme, host, port = key
    name = f"[{host}]" if ":" in host else host
    if port != _PORTS[scheme]:
        name += f":{port}"
    lines = [f"{method} {target} HTTP/1.1", f"Host: {name}", "Accept-Encoding: identity"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body is not None or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body or b'')}")
    head = "\r\n".join(lines) + "\r\n\r\n"
    if any(c in "\r\n\0" for c in "".join(f"{k}{v}" for k, v in headers.items())):
        raise NetworkError("network error")  # never a header an answer could smuggle
    return head.encode("latin-1") + (body or b"")


def _status_line(line: bytes) -> tuple[str, int]:
    parts = line.decode("latin-1").split(None, 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise NetworkError("network error")
    status = int(parts[1])
    if not 100 <= status <= 999:
        raise NetworkError("network error")
    return parts[0], status


class _Reader:
    """Buffered reads of one answer, bounded everywhere (lines, headers, body)."""

    def __init__(self, sock: socket.socket, buf: bytes) -> None:
        self.sock = sock
        self.buf = bytearray(buf)
        self.started = bool(buf)

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        if not chunk:
            return False
        self.buf += chunk
        self.started = True
        return True

    def rest(self) -> bytes:
        return bytes(self.buf)

    def line(self) -> bytes:
        while True:
            end = self.buf.find(b"\n")
            if end >= 0:
                out = bytes(self.buf[: end + 1])
                del self.buf[: end + 1]
                return out
            if len(self.buf) > MAX_LINE:
                raise NetworkError("network error")
            if not self._fill():
                if not self.started:
                    raise _Closed
                raise NetworkError("network error")  # closed mid-line

    def headers(self) -> dict[str, str]:
        """The header lines up to the blank one (names in lower case; the last of a
        repeated name wins)."""
        found: dict[str, str] = {}
        for _ in range(MAX_HEADERS + 1):
            line = self.line()
            if line in (b"\r\n", b"\n"):
                return found
            name, sep, value = line.decode("latin-1").partition(":")
            if sep:
                found[name.strip().lower()] = value.strip()
        raise NetworkError("network error")  # more than MAX_HEADERS headers

    def exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            if not self._fill():
                raise NetworkError("network error")  # the body was cut short
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def until_close(self, limit: int) -> bytes:
        while len(self.buf) < limit and self._fill():
            pass
        return self.exact(min(len(self.buf), limit))

    def chunked(self, limit: int) -> bytes:
        """A chunked body, at most ``limit`` bytes (then cut: the caller closes)."""
        out = bytearray()
        while len(out) < limit:
            size_text = self.line().split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise NetworkError("network error") from None
            if size == 0:
                while self.line() not in (b"\r\n", b"\n"):  # trailers
                    pass
                return bytes(out)
            out += self.exact(min(size, limit - len(out)))
            if len(out) >= limit:
                break
            self.exact(2)  # the chunk's CRLF
        return bytes(out)


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
