"""Time every dashboard panel with a breakdown filter (computed from the matching events).

    .venv/bin/python benchmarks/dataset.py --database sqlite:////tmp/1m.db --events 1000000
    .venv/bin/python benchmarks/filtered_panels.py sqlite:////tmp/1m.db postgresql://…/bench

A breakdown filter (``country``, ``os``, ``model``, ``output_format``, ``ci``) cannot
be answered from the rollups, which do not cross dimensions: each query reads the
matching events of the range through the common table expressions of
``iconiq/server/analytics/scope.py``. This prints, per database, each metric's
compute time (median of 3 after a warm-up) unfiltered and filtered by the busiest
country, and by that country and ``os=linux``, over the last 30 days and two years,
and the slowest of them. "Today" is the newest event's day.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from rich.console import Console
from rich.table import Table as RichTable

from iconiq.server.analytics.metrics import METRICS
from iconiq.server.analytics.query import Filters
from iconiq.server.calendar import DAY_MS
from iconiq.server.storage.base import open_store

sys.path.insert(0, str(Path(__file__).resolve().parent))
from panels import timed  # noqa: E402  (one timing rule for both panel benchmarks)

LABELS = ("30 d", "30 d, country", "30 d, country+os", "2 y, country", "2 y, country+os")


def measure(url: str) -> tuple[str, int, dict[str, list[float]]]:
    store = open_store(url, pool_size=1)
    store.migrate()
    with store.db() as db:
        events = int(db.scalar("SELECT count(*) FROM events"))
        last = int(db.scalar("SELECT max(timestamp) FROM events") or 0) // DAY_MS
        busiest = db.scalar(
            "SELECT value FROM an_daily WHERE dim = 'country' AND day > ? AND value <> ''"
            " GROUP BY value ORDER BY sum(events) DESC LIMIT 1",
            [last - 30],
        )
        country = (("country", str(busiest or "US")),)
        both = (*country, ("os", "linux"))
        month, years = Filters(last - 29, last), Filters(last - 729, last)
        ranges = [
            month,
            replace(month, breakdown=country),
            replace(month, breakdown=both),
            replace(years, breakdown=country),
            replace(years, breakdown=both),
        ]
        times = {name: [timed(db, name, f) for f in ranges] for name in METRICS}
    store.close()
    return f"{store.dialect} ({events:,} events, country={country[0][1]})", events, times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("databases", nargs="+", help="sqlite:///… or postgresql://… URLs")
    args = parser.parse_args(argv)
    console = Console(width=200)
    for title, _, times in (measure(url) for url in args.databases):
        table = RichTable(title=f"{title}: panel compute time, ms (median of 3)")
        table.add_column("panel")
        for label in LABELS:
            table.add_column(label, justify="right")
        for name in METRICS:
            table.add_row(name, *(f"{ms:.0f}" for ms in times[name]))
        console.print(table)
        worst = {label: max(t[i] for t in times.values()) for i, label in enumerate(LABELS)}
        console.print("slowest: " + ", ".join(f"{k} {v:.0f} ms" for k, v in worst.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
