"""A small collection server on 127.0.0.1 for the telemetry client's tests.

It speaks the collection API of shared/design.md (``POST /v1/batch`` with gzip,
``DELETE /v1/installs/{id}``), stores each event at most once by ``event_id``,
and can misbehave on demand:

    mode = "ok"        answer 200 {"accepted", "duplicates", "rejected"}
    mode = "503"       answer 503 (an outage)
    mode = "429"       answer 429 with Retry-After: ``retry_after``
    mode = "hang"      read the request, store nothing, never answer (until stopped)
    mode = "store_hang" store the batch, then never answer (a lost acknowledgement)
    mode = "400"       answer 400

``max_events`` answers 413 to larger batches; ``reject_command`` makes events
of that command rejected; ``delay`` slows each answer. ``raw`` keeps every
decompressed request body, ``stored`` the events by id.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.loopback import LoopbackServer


class Collector(LoopbackServer):
    def __init__(self) -> None:
        self.mode = "ok"
        self.retry_after = 1
        self.max_events = 500
        self.reject_command: str | None = None
        self.delay = 0.0
        self.stored: dict[str, dict[str, Any]] = {}
        self.raw: list[bytes] = []
        self.deleted_installs: list[str] = []
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.received = threading.Event()
        self._release = threading.Event()
        super().__init__(_handler(self))

    def stopping(self) -> None:
        self._release.set()

    def wire(self) -> bytes:
        with self.lock:
            return b"\n".join(self.raw)

    def batch(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        events = body.get("events")
        if not isinstance(events, list):
            return 400, {"error": "events must be a list"}
        if len(events) > self.max_events:
            return 413, {"error": "too many events"}
        accepted, duplicates, rejected = 0, 0, []
        with self.lock:
            for i, event in enumerate(events):
                if not isinstance(event, dict) or event.get("command") == self.reject_command:
                    rejected.append({"index": i, "error": "invalid"})
                    continue
                if event["event_id"] in self.stored:
                    duplicates += 1
                else:
                    self.stored[event["event_id"]] = event
                    accepted += 1
        return 200, {"accepted": accepted, "duplicates": duplicates, "rejected": rejected}


def _handler(c: Collector) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

        def _answer(self, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:  # noqa: N802
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.headers.get("Content-Encoding") == "gzip":
                raw = gzip.decompress(raw)
            with c.lock:
                c.raw.append(raw)
                c.counts["requests"] += 1
            c.received.set()
            mode = c.mode
            if mode == "hang":
                c._release.wait()
                return
            if c.delay:
                time.sleep(c.delay)
            if mode in ("503", "400"):
                self._answer(int(mode), {"error": mode}, {})
                return
            if mode == "429":
                self._answer(429, {"error": "slow down"}, {"Retry-After": str(c.retry_after)})
                return
            status, answer = c.batch(json.loads(raw))
            with c.lock:
                c.counts[str(status)] += 1
            if mode == "store_hang":
                c._release.wait()
                return
            self._answer(status, answer, {})

        def do_DELETE(self) -> None:  # noqa: N802
            install = self.path.rsplit("/", 1)[-1]
            with c.lock:
                c.deleted_installs.append(install)
                for key in [k for k, e in c.stored.items() if e.get("install_id") == install]:
                    del c.stored[key]
            self._answer(200, {"deleted": True}, {})

    return Handler
