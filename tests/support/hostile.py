"""Hostile HTTP clients on raw loopback sockets, and the server's memory, for tests and benchmarks.

    rss_mb(pid)                            # VmRSS of a process, in MB (from /proc)
    with RssSampler(pid) as rss: ...       # rss.peak, rss.samples while the block runs
    endless_header(port, ...)              # a header that never ends: Outcome
    stalled_uploads(port, n, ...)          # n sockets that declared a body and stopped short
    silent(port) / trickle(port, data)     # nothing at all / one byte a second
    watch(socks, limit)                    # when the server answered and closed each socket

Every helper talks to 127.0.0.1 only and is bounded in bytes and time: an
``Outcome`` says whether the server answered (its status code), when it closed
the connection (seconds since the attack started) or that it was still open
when the helper gave up (``closed_after is None``).
"""

from __future__ import annotations

import select
import selectors
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

HOST = "127.0.0.1"
MIB = 1024 * 1024


def rss_mb(pid: int) -> float:
    """Resident set size of ``pid`` in MB (VmRSS in /proc/<pid>/status)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


@dataclass
class RssSampler:
    """Samples a process's RSS every ``interval`` seconds on a thread while in ``with``."""

    pid: int
    interval: float = 0.2
    samples: list[tuple[float, float]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @property
    def peak(self) -> float:
        return max((mb for _, mb in self.samples), default=0.0)

    def _run(self) -> None:
        start = time.monotonic()
        while not self._stop.is_set():
            try:
                self.samples.append((time.monotonic() - start, rss_mb(self.pid)))
            except (OSError, RuntimeError):
                return
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


@dataclass
class Outcome:
    """What the server did with one hostile connection."""

    status: int | None = None  # the status code it answered, if any
    answered_after: float | None = None
    closed_after: float | None = None  # None: still open when we gave up
    sent: int = 0  # bytes we managed to send

    @property
    def closed(self) -> bool:
        return self.closed_after is not None


def connect(port: int, timeout: float = 10.0) -> socket.socket:
    sock = socket.create_connection((HOST, port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _status(data: bytes) -> int | None:
    head = data.split(b"\r\n", 1)[0].split()
    if len(head) >= 2 and head[0].startswith(b"HTTP/") and head[1].isdigit():
        return int(head[1])
    return None


def _read_event(sock: socket.socket, out: Outcome, start: float) -> bool:
    """Read what is there; True once the server closed the connection."""
    try:
        data = sock.recv(65536)
    except (ConnectionError, TimeoutError, OSError):
        data = b""
    now = time.monotonic() - start
    if data and out.answered_after is None:
        out.status = _status(data)
        out.answered_after = now
    if not data:
        out.closed_after = now
        return True
    return False


def upload_head(port: int, length: int, path: str = "/v1/batch") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


def endless_header(
    port: int, limit_bytes: int = 200 * MIB, limit_seconds: float = 60.0, chunk: int = 64 * 1024
) -> Outcome:
    """Send one header line that never ends until the server answers or closes (or a limit)."""
    out = Outcome()
    start = time.monotonic()
    pad = b"a" * chunk
    with connect(port) as sock:
        try:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: ")
            while out.sent < limit_bytes and time.monotonic() - start < limit_seconds:
                readable, writable, _ = select.select([sock], [sock], [], 1.0)
                if readable:
                    if _read_event(sock, out, start):
                        return out
                    continue
                if writable:
                    out.sent += sock.send(pad)
        except (ConnectionError, TimeoutError, OSError):
            pass
        _drain(sock, out, start, 5.0)
    return out


def _drain(sock: socket.socket, out: Outcome, start: float, seconds: float) -> None:
    """After our writes failed or stopped: read the answer (if any) and the close."""
    deadline = time.monotonic() + seconds
    while out.closed_after is None and time.monotonic() < deadline:
        readable, _, _ = select.select([sock], [], [], max(0.0, deadline - time.monotonic()))
        if readable and _read_event(sock, out, start):
            return


def stalled_uploads(
    port: int, count: int, declared: int = MIB, send: int = MIB - 1, threads: int = 16
) -> list[tuple[socket.socket, int]]:
    """``count`` uploads that declare ``declared`` bytes and send only ``send`` of them.

    Returns (socket, bytes sent) pairs, left open; a socket the server shut while we
    were sending is returned too (with what it took), so ``watch`` sees it closed.
    """
    body = b"x" * send

    def one(_: int) -> tuple[socket.socket, int]:
        sock = connect(port, timeout=30.0)
        head = upload_head(port, declared)
        sent = 0
        try:
            sock.sendall(head)
            view = memoryview(body)
            while sent < len(body):
                sent += sock.send(view[sent : sent + 256 * 1024])
        except (ConnectionError, TimeoutError, OSError):
            pass
        return sock, sent

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, range(count)))


def watch(socks: Iterable[socket.socket], limit_seconds: float) -> list[Outcome]:
    """Wait until the server closed every socket (or ``limit_seconds``); one Outcome each."""
    socks = list(socks)
    outcomes = [Outcome() for _ in socks]
    start = time.monotonic()
    with selectors.DefaultSelector() as sel:
        for index, sock in enumerate(socks):
            sock.setblocking(False)
            sel.register(sock, selectors.EVENT_READ, index)
        pending = len(socks)
        while pending and time.monotonic() - start < limit_seconds:
            for key, _ in sel.select(timeout=0.2):
                index = key.data
                if _read_event(socks[index], outcomes[index], start):
                    sel.unregister(socks[index])
                    pending -= 1
    return outcomes


def silent(port: int) -> socket.socket:
    """A connection that never sends a byte."""
    return connect(port)


def trickle(
    port: int, data: bytes, head: bytes = b"", interval: float = 1.0, limit_seconds: float = 40.0
) -> Outcome:
    """Send ``head`` at once, then ``data`` one byte every ``interval`` seconds, until the
    server answers or closes the connection (or ``limit_seconds``)."""
    out = Outcome()
    start = time.monotonic()
    with connect(port) as sock:
        try:
            sock.sendall(head)
            out.sent += len(head)
            for byte in data:
                if time.monotonic() - start >= limit_seconds:
                    break
                sock.sendall(bytes([byte]))
                out.sent += 1
                readable, _, _ = select.select([sock], [], [], interval)
                if readable and _read_event(sock, out, start):
                    return out
        except (ConnectionError, TimeoutError, OSError):
            pass
        _drain(sock, out, start, 2.0)
    return out


SLOW_HEADER = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"s" * 4096 + b"\r\n\r\n"
"""A request head that outlasts any sane header deadline at 1 byte/s."""

SLOW_BODY = b"[" + b" " * 4094 + b"]"
"""A body (after ``upload_head(port, len(SLOW_BODY))``) that outlasts a body deadline at 1 B/s."""


@contextmanager
def closing_all(socks: Iterable[socket.socket]) -> Iterator[list[socket.socket]]:
    socks = list(socks)
    try:
        yield socks
    finally:
        for sock in socks:
            sock.close()
