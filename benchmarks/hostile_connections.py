"""Connection attacks on a real ``iconiq-server serve``: memory and how long they stay open.

Starts ``iconiq-server serve`` (one process, SQLite file, rate limit off so the
attacks measure the connection limits, not the per-address limiter; loopback
only) and runs, one phase after the other:

* header   — one request whose header never ends (up to --header-mib MiB or 60 s);
* stalled  — --uploads requests declaring 1 MiB that send 1 MiB - 1 byte and stop,
             while a normal client sends ``GET /healthz`` and a gzip ``POST /v1/batch``
             (100 events) every second; then we close them and watch RSS for 30 s;
* slow     — --silent connections that send nothing, one header and one body at 1 byte/s;
* cap      — --idle silent connections, then one ``GET /healthz``.

It prints RSS (VmRSS of the server process, MB) before / peak / after each phase,
how long the server kept the hostile connections open (``open`` when still open
at the end of the --observe window) and what it answered.

    .venv/bin/python benchmarks/hostile_connections.py [--uploads 200] [--observe 40]
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support import hostile  # noqa: E402
from tests.support.server import ServerHandle, running_server  # noqa: E402


def batch_body(n: int = 100) -> bytes:
    now = int(time.time() * 1000)
    events = [
        {
            "event_id": str(uuid.uuid4()),
            "session_id": str(uuid.uuid4()),
            "install_id": str(uuid.uuid4()),
            "schema": 1,
            "command": "icon",
            "success": True,
            "timestamp": now,
            "version": "0.1.0",
            "execution_time": 1000,
            "error_type": None,
            "prompt_length": 10,
            "output_format": "png",
            "model_used": "local",
            "api_time": 0,
            "flags": ["--model"],
            "os": "linux",
            "python": "3.11",
            "ci": False,
        }
        for _ in range(n)
    ]
    return gzip.compress(json.dumps({"events": events}).encode())


class NormalClient(threading.Thread):
    """GET /healthz and POST /v1/batch every second; records statuses and latencies."""

    def __init__(self, base_url: str) -> None:
        super().__init__(daemon=True)
        self.base_url = base_url
        self.stop = threading.Event()
        self.results: list[tuple[str, int | str, float]] = []

    def run(self) -> None:
        headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
        with httpx.Client(base_url=self.base_url, timeout=10.0) as client:
            while not self.stop.is_set():
                for name in ("healthz", "batch"):
                    start = time.monotonic()
                    try:
                        if name == "healthz":
                            response = client.get("/healthz")
                        else:
                            body = batch_body()
                            response = client.post("/v1/batch", content=body, headers=headers)
                        status: int | str = response.status_code
                    except httpx.HTTPError as exc:
                        status = type(exc).__name__
                    self.results.append((name, status, time.monotonic() - start))
                self.stop.wait(1.0)

    def summary(self) -> str:
        parts = []
        for name in ("healthz", "batch"):
            rows = [r for r in self.results if r[0] == name]
            if not rows:
                continue
            counts: dict[str, int] = {}
            for _, status, _ in rows:
                counts[str(status)] = counts.get(str(status), 0) + 1
            worst = max(r[2] for r in rows)
            shown = ", ".join(f"{k}×{v}" for k, v in sorted(counts.items()))
            parts.append(f"{name}: {shown}, max {worst:.2f} s")
        return "; ".join(parts)


def fmt_open(outcomes: list[hostile.Outcome]) -> str:
    closed = [o.closed_after for o in outcomes if o.closed_after is not None]
    still = len(outcomes) - len(closed)
    statuses: dict[str, int] = {}
    for o in outcomes:
        statuses[str(o.status or "-")] = statuses.get(str(o.status or "-"), 0) + 1
    answer = ", ".join(f"{k}×{v}" for k, v in sorted(statuses.items()))
    if not closed:
        return f"all {still} open; answers {answer}"
    text = (
        f"{len(closed)} closed after {min(closed):.1f}–{max(closed):.1f} s"
        f" (median {statistics.median(closed):.1f})"
    )
    if still:
        text += f", {still} still open"
    return f"{text}; answers {answer}"


def settle(pid: int, seconds: float) -> tuple[float, float | None, float]:
    """Watch RSS for ``seconds``; (RSS at the end, first time it was within 10% of the end, min)."""
    samples = []
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        samples.append((time.monotonic() - start, hostile.rss_mb(pid)))
        time.sleep(0.5)
    end = samples[-1][1]
    first = next((t for t, mb in samples if mb <= end * 1.1), None)
    return end, first, min(mb for _, mb in samples)


def run(srv: ServerHandle, args: argparse.Namespace) -> list[tuple[str, str]]:
    port = int(srv.base_url.rsplit(":", 1)[1])
    rows: list[tuple[str, str]] = []
    warm = NormalClient(srv.base_url)
    warm.start()
    time.sleep(3)
    warm.stop.set()
    warm.join()
    base = hostile.rss_mb(srv.pid)
    rows.append(("RSS at rest (after 3 s of normal traffic)", f"{base:.0f} MB"))

    # header
    with hostile.RssSampler(srv.pid) as rss:
        out = hostile.endless_header(port, args.header_mib * hostile.MIB, 60.0)
        time.sleep(2)
    after = hostile.rss_mb(srv.pid)
    took = "still open" if out.closed_after is None else f"closed after {out.closed_after:.1f} s"
    rows.append(
        (
            "endless header",
            f"server took {out.sent / hostile.MIB:.1f} MiB, {took}, answer {out.status or '-'};"
            f" RSS peak {rss.peak:.0f} MB, 2 s after {after:.0f} MB",
        )
    )

    # stalled uploads
    normal = NormalClient(srv.base_url)
    with hostile.RssSampler(srv.pid) as rss:
        normal.start()
        start = time.monotonic()
        pairs = hostile.stalled_uploads(port, args.uploads)
        sent = sum(n for _, n in pairs) / hostile.MIB
        with hostile.closing_all(s for s, _ in pairs) as socks:
            outcomes = hostile.watch(socks, args.observe)
            held = time.monotonic() - start
            during = hostile.rss_mb(srv.pid)
        normal.stop.set()
        normal.join()
    end, first, low = settle(srv.pid, 30.0)
    rows.append(
        (
            f"{args.uploads} stalled uploads (1 MiB declared, 1 MiB - 1 sent)",
            f"sent {sent:.0f} MiB; {fmt_open(outcomes)} (observed {held:.0f} s)",
        )
    )
    rows.append(
        (
            "  RSS",
            f"peak {rss.peak:.0f} MB, at end of window {during:.0f} MB,"
            f" 30 s after we closed {end:.0f} MB (min {low:.0f})",
        )
    )
    rows.append(("  normal client meanwhile", normal.summary()))

    # slow
    silent = [hostile.silent(port) for _ in range(args.silent)]
    results: dict[str, hostile.Outcome] = {}

    def slow(name: str, data: bytes, head: bytes) -> None:
        results[name] = hostile.trickle(port, data, head=head, limit_seconds=args.observe)

    threads = [
        threading.Thread(target=slow, args=("header", hostile.SLOW_HEADER, b"")),
        threading.Thread(
            target=slow,
            args=("body", hostile.SLOW_BODY, hostile.upload_head(port, len(hostile.SLOW_BODY))),
        ),
    ]
    for t in threads:
        t.start()
    with hostile.closing_all(silent) as socks:
        silent_out = hostile.watch(socks, args.observe)
    for t in threads:
        t.join()
    rows.append((f"{args.silent} silent connections", fmt_open(silent_out)))
    rows.append(("header at 1 byte/s", fmt_open([results["header"]])))
    rows.append(("body at 1 byte/s", fmt_open([results["body"]])))

    # cap
    idle = []
    try:
        for _ in range(args.idle):
            idle.append(hostile.silent(port))
        try:
            status: int | str = httpx.get(srv.base_url + "/healthz", timeout=10).status_code
        except httpx.HTTPError as exc:
            status = type(exc).__name__
        rows.append((f"GET /healthz beside {args.idle} idle connections", str(status)))
    finally:
        for sock in idle:
            sock.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--uploads", type=int, default=200)
    parser.add_argument("--header-mib", type=int, default=200)
    parser.add_argument("--observe", type=float, default=40.0)
    parser.add_argument("--silent", type=int, default=5)
    parser.add_argument("--idle", type=int, default=1100)
    parser.add_argument("--env", action="append", default=[], help="VAR=value for the server")
    args = parser.parse_args()
    env: dict[str, Any] = dict(item.split("=", 1) for item in args.env)
    with running_server(env=env) as srv:
        rows = run(srv, args)
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key.ljust(width)}  {value}")


if __name__ == "__main__":
    main()
