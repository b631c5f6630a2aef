"""``an_install_weeks``: events per (install, Monday-based week); ``an_active``'s weekly
counts come from it, and the growth panel reads it."""

from __future__ import annotations

from iconiq.server.analytics.db import Db
from iconiq.server.analytics.rollups.base import WEEK, add_counts, refill, subtract_counts
from iconiq.server.calendar import week_end, week_of, week_sql, week_start

NAME = "an_install_weeks"
COLUMNS = ("install_id", "week", "events")
KEYS = 2


def rows_from(dialect: str, src: str) -> str:
    """The rows of ``an_install_weeks`` computed from the event rows of ``src``."""
    return f"SELECT e.install_id, {WEEK}, count(*) FROM {src} e GROUP BY 1, 2"


def rebuild(dialect: str) -> list[str]:
    """From ``an_install_days`` (rebuilt before), much smaller than ``events``."""
    weeks = f"SELECT install_id, {week_sql('day')}, sum(events) FROM an_install_days GROUP BY 1, 2"
    return refill(NAME, COLUMNS, weeks)


def add(dialect: str, src: str) -> list[str]:
    return [add_counts(NAME, COLUMNS, KEYS, rows_from(dialect, src))]


def remove(dialect: str, src: str) -> list[str]:
    return subtract_counts(NAME, COLUMNS, KEYS, rows_from(dialect, src), "events")


def expire(db: Db, cut: int) -> None:
    """Drop the weeks before ``cut``'s and recount the week that straddles it from the
    days left in ``an_install_days``."""
    week = week_of(cut)
    db.execute(f"DELETE FROM {NAME} WHERE week <= ?", (week,))
    db.execute(
        f"INSERT INTO {NAME} ({', '.join(COLUMNS)}) SELECT install_id, ?, sum(events)"
        " FROM an_install_days WHERE day BETWEEN ? AND ? GROUP BY install_id",
        (week, week_start(week), week_end(week)),
    )
