"""One client floods high-cardinality events; how big and slow do the analytics get?

    .venv/bin/python benchmarks/hostile_flood.py [--database URL] [--batches 20]

Starts a real ``iconiq-server serve`` (rate limit at its default, 120/minute per
address; the flood stays inside it), measures every dashboard page and a few
metric answers, then sends ``--batches`` gzip batches of 500 events twice:

* ``raw``: every field random, the closed ones (output_format, os, python) too;
* ``open``: closed fields valid, open ones (version, command, model, 32 flags) random.

After each flood it prints, per URL: answer size, time of a first and a second
read, and the entries of the version and command menus, right after the flood
(reads answer from the rollups as last folded while a burst is being folded in)
and again once the server's periodic fold has caught up. Loopback only.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.flood import BATCHES, flood_batch, menu_entries  # noqa: E402
from tests.support.pg import fresh_database  # noqa: E402
from tests.support.server import ServerHandle, running_server  # noqa: E402

URLS = (
    "/", "/adoption", "/usage", "/performance", "/growth",
    "/v1/metrics/flags", "/v1/metrics/commands", "/v1/metrics/models",
    "/v1/metrics/versions", "/v1/metrics/execution-time", "/v1/metrics/flags.csv",
    "/usage?format=json",
)  # fmt: skip


def _get(client: httpx.Client, srv: ServerHandle, url: str) -> tuple[int, float, int]:
    started = time.perf_counter()
    r = client.get(srv.base_url + url, headers=srv.headers())
    return len(r.content), time.perf_counter() - started, r.status_code


def measure(client: httpx.Client, srv: ServerHandle, label: str) -> None:
    print(f"\n## {label}")
    print(f"{'url':32} {'status':>6} {'bytes':>12} {'1st read s':>10} {'2nd read s':>10}")
    for url in URLS:
        size, first, status = _get(client, srv, url)
        _, second, _ = _get(client, srv, url)
        print(f"{url:32} {status:>6} {size:>12,} {first:>10.3f} {second:>10.3f}")
    html = client.get(srv.base_url + "/", headers=srv.headers()).text
    print(
        f"menus: version {len(menu_entries(html, 'version'))} entries,"
        f" command {len(menu_entries(html, 'command'))} entries"
    )


def flood(client: httpx.Client, srv: ServerHandle, mode: str, batches: int, seed: int) -> None:
    rng = random.Random(seed)
    accepted = rejected = 0
    statuses: dict[int, int] = {}
    started = time.perf_counter()
    for _ in range(batches):
        r = client.post(
            srv.base_url + "/v1/batch",
            content=flood_batch(rng, mode),
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
        )
        statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
        if r.status_code == 200:
            accepted += r.json()["accepted"]
            rejected += len(r.json()["rejected"])
    took = time.perf_counter() - started
    print(
        f"\nflood {mode}: {batches} batches x 500 in {took:.1f} s, statuses {statuses},"
        f" accepted {accepted:,}, rejected {rejected:,}"
    )


def run(database_url: str | None, batches: int) -> None:
    env = {"ICONIQ_RATE_LIMIT": "120/minute"}  # and the default fold interval, 5 s
    with running_server(database_url, env=env) as srv, httpx.Client(timeout=120) as client:
        print(f"# {srv.database_url.split(':')[0]}")
        measure(client, srv, "empty server")
        for seed, mode in enumerate(("raw", "open")):
            flood(client, srv, mode, batches, seed)
            measure(client, srv, f"right after the {mode} flood")
            waited = caught_up(client, srv)
            measure(client, srv, f"after the {mode} flood, folded in ({waited:.1f} s later)")


def caught_up(client: httpx.Client, srv: ServerHandle, limit: float = 300.0) -> float:
    """Seconds until a read no longer says events are still being folded in."""
    started = time.perf_counter()
    while time.perf_counter() - started < limit:
        note = client.get(srv.base_url + "/v1/metrics/summary", headers=srv.headers()).json()
        if not note["note"]:
            break
        time.sleep(0.5)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", help="postgresql://… (default: a SQLite file)")
    parser.add_argument("--postgres", action="store_true", help="use a fresh PostgreSQL db")
    parser.add_argument("--batches", type=int, default=BATCHES)
    args = parser.parse_args()
    if args.postgres:
        with fresh_database("iconiq_flood") as url:
            run(url, args.batches)
    else:
        run(args.database, args.batches)


if __name__ == "__main__":
    main()
