"""Ingest throughput of iconiq-server over HTTP, beside the raw insert rate of the same database.

For each database (SQLite file; PostgreSQL on 127.0.0.1:5432, a fresh database),
each schema and each batch size (100, 500):

* raw    — the store's exactly-once insert of pre-validated events, called directly
           in this process by as many threads as there are HTTP clients (no HTTP,
           no JSON, no validation);
* http   — a real ``iconiq-server serve`` subprocess (one uvicorn process)
           receiving gzip ``POST /v1/batch`` requests from several client threads
           (``--workers N``: N server processes on one socket). The bodies are built
           and gzipped before the clock starts and sent with ``http.client`` (the
           load generator runs on the same cores as the server; keep its CPU small).
           The server's periodic rollup fold is off during the run
           (``ICONIQ_FOLD_INTERVAL=0``), as the raw run does not fold either: the fold's
           cost is its own column.

Schemas: ``full`` is what a server runs (core tables plus the analytics
triggers, which append every insert to ``an_pending``; the server folds it into
the rollups every few seconds); ``core`` leaves out the analytics migrations, to
show the collection path's own overhead. ``fold ev/s``: after the raw run, the
rate of the one ``rollups.fold`` that applies all its events to the rollups.
The ratio http/raw is the figure (target >= 60%). Then the latency of
``POST /v1/track`` at a fixed request rate (open loop; latency counted from the
scheduled send time), p50/p99.

    .venv/bin/python benchmarks/ingest.py [--events 20000] [--clients 4] [--rate 50]
        [--seconds 5] [--no-postgres] [--no-sqlite] [--schema full|core|both]
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from iconiq.server.analytics import rollups  # noqa: E402
from iconiq.server.events import Event, Row  # noqa: E402
from iconiq.server.storage.base import open_store  # noqa: E402
from iconiq.server.storage.migrations import (  # noqa: E402
    Migration,
    migrate_postgres,
    migrate_sqlite,
)
from iconiq.server.storage.migrations import postgres as pg_migrations  # noqa: E402
from iconiq.server.storage.migrations import sqlite as sqlite_migrations  # noqa: E402
from tests.support.pg import fresh_database  # noqa: E402
from tests.support.server import running_server  # noqa: E402

# Schema "core": every server process (workers too) leaves the analytics migrations out,
# through a sitecustomize module on PYTHONPATH.
CORE_SITE = (
    "from iconiq.server.storage.migrations import postgres, sqlite\n"
    "for m in (postgres, sqlite):\n"
    "    m.MIGRATIONS[:] = [x for x in m.MIGRATIONS if not x.name.startswith('analytics_')]\n"
)


def make_event(now: int) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "session_id": str(uuid.uuid4()),
        "install_id": str(uuid.uuid4()),
        "schema": 1,
        "command": "icon",
        "success": True,
        "timestamp": now,
        "version": "0.1.0",
        "execution_time": 2345,
        "error_type": None,
        "prompt_length": 48,
        "output_format": "png",
        "model_used": "dall-e-3",
        "api_time": 2100,
        "flags": ["--prompt", "--model", "--size"],
        "os": "linux",
        "python": "3.11",
        "ci": False,
    }


def events(n: int) -> list[dict[str, Any]]:
    now = int(time.time() * 1000)
    return [make_event(now) for _ in range(n)]


def parallel(jobs: list[Any], clients: int, work: Callable[[Any], None]) -> float:
    """Run ``work`` over ``jobs`` with ``clients`` threads; return the elapsed seconds."""
    lock = threading.Lock()
    queue = list(reversed(jobs))
    errors: list[BaseException] = []

    def worker() -> None:
        while True:
            with lock:
                if not queue or errors:
                    return
                job = queue.pop()
            try:
                work(job)
            except BaseException as exc:  # noqa: BLE001 - reported after the run
                errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise SystemExit(f"benchmark failed: {type(errors[0]).__name__}: {errors[0]}")
    return time.perf_counter() - start


def core(migrations: list[Migration]) -> list[Migration]:
    """The storage migrations without the analytics ones."""
    return [m for m in migrations if not m.name.startswith("analytics_")]


def open_migrated(url: str, schema: str, pool: int) -> Any:
    store = open_store(url, pool_size=pool)
    if schema == "full":
        store.migrate()
    else:
        with store.connection() as conn:
            if store.dialect == "postgres":
                migrate_postgres(conn, core(pg_migrations.MIGRATIONS))
            else:
                migrate_sqlite(conn, core(sqlite_migrations.MIGRATIONS))
    return store


def raw_rate(url: str, schema: str, n: int, batch: int, clients: int) -> tuple[float, float]:
    """Events/s of the store's own insert, called by as many threads as HTTP clients, and
    (schema full) events/s of the one fold that then applies them to the rollups."""
    store = open_migrated(url, schema, clients + 1)
    received = int(time.time() * 1000)
    rows = [Row(Event.model_validate(e), None, received) for e in events(n + batch)]
    store.insert(rows[:batch])  # warm-up (connections, partition)
    chunks = [rows[i : i + batch] for i in range(batch, n + batch, batch)]
    elapsed = parallel(chunks, clients, lambda chunk: store.insert(chunk))
    folded = 0.0
    if schema == "full":
        started = time.perf_counter()
        with store.db() as db:
            applied = rollups.fold(db)
        folded = applied / (time.perf_counter() - started)
    store.close()
    return n / elapsed, folded


def http_rate(base_url: str, n: int, batch: int, clients: int) -> float:
    """Events/s of ``POST /v1/batch``. The gzip bodies are built before the clock starts,
    and each client thread sends them with the standard library's ``http.client`` on one
    kept-alive connection: the load generator shares the machine's cores with the server,
    and httpx spent about 1 ms of CPU per request there (a quarter of the server's own CPU
    at batch 100), which was charged to the server."""
    data = events(n)
    bodies = [
        gzip.compress(json.dumps({"events": data[i : i + batch]}).encode(), compresslevel=6)
        for i in range(0, n, batch)
    ]
    url = urllib.parse.urlsplit(base_url)
    local = threading.local()
    accepted = 0
    lock = threading.Lock()

    def send(body: bytes) -> None:
        nonlocal accepted
        if not hasattr(local, "conn"):
            local.conn = http.client.HTTPConnection(url.hostname, url.port, timeout=600)
        headers = {
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
            "Content-Length": str(len(body)),
        }
        local.conn.request("POST", "/v1/batch", body=body, headers=headers)
        response = local.conn.getresponse()
        answer = response.read()
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}: {answer[:200]!r}")
        with lock:
            accepted += json.loads(answer)["accepted"]

    elapsed = parallel(bodies, clients, send)
    if accepted != n:
        raise SystemExit(f"only {accepted} of {n} events accepted")
    return n / elapsed


def track_latency(base_url: str, rate: float, seconds: float) -> tuple[float, float, int]:
    """p50 and p99 in ms of /v1/track at ``rate`` requests/s (open loop, 8 senders)."""
    total = int(rate * seconds)
    start = time.perf_counter() + 0.2
    schedule = [start + i / rate for i in range(total)]
    bodies = [json.dumps(e).encode() for e in events(total)]
    latencies: list[float] = []
    lock = threading.Lock()
    local = threading.local()

    def send(i: int) -> None:
        if not hasattr(local, "client"):
            local.client = httpx.Client(base_url=base_url, timeout=60)
        delay = schedule[i] - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        r = local.client.post(
            "/v1/track", content=bodies[i], headers={"Content-Type": "application/json"}
        )
        r.raise_for_status()
        with lock:
            latencies.append((time.perf_counter() - schedule[i]) * 1000)

    parallel(list(range(total)), 8, send)
    q = statistics.quantiles(latencies, n=100)
    return q[49], q[98], total


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20000, help="most events per run")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--rate", type=float, default=50.0, help="/v1/track requests/s")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=1, help="server processes")
    parser.add_argument("--schema", choices=("full", "core", "both"), default="both")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()
    # The servers import this checkout, whatever iconiq the environment has installed.
    pythonpath = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    env = {
        "ICONIQ_RATE_LIMIT": "off",
        "ICONIQ_PURGE_INTERVAL": "0",
        "ICONIQ_FOLD_INTERVAL": "0",
        "PYTHONPATH": pythonpath,
    }
    schemas = ("full", "core") if args.schema == "both" else (args.schema,)
    tmp = Path(tempfile.mkdtemp(prefix="iconiq-bench-"))
    (tmp / "core-site").mkdir()
    (tmp / "core-site" / "sitecustomize.py").write_text(CORE_SITE)
    counter = iter(range(10_000))

    @contextmanager
    def sqlite_db() -> Iterator[str]:
        yield f"sqlite:///{tmp / f'bench{next(counter)}.db'}"

    dbs: list[tuple[str, Callable[[], AbstractContextManager[str]]]] = []
    if not args.no_sqlite:
        dbs.append(("SQLite", sqlite_db))
    if not args.no_postgres:
        dbs.append(("PostgreSQL", lambda: fresh_database("iconiq_bench")))

    print(
        f"up to {args.events} events per run, {args.clients} client threads,"
        f" {args.workers} server process(es)"
    )
    print()
    header = f"{'database':<11} {'schema':<6} {'batch':>5} {'events':>6}"
    print(f"{header} {'raw ev/s':>10} {'http ev/s':>10} {'http/raw':>8} {'fold ev/s':>10}")
    latency_rows = []
    for name, make_db in dbs:
        for schema in schemas:
            server_env = dict(env)
            if schema == "core":
                server_env["PYTHONPATH"] = os.pathsep.join([str(tmp / "core-site"), pythonpath])
            for batch in (100, 500):
                with make_db() as probe_url:  # size the run to a few seconds
                    probe, _ = raw_rate(probe_url, schema, batch * 2, batch, args.clients)
                n = min(args.events, max(batch * 8, int(probe * 4) // batch * batch))
                with make_db() as raw_url:
                    raw, fold = raw_rate(raw_url, schema, n, batch, args.clients)
                with (
                    make_db() as url,
                    running_server(url, env=server_env, workers=args.workers) as srv,
                ):
                    http_rate(srv.base_url, batch * args.clients, batch, args.clients)  # warm-up
                    http = http_rate(srv.base_url, n, batch, args.clients)
                row = f"{name:<11} {schema:<6} {batch:>5} {n:>6}"
                folds = f"{fold:>10,.0f}" if fold else f"{'-':>10}"
                print(f"{row} {raw:>10,.0f} {http:>10,.0f} {http / raw:>8.0%} {folds}", flush=True)
            with make_db() as url, running_server(url, env=server_env, workers=args.workers) as srv:
                track_latency(srv.base_url, args.rate, 1.0)  # warm-up
                p50, p99, total = track_latency(srv.base_url, args.rate, args.seconds)
                latency_rows.append((name, schema, p50, p99, total))
    print()
    print(f"POST /v1/track at {args.rate:g} requests/s for {args.seconds:g} s (open loop)")
    print(f"{'database':<11} {'schema':<6} {'requests':>8} {'p50 ms':>8} {'p99 ms':>8}")
    for name, schema, p50, p99, total in latency_rows:
        print(f"{name:<11} {schema:<6} {total:>8} {p50:>8.1f} {p99:>8.1f}")


if __name__ == "__main__":
    main()
