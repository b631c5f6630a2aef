"""``an_install_days``: events and failures per (install, day, version, command).

The per-install table the others are derived from: ``an_install_weeks``,
``an_first_seen`` and ``an_active`` rebuild and expire from it, and the adoption
and growth panels read it.
"""

from __future__ import annotations

from iconiq.server.analytics.db import Db
from iconiq.server.analytics.rollups.base import DAY, FAILED, add_counts, refill, subtract_counts

NAME = "an_install_days"
COLUMNS = ("install_id", "day", "version", "command", "events", "failures")
KEYS = 4


def rows_from(dialect: str, src: str) -> str:
    """The rows of ``an_install_days`` computed from the event rows of ``src``."""
    return (
        f"SELECT e.install_id, {DAY}, e.version, e.command, count(*), sum({FAILED})"
        f" FROM {src} e GROUP BY 1, 2, 3, 4"
    )


def rebuild(dialect: str) -> list[str]:
    return refill(NAME, COLUMNS, rows_from(dialect, "events"))


def add(dialect: str, src: str) -> list[str]:
    return [add_counts(NAME, COLUMNS, KEYS, rows_from(dialect, src))]


def remove(dialect: str, src: str) -> list[str]:
    return subtract_counts(NAME, COLUMNS, KEYS, rows_from(dialect, src), "events")


def expire(db: Db, cut: int) -> None:
    db.execute(f"DELETE FROM {NAME} WHERE day < ?", (cut,))
