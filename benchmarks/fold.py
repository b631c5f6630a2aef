"""Fold throughput: events/s of one ``rollups.fold`` applying a batch of stored events
(the add path) and of one applying a batch of erased events (the remove path).

For each database (SQLite file; PostgreSQL on 127.0.0.1:5432, a fresh database),
each round stores ``--events`` varied events (200 installs, 30 days, three versions,
random flags and outcomes) and times the fold that applies them, then erases 20
installs and times the fold that takes their events out. The table gives the
median and the best round of wall time, and the median events per CPU second of
this process (on SQLite the whole fold runs in it, so that column shrugs off other
load on the machine; on PostgreSQL the server does the work). The fold runs alone
(no concurrent writers), so the figures compare layouts or versions of the fold
SQL on one machine. Run it against another checkout with
``PYTHONPATH=/that/checkout``.

    .venv/bin/python benchmarks/fold.py [--events 5000] [--rounds 5] [--no-postgres]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.append(str(ROOT))  # after PYTHONPATH: another checkout can be measured

from iconiq.server.analytics import rollups  # noqa: E402
from iconiq.server.events import Event, Row  # noqa: E402
from iconiq.server.storage.base import open_store  # noqa: E402
from tests.support.pg import fresh_database  # noqa: E402

DAY_MS = 86_400_000
INSTALLS = [str(uuid.UUID(int=n + 1)) for n in range(200)]
FLAGS = ["--prompt", "--size", "--model", "--out", "--style", "--format"]


def make_rows(rng: random.Random, n: int, end_ms: int) -> list[Row]:
    rows = []
    for _ in range(n):
        ok = rng.random() > 0.15
        event = {
            "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "session_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "install_id": rng.choice(INSTALLS),
            "schema": 1,
            "command": rng.choice(["icon", "icon", "config", "telemetry"]),
            "success": ok,
            "timestamp": end_ms - rng.randrange(30 * DAY_MS),
            "version": rng.choice(["1.0.0", "1.1.0", "1.2.0"]),
            "execution_time": rng.randrange(10, 90_000),
            "error_type": None if ok else rng.choice(["network", "timeout", "auth"]),
            "prompt_length": rng.randrange(1, 400),
            "output_format": rng.choice(["png", "webp", "ico"]),
            "model_used": rng.choice(["dall-e-3", "gpt-image-1", "local"]),
            "api_time": rng.randrange(10, 60_000),
            "flags": rng.sample(FLAGS, rng.randrange(4)),
            "os": rng.choice(["linux", "darwin", "windows"]),
            "python": "3.12",
            "ci": rng.random() < 0.2,
        }
        rows.append(Row(Event.model_validate(event), rng.choice(["DE", "US", None]), end_ms))
    return rows


def timed_fold(store: Any) -> tuple[int, float, float]:
    """(events applied, wall seconds, this process's CPU seconds)."""
    with store.db() as db:
        started, cpu = time.perf_counter(), time.process_time()
        applied = int(rollups.fold(db))
        return applied, time.perf_counter() - started, time.process_time() - cpu


Rates = list[tuple[float, float]]  # (ev/s of wall time, ev/s of this process's CPU)


def measure(url: str, n: int, rounds: int) -> tuple[Rates, Rates]:
    """(add rates per round, remove rates per round)."""
    store = open_store(url, pool_size=1)
    store.migrate()
    rng = random.Random(7)
    end_ms = (int(time.time() * 1000) // DAY_MS) * DAY_MS
    add: Rates = []
    remove: Rates = []
    try:
        for r in range(rounds):
            store.insert(make_rows(rng, n, end_ms))
            applied, seconds, cpu = timed_fold(store)
            add.append((applied / seconds, applied / cpu))
            for install in INSTALLS[r * 20 : r * 20 + 20]:
                store.erase_install(install)
            applied, seconds, cpu = timed_fold(store)
            remove.append((applied / seconds, applied / cpu))
    finally:
        store.close()
    return add, remove


@contextmanager
def sqlite_url() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as tmp:
        yield f"sqlite:///{tmp}/fold.db"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--events", type=int, default=5000, help="events stored per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()
    dbs: list[tuple[str, Callable[[], AbstractContextManager[str]]]] = []
    if not args.no_sqlite:
        dbs.append(("SQLite", sqlite_url))
    if not args.no_postgres:
        dbs.append(("PostgreSQL", lambda: fresh_database("iconiq_bench")))
    print(f"{args.events} events stored per round, {args.rounds} rounds (20 installs erased each)")
    print(f"\n{'database':<11} {'path':<7} {'median ev/s':>12} {'best ev/s':>10} {'cpu ev/s':>10}")
    for name, make_url in dbs:
        with make_url() as url:
            add, remove = measure(url, args.events, args.rounds)
        for path, rates in (("add", add), ("remove", remove)):
            wall = [w for w, _ in rates]
            cpu = statistics.median(c for _, c in rates)
            print(
                f"{name:<11} {path:<7} {statistics.median(wall):>12,.0f} {max(wall):>10,.0f}"
                f" {cpu:>10,.0f}"
            )


if __name__ == "__main__":
    main()
