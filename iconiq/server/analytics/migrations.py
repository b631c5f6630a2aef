"""Analytics schema (rollup tables and the triggers that keep them exact), applied after
core storage. This list only grows."""

from __future__ import annotations

from typing import Any

from iconiq.server.storage.migration import Migration


def _rollups_sqlite(conn: Any) -> None:
    from iconiq.server.analytics.rollups import install

    install(conn, "sqlite")


def _rollups_postgres(conn: Any) -> None:
    from iconiq.server.analytics.rollups import install

    install(conn, "postgres")


MIGRATIONS: list[Migration] = [
    Migration("analytics_0001_rollups", sqlite=_rollups_sqlite, postgres=_rollups_postgres),
]
