"""A fault-injecting HTTP proxy on 127.0.0.1, for chaos tests of telemetry delivery.

``ChaosProxy(upstream_url, faults=Faults(...), seed=7)`` listens on an ephemeral
loopback port and forwards each request to the upstream (also on loopback).
Before or after forwarding it may, with the probabilities given in ``Faults``
and a seeded random generator, inject one fault:

    error_500      answer 500 without forwarding
    rate_limit     answer 429 with ``Retry-After`` without forwarding
    too_large      answer 413 without forwarding (only to a batch of at least
                   ``too_large_min_events`` events, as a real size cap would:
                   a client splits such a batch, and one event alone always fits)
    timeout        hold the request (no answer) for ``hold_seconds``, then close
    reset          close the connection with a TCP RST before forwarding
    lost_ack       forward (the upstream stores it), then reset instead of answering
    slow_body      forward, then trickle the answer's body a few bytes at a time

``proxy.counts`` says what it did (a ``Counter`` keyed by the names above plus
``forwarded``, ``upstream_down`` and ``client_gone``). ``set_faults`` changes the mix at run
time (e.g. ``Faults()`` to let the last retries through), ``set_upstream``
points it at a restarted server. Only paths starting with one of
``fault_paths`` get faults; the rest are passed through untouched.

Run standalone: ``python tests/support/chaos_proxy.py http://127.0.0.1:8000``.
"""

from __future__ import annotations

import gzip
import http.client
import json
import random
import socket
import struct
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# Hop-by-hop headers are the proxy's own business, never forwarded.
_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "upgrade"}


@dataclass(frozen=True)
class Faults:
    """Probability of each fault per request (their sum must be at most 1)."""

    error_500: float = 0.0
    rate_limit: float = 0.0
    too_large: float = 0.0
    timeout: float = 0.0
    reset: float = 0.0
    lost_ack: float = 0.0
    slow_body: float = 0.0
    retry_after: int = 1
    too_large_min_events: int = 2
    hold_seconds: float = 30.0
    slow_chunk_delay: float = 0.05

    def table(self) -> list[tuple[str, float]]:
        return [
            ("error_500", self.error_500),
            ("rate_limit", self.rate_limit),
            ("too_large", self.too_large),
            ("timeout", self.timeout),
            ("reset", self.reset),
            ("lost_ack", self.lost_ack),
            ("slow_body", self.slow_body),
        ]


MIXED = Faults(
    error_500=0.08,
    rate_limit=0.06,
    too_large=0.04,
    timeout=0.04,
    reset=0.06,
    lost_ack=0.08,
    slow_body=0.08,
    hold_seconds=20.0,
)


class ChaosProxy:
    """A threaded fault-injecting reverse proxy; use as a context manager."""

    def __init__(
        self,
        upstream: str,
        faults: Faults | None = None,
        seed: int = 0,
        fault_paths: tuple[str, ...] = ("/v1/",),
    ) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._faults = faults or Faults()
        self._upstream = _parse(upstream)
        self._stopping = threading.Event()
        self.fault_paths = fault_paths
        self.counts: Counter[str] = Counter()
        self._server = _Server(("127.0.0.1", 0), _make_handler(self))
        self._server.proxy = self
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------
    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ChaosProxy:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> ChaosProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- control ---------------------------------------------------------
    def set_faults(self, faults: Faults) -> None:
        with self._lock:
            self._faults = faults

    def set_upstream(self, upstream: str) -> None:
        with self._lock:
            self._upstream = _parse(upstream)

    def count(self, what: str) -> None:
        with self._lock:
            self.counts[what] += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counts)

    def decide(self, path: str) -> tuple[str | None, Faults, tuple[str, int]]:
        """Pick this request's fault (or None) under the lock, with the seeded generator."""
        with self._lock:
            faults, upstream = self._faults, self._upstream
            if not path.startswith(self.fault_paths):
                return None, faults, upstream
            roll = self._rng.random()
            for name, p in faults.table():
                if roll < p:
                    return name, faults, upstream
                roll -= p
            return None, faults, upstream

    def wait_stopping(self, seconds: float) -> bool:
        return self._stopping.wait(seconds)


