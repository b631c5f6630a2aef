"""Breakdown filters (country, OS, model, output format, CI) over the rollups' own SQL.

The rollups cannot cross dimensions: ``an_daily`` counts events per country and,
separately, per OS, so "events from Germany per OS" is not in them. With a
breakdown filter, ``scoped(db, f)`` hands the metrics a ``Db`` whose queries start
with common table expressions named like the rollup tables, built from the events of
the range that match the filters by the very aggregation SQL the rollups are built
with (``aggregates``; ``rollups.rebuild_sql``)::

    WITH an_scope AS (SELECT * FROM events WHERE <range> AND <filters>),
         an_daily (...) AS (<an_daily rows of an_scope>), an_hist (...) AS (...),
         an_install_days (...) AS (...), an_active (...) AS (...)
    SELECT ... FROM an_daily WHERE ...          -- the metric's SQL, unchanged

A common table expression shadows a table of the same name on SQLite and
PostgreSQL alike, so every metric runs unchanged over the filtered rows. Only the
tables a query names are defined. ``events`` is shadowed too (by the events matching
the filters, whatever their day: the live view has no range).

What cannot be derived so: ``an_first_seen`` (an install's first day ever) and
``an_install_weeks`` stay the stored ones. New installs with a filter are the
installs first seen that day with a matching event on it; retention cohorts are
install-level and ignore every filter (their note says so). Cost: each query reads
the matching events of the range (plus the weeks it touches), not a small rollup.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from iconiq.server.analytics.aggregates import (
    DAILY_COLUMNS,
    HIST_COLUMNS,
    daily_selects,
    hist_selects,
)
from iconiq.server.analytics.db import Db
from iconiq.server.analytics.query import Filters
from iconiq.server.calendar import DAY_MS, day_sql, week_end, week_of, week_sql, week_start

# Rollup tables a filtered query reads from the scoped events, in dependency order.
SHADOWED = ("an_install_days", "an_daily", "an_hist", "an_active", "events")
_NAMES = re.compile(r"\b(?:FROM|JOIN)\s+(" + "|".join(SHADOWED) + r")\b", re.IGNORECASE)
_HINT = re.compile(r"\s+INDEXED BY \w+", re.IGNORECASE)  # no index on a CTE
_FAIL = "CASE WHEN e.success THEN 0 ELSE 1 END"


def _active_selects() -> list[str]:
    """``an_active`` rows from ``an_install_days`` (``rollups.ACTIVE_REBUILD``'s SQL)."""
    return [
        "SELECT 'd', day, '', '', count(DISTINCT install_id) FROM an_install_days GROUP BY day",
        "SELECT 'v', day, version, '', count(DISTINCT install_id) FROM an_install_days"
        " GROUP BY day, version",
        f"SELECT 'w', {week_sql('day')}, '', '', count(DISTINCT install_id)"
        f" FROM an_install_days GROUP BY {week_sql('day')}",
        "SELECT 'c', day, '', command, count(DISTINCT install_id) FROM an_install_days"
        " GROUP BY day, command",
        "SELECT 'x', day, version, command, count(*) FROM an_install_days"
        " GROUP BY day, version, command",
    ]


class ScopedDb(Db):
    """A ``Db`` whose reads see the rollups of the events matching ``f`` (see above).
    Writes (``execute``) go to the real tables: folding is not affected."""

    __slots__ = ("filters",)

    def __init__(self, db: Db, f: Filters) -> None:
        super().__init__(db.conn, db.dialect)
        self.filters = f

    def _ctes(self, names: set[str]) -> tuple[list[str], list[Any]]:
        f = self.filters
        table = "events" if self.postgres else "main.events"  # SQLite: not the CTE itself
        cond, params = f.events_where("e")
        ctes: list[str] = []
        out_params: list[Any] = []
        needs_scope = names - {"events"}
        if "an_active" in names:
            needs_scope.add("an_install_days")
        if needs_scope:
            # Whole weeks: weekly panels count every day of the weeks the range touches.
            first, last = week_start(week_of(f.start)), week_end(week_of(f.end))
            where = f"e.timestamp BETWEEN ? AND ? AND {cond}"
            scope_params: list[Any] = [first * DAY_MS, (last + 1) * DAY_MS - 1, *params]
            for name in ("version", "command"):
                if getattr(f, name) is not None:
                    where += f" AND e.{name} = ?"
                    scope_params.append(getattr(f, name))
            ctes.append(f"an_scope AS (SELECT * FROM {table} e WHERE {where})")
            out_params += scope_params
        if "an_install_days" in needs_scope:
            ctes.append(
                "an_install_days (install_id, day, version, command, events, failures) AS"
                f" (SELECT e.install_id, {day_sql('e.timestamp')}, e.version, e.command,"
                f" count(*), sum({_FAIL}) FROM an_scope e GROUP BY 1, 2, 3, 4)"
            )
        if "an_daily" in names:
            body = " UNION ALL ".join(daily_selects(self.dialect, "an_scope"))
            ctes.append(f"an_daily ({', '.join(DAILY_COLUMNS)}) AS ({body})")
        if "an_hist" in names:
            body = " UNION ALL ".join(hist_selects(self.dialect, "an_scope"))
            ctes.append(f"an_hist ({', '.join(HIST_COLUMNS)}) AS ({body})")
        if "an_active" in names:
            body = " UNION ALL ".join(_active_selects())
            ctes.append(f"an_active (period, start, version, command, installs) AS ({body})")
        if "events" in names:
            ctes.append(f"events AS (SELECT * FROM {table} e WHERE {cond})")
            out_params += params
        return ctes, out_params

    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        names = {n.lower() for n in _NAMES.findall(sql)}
        if not names:
            return super().fetch(sql, params)
        ctes, before = self._ctes(names)
        body = _HINT.sub("", sql).lstrip()
        if body[:5].upper() == "WITH ":
            body = ", " + body[5:]
        else:
            body = " " + body
        return super().fetch("WITH " + ", ".join(ctes) + body, [*before, *params])


# What a breakdown filter means for the metrics built on per-install rollups that cannot be
# derived from the matching events alone (shown as the panel's note).
NOTES = {
    "new-installs": "with a breakdown filter: installs first seen that day (by any event)"
    " that had a matching event that day",
    "heavy-installs": "with a breakdown filter: matching events within the range",
}


def note(name: str, f: Filters, given: str | None) -> str | None:
    """The note of metric ``name`` over ``f``: its own, and what a breakdown filter means."""
    extra = NOTES.get(name) if f.breakdown else None
    return "; ".join(n for n in (given, extra) if n) or None


def scoped(db: Db, f: Filters) -> Db:
    """``db`` itself without a breakdown filter, else a ``ScopedDb`` over the filters."""
    return ScopedDb(db, f) if f.breakdown else db
