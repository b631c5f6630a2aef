"""The migration runner: core migrations, then the analytics ones, each once, in order.

Each migration runs inside one transaction together with its row in
``schema_migrations``, so a schema is never half-applied. Concurrent runners
are serialized (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: an advisory lock).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from typing import Any

from iconiq.server.storage.migration import Migration

# Arbitrary constant shared by every iconiq-server: "serialize migrations".
MIGRATION_LOCK_KEY = 0x1C0_0001


def all_migrations() -> list[Migration]:
    """Core migrations followed by the analytics engineer's."""
    from iconiq.server.analytics.migrations import MIGRATIONS as ANALYTICS
    from iconiq.server.storage.migrations_core import MIGRATIONS as CORE

    names = [m.name for m in CORE] + [m.name for m in ANALYTICS]
    if len(set(names)) != len(names):
        raise RuntimeError("duplicate migration names")
    return [*CORE, *ANALYTICS]


def split_sqlite(script: str) -> Iterator[str]:
    """Split SQL text into complete statements (triggers' BEGIN…END kept whole)."""
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip().strip(";").strip():
                yield buffer.strip()
            buffer = ""
    if buffer.strip():
        yield buffer.strip()


def migrate_sqlite(conn: sqlite3.Connection, migrations: list[Migration]) -> list[str]:
    """Apply pending migrations on a sqlite3 connection; return the names applied."""
    applied: list[str] = []
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations"
        " (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)"
    )
    conn.commit()
    for migration in migrations:
        conn.execute("BEGIN IMMEDIATE")
        try:
            done = conn.execute(
                "SELECT 1 FROM schema_migrations WHERE name = ?", (migration.name,)
            ).fetchone()
            if done is None:
                step = migration.sqlite
                if isinstance(step, str):
                    for statement in split_sqlite(step):
                        conn.execute(statement)
                else:
                    step(conn)
                conn.execute(
                    "INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)",
                    (migration.name, int(time.time() * 1000)),
                )
                applied.append(migration.name)
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
    return applied


def migrate_postgres(conn: Any, migrations: list[Migration]) -> list[str]:
    """Apply pending migrations on a psycopg connection; return the names applied."""
    applied: list[str] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations"
            " (name text PRIMARY KEY, applied_at bigint NOT NULL)"
        )
    for migration in migrations:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
            done = conn.execute(
                "SELECT 1 FROM schema_migrations WHERE name = %s", (migration.name,)
            ).fetchone()
            if done is not None:
                continue
            step = migration.postgres
            if isinstance(step, str):
                conn.execute(step)
            else:
                step(conn)
            conn.execute(
                "INSERT INTO schema_migrations (name, applied_at) VALUES (%s, %s)",
                (migration.name, int(time.time() * 1000)),
            )
            applied.append(migration.name)
    return applied
