"""What every rollup module provides (``Rollup``) and the SQL pieces they share.

A rollup is a module (``an_daily``, ``an_hist`` …): mypy checks each one in
``ROLLUPS`` against this protocol. Every SELECT reads its event rows under the
alias ``e``; ``src`` is a table name (``events``, a fold's temporary table of
``an_pending`` rows) or a parenthesised subquery.
"""

from __future__ import annotations

from typing import Protocol

from iconiq.server.analytics.db import Db
from iconiq.server.calendar import day_sql, week_sql

DAY = day_sql("e.timestamp")  # the UTC day of the event row ``e``
WEEK = week_sql(DAY)  # its Monday-based week
FAILED = "CASE WHEN e.success THEN 0 ELSE 1 END"


class Rollup(Protocol):
    """One rollup table and everything done to it."""

    @property
    def NAME(self) -> str:  # noqa: N802 - a module constant
        """The table."""

    @property
    def COLUMNS(self) -> tuple[str, ...]:  # noqa: N802 - a module constant
        """Its columns, in table order (every SELECT yields them so)."""

    def rows_from(self, dialect: str, src: str) -> str:
        """One SELECT of the table's rows computed from the event rows of ``src``."""

    def rebuild(self, dialect: str) -> list[str]:
        """Statements recomputing the table from ``events`` (and the rollups listed before
        it in ``ROLLUPS``)."""

    def add(self, dialect: str, src: str) -> list[str]:
        """Statements adding the ``an_pending`` rows of ``src`` (all stored events)."""

    def remove(self, dialect: str, src: str) -> list[str]:
        """Statements taking away the ``an_pending`` rows of ``src`` (all removed events,
        every one of them counted before)."""

    def expire(self, db: Db, cut: int) -> None:
        """Forget every day before day ``cut`` (all its events are gone)."""


def refill(table: str, columns: tuple[str, ...], *selects: str) -> list[str]:
    """Statements emptying ``table`` and inserting the rows of each of ``selects``."""
    insert = f"INSERT INTO {table} ({', '.join(columns)}) "
    return [f"DELETE FROM {table}", *(insert + select for select in selects)]


def upsert(table: str, columns: tuple[str, ...], keys: int, select: str, update: str) -> str:
    """``INSERT`` the rows of ``select`` into ``table``, merging rows whose first ``keys``
    columns exist already with ``update`` (a SET list over ``excluded``)."""
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) SELECT * FROM ({select}) AS s WHERE true"
        f" ON CONFLICT ({', '.join(columns[:keys])}) DO UPDATE SET {update}"
    )


def add_counts(table: str, columns: tuple[str, ...], keys: int, select: str) -> str:
    """``upsert`` adding the counts (the columns after the keys) of existing rows."""
    update = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in columns[keys:])
    return upsert(table, columns, keys, select, update)


def subtract_counts(
    table: str, columns: tuple[str, ...], keys: int, select: str, zero: str
) -> list[str]:
    """Statements subtracting the counts of ``select``'s rows from ``table``'s, then
    deleting the rows whose ``zero`` column fell to 0."""
    cte = f"WITH d ({', '.join(columns)}) AS ({select}) "
    key = ", ".join(columns[:keys])
    match = " AND ".join(f"t.{c} = d.{c}" for c in columns[:keys])
    sub = ", ".join(f"{c} = t.{c} - d.{c}" for c in columns[keys:])
    return [
        f"{cte}UPDATE {table} AS t SET {sub} FROM d WHERE {match}",
        f"{cte}DELETE FROM {table} WHERE {zero} = 0 AND ({key}) IN (SELECT {key} FROM d)",
    ]
