"""Breakdown filters (country, OS, model, output format, CI) over the rollups' own SQL.

The rollups cannot cross dimensions: ``an_daily`` counts events per country and,
separately, per OS, so "events from Germany per OS" is not in them. With a
breakdown filter, ``scoped(db, f)`` hands the metrics a ``Db`` whose queries start
with common table expressions named like the rollup tables, built from the events of
the range that match the filters by the very aggregation SQL the rollups are built
with (each rollup module's ``rows_from``, ``iconiq.server.analytics.rollups``), kept
in temporary tables for the duration of one metric::

    CREATE TEMPORARY TABLE scope_<tag>_scope AS SELECT * FROM events WHERE <range, filters>
    CREATE TEMPORARY TABLE scope_<tag>_daily AS <an_daily rows of scope_<tag>_scope>
    WITH an_daily AS (SELECT * FROM scope_<tag>_daily)
    SELECT ... FROM an_daily WHERE ...          -- the metric's SQL, unchanged

A common table expression shadows a table of the same name on SQLite and
PostgreSQL alike, so every metric runs unchanged over the filtered rows. Only the
tables a query names are made, each once per metric. ``events`` is shadowed too
(by the events matching the filters, whatever their day: the live view has no range).

What cannot be derived so: ``an_first_seen`` (an install's first day ever) and
``an_install_weeks`` stay the stored ones. New installs with a filter are the
installs first seen that day with a matching event on it; retention cohorts are
install-level and ignore every filter (their note says so). Cost: each query reads
the matching events of the range (plus the weeks it touches), not a small rollup.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

from iconiq.server.analytics.db import Db
from iconiq.server.analytics.query import Filters
from iconiq.server.analytics.rollups import an_active, an_daily, an_hist, an_install_days
from iconiq.server.analytics.rollups.base import Rollup
from iconiq.server.calendar import DAY_MS, week_end, week_of, week_start

# Rollup tables a filtered query reads from the scoped events, in dependency order.
SHADOWED = ("an_install_days", "an_daily", "an_hist", "an_active", "events")
_NAMES = re.compile(r"\b(?:FROM|JOIN)\s+(" + "|".join(SHADOWED) + r")\b", re.IGNORECASE)
_HINT = re.compile(r"\s+INDEXED BY \w+", re.IGNORECASE)  # no index on a CTE


# The rollups derived from the matching events, by table name (``rows_from``: the very
# SELECT each rollup is rebuilt and folded with).
DERIVED: dict[str, Rollup] = {r.NAME: r for r in (an_install_days, an_daily, an_hist, an_active)}


class ScopedDb(Db):
    """A ``Db`` whose reads see the rollups of the events matching ``f`` (see above).

    The first query naming a rollup computes it once into a temporary table of this
    connection (``scope_<tag>_<name>``; the matching events themselves first), and every
    query is prefixed with ``<name> AS (SELECT * FROM scope_<tag>_<name>)``: a metric's
    several queries read the matching events once. ``close`` drops them. Writes
    (``execute``) go to the real tables: folding is not affected, and a temporary table
    left behind by an error is never read again (its name is new each time)."""

    __slots__ = ("filters", "made", "tag")

    def __init__(self, db: Db, f: Filters) -> None:
        super().__init__(db.conn, db.dialect)
        self.filters = f
        self.made: dict[str, str] = {}
        self.tag = secrets.token_hex(4)

    def _select(self, name: str) -> tuple[str, list[Any]]:
        """The SELECT (columns named) filling the temporary ``name``, and its parameters."""
        f = self.filters
        if name == "an_scope":
            cond, params = f.events_where("e")
            # Whole weeks: weekly panels count every day of the weeks the range touches.
            first, last = week_start(week_of(f.start)), week_end(week_of(f.end))
            where = f"e.timestamp BETWEEN ? AND ? AND {cond}"
            # Not the version and command filters: every metric applies those itself, and some
            # read across them on purpose (a release's first and last day: any command).
            out: list[Any] = [first * DAY_MS, (last + 1) * DAY_MS - 1, *params]
            return f"SELECT * FROM events e WHERE {where}", out
        rollup = DERIVED[name]
        body = rollup.rows_from(self.dialect, self.made["an_scope"])
        columns = ", ".join(rollup.COLUMNS)
        return f"WITH r ({columns}) AS ({body}) SELECT * FROM r", []

    def _make(self, name: str) -> str:
        """The temporary table holding ``name`` for these filters (made on first use)."""
        if name not in self.made:
            if name != "an_scope":
                self._make("an_scope")
            select, params = self._select(name)
            temp = f"scope_{self.tag}_{name.removeprefix('an_')}"
            if self.postgres and not self.made:
                # The union of every breakdown is estimated dear enough to be JIT-compiled,
                # which took 2.5 s per query over a 0.1 s scan: not for these small tables
                # (until this transaction ends).
                super().execute("SET LOCAL jit = off")
            super().execute(f"CREATE TEMPORARY TABLE {temp} AS {select}", params)
            if self.postgres:
                super().execute(f"ANALYZE {temp}")  # no statistics otherwise: guessed plans
            self.made[name] = temp
        return self.made[name]

    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        names = {n.lower() for n in _NAMES.findall(sql)}
        if not names:
            return super().fetch(sql, params)
        ctes = []
        for n in SHADOWED:
            if n not in names or n == "events":
                continue
            if n in ("an_daily", "an_hist"):  # one query reads one or two of their parts
                self._make("an_scope")
                select, _ = self._select(n)
                ctes.append(f"{n} AS ({select})")
            else:
                ctes.append(f"{n} AS (SELECT * FROM {self._make(n)})")
        before: list[Any] = []
        if "events" in names:  # the live view: matching events of any day, read in place
            cond, before = self.filters.events_where("e")
            table = "events" if self.postgres else "main.events"  # not the CTE itself
            ctes.append(f"events AS (SELECT * FROM {table} e WHERE {cond})")
        body = _HINT.sub("", sql).lstrip()
        body = ", " + body[5:] if body[:5].upper() == "WITH " else " " + body
        return super().fetch("WITH " + ", ".join(ctes) + body, [*before, *params])

    def close(self) -> None:
        """Drop the temporary tables."""
        for temp in self.made.values():
            super().execute(f"DROP TABLE IF EXISTS {temp}")
        self.made.clear()


# What a breakdown filter means for the metrics built on per-install rollups that cannot be
# derived from the matching events alone (shown as the panel's note).
NOTES = {
    "new-installs": "with a breakdown filter: installs first seen that day (by any event)"
    " that had a matching event that day",
    "heavy-installs": "with a breakdown filter: matching events within the range",
    "release-health": "with a breakdown filter: first seen is the first matching event from"
    " the range's first week on",
}


def note(name: str, f: Filters, given: str | None) -> str | None:
    """The note of metric ``name`` over ``f``: its own, and what a breakdown filter means."""
    extra = NOTES.get(name) if f.breakdown else None
    return "; ".join(n for n in (given, extra) if n) or None


@contextmanager
def scoped(db: Db, f: Filters) -> Iterator[Db]:
    """``db`` itself without a breakdown filter, else a ``ScopedDb`` over the filters
    (its temporary tables dropped afterwards)."""
    if not f.breakdown:
        yield db
        return
    sdb = ScopedDb(db, f)
    try:
        yield sdb
    except BaseException:
        # The first error is the one to see: a failed PostgreSQL transaction refuses the
        # DROP (and its rollback drops the tables); SQLite drops them here.
        with suppress(Exception):
            sdb.close()
        raise
    sdb.close()
