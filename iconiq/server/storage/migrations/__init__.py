"""Server schema migrations: one module per store, each a list of named steps that only grows.

- ``sqlite.MIGRATIONS`` and ``postgres.MIGRATIONS``: every step of that dialect, the
  core storage ones (``0001_events`` …) and then the analytics ones
  (``analytics_0001_rollups`` …), in the order they are applied.
- A step is frozen SQL text, the statements of its own time, never a call into
  today's code (the table builders, trigger generators, rebuild): what a migration
  did when it shipped, it does again next year. A step that needs a value made at
  run time (a random key) is a small function holding its own SQL.
- ``migrate_sqlite`` / ``migrate_postgres``: apply the steps not yet recorded in
  ``schema_migrations``, each inside one transaction together with its row, so a
  schema is never half-applied. Concurrent runners are serialized (SQLite:
  ``BEGIN IMMEDIATE``; PostgreSQL: an advisory lock).

A name, once released, is never changed: databases record the names they applied.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

# Arbitrary constant shared by every iconiq-server: "serialize migrations".
MIGRATION_LOCK_KEY = 0x1C0_0001

# Statements run one by one, or a function given the open connection.
Step = Sequence[str] | Callable[[Any], None]


@dataclass(frozen=True)
class Migration:
    name: str
    step: Step


def check_names(migrations: Sequence[Migration]) -> None:
    names = [m.name for m in migrations]
    if len(set(names)) != len(names):
        raise RuntimeError("duplicate migration names")


def _run(conn: Any, step: Step) -> None:
    if callable(step):
        step(conn)
        return
    for statement in step:
        conn.execute(statement)


def migrate_sqlite(conn: sqlite3.Connection, migrations: Sequence[Migration]) -> list[str]:
    """Apply pending migrations on a sqlite3 connection; return the names applied."""
    check_names(migrations)
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
                _run(conn, migration.step)
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


def migrate_postgres(conn: Any, migrations: Sequence[Migration]) -> list[str]:
    """Apply pending migrations on a psycopg connection; return the names applied."""
    check_names(migrations)
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
            _run(conn, migration.step)
            conn.execute(
                "INSERT INTO schema_migrations (name, applied_at) VALUES (%s, %s)",
                (migration.name, int(time.time() * 1000)),
            )
            applied.append(migration.name)
    return applied
