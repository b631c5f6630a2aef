"""The chaos proxy itself, against a trivial upstream on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tests.support.chaos_proxy import MIXED, ChaosProxy, Faults


class Upstream:
    """Answers every request with a JSON echo and remembers the bodies it saw."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                upstream.bodies.append(body)
                payload = json.dumps(
                    {"path": self.path, "len": len(body), "pad": "x" * 200,
                     "encoding": self.headers.get("Content-Encoding")}
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("X-Upstream", "yes")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def upstream() -> Iterator[Upstream]:
    up = Upstream()
    yield up
    up.close()


_CLIENT = httpx.Client(timeout=5.0, trust_env=False)


def _post(url: str, timeout: float = 5.0) -> httpx.Response:
    return _CLIENT.post(
        url + "/v1/batch",
        content=b'{"events": []}',
        headers={"Content-Encoding": "gzip"},
        timeout=timeout,
    )


def test_no_faults_passes_requests_through(upstream: Upstream) -> None:
    with ChaosProxy(upstream.url) as proxy:
        resp = _post(proxy.url)
    assert resp.status_code == 200
    assert resp.headers["X-Upstream"] == "yes"
    assert resp.json()["path"] == "/v1/batch"
    assert resp.json()["encoding"] == "gzip"
    assert upstream.bodies == [b'{"events": []}']
    assert proxy.snapshot() == {"forwarded": 1}


@pytest.mark.parametrize(
    ("faults", "status"),
    [(Faults(error_500=1), 500), (Faults(rate_limit=1, retry_after=7), 429),
     (Faults(too_large=1, too_large_min_events=0), 413)],
)
def test_error_answers_never_reach_the_upstream(
    upstream: Upstream, faults: Faults, status: int
) -> None:
    with ChaosProxy(upstream.url, faults) as proxy:
        resp = _post(proxy.url)
    assert resp.status_code == status
    if status == 429:
        assert resp.headers["Retry-After"] == "7"
    assert upstream.bodies == []
    assert sum(proxy.snapshot().values()) == 1


def test_too_large_only_for_batches_a_client_can_split(upstream: Upstream) -> None:
    import gzip
    import json

    two = gzip.compress(json.dumps({"events": [{"a": 1}, {"a": 2}]}).encode())
    one = gzip.compress(json.dumps({"events": [{"a": 1}]}).encode())
    with ChaosProxy(upstream.url, Faults(too_large=1)) as proxy:
        assert _CLIENT.post(proxy.url + "/v1/batch", content=two).status_code == 413
        assert _CLIENT.post(proxy.url + "/v1/batch", content=one).status_code == 200
    assert proxy.snapshot() == {"too_large": 1, "forwarded": 1}


def test_reset_breaks_the_connection_before_forwarding(upstream: Upstream) -> None:
    with ChaosProxy(upstream.url, Faults(reset=1)) as proxy:
        with pytest.raises(httpx.TransportError):
            _post(proxy.url)
    assert upstream.bodies == []
    assert proxy.snapshot() == {"reset": 1}


def test_lost_ack_stores_upstream_but_the_client_sees_an_error(upstream: Upstream) -> None:
    with ChaosProxy(upstream.url, Faults(lost_ack=1)) as proxy:
        with pytest.raises(httpx.TransportError):
            _post(proxy.url)
    assert upstream.bodies == [b'{"events": []}']
    assert proxy.snapshot() == {"lost_ack": 1, "forwarded": 1}


def test_timeout_holds_the_request_past_the_client_timeout(upstream: Upstream) -> None:
    with ChaosProxy(upstream.url, Faults(timeout=1, hold_seconds=3)) as proxy:
        started = time.perf_counter()
        with pytest.raises(httpx.ReadTimeout):
            _post(proxy.url, timeout=0.3)
        assert 0.25 < time.perf_counter() - started < 2.5
    assert upstream.bodies == []


def test_slow_body_trickles_the_whole_answer(upstream: Upstream) -> None:
    with ChaosProxy(upstream.url, Faults(slow_body=1, slow_chunk_delay=0.01)) as proxy:
        started = time.perf_counter()
        resp = _post(proxy.url)
        elapsed = time.perf_counter() - started
    assert resp.status_code == 200 and resp.json()["path"] == "/v1/batch"
    # ~250 bytes in 8-byte chunks, 10 ms apart.
    assert elapsed > 0.2
    assert proxy.snapshot() == {"slow_body": 1, "forwarded": 1}


def test_faults_only_on_fault_paths(upstream: Upstream) -> None:
    with ChaosProxy(upstream.url, Faults(error_500=1)) as proxy:
        with httpx.Client(trust_env=False) as client:
            assert client.get(proxy.url + "/healthz").status_code == 200
            assert client.post(proxy.url + "/v1/track", content=b"{}").status_code == 500


def test_same_seed_same_faults(upstream: Upstream) -> None:
    def run(seed: int) -> list[int]:
        statuses = []
        with ChaosProxy(upstream.url, Faults(error_500=0.3, rate_limit=0.3), seed=seed) as p:
            for _ in range(30):
                statuses.append(_post(p.url).status_code)
        return statuses

    first, again, other = run(11), run(11), run(12)
    assert first == again
    assert first != other
    assert {200, 429, 500} <= set(first)


def test_mixed_faults_counts_add_up(upstream: Upstream) -> None:
    n = 200
    with ChaosProxy(upstream.url, Faults(error_500=0.2, rate_limit=0.2, reset=0.2), seed=3) as p:
        outcomes = 0
        for _ in range(n):
            try:
                _post(p.url)
            except httpx.TransportError:
                pass
            outcomes += 1
        counts = p.snapshot()
    assert counts["error_500"] + counts["rate_limit"] + counts["reset"] + counts["forwarded"] == n
    assert len(upstream.bodies) == counts["forwarded"]
    for name in ("error_500", "rate_limit", "reset", "forwarded"):
        assert 15 < counts[name] < 100, counts


def test_upstream_down_is_a_502_and_set_upstream_recovers(upstream: Upstream) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    with ChaosProxy(closed) as proxy:
        assert _post(proxy.url).status_code == 502
        proxy.set_upstream(upstream.url)
        assert _post(proxy.url).status_code == 200
    assert proxy.snapshot() == {"upstream_down": 1, "forwarded": 1}


def test_only_loopback_upstreams() -> None:
    with pytest.raises(ValueError, match="loopback"):
        ChaosProxy("http://example.com:80")


def test_mixed_preset_is_a_valid_distribution() -> None:
    assert 0 < sum(p for _, p in MIXED.table()) < 1
