"""Release health on a generated data set: what it finds, and what it costs.

    .venv/bin/python benchmarks/releases.py sqlite:////tmp/1m.db postgresql://…/bench

``benchmarks/dataset.py`` plants one flaky release (1.2.2: ``icon`` fails 22 % of runs
instead of 7 %). For each database this prints the regressions ``release-health`` lists
over the whole two years, then the compute time (median of 3 after a warm-up) of
``release-health`` and of the release markers every dashboard page draws, over the last
30 days, two years, and both filtered by ``command=icon``. "Today" is the newest event's
day, as in ``panels.py``. Reads only: SQLite files are opened read-only, nothing is
migrated or folded (``dataset.py`` leaves no pending rollup rows).
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

from iconiq.server.analytics import releases
from iconiq.server.analytics.db import Db
from iconiq.server.analytics.query import Filters
from iconiq.server.calendar import DAY_MS
from iconiq.server.storage.base import open_store

LIMIT_MS = 1000.0
SHOWN = ("command", "version", "baseline", "failure_rate", "baseline_failure_rate", "runs",
         "baseline_runs", "p_value", "test")  # fmt: skip


def timed(run: Callable[[], Any], runs: int = 3) -> float:
    run()  # warm-up
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        run()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def measure(url: str, console: Console) -> dict[str, list[float]]:
    if url.startswith("sqlite:///"):  # read-only: another job's data set stays untouched
        conn = sqlite3.connect(f"file:{url[len('sqlite:///') :]}?mode=ro", uri=True)
        try:
            return _measure(Db(conn, "sqlite"), url, console)
        finally:
            conn.close()
    store = open_store(url, pool_size=1)
    try:
        with store.db() as db:
            return _measure(db, url, console)
    finally:
        store.close()


def _measure(db: Db, url: str, console: Console) -> dict[str, list[float]]:
    events = int(db.scalar("SELECT count(*) FROM events"))
    last = int(db.scalar("SELECT max(timestamp) FROM events") or 0) // DAY_MS
    ranges = [
        ("30 d", Filters(last - 29, last)),
        ("2 y", Filters(last - 729, last)),
        ("30 d, icon", Filters(last - 29, last, command="icon")),
        ("2 y, icon", Filters(last - 729, last, command="icon")),
    ]
    health = releases.release_health  # as a read after the fold (dataset.py leaves none pending)
    found = health(db, ranges[1][1]).parts["regressions"]
    out = RichTable(title=f"{url}: {events:,} events; regressions over two years",
                    title_justify="left")  # fmt: skip
    for column in SHOWN:
        out.add_column(column)
    for r in found.records():
        out.add_row(*(str(r[c]) for c in SHOWN))
    console.print(out)
    times: dict[str, list[float]] = {"release-health": [], "markers": []}
    for _label, f in ranges:
        times["release-health"].append(timed(partial(health, db, f)))
        times["markers"].append(timed(partial(releases.markers, db, f)))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("databases", nargs="+", help="sqlite:///path or postgresql://…")
    args = parser.parse_args()
    console = Console(width=140)
    results = {url: measure(url, console) for url in args.databases}
    table = RichTable(title="Compute time, ms (median of 3)", title_justify="left")
    for column in ("database", "range", "release-health", "markers"):
        table.add_column(
            column, justify="right" if column in ("release-health", "markers") else "left"
        )
    labels = ("30 d", "2 y", "30 d, icon", "2 y, icon")
    for url, times in results.items():
        for i, label in enumerate(labels):
            cells = [f"{times[w][i]:,.0f}" + (" !" if times[w][i] > LIMIT_MS else "")
                     for w in ("release-health", "markers")]  # fmt: skip
            table.add_row(url.rsplit("/", 1)[-1], label, *cells)
    console.print(table)


if __name__ == "__main__":
    main()
