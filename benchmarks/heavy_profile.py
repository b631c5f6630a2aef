"""What the heavy installs' OS and CI cost: as of the last day seen (what the panel does)
against over the whole range (each heavy install's every event in it).

    .venv/bin/python benchmarks/heavy_profile.py sqlite:////tmp/10m.db [postgresql://…/bench]

For each database (SQLite is opened read-only): over the last 30 days, the whole two
years and two years of ``command=icon`` ("today" is the newest event's day), the median of
3 runs after a warm-up of the ``heavy-installs`` panel, of its OS/CI read alone, of the
range-wide read it replaced, and how many events each read covers.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from rich.console import Console
from rich.table import Table as RichTable

from iconiq.server.analytics import growth
from iconiq.server.analytics.db import Db
from iconiq.server.analytics.query import Filters
from iconiq.server.analytics.top import among
from iconiq.server.calendar import DAY_MS


def timed(run: Callable[[], Any]) -> float:
    run()
    samples = []
    for _ in range(3):
        started = time.perf_counter()
        run()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def range_wide(db: Db, f: Filters, ids: list[str]) -> list[tuple[Any, ...]]:
    """Every event of those installs in the range: OS and CI counts (the replaced read)."""
    inside, kp = among("install_id", ids)
    sql = (
        "SELECT install_id, os, count(*), sum(CASE WHEN ci THEN 1 ELSE 0 END) FROM events"
        f" WHERE {inside} AND timestamp >= ? AND timestamp < ?"
    )
    params: list[Any] = [*kp, f.start * DAY_MS, (f.end + 1) * DAY_MS]
    if f.command is not None:
        sql += " AND command = ?"
        params.append(f.command)
    return db.fetch(sql + " GROUP BY install_id, os", params)


def measure(url: str, out: RichTable) -> None:
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        db = Db(sqlite3.connect(f"file:{path}?mode=ro", uri=True), "sqlite")
        name = "SQLite"
    else:
        import psycopg

        db = Db(psycopg.connect(url, autocommit=True), "postgres")
        name = "PostgreSQL"
    last = int(db.scalar("SELECT max(timestamp) FROM events") or 0) // DAY_MS
    for label, f in (
        ("30 d", Filters(last - 29, last)),
        ("2 y", Filters(last - 729, last)),
        ("2 y, icon", Filters(last - 729, last, command="icon")),
    ):
        top = growth._heaviest(db, f)
        ids = [str(i) for i, _ in top]
        heavy = growth.heavy_installs(db, f).rows
        last_days = {i: days for i, days in zip(ids, (r[6] for r in heavy), strict=True)}
        day_numbers = {i: Filters.parse({"from": d, "to": d}).start for i, d in last_days.items()}
        read_days = set(day_numbers.values())
        day_events = sum(
            int(
                db.scalar(
                    "SELECT count(*) FROM events WHERE timestamp >= ? AND timestamp < ?",
                    [d * DAY_MS, (d + 1) * DAY_MS],
                )
                or 0
            )  # fmt: skip
            for d in read_days
        )
        out.add_row(
            name,
            label,
            f"{timed(partial(growth.heavy_installs, db, f)):,.0f}",
            f"{timed(partial(growth._last_day_profiles, db, f, day_numbers)):,.0f}",
            f"{day_events:,} ({len(read_days)} days)",
            f"{timed(partial(range_wide, db, f, ids)):,.0f}",
            f"{sum(int(n) for _, n in top):,}",
        )
    db.conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("databases", nargs="+", help="sqlite:///path or postgresql://…")
    args = parser.parse_args()
    out = RichTable(title="heavy-installs: OS and CI, ms (median of 3)")
    for column in ("database", "range", "panel", "last day read", "events it reads",
                   "range-wide read", "events it read"):  # fmt: skip
        out.add_column(column, justify="left" if column in ("database", "range") else "right")
    for url in args.databases:
        measure(url, out)
    Console(width=150).print(out)


if __name__ == "__main__":
    main()
