"""Creating, folding, rebuilding and expiring the rollup tables (see ``schema``,
``triggers`` and ``fold``).

- The tables, bucket bounds and triggers are created by the server migrations
  (``iconiq.server.storage.migrations``), which keep their own frozen SQL.
- ``fold(db)``: apply the pending rows the triggers appended (every
  metric read does it first, and the server every few seconds).
- ``rebuild(db)``: recompute every rollup from ``events`` in a few
  set-based statements and clear the pending rows; used after bulk loads and as
  the exactness reference.
- ``expire(db, cutoff_ms)``: called by retention after expired events
  went. It folds first (so a pending +1 of an expired day cannot bring it back
  later). Whole PostgreSQL partitions are dropped without firing triggers, so the
  rows of every whole expired day are removed here, and the week and first-seen
  rollups that straddle the cutoff are recomputed from the per-day table.
- ``suspended_triggers``: drop the triggers for a bulk load, rebuild after.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from iconiq.server.analytics import triggers
from iconiq.server.analytics.aggregates import (
    DAILY_COLUMNS,
    HIST_COLUMNS,
    daily_selects,
    hist_selects,
)
from iconiq.server.analytics.db import Db
from iconiq.server.analytics.first_days import first_days_sql
from iconiq.server.analytics.fold import apply_pending
from iconiq.server.analytics.fold import fold as fold
from iconiq.server.analytics.fold import lock as fold_lock
from iconiq.server.analytics.schema import TABLES
from iconiq.server.calendar import day_of, day_sql, week_end, week_of, week_sql, week_start


def create_triggers(db: Db) -> None:
    for statement in triggers.create_sql(db.dialect):
        db.execute(statement)


def drop_triggers(db: Db) -> None:
    for statement in triggers.drop_sql(db.dialect):
        db.execute(statement)


@contextmanager
def suspended_triggers(db: Db) -> Iterator[None]:
    """Bulk-load events without per-row rollup work; rebuild and re-arm afterwards."""
    drop_triggers(db)
    try:
        yield
    finally:
        rebuild(db)
        create_triggers(db)


# Distinct installs per week by version (``wv``), by command (``wc``) and by both (``wx``):
# (period, the version and command columns of the an_active row, the GROUP BY).
WEEKLY_ACTIVE = (
    ("wv", "version, ''", "version"),
    ("wc", "'', command", "command"),
    ("wx", "version, command", "version, command"),
)


def weekly_active_sql(week: str, where: str = "") -> list[str]:
    """Statements inserting the ``WEEKLY_ACTIVE`` rows of ``an_active`` counted from
    ``an_install_days`` (``week``: SQL of the row's week, or one week's number; ``where``:
    a condition)."""
    by = "" if week.isdigit() else f"{week}, "
    return [
        "INSERT INTO an_active (period, start, version, command, installs)"
        f" SELECT '{period}', {week}, {cols}, count(DISTINCT install_id) FROM an_install_days"
        f"{' WHERE ' + where if where else ''} GROUP BY {by}{group}"
        for period, cols, group in WEEKLY_ACTIVE
    ]


ACTIVE_REBUILD = [
    "INSERT INTO an_active (period, start, version, installs)"
    " SELECT 'd', day, '', count(DISTINCT install_id) FROM an_install_days GROUP BY day",
    "INSERT INTO an_active (period, start, version, installs)"
    " SELECT 'v', day, version, count(DISTINCT install_id) FROM an_install_days"
    " GROUP BY day, version",
    "INSERT INTO an_active (period, start, version, installs)"
    " SELECT 'w', week, '', count(*) FROM an_install_weeks GROUP BY week",
    "INSERT INTO an_active (period, start, version, command, installs)"
    " SELECT 'c', day, '', command, count(DISTINCT install_id) FROM an_install_days"
    " GROUP BY day, command",
    "INSERT INTO an_active (period, start, version, command, installs)"
    " SELECT 'x', day, version, command, count(*) FROM an_install_days"
    " GROUP BY day, version, command",
    *weekly_active_sql(week_sql("day")),
]


def rebuild_sql(dialect: str) -> list[str]:
    """Statements that recompute every rollup table from ``events``."""
    out = [f"DELETE FROM {table}" for table in TABLES]
    daily = f"INSERT INTO an_daily ({', '.join(DAILY_COLUMNS)}) "
    hist = f"INSERT INTO an_hist ({', '.join(HIST_COLUMNS)}) "
    out += [daily + select for select in daily_selects(dialect, "events")]
    out += [hist + select for select in hist_selects(dialect, "events")]
    key = f"{day_sql('e.timestamp')}, e.version, e.command"
    out += [
        "INSERT INTO an_install_days (install_id, day, version, command, events, failures)"
        f" SELECT e.install_id, {key}, count(*), sum(CASE WHEN e.success THEN 0 ELSE 1 END)"
        " FROM events e GROUP BY 1, 2, 3, 4",
        "INSERT INTO an_install_weeks (install_id, week, events)"
        f" SELECT install_id, {week_sql('day')}, sum(events) FROM an_install_days GROUP BY 1, 2",
        *ACTIVE_REBUILD,
        "INSERT INTO an_first_seen (install_id, first_day)"
        " SELECT install_id, min(day) FROM an_install_days GROUP BY 1",
        first_days_sql(),
    ]
    return out


def rebuild(db: Db) -> None:
    """Recompute every rollup table from ``events`` and drop the pending rows (inside the
    caller's transaction). PostgreSQL: no writer of ``events`` may be half-way (its
    pending rows would be counted twice or lost), so they are waited for and held off."""
    if db.postgres:
        db.execute("LOCK TABLE events IN SHARE MODE")
        fold_lock(db)
    db.execute("DELETE FROM an_pending")
    for statement in rebuild_sql(db.dialect):
        db.execute(statement)
    if db.postgres:
        for table in TABLES:
            db.execute(f"ANALYZE {table}")


def expire(db: Db, cutoff_ms: int) -> None:
    """Forget the rollups of every whole day before ``cutoff_ms`` (all its events are gone)
    and recompute the week and first-seen rows that depended on them."""
    apply_pending(db)
    cut = day_of(cutoff_ms)
    week = week_of(cut)
    first, last = week_start(week), week_end(week)
    for statement, params in (
        ("DELETE FROM an_daily WHERE day < ?", (cut,)),
        ("DELETE FROM an_hist WHERE day < ?", (cut,)),
        ("DELETE FROM an_install_days WHERE day < ?", (cut,)),
        ("DELETE FROM an_active WHERE period IN ('d', 'v', 'c', 'x') AND start < ?", (cut,)),
        ("DELETE FROM an_install_weeks WHERE week <= ?", (week,)),
        (
            "INSERT INTO an_install_weeks (install_id, week, events)"
            " SELECT install_id, ?, sum(events) FROM an_install_days"
            " WHERE day BETWEEN ? AND ? GROUP BY install_id",
            (week, first, last),
        ),
        ("DELETE FROM an_active WHERE period = 'w' AND start <= ?", (week,)),
        ("DELETE FROM an_active WHERE period IN ('wv', 'wc', 'wx') AND start <= ?", (week,)),
        *((sql, (first, last)) for sql in weekly_active_sql(str(week), "day BETWEEN ? AND ?")),
        (
            "INSERT INTO an_active (period, start, version, installs)"
            " SELECT 'w', week, '', count(*) FROM an_install_weeks WHERE week = ? GROUP BY week",
            (week,),
        ),
        (
            "UPDATE an_first_seen SET first_day = (SELECT min(d.day) FROM an_install_days d"
            " WHERE d.install_id = an_first_seen.install_id) WHERE first_day < ?",
            (cut,),
        ),
        ("DELETE FROM an_first_seen WHERE first_day IS NULL", ()),
        # The installs first seen before the cutoff have a new first day (or none).
        ("DELETE FROM an_first_days WHERE day < ?", (cut,)),
        (
            first_days_sql(
                "s.first_day >= ? AND NOT EXISTS (SELECT 1 FROM an_first_days f"
                " WHERE f.install_id = s.install_id)"
            ),
            (cut,),
        ),
    ):
        db.execute(statement, params)
