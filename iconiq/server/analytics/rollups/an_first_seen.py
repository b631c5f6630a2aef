"""``an_first_seen``: each install's first day with a stored event (new installs, in the
adoption and growth panels)."""

from __future__ import annotations

from iconiq.server.analytics.db import Db
from iconiq.server.analytics.rollups.base import DAY, refill, upsert

NAME = "an_first_seen"
COLUMNS = ("install_id", "first_day")
_RECOUNT = (
    f"UPDATE {NAME} SET first_day = (SELECT min(d.day) FROM an_install_days d"
    f" WHERE d.install_id = {NAME}.install_id)"
)


def rows_from(dialect: str, src: str) -> str:
    """The rows of ``an_first_seen`` computed from the event rows of ``src``."""
    return f"SELECT e.install_id, min({DAY}) FROM {src} e GROUP BY 1"


def rebuild(dialect: str) -> list[str]:
    """From ``an_install_days`` (rebuilt before)."""
    return refill(NAME, COLUMNS, "SELECT install_id, min(day) FROM an_install_days GROUP BY 1")


def add(dialect: str, src: str) -> list[str]:
    earlier = (
        f"first_day = CASE WHEN {NAME}.first_day IS NULL"
        f" OR excluded.first_day < {NAME}.first_day"
        f" THEN excluded.first_day ELSE {NAME}.first_day END"
    )
    return [upsert(NAME, COLUMNS, 1, rows_from(dialect, src), earlier)]


def remove(dialect: str, src: str) -> list[str]:
    """Recount the installs of ``src`` from ``an_install_days`` (removed from before)."""
    installs = f"install_id IN (SELECT e.install_id FROM {src} e)"
    return [
        f"{_RECOUNT} WHERE {installs}",
        f"DELETE FROM {NAME} WHERE first_day IS NULL AND {installs}",
    ]


def expire(db: Db, cut: int) -> None:
    db.execute(f"{_RECOUNT} WHERE first_day < ?", (cut,))
    db.execute(f"DELETE FROM {NAME} WHERE first_day IS NULL")
