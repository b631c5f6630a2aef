"""Generate a realistic telemetry data set straight into an iconiq-server database.

    .venv/bin/python benchmarks/dataset.py --database sqlite:////tmp/10m.db --events 10000000
    .venv/bin/python benchmarks/dataset.py --database postgresql://…/bench --events 10000000

Two years ending ``--end`` (default today): installs arrive at a growing rate
and behave as trials, casual, regular, heavy or CI users (a few installs make
most of the events, as in real tools); versions are released every six weeks
and installs upgrade with a lag; countries, operating systems, models, formats,
flags, error types (one release fails more often), log-normal durations,
working-hours peaks, and a few air-gapped uploads that arrive days late.

The schema comes from the server's own migrations; events are bulk-loaded
(SQLite ``executemany`` in one transaction, PostgreSQL ``COPY``) with the rollup
triggers suspended, then the rollups are rebuilt once. Deterministic per ``--seed``.
"""

from __future__ import annotations

import argparse
import bisect
import datetime as dt
import itertools
import json
import math
import random
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

from iconiq.server.analytics import rollups
from iconiq.server.analytics.db import Db
from iconiq.server.calendar import DAY_MS
from iconiq.server.events import COLUMNS
from iconiq.server.storage.base import open_store

DAYS = 730


class Weighted:
    """Fast weighted choice with ``bisect`` over cumulative weights."""

    def __init__(self, rng: random.Random, pairs: Sequence[tuple[Any, float]]) -> None:
        self.rng = rng
        self.values = [v for v, _ in pairs]
        self.cum = list(itertools.accumulate(w for _, w in pairs))

    def __call__(self) -> Any:
        return self.values[bisect.bisect(self.cum, self.rng.random() * self.cum[-1])]


COUNTRIES = [("US", 26), ("DE", 9), ("GB", 7), ("IN", 8), ("FR", 5), ("CA", 4), ("JP", 4),
             ("BR", 4), ("NL", 3), ("SE", 2), ("ES", 3), ("IT", 2), ("PL", 2), ("AU", 2),
             ("KR", 2), ("CN", 2), ("CH", 1), ("TR", 1), ("MX", 1), ("ID", 1), (None, 3)]
KINDS = [  # name, share, mean lifetime (days), p(active on a day), events/day range, ci
    ("trial", 45, 4, 0.6, (1, 4), False),
    ("casual", 34, 120, 0.08, (1, 6), False),
    ("regular", 15, 300, 0.3, (2, 10), False),
    ("heavy", 5, 420, 0.65, (6, 24), False),
    ("ci", 1, 420, 0.9, (10, 40), True),
]
MODELS = [("dall-e-3", 55), ("gpt-image-1", 28), ("dall-e-2", 5), ("local", 12)]
FORMATS = [("png", 60), ("webp", 15), ("ico", 12), ("icns", 8), ("jpeg", 5)]
ERRORS = [("network", 30), ("timeout", 20), ("rate_limit", 15), ("content_policy", 15),
          ("auth", 10), ("api_error", 8), ("internal", 2)]  # fmt: skip
OPTIONAL_FLAGS = ["--model", "--size", "--format", "--out", "--quality", "--style", "--count"]
MEDIAN_MS = {"dall-e-3": 9000, "gpt-image-1": 16000, "dall-e-2": 5000, "local": 60}
HOURS = [(h, 1 + 5 * math.exp(-(((h - 14) / 4.5) ** 2))) for h in range(24)]


def versions(end_day: int) -> list[tuple[int, str]]:
    """(release day, version) every six weeks over the two years, oldest first."""
    first = end_day - DAYS - 60
    out = []
    for i, day in enumerate(range(first, end_day, 42)):
        out.append((day, f"1.{i // 4}.{i % 4}"))
    return out


def install_days(
    rng: random.Random, start: int, end: int
) -> Iterator[tuple[int, int, int, bool]]:
    """(day, install number, events that day, CI) for installs until the caller stops."""
    kinds = Weighted(rng, [(k, k[1]) for k in KINDS])
    n = 0
    while True:
        # arrivals grow about fourfold over the period: inverse CDF of w(d) = 1 + 3 d / DAYS
        u = rng.random()
        offset = int(DAYS * (-1 + math.sqrt(1 + 3 * u * (2 + 3))) / 3)
        first = start + min(offset, DAYS - 1)
        _name, _share, life, p, (lo, hi), ci = kinds()
        last = min(end, first + int(rng.expovariate(1 / life)))
        day = first
        while day <= last:
            yield day, n, rng.randint(lo, hi), ci
            day += 1 + int(math.log(1 - rng.random()) / math.log(1 - p)) if p < 1 else 1
        n += 1