class _Server(ThreadingHTTPServer):
    proxy: ChaosProxy

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that went away mid-answer (killed flusher, its own timeout): count it.
        self.proxy.count("client_gone")


def _parse(url: str) -> tuple[str, int]:
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    if host not in {"127.0.0.1", "localhost", "::1"}:
        raise ValueError(f"the chaos proxy only forwards to loopback, not {host!r}")
    return host, parts.port or 80


def _make_handler(proxy: ChaosProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass  # quiet: tests read proxy.counts instead

        def _body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _simple(self, status: int, extra: dict[str, str] | None = None) -> None:
            payload = b'{"error": "injected by chaos proxy"}'
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Connection", "close")
            for key, value in (extra or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(payload)
            self.close_connection = True

        def _reset(self) -> None:
            # SO_LINGER with a zero timeout turns close() into a TCP RST.
            try:
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
            except OSError:
                pass
            self.close_connection = True

        def _handle(self) -> None:
            body = self._body()
            fault, faults, upstream = proxy.decide(self.path)
            if fault == "too_large" and _event_count(body) < faults.too_large_min_events:
                fault = None
            if fault is not None:
                proxy.count(fault)
            if fault == "error_500":
                return self._simple(500)
            if fault == "rate_limit":
                return self._simple(429, {"Retry-After": str(faults.retry_after)})
            if fault == "too_large":
                return self._simple(413)
            if fault == "timeout":
                proxy.wait_stopping(faults.hold_seconds)
                return self._reset()
            if fault == "reset":
                return self._reset()
            try:
                status, reason, headers, payload = _forward(
                    upstream, self.command, self.path, self.headers.items(), body
                )
            except OSError:
                proxy.count("upstream_down")
                return self._simple(502)
            proxy.count("forwarded")
            if fault == "lost_ack":
                return self._reset()
            self.send_response(status, reason)
            for key, value in headers:
                if key.lower() not in _HOP and key.lower() != "content-length":
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            if fault == "slow_body":
                for i in range(0, len(payload), 8):
                    self.wfile.write(payload[i : i + 8])
                    self.wfile.flush()
                    time.sleep(faults.slow_chunk_delay)
            else:
                self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle

    return Handler


def _event_count(body: bytes) -> int:
    """How many events a (maybe gzipped) ``{"events": [...]}`` body holds (1 otherwise)."""
    try:
        if body[:2] == b"\x1f\x8b":
            body = gzip.decompress(body)
        events = json.loads(body).get("events")
    except (OSError, ValueError, AttributeError, EOFError):
        return 1
    return len(events) if isinstance(events, list) else 1


def _forward(
    upstream: tuple[str, int],
    method: str,
    path: str,
    headers: list[tuple[str, str]],
    body: bytes,
) -> tuple[int, str, list[tuple[str, str]], bytes]:
    conn = http.client.HTTPConnection(upstream[0], upstream[1], timeout=30)
    try:
        sent = {k: v for k, v in headers if k.lower() not in _HOP and k.lower() != "host"}
        sent["Host"] = f"{upstream[0]}:{upstream[1]}"
        sent["Content-Length"] = str(len(body))
        conn.request(method, path, body=body if body or method != "GET" else None, headers=sent)
        resp = conn.getresponse()
        return resp.status, resp.reason, resp.getheaders(), resp.read()
    finally:
        conn.close()


__all__ = ["MIXED", "ChaosProxy", "Faults", "replace"]


if __name__ == "__main__":  # pragma: no cover - manual use
    import sys

    target = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000"
    with ChaosProxy(target, MIXED, seed=1) as p:
        print(f"chaos proxy {p.url} -> {target}", flush=True)
        try:
            while True:
                time.sleep(5)
                print(p.snapshot(), flush=True)
        except KeyboardInterrupt:
            pass
