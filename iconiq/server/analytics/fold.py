"""Folding: apply the committed ``an_pending`` rows to the rollups, exactly once.

``fold(conn, dialect)`` runs in its own transaction (or inside the caller's, if
one is open) and one folder at a time: PostgreSQL takes a transaction-level
advisory lock, SQLite the database write lock (``BEGIN IMMEDIATE``). It moves
the pending rows into per-session temporary tables (PostgreSQL: ``DELETE ...
RETURNING``, which sees only committed rows, so those of transactions still
inserting stay for the next fold), then applies them set-based
(``fold_sql``). Taking the rows and applying them commit together: a fold that
fails or dies part-way leaves the pending rows where they were and the rollups
untouched. Every metric read folds first; the server also folds every few
seconds (``run_periodically``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from starlette.concurrency import run_in_threadpool

from iconiq.server.analytics import fold_sql
from iconiq.server.analytics.db import execute, scalar
from iconiq.server.analytics.triggers import PENDING_COLUMNS

# Arbitrary constant shared by every iconiq-server: "one rollup folder at a time".
FOLD_LOCK_KEY = 0x1C0_0004
_TEMP = ("an_fold_added", "an_fold_removed")
_COLS = ", ".join(("id", "sign", *PENDING_COLUMNS))
# Fewer pending rows than this: skip ANALYZE of the temporary tables.
_ANALYZE_AT = 1000
# A read folds what is pending itself (answers exact as of the read) unless a flood left
# more rows than this: then it answers from the rollups as last folded, says so, and the
# periodic folder catches up, so no reader waits seconds on someone else's upload burst.
READ_FOLD_LIMIT = 2_000

log = logging.getLogger("iconiq.server.analytics.fold")


def fold(conn: Any, dialect: str, wait: bool = True) -> int:
    """Apply every committed pending row to the rollups; return how many were applied.
    ``wait=False``: return 0 at once when another PostgreSQL session is folding."""
    if dialect == "postgres":
        if conn.info.transaction_status != 0:  # already in a transaction: join it
            return apply_pending(conn, dialect, wait)
        with conn.transaction():
            return apply_pending(conn, dialect, wait)
    if conn.in_transaction:
        return apply_pending(conn, dialect, wait)
    if not scalar(conn, dialect, "SELECT EXISTS (SELECT 1 FROM an_pending)"):
        return 0
    conn.execute("BEGIN IMMEDIATE")
    try:
        n = apply_pending(conn, dialect, wait)
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    return n


def fold_for_read(conn: Any, dialect: str, limit: int | None = None) -> int:
    """Fold before a read; how many pending rows were left to the periodic folder (0: none,
    the answer is exact as of the read). ``limit`` defaults to ``READ_FOLD_LIMIT``."""
    limit = READ_FOLD_LIMIT if limit is None else limit
    count = f"SELECT count(*) FROM (SELECT 1 FROM an_pending LIMIT {int(limit) + 1}) AS p"
    if dialect == "postgres" and conn.info.transaction_status == 0:
        with conn.transaction():  # end the read's transaction before folding in its own
            backlog = int(scalar(conn, dialect, count))
    else:
        backlog = int(scalar(conn, dialect, count))
    if backlog > limit:
        return backlog
    fold(conn, dialect)
    return 0


def lock(conn: Any, dialect: str, wait: bool = True) -> bool:
    """Become the only folder until the transaction ends (SQLite: the write lock is)."""
    if dialect != "postgres":
        return True
    if wait:
        execute(conn, dialect, f"SELECT pg_advisory_xact_lock({FOLD_LOCK_KEY})")
        return True
    return bool(scalar(conn, dialect, f"SELECT pg_try_advisory_xact_lock({FOLD_LOCK_KEY})"))


def apply_pending(conn: Any, dialect: str, wait: bool = True) -> int:
    """``fold`` inside the caller's (write) transaction."""
    if not scalar(conn, dialect, "SELECT EXISTS (SELECT 1 FROM an_pending)"):
        return 0
    if not lock(conn, dialect, wait):
        return 0
    _take(conn, dialect)
    n = 0
    for table, statements in zip(
        _TEMP,
        (fold_sql.added(dialect, _TEMP[0]), fold_sql.removed(dialect, _TEMP[1])),
        strict=True,
    ):
        rows = int(scalar(conn, dialect, f"SELECT count(*) FROM {table}"))
        if not rows:
            continue
        n += rows
        if dialect == "postgres" and rows >= _ANALYZE_AT:
            execute(conn, dialect, f"ANALYZE {table}")
        for statement in statements:
            execute(conn, dialect, statement)
        execute(conn, dialect, f"DELETE FROM {table}")
    return n


def _take(conn: Any, dialect: str) -> None:
    """Move the pending rows into the (emptied) temporary tables, by sign."""
    for table in _TEMP:
        if dialect == "postgres":
            execute(
                conn, dialect,
                f"CREATE TEMP TABLE IF NOT EXISTS {table} (LIKE an_pending) ON COMMIT DELETE ROWS",
            )  # fmt: skip
        else:
            execute(conn, dialect, f"CREATE TEMP TABLE IF NOT EXISTS {table} AS"
                    " SELECT * FROM an_pending WHERE 0")  # fmt: skip
        execute(conn, dialect, f"DELETE FROM {table}")
    if dialect == "postgres":
        execute(
            conn, dialect,
            f"WITH taken AS (DELETE FROM an_pending RETURNING {_COLS}),"
            f" plus AS (INSERT INTO {_TEMP[0]} ({_COLS}) SELECT {_COLS} FROM taken"
            f" WHERE sign > 0) INSERT INTO {_TEMP[1]} ({_COLS})"
            f" SELECT {_COLS} FROM taken WHERE sign < 0",
        )  # fmt: skip
        return
    for table, cond in zip(_TEMP, ("sign > 0", "sign < 0"), strict=True):
        execute(conn, dialect, f"INSERT INTO temp.{table} ({_COLS})"
                f" SELECT {_COLS} FROM an_pending WHERE {cond}")  # fmt: skip
    execute(conn, dialect, "DELETE FROM an_pending")


def fold_store(store: Any, wait: bool = True) -> int:
    """Fold on one of the store's connections."""
    with store.connection() as conn:
        return fold(conn, store.dialect, wait)


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