def generate(count: int, end_day: int, seed: int) -> Iterator[tuple[Any, ...]]:
    """``count`` event rows in ``COLUMNS`` order, day by day."""
    rng = random.Random(seed)
    start = end_day - DAYS + 1
    plan: list[tuple[int, int, int, bool]] = []
    total = 0
    for item in install_days(rng, start, end_day):
        plan.append(item)
        total += item[2]
        if total >= count:
            break
    plan.sort()
    releases = versions(end_day)
    release_days = [d for d, _ in releases]
    country, model, fmt, error = (Weighted(rng, x) for x in (COUNTRIES, MODELS, FORMATS, ERRORS))
    hour = Weighted(rng, HOURS)
    profiles: dict[int, tuple[Any, ...]] = {}
    made = 0
    for day, n, events, ci in plan:
        prof = profiles.get(n)
        if prof is None:
            prof = profiles[n] = (
                str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                country(),
                rng.choice(["linux", "linux", "darwin", "darwin", "windows"]),
                rng.choice(["3.10", "3.11", "3.12", "3.12", "3.13"]),
                rng.expovariate(1 / 20),  # upgrade lag in days
            )
        install_id, where, os_name, py, lag = prof
        version = releases[max(0, bisect.bisect(release_days, day - lag) - 1)][1]
        late = rng.random() < 0.03
        for _ in range(events):
            if made >= count:
                return
            made += 1
            ts = day * DAY_MS + hour() * 3_600_000 + rng.randrange(3_600_000)
            command = "icon" if rng.random() < 0.85 else rng.choice(["config", "telemetry"])
            bad = version.endswith(".2") and version.startswith("1.2")
            if command == "icon":
                m = model()
                ok = rng.random() > (0.22 if bad else 0.07)
                ms = int(MEDIAN_MS[m] * math.exp(rng.gauss(0, 0.5)))
                api = None if m == "local" or not ok else int(ms * rng.uniform(0.7, 0.95))
                flags = ["--prompt", *rng.sample(OPTIONAL_FLAGS, rng.randrange(4))]
                fields: tuple[Any, ...] = (
                    ok, ms, None if ok else error(), int(40 * math.exp(rng.gauss(0, 0.6))) + 5,
                    fmt(), m, api, flags,
                )
            else:
                ok = rng.random() > 0.01
                fields = (ok, rng.randrange(2, 60), None if ok else "invalid_input", None, None,
                          None, None, ["--telemetry"] if command == "config" else [])
            ok, ms, err, plen, of, m, api, flags = fields
            yield (
                str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                install_id, 1, command, ok, ts, version, ms, err, plen, of, m, api,
                json.dumps(flags), os_name, py, ci, where,
                ts + (rng.randrange(2, 40) * DAY_MS if late else rng.randrange(100, 60_000)),
                "github-actions" if ci else None, "script" if ci else "terminal",
            )  # fmt: skip


def load_sqlite(path: str, rows: Iterator[tuple[Any, ...]]) -> None:
    import sqlite3

    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-2000000")
    conn.execute("PRAGMA temp_store=MEMORY")
    conn.execute("BEGIN")
    sql = f"INSERT INTO events ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
    with rollups.suspended_triggers(Db(conn, "sqlite")):
        while chunk := list(itertools.islice(rows, 100_000)):
            conn.executemany(sql, chunk)
        print("  events loaded, rebuilding rollups…", file=sys.stderr)
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()


def load_postgres(url: str, rows: Iterator[tuple[Any, ...]], end_day: int) -> None:
    import psycopg

    from iconiq.server.storage.postgres import PostgresStore

    store = PostgresStore(url, pool_size=1)
    first = (end_day - DAYS) * DAY_MS
    # every month from the first day to the last (a 20-day step alone can skip the last one)
    store.ensure_partitions([*range(first, (end_day + 1) * DAY_MS, 20 * DAY_MS),
                             (end_day + 1) * DAY_MS - 1])  # fmt: skip
    store.close()
    with psycopg.connect(url) as conn:
        with rollups.suspended_triggers(Db(conn, "postgres")):
            cur = conn.cursor()
            with cur.copy(f"COPY events ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                for r in rows:
                    copy.write_row(r)
            cur.execute("INSERT INTO event_ids (event_id, timestamp)"
                        " SELECT event_id, timestamp FROM events")
            print("  events loaded, rebuilding rollups…", file=sys.stderr)
        conn.execute("ANALYZE events")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", required=True, help="sqlite:///path or postgresql://…")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--end", help="last day, YYYY-MM-DD (default: today, UTC)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    end = dt.date.fromisoformat(args.end) if args.end else dt.datetime.now(dt.UTC).date()
    end_day = (end - dt.date(1970, 1, 1)).days
    store = open_store(args.database)
    store.migrate()
    if store.count():
        print(f"{args.database} already holds events; use an empty database", file=sys.stderr)
        return 2
    store.close()
    started = time.perf_counter()
    rows = generate(args.events, end_day, args.seed)
    if store.dialect == "sqlite":
        load_sqlite(args.database.removeprefix("sqlite:///"), rows)
    else:
        load_postgres(args.database, rows, end_day)
    took = time.perf_counter() - started
    print(f"{args.events:,} events into {store.dialect} in {took:.0f} s"
          f" ({args.events / took:,.0f} events/s, rollups rebuilt)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
