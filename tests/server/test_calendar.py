"""Day and week arithmetic: the Python helpers and the SQL builders agree, on both databases."""

from __future__ import annotations

import datetime as dt
import sqlite3
from typing import Any

import psycopg
import pytest

from iconiq.server.analytics.db import Db, Dialect
from iconiq.server.calendar import (
    DAY_MS,
    date_of,
    day_of,
    day_sql,
    week_end,
    week_of,
    week_sql,
    week_start,
    weekday_sql,
)
from tests.support.pg import fresh_database

# Around the epoch, a leap day, a year end, and today's era (and each day's last ms).
DAYS = [0, 1, 2, 3, 4, 5, 6, 7, 10, 11, 19_782, 20_453, 20_454, 20_455, 20_456, 20_820]


def test_weeks_start_on_monday_and_hold_seven_days() -> None:
    for day in DAYS:
        week = week_of(day)
        assert week_start(week) <= day <= week_end(week) == week_start(week) + 6
        assert dt.date.fromisoformat(date_of(week_start(week))).weekday() == 0
    assert date_of(0) == "1970-01-01" and week_of(0) == 0 and date_of(week_start(1)) == "1970-01-05"
    assert day_of(DAY_MS - 1) == 0 and day_of(DAY_MS) == 1


def _expected() -> list[tuple[int, int, int]]:
    out = []
    for day in DAYS:
        for ms in (day * DAY_MS, day * DAY_MS + DAY_MS - 1):
            weekday = dt.date.fromisoformat(date_of(day)).weekday()
            out.append((day_of(ms), week_of(day_of(ms)), weekday))
    return out


def _query(conn: Any, dialect: Dialect) -> list[tuple[int, int, int]]:
    d = day_sql("t.ts")
    sql = f"SELECT {d}, {week_sql(d)}, {weekday_sql(d)} FROM (SELECT CAST(? AS BIGINT) AS ts) t"
    rows = []
    for day in DAYS:
        for ms in (day * DAY_MS, day * DAY_MS + DAY_MS - 1):
            (row,) = Db(conn, dialect).fetch(sql, (ms,))
            rows.append((int(row[0]), int(row[1]), int(row[2])))
    return rows


def test_sql_agrees_on_sqlite() -> None:
    with sqlite3.connect(":memory:") as conn:
        assert _query(conn, "sqlite") == _expected()


@pytest.mark.postgres
def test_sql_agrees_on_postgres() -> None:
    with fresh_database() as url, psycopg.connect(url, connect_timeout=10) as conn:
        assert _query(conn, "postgres") == _expected()
