"""Folding: apply the committed ``an_pending`` rows to the rollups, exactly once.

``fold(db)`` runs in its own transaction (or inside the caller's, if
one is open) and one folder at a time: PostgreSQL takes a transaction-level
advisory lock, SQLite the database write lock (``BEGIN IMMEDIATE``). It moves
the pending rows into per-session temporary tables (``pending.take``), then
applies them set-based: every rollup's ``add`` over the stored rows (reverse
``ROLLUPS`` order), then every rollup's ``remove`` over the removed ones
(``ROLLUPS`` order). Added before removed: counts never go below their final
value in between, and every removed event is either already counted or among the
added ones, so each step starts from the rollups of a real set of events. Only
one fold runs at a time, so a rollup's "first event of this install that
day/week" checks see every earlier fold's work and no other writer's.

Taking the rows and applying them commit together: a fold that fails or dies
part-way leaves the pending rows where they were and the rollups untouched.
Every metric read folds first; the server also folds every few seconds
(``run_periodically``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from starlette.concurrency import run_in_threadpool

from iconiq.server.analytics.db import Db
from iconiq.server.analytics.rollups import pending
from iconiq.server.analytics.rollups.tables import ROLLUPS

# Arbitrary constant shared by every iconiq-server: "one rollup folder at a time".
FOLD_LOCK_KEY = 0x1C0_0004
# Fewer pending rows than this: skip ANALYZE of the temporary tables.
_ANALYZE_AT = 1000
# A read folds what is pending itself (answers exact as of the read) unless a flood left
# more rows than this: then it answers from the rollups as last folded, says so, and the
# periodic folder catches up, so no reader waits seconds on someone else's upload burst.
READ_FOLD_LIMIT = 2_000

log = logging.getLogger(__name__)


def fold(db: Db, wait: bool = True) -> int:
    """Apply every committed pending row to the rollups; return how many were applied.
    ``wait=False``: return 0 at once when another PostgreSQL session is folding."""
    if db.in_transaction:  # join the caller's transaction
        return apply_pending(db, wait)
    if not db.postgres and not db.scalar("SELECT EXISTS (SELECT 1 FROM an_pending)"):
        return 0  # SQLite: no write lock taken when there is nothing to fold
    with db.transaction():
        return apply_pending(db, wait)


def fold_for_read(db: Db, limit: int | None = None) -> int:
    """Fold before a read; how many pending rows were left to the periodic folder (0: none,
    the answer is exact as of the read). ``limit`` defaults to ``READ_FOLD_LIMIT``."""
    limit = READ_FOLD_LIMIT if limit is None else limit
    count = "SELECT count(*) FROM (SELECT 1 FROM an_pending LIMIT ?) AS p"
    if db.postgres and not db.in_transaction:
        with db.transaction():  # end the read's transaction before folding in its own
            backlog = int(db.scalar(count, (int(limit) + 1,)))
    else:
        backlog = int(db.scalar(count, (int(limit) + 1,)))
    if backlog > limit:
        return backlog
    fold(db)
    return 0


def lock(db: Db, wait: bool = True) -> bool:
    """Become the only folder until the transaction ends (SQLite: the write lock is)."""
    if not db.postgres:
        return True
    if wait:
        db.execute("SELECT pg_advisory_xact_lock(?)", (FOLD_LOCK_KEY,))
        return True
    return bool(db.scalar("SELECT pg_try_advisory_xact_lock(?)", (FOLD_LOCK_KEY,)))


def statements(dialect: str) -> tuple[list[str], list[str]]:
    """(the statements adding the rows of ``pending.ADDED``, those removing the rows of
    ``pending.REMOVED``), in the order they must run."""
    added = [s for r in reversed(ROLLUPS) for s in r.add(dialect, pending.ADDED)]
    removed = [s for r in ROLLUPS for s in r.remove(dialect, pending.REMOVED)]
    return added, removed


def apply_pending(db: Db, wait: bool = True) -> int:
    """``fold`` inside the caller's (write) transaction."""
    if not db.scalar("SELECT EXISTS (SELECT 1 FROM an_pending)"):
        return 0
    if not lock(db, wait):
        return 0
    pending.take(db)
    n = 0
    for table, steps in zip((pending.ADDED, pending.REMOVED), statements(db.dialect), strict=True):
        rows = int(db.scalar(f"SELECT count(*) FROM {table}"))
        if not rows:
            continue
        n += rows
        if db.postgres and rows >= _ANALYZE_AT:
            db.execute(f"ANALYZE {table}")
        for statement in steps:
            db.execute(statement)
        db.execute(f"DELETE FROM {table}")
    return n


def fold_store(store: Any, wait: bool = True) -> int:
    """Fold on one of the store's connections."""
    with store.db() as db:
        return fold(db, wait)


async def run_periodically(store: Any, interval: float) -> None:
    """Fold every ``interval`` seconds until cancelled (several servers: whoever holds the
    lock folds, the others skip that round)."""
    while True:
        await asyncio.sleep(interval)
        try:
            await run_in_threadpool(fold_store, store, False)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - retried at the next interval
            log.warning("rollup fold failed: %s", type(exc).__name__)
