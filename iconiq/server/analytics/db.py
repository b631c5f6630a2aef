"""One way to run SQL on either database: ``Db``, a connection that knows its dialect.

Queries are written once with ``?`` placeholders; ``Db`` turns them into
psycopg's ``%s`` on PostgreSQL. Rows come back as tuples on both. Everything in
analytics takes a ``Db`` (never a connection and a dialect side by side); the
stores hand one out with ``store.db()``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal

Dialect = Literal["sqlite", "postgres"]


def sql_for(dialect: str, sql: str) -> str:
    """Turn ``?`` placeholders into psycopg's ``%s`` (and escape literal ``%``)."""
    if dialect == "postgres":
        return sql.replace("%", "%%").replace("?", "%s")
    return sql


class Db:
    """A DB-API connection (sqlite3 or psycopg) and its dialect."""

    __slots__ = ("conn", "dialect")

    def __init__(self, conn: Any, dialect: Dialect) -> None:
        self.conn = conn
        self.dialect: Dialect = dialect

    @property
    def postgres(self) -> bool:
        return self.dialect == "postgres"

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Run one statement, discarding any result."""
        cur = self.conn.cursor()
        try:
            if params:
                cur.execute(sql_for(self.dialect, sql), tuple(params))
            else:
                cur.execute(sql)
        finally:
            cur.close()

    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one query and return all its rows as tuples."""
        cur = self.conn.cursor()
        try:
            cur.execute(sql_for(self.dialect, sql), tuple(params))
            return [tuple(row) for row in cur.fetchall()]
        finally:
            cur.close()

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """The first column of the first row, or None."""
        rows = self.fetch(sql, params)
        return rows[0][0] if rows else None

    @property
    def in_transaction(self) -> bool:
        if self.postgres:
            return bool(self.conn.info.transaction_status != 0)
        return bool(self.conn.in_transaction)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """A write transaction: PostgreSQL's ``conn.transaction()``; SQLite ``BEGIN
        IMMEDIATE`` (the database write lock), committed on a clean exit."""
        if self.postgres:
            with self.conn.transaction():
                yield
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            self.conn.commit()
        except BaseException:
            self.conn.rollback()
            raise
