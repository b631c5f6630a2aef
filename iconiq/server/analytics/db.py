"""One way to run SQL on either database: ``?`` placeholders, rows as tuples."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def sql_for(dialect: str, sql: str) -> str:
    """Turn ``?`` placeholders into psycopg's ``%s`` (and escape literal ``%``)."""
    if dialect == "postgres":
        return sql.replace("%", "%%").replace("?", "%s")
    return sql


def execute(conn: Any, dialect: str, sql: str, params: Sequence[Any] = ()) -> None:
    """Run one statement, discarding any result."""
    cur = conn.cursor()
    try:
        if params:
            cur.execute(sql_for(dialect, sql), tuple(params))
        else:
            cur.execute(sql)
    finally:
        cur.close()


def fetch(conn: Any, dialect: str, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Run one query and return all its rows as tuples."""
    cur = conn.cursor()
    try:
        cur.execute(sql_for(dialect, sql), tuple(params))
        return [tuple(row) for row in cur.fetchall()]
    finally:
        cur.close()


def scalar(conn: Any, dialect: str, sql: str, params: Sequence[Any] = ()) -> Any:
    """The first column of the first row, or None."""
    rows = fetch(conn, dialect, sql, params)
    return rows[0][0] if rows else None
