"""Server time arithmetic, in one place: UTC days and Monday-based weeks.

- A day is ``timestamp // DAY_MS`` (day 0 is 1970-01-01, a Thursday).
- A week is ``(day + 3) // 7``: it starts on a Monday, ``week_start(week)``, and
  ends six days later; ``(day + 3) % 7`` is the weekday, Monday 0.

The SQL builders give the same numbers inside a query, on SQLite and PostgreSQL
alike: both divide integers by truncating, which for the non-negative timestamps
and days stored here is the floor division used in Python.
"""

from __future__ import annotations

import datetime as dt
import time

DAY_MS = 86_400_000
EPOCH = dt.date(1970, 1, 1)


def day_of(timestamp_ms: int) -> int:
    """The UTC day number of a Unix-ms timestamp."""
    return timestamp_ms // DAY_MS


def today() -> int:
    """Today's UTC day number."""
    return day_of(int(time.time() * 1000))


def date_of(day: int) -> str:
    """A day number as ``YYYY-MM-DD``."""
    return (EPOCH + dt.timedelta(days=day)).isoformat()


def week_of(day: int) -> int:
    """The week a day falls in."""
    return (day + 3) // 7


def week_start(week: int) -> int:
    """The Monday (day number) that starts a week."""
    return week * 7 - 3


def week_end(week: int) -> int:
    """The Sunday (day number) that ends a week."""
    return week_start(week) + 6


def day_sql(timestamp: str) -> str:
    """SQL for the day number of a Unix-ms column or expression."""
    return f"{timestamp} / {DAY_MS}"


def week_sql(day: str) -> str:
    """SQL for the week of a day-number column or expression."""
    return f"({day} + 3) / 7"


def weekday_sql(day: str) -> str:
    """SQL for the weekday of a day-number column or expression (Monday 0 … Sunday 6)."""
    return f"({day} + 3) % 7"
