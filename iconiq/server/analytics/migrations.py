"""Analytics schema (rollup tables and the triggers that keep them exact), applied after
core storage. This list only grows."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from iconiq.server.storage.migration import Migration


def _rollups_sqlite(conn: Any) -> None:
    from iconiq.server.analytics.rollups import install

    install(conn, "sqlite")


def _rollups_postgres(conn: Any) -> None:
    from iconiq.server.analytics.rollups import install

    install(conn, "postgres")


def _active_sqlite(conn: Any) -> None:
    from iconiq.server.analytics.rollups import upgrade_active

    upgrade_active(conn, "sqlite")


def _active_postgres(conn: Any) -> None:
    from iconiq.server.analytics.rollups import upgrade_active

    upgrade_active(conn, "postgres")


def _triggers_sqlite(conn: Any) -> None:
    from iconiq.server.analytics.rollups import create_triggers, drop_triggers

    drop_triggers(conn, "sqlite")
    create_triggers(conn, "sqlite")


def _triggers_postgres(conn: Any) -> None:
    from iconiq.server.analytics.rollups import create_triggers, drop_triggers

    drop_triggers(conn, "postgres")
    create_triggers(conn, "postgres")


def _deferred_sqlite(conn: Any) -> None:
    from iconiq.server.analytics.rollups import create_triggers, drop_triggers

    drop_triggers(conn, "sqlite")
    create_triggers(conn, "sqlite")  # an_pending first, then the appending triggers


def _deferred_postgres(conn: Any) -> None:
    from iconiq.server.analytics.rollups import create_triggers, drop_triggers

    drop_triggers(conn, "postgres")
    create_triggers(conn, "postgres")


def _pseudonym_key(dialect: str) -> Callable[[Any], None]:
    """``an_secrets`` and a fresh random key for install pseudonyms (``pseudonym``)."""

    def step(conn: Any) -> None:
        mark = "%s" if dialect == "postgres" else "?"
        conn.execute("CREATE TABLE an_secrets (name text PRIMARY KEY, value text NOT NULL)")
        conn.execute(
            f"INSERT INTO an_secrets (name, value) VALUES ({mark}, {mark})",
            ("install_pseudonym_key", secrets.token_hex(32)),
        )

    return step


MIGRATIONS: list[Migration] = [
    Migration("analytics_0001_rollups", sqlite=_rollups_sqlite, postgres=_rollups_postgres),
    Migration("analytics_0002_active_by_version", sqlite=_active_sqlite, postgres=_active_postgres),
    # Re-create the triggers (PostgreSQL gained a per-install-day advisory lock).
    Migration("analytics_0003_trigger_lock", sqlite=_triggers_sqlite, postgres=_triggers_postgres),
    # PostgreSQL: statement-level triggers over transition tables replace the row triggers.
    Migration(
        "analytics_0004_statement_triggers", sqlite=_triggers_sqlite, postgres=_triggers_postgres
    ),
    # an_active gains per-command and per-version-and-command daily rows.
    Migration("analytics_0005_active_by_command", sqlite=_active_sqlite, postgres=_active_postgres),
    # PostgreSQL trigger statements run through EXECUTE (planned with current table sizes).
    Migration(
        "analytics_0006_dynamic_triggers", sqlite=_triggers_sqlite, postgres=_triggers_postgres
    ),
    # PostgreSQL triggers upsert in key order (no deadlocks between concurrent writers).
    Migration(
        "analytics_0007_sorted_upserts", sqlite=_triggers_sqlite, postgres=_triggers_postgres
    ),
    # Deferred rollups: the triggers only append to an_pending; fold applies it later.
    Migration(
        "analytics_0008_deferred_rollups", sqlite=_deferred_sqlite, postgres=_deferred_postgres
    ),
    # The key of the install pseudonyms analytics show instead of install ids.
    Migration(
        "analytics_0009_pseudonym_key",
        sqlite=_pseudonym_key("sqlite"),
        postgres=_pseudonym_key("postgres"),
    ),
]
