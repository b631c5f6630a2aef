"""Rebuilding and expiring every rollup, and bulk loads without triggers.

- ``rebuild(db)``: recompute every rollup from ``events`` in a few set-based
  statements and clear the pending rows; used after bulk loads and as the
  exactness reference.
- ``expire(db, cutoff_ms)``: called by retention after expired events went. It
  folds first (so a pending +1 of an expired day cannot bring it back later).
  Whole PostgreSQL partitions are dropped without firing triggers, so every
  rollup forgets the whole expired days itself; those straddling the cutoff
  (a week, an install's first day) are recounted from ``an_install_days``.
- ``suspended_triggers``: drop the triggers for a bulk load, rebuild after.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from iconiq.server.analytics.db import Db
from iconiq.server.analytics.rollups import folding, pending
from iconiq.server.analytics.rollups.tables import ROLLUPS, TABLES
from iconiq.server.calendar import day_of


def rebuild(db: Db) -> None:
    """Recompute every rollup table from ``events`` and drop the pending rows (inside the
    caller's transaction). PostgreSQL: no writer of ``events`` may be half-way (its
    pending rows would be counted twice or lost), so they are waited for and held off."""
    if db.postgres:
        db.execute("LOCK TABLE events IN SHARE MODE")
        folding.lock(db)
    db.execute("DELETE FROM an_pending")
    for rollup in ROLLUPS:
        for statement in rollup.rebuild(db.dialect):
            db.execute(statement)
    if db.postgres:
        for table in TABLES:
            db.execute(f"ANALYZE {table}")


def expire(db: Db, cutoff_ms: int) -> None:
    """Forget the rollups of every whole day before ``cutoff_ms`` (all its events are gone)
    and recount the rows that straddle it."""
    folding.apply_pending(db)
    cut = day_of(cutoff_ms)
    for rollup in ROLLUPS:
        rollup.expire(db, cut)


def create_triggers(db: Db) -> None:
    for statement in pending.create_sql(db.dialect):
        db.execute(statement)


def drop_triggers(db: Db) -> None:
    for statement in pending.drop_sql(db.dialect):
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
