"""The repository interface both stores implement, and opening one from a URL."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from iconiq.errors import InvalidInput
from iconiq.server.analytics.db import Db, Dialect
from iconiq.server.events import Row


class Store(Protocol):
    """Where events live. ``connection()`` hands analytics a DB-API connection
    (sqlite3 or psycopg) that is committed on a clean exit and rolled back on error."""

    dialect: Dialect
    url: str

    def connection(self) -> AbstractContextManager[Any]: ...

    def db(self) -> AbstractContextManager[Db]:
        """``connection()`` as a ``Db``: what analytics takes."""
        ...

    def migrate(self) -> list[str]:
        """Apply pending migrations; return the names applied."""
        ...

    def insert(self, rows: Sequence[Row]) -> int:
        """Store events not stored before (by ``event_id``); return how many were new."""
        ...

    def erase_install(self, install_id: str) -> int:
        """Delete every event of one install; return how many."""
        ...

    def purge_expired(self, cutoff_ms: int) -> int:
        """Delete events whose ``timestamp`` is before ``cutoff_ms``; return how many rows
        went (for dropped PostgreSQL partitions, the rows they held)."""
        ...

    def count(self) -> int: ...

    def close(self) -> None: ...


def unique_rows(rows: Sequence[Row]) -> list[Row]:
    """The rows with each event_id once (the first one wins)."""
    seen: set[str] = set()
    out: list[Row] = []
    for row in rows:
        if row.event.event_id not in seen:
            seen.add(row.event.event_id)
            out.append(row)
    return out


def open_store(url: str, pool_size: int = 10) -> Store:
    """A store for ``sqlite:///path`` or ``postgresql://…`` (``postgres://`` too)."""
    if url.startswith("sqlite:///"):
        from iconiq.server.storage.sqlite import SQLiteStore

        return SQLiteStore(url)
    if url.startswith(("postgresql://", "postgres://")):
        from iconiq.server.storage.postgres import PostgresStore

        return PostgresStore(url, pool_size=pool_size)
    raise InvalidInput("database URL must start with sqlite:/// or postgresql://")
