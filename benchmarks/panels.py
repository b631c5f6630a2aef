"""Time every dashboard panel on one or more databases, side by side.

    .venv/bin/python benchmarks/panels.py sqlite:////tmp/iconiq-10m.db postgresql://…/bench

For each database: the data-set size, then each metric's compute time (median
of 3 runs after a warm-up) over the last 30 days and the whole two years, unfiltered
and filtered by the busiest version and ``command=icon`` (and two years by the
command alone and by the version alone). "Today" is the newest
event's day, so a data set generated earlier still reads as current.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

from rich.console import Console
from rich.table import Table as RichTable

from iconiq.server.analytics.db import Db
from iconiq.server.analytics.metrics import METRICS
from iconiq.server.analytics.query import Filters
from iconiq.server.analytics.rollups import TABLES
from iconiq.server.calendar import DAY_MS
from iconiq.server.storage.base import open_store

LIMIT_MS = 1000.0
LABELS = ("30 d", "2 y", "30 d, version+icon", "2 y, version+icon", "2 y, icon", "2 y, version")


def timed(db: Db, name: str, f: Filters, runs: int = 3) -> float:
    METRICS[name].compute(db, f)  # warm-up
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        METRICS[name].compute(db, f)
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def measure(url: str) -> tuple[str, dict[str, int], dict[str, list[float]]]:
    store = open_store(url, pool_size=1)
    store.migrate()  # as the server does on start
    d = store.dialect
    with store.db() as db:
        sizes = {"events": int(db.scalar("SELECT count(*) FROM events"))}
        sizes["installs"] = int(db.scalar("SELECT count(*) FROM an_first_seen"))
        for table in TABLES:
            sizes[table] = int(db.scalar(f"SELECT count(*) FROM {table}"))
        last = int(db.scalar("SELECT max(timestamp) FROM events") or 0) // DAY_MS
        top = db.fetch(
            "SELECT version FROM an_daily WHERE dim = 'total' AND day > ? GROUP BY version"
            " ORDER BY sum(events) DESC LIMIT 1",
            [last - 30],
        )
        version = top[0][0] if top else None
        ranges = [
            Filters(last - 29, last),
            Filters(last - 729, last),
            Filters(last - 29, last, version=version, command="icon"),
            Filters(last - 729, last, version=version, command="icon"),
            Filters(last - 729, last, command="icon"),
            Filters(last - 729, last, version=version),
        ]
        times = {name: [timed(db, name, f) for f in ranges] for name in METRICS}
    store.close()
    return d, sizes, times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("databases", nargs="+", help="sqlite:///… or postgresql://… URLs")
    args = parser.parse_args(argv)
    console = Console(width=200)
    results = [measure(url) for url in args.databases]
    sizes = RichTable(title="Data set")
    sizes.add_column("table")
    for dialect, _, _ in results:
        sizes.add_column(dialect, justify="right")
    for key in results[0][1]:
        sizes.add_row(key, *(f"{r[1][key]:,}" for r in results))
    console.print(sizes)
    worst = 0.0
    for dialect, _, times in results:
        table = RichTable(title=f"{dialect}: panel compute time, ms (median of 3; limit 1000)")
        table.add_column("panel")
        for label in LABELS:
            table.add_column(label, justify="right")
        for name in METRICS:
            cells = []
            for ms in times[name]:
                worst = max(worst, ms)
                cells.append(f"[red]{ms:.0f}[/red]" if ms > LIMIT_MS else f"{ms:.0f}")
            table.add_row(name, *cells)
        console.print(table)
    console.print(
        f"slowest panel: {worst:.0f} ms ({'within' if worst <= LIMIT_MS else 'OVER'}"
        " the 1 s budget)"
    )
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    console.print(f"load average at the end: {load} on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
