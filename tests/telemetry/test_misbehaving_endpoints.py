"""Endpoints that misbehave (a proxy with a tiny body limit, a captive portal, JSON
that is not the API's answer), then the real ``iconiq-server``: nothing is lost
while they misbehave, everything is delivered exactly once when they are fixed.

Each case runs the real CLI and a real detached flusher against ``Front``, a
small HTTP server on 127.0.0.1 that misbehaves as told or passes requests on to
a real ``iconiq-server`` subprocess.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from tests.support.chaos_proxy import _forward
from tests.support.loopback import LoopbackServer
from tests.support.server import ServerHandle, running_server, stored
from tests.telemetry.conftest import cli, fill_spool, wait_no_flusher, wait_until
from tests.telemetry.conftest import status_json as status

pytestmark = pytest.mark.slow

_NGINX_413 = (
    b"<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n"
    b"<center><h1>413 Request Entity Too Large</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)
_PORTAL = b"<!doctype html><html><body><h1>Welcome to Airport Wi-Fi</h1>Sign in</body></html>"


class Front(LoopbackServer):
    """An endpoint on 127.0.0.1 that answers per ``mode``, or passes requests upstream.

    mode = "pass"         forward to ``upstream`` (the real iconiq-server)
    mode = "413"          413 (nginx's HTML page) to every request
    mode = "html"         200 text/html: a captive portal's sign-in page
    mode = "json_shape"   200 application/json, but not the batch outcome
    mode = "json_counts"  200 with the outcome's keys, covering one event fewer than sent
    mode = "redirect"     302 to a login page
    mode = "huge"         200 application/json, 2 MiB of it

    ``max_body`` (bytes) answers 413 to larger request bodies, whatever the mode, as
    nginx's ``client_max_body_size`` would. ``sizes`` keeps each request body's size.
    """

    def __init__(self, upstream: str) -> None:
        host, port = upstream.removeprefix("http://").rsplit(":", 1)
        self.upstream = (host, int(port))
        self.mode = "pass"
        self.max_body: int | None = None
        self.counts: Counter[str] = Counter()
        self.sizes: list[int] = []
        self.lock = threading.Lock()
        super().__init__(_handler(self))


def _handler(front: Front) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

        def _send(self, status: int, body: bytes, content_type: str, **headers: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            mode = front.mode
            with front.lock:
                front.sizes.append(len(body))
                front.counts["requests"] += 1
            if front.max_body is not None and len(body) > front.max_body or mode == "413":
                with front.lock:
                    front.counts["413"] += 1
                return self._send(413, _NGINX_413, "text/html")
            if mode == "html":
                return self._send(200, _PORTAL, "text/html; charset=utf-8")
            if mode == "json_shape":
                return self._send(200, b'{"status": "ok"}', "application/json")
            if mode == "json_counts":
                sent = _events_in(body)
                answer = {"accepted": sent - 1, "duplicates": 0, "rejected": []}
                return self._send(200, json.dumps(answer).encode(), "application/json")
            if mode == "huge":
                return self._send(200, b"[" + b"0," * (1 << 20) + b"0]", "application/json")
            if mode == "redirect":
                return self._send(302, b"", "text/html", Location="http://127.0.0.1:9/login")
            status, _, headers, payload = _forward(
                front.upstream, "POST", self.path, list(self.headers.items()), body
            )
            with front.lock:
                front.counts["forwarded"] += 1
            kind = dict((k.lower(), v) for k, v in headers).get("content-type", "")
            return self._send(status, payload, kind)

    return Handler


def _events_in(body: bytes) -> int:
    import gzip

    events = json.loads(gzip.decompress(body))["events"]
    return len(events)


@pytest.fixture(scope="module")
def server() -> Iterator[ServerHandle]:
    with running_server() as srv:
        yield srv


@pytest.fixture
def front(server: ServerHandle, monkeypatch: pytest.MonkeyPatch) -> Iterator[Front]:
    with Front(server.base_url) as f:
        monkeypatch.setenv("ICONIQ_TELEMETRY_ENDPOINT", f.url)
        yield f



def spool_ids(spool: Path) -> list[str]:
    from iconiq.telemetry.spool import Spool

    with Spool(spool) as s:
        return [q.event_id for q in s.iter_all()]


def background_flush(spool: Path) -> None:
    """``iconiq telemetry flush --background``: a real detached flusher; wait for its end."""
    result = cli("telemetry", "flush", "--background")
    assert result.returncode == 0, result.stderr
    wait_no_flusher(spool)


def then_fixed_everything_arrives_once(
    front: Front, server: ServerHandle, spool: Path, ids: list[str]
) -> None:
    front.mode, front.max_body = "pass", None
    background_flush(spool)
    info = status()
    assert info["pending"] == 0 and info["last_error"] is None, info
    assert stored(server, ids) == {i: 1 for i in ids}


CASES = [
    ("413", "the server refuses request bodies of"),
    ("html", "the answer was not iconiq-server's (text/html)"),
    ("json_shape", "the answer was not iconiq-server's (JSON without the batch outcome)"),
    ("json_counts", "the answer was not iconiq-server's (it accounts for 43 of 44 events)"),
    ("redirect", "the answer was not iconiq-server's (HTTP 302 redirect)"),
    ("huge", "the answer was not iconiq-server's (an answer larger than 1048576 bytes)"),
]


@pytest.mark.parametrize(("mode", "error"), CASES)
def test_a_misbehaving_endpoint_loses_nothing(
    mode: str, error: str, front: Front, server: ServerHandle, spool_path: Path, noticed: Path
) -> None:
    fill_spool(spool_path, 43)
    front.mode = mode
    assert cli("config", "path").returncode == 0  # records the 44th event, starts a flusher
    assert wait_until(lambda: front.counts["requests"] >= 1, 30)
    wait_no_flusher(spool_path)
    info = status()
    assert info["pending"] == 44 and info["rejected"] == 0 and info["uploaded"] == 0, info
    assert isinstance(info["last_error"], str) and info["last_error"].startswith(error), info
    text = cli("telemetry", "status").stdout
    assert error in text, text
    # One request (no retry of an answer that will not change), or for 413 the halves
    # 44, 22, 11, 5, 2, 1; then it backs off: the next command records and sends nothing.
    sent = 6 if mode == "413" else 1
    assert front.counts["requests"] == sent and info["next_attempt"] is not None
    assert cli("config", "path").returncode == 0
    wait_no_flusher(spool_path)
    assert front.counts["requests"] == sent
    ids = spool_ids(spool_path)
    assert len(ids) == 45 and stored(server, ids) == {}
    then_fixed_everything_arrives_once(front, server, spool_path, ids)


def test_413_above_a_body_size_splits_until_batches_fit(
    front: Front, server: ServerHandle, spool_path: Path
) -> None:
    ids = fill_spool(spool_path, 300)
    front.max_body = 4000  # a few dozen events per request, as a tight proxy limit would
    background_flush(spool_path)
    info = status()
    assert info["pending"] == 0 and info["rejected"] == 0 and info["last_error"] is None, info
    assert front.counts["413"] >= 1 and front.counts["forwarded"] >= 2
    assert stored(server, ids) == {i: 1 for i in ids}


def test_413_for_one_event_keeps_it_and_says_the_limit(
    front: Front, server: ServerHandle, spool_path: Path
) -> None:
    ids = fill_spool(spool_path, 44)
    front.max_body = 200  # smaller than one gzip'd event: a misconfigured proxy
    background_flush(spool_path)
    info = status()
    smallest = min(front.sizes)
    assert info["pending"] == 44 and info["rejected"] == 0, info
    assert info["last_error"] == (
        f"the server refuses request bodies of {smallest} bytes (HTTP 413)"
    )
    assert front.counts["forwarded"] == 0
    then_fixed_everything_arrives_once(front, server, spool_path, ids)


_OK = {"accepted": 1, "duplicates": 1, "rejected": [{"index": 2, "error": "bad"}]}


@pytest.mark.parametrize(
    ("content_type", "answer", "detail"),
    [
        ("application/json", {**_OK, "accepted": True}, "JSON without the batch outcome"),
        ("application/json", {**_OK, "accepted": -1, "duplicates": 3}, "JSON without the"),
        ("application/json", {**_OK, "rejected": {"index": 2}}, "JSON without the"),
        ("application/json", [1, 2, 3], "JSON without the batch outcome"),
        ("application/json", {**_OK, "rejected": [{"index": 3}]}, "a rejected index that"),
        ("application/json", {**_OK, "rejected": [{"index": -1}]}, "a rejected index that"),
        ("application/json", {**_OK, "rejected": [{"index": 2}, {"index": 2}]}, "a rejected"),
        ("application/json", {**_OK, "duplicates": 0}, "it accounts for 2 of 3 events"),
        ("application/json", {**_OK, "accepted": 2}, "it accounts for 4 of 3 events"),
        ("", _OK, "no Content-Type"),
        ("text/plain", _OK, "text/plain"),
        ("text/html\x1b[31m", _OK, "text/html?[31m"),
    ],
)
def test_only_the_outcome_covering_every_event_sent_counts(
    content_type: str, answer: object, detail: str
) -> None:
    from iconiq.telemetry import transport

    assert transport.parse_outcome("application/json; charset=utf-8", json.dumps(_OK).encode(), 3)
    with pytest.raises(transport.NotTheApi) as caught:
        transport.parse_outcome(content_type, json.dumps(answer).encode(), 3)
    assert caught.value.reason.startswith(f"the answer was not iconiq-server's ({detail}")
