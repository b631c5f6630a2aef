"""``an_install_totals``: every install's stored events, all days together.

An install's events in any range, under any filter, are at most its total, so the
heaviest installs of a long range are found by summing the range for installs taken
in order of their totals until no install left could overtake the last of the top
(``growth.heaviest``), not by summing every install. Listed after ``an_install_days``
and before ``an_first_seen`` in ``ROLLUPS``: ``expire`` recounts, from the days left,
the installs whose first day (not expired yet) was before the cutoff.
"""

from __future__ import annotations

from iconiq.server.analytics.db import Db
from iconiq.server.analytics.rollups.base import add_counts, refill, subtract_counts

NAME = "an_install_totals"
COLUMNS = ("install_id", "events")
KEYS = 1


def rows_from(dialect: str, src: str) -> str:
    """The rows of ``an_install_totals`` computed from the event rows of ``src``."""
    return f"SELECT e.install_id, count(*) FROM {src} e GROUP BY 1"


def rebuild(dialect: str) -> list[str]:
    """From ``an_install_days`` (rebuilt before)."""
    return refill(
        NAME, COLUMNS, "SELECT install_id, sum(events) FROM an_install_days GROUP BY install_id"
    )


def add(dialect: str, src: str) -> list[str]:
    return [add_counts(NAME, COLUMNS, KEYS, rows_from(dialect, src))]


def remove(dialect: str, src: str) -> list[str]:
    return subtract_counts(NAME, COLUMNS, KEYS, rows_from(dialect, src), "events")


def expire(db: Db, cut: int) -> None:
    """Recount the installs that had days before ``cut`` (``an_install_days`` expired
    before, ``an_first_seen`` not yet) and drop those left with none."""
    db.execute(
        f"UPDATE {NAME} SET events = (SELECT COALESCE(sum(d.events), 0) FROM an_install_days d"
        f" WHERE d.install_id = {NAME}.install_id) WHERE install_id IN"
        " (SELECT install_id FROM an_first_seen WHERE first_day < ?)",
        (cut,),
    )
    db.execute(f"DELETE FROM {NAME} WHERE events = 0")
