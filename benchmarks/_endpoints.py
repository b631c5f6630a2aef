"""Loopback endpoints for the peer benchmarks: up, refused, black-holed.

- ``Collector``: answers every POST with 200 and counts the events it received,
  per SDK, by their unique id (iconiq ``event_id``, posthog ``uuid``, segment
  ``messageId``, the seed's ``session_id``), so a repeated delivery is visible.
- ``closed_port()``: a loopback port nothing listens on (connection refused).
- ``BlackHole``: a listening socket that accepts connections and never answers.

Nothing here talks to anything but 127.0.0.1.
"""

from __future__ import annotations

import gzip
import json
import socket
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def _ids(path: str, body: Any) -> tuple[str, list[str]]:
    """(sdk, event ids) of one request body."""
    if isinstance(body, dict) and isinstance(body.get("events"), list):
        return "iconiq", [str(e.get("event_id")) for e in body["events"]]
    if isinstance(body, dict) and isinstance(body.get("batch"), list):
        if path.startswith("/v1/batch"):
            return "segment", [str(e.get("messageId")) for e in body["batch"]]
        return "posthog", [str(e.get("uuid")) for e in body["batch"]]
    if isinstance(body, dict) and path.startswith("/v1/track"):
        return "seed", [str(body.get("session_id"))]
    return "other", []


class Collector:
    """A permissive collection server on 127.0.0.1 that counts what arrives."""

    def __init__(self, port: int = 0) -> None:
        self.lock = threading.Lock()
        self.received: Counter[str] = Counter()  # sdk -> events received (with repeats)
        self.unique: dict[str, set[str]] = {}
        collector = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    if self.headers.get("Content-Encoding") == "gzip" or raw[:2] == b"\x1f\x8b":
                        raw = gzip.decompress(raw)
                    body = json.loads(raw or b"null")
                except (OSError, ValueError):
                    body = None
                sdk, ids = _ids(self.path, body)
                with collector.lock:
                    collector.received[sdk] += len(ids)
                    collector.unique.setdefault(sdk, set()).update(ids)
                if sdk == "iconiq":
                    answer: dict[str, Any] = {"accepted": len(ids), "duplicates": 0, "rejected": []}
                else:
                    answer = {"status": 1, "ok": True}
                payload = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:  # noqa: N802
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def count(self, sdk: str) -> tuple[int, int]:
        """(unique events, events received including repeats) for one SDK."""
        with self.lock:
            return len(self.unique.get(sdk, ())), self.received[sdk]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def closed_port() -> int:
    """A loopback port that was free a moment ago: connecting to it is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class BlackHole:
    """Accepts TCP connections on 127.0.0.1 and never sends a byte back."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(512)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self._held: list[socket.socket] = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self._held.append(conn)

    def close(self) -> None:
        self._closed = True
        self.sock.close()
        for conn in self._held:
            conn.close()
