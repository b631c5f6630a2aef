"""``an_install_spans``: each install's first and last day with a stored event, per
version and command, and per version any command (``command = ''``; a stored command is
never empty).

Release health counts an install for a version over a range when the install has a day
of that version in it. A span that overlaps the range with one end inside it proves one;
the rare span that strictly contains the range is checked by one indexed lookup in
``an_install_days`` (by install, then day), so a range reads about one row per install
and version (133 k on 10 M events) instead of every install-day (1.95 M).

Listed after ``an_install_days`` in ``ROLLUPS``: ``remove`` and ``expire`` recount the
spans they touch from the install-days left, as ``an_first_seen`` does.
"""

from __future__ import annotations

from iconiq.server.analytics.db import Db
from iconiq.server.analytics.rollups.base import DAY, refill, upsert

NAME = "an_install_spans"
COLUMNS = ("install_id", "version", "command", "first_day", "last_day")
KEYS = 3
ANY_COMMAND = ""

# The install-days of the span row ``NAME`` (all its commands when it is a '' row).
_DAYS_OF_SPAN = (
    f"FROM an_install_days d WHERE d.install_id = {NAME}.install_id"
    f" AND d.version = {NAME}.version"
    f" AND ({NAME}.command = '' OR d.command = {NAME}.command)"
)


def rows_from(dialect: str, src: str) -> str:
    """The rows of ``an_install_spans`` computed from the event rows of ``src``."""
    return (
        f"SELECT e.install_id, e.version, e.command, min({DAY}), max({DAY})"
        f" FROM {src} e GROUP BY 1, 2, 3"
        f" UNION ALL SELECT e.install_id, e.version, '', min({DAY}), max({DAY})"
        f" FROM {src} e GROUP BY 1, 2"
    )


def _from_days(where: str = "") -> tuple[str, str]:
    """The two SELECTs of the span rows computed from ``an_install_days`` (``where``: a
    condition on its rows): per command, and per any command."""
    days = f"FROM an_install_days{f' WHERE {where}' if where else ''}"
    return (
        f"SELECT install_id, version, command, min(day), max(day) {days} GROUP BY 1, 2, 3",
        f"SELECT install_id, version, '', min(day), max(day) {days} GROUP BY 1, 2",
    )


def rebuild(dialect: str) -> list[str]:
    """From ``an_install_days`` (rebuilt before)."""
    return refill(NAME, COLUMNS, *_from_days())


def add(dialect: str, src: str) -> list[str]:
    widen = (
        f"first_day = CASE WHEN excluded.first_day < {NAME}.first_day"
        f" THEN excluded.first_day ELSE {NAME}.first_day END,"
        f" last_day = CASE WHEN excluded.last_day > {NAME}.last_day"
        f" THEN excluded.last_day ELSE {NAME}.last_day END"
    )
    return [upsert(NAME, COLUMNS, KEYS, rows_from(dialect, src), widen)]


def remove(dialect: str, src: str) -> list[str]:
    """Recount the (install, version) spans of ``src``: delete them and insert what the
    install-days left make of them (``an_install_days`` is removed from before; a set-based
    recount, a third cheaper on SQLite than a correlated min/max per span)."""
    pairs = f"(install_id, version) IN (SELECT e.install_id, e.version FROM {src} e)"
    insert = f"INSERT INTO {NAME} ({', '.join(COLUMNS)}) "
    return [f"DELETE FROM {NAME} WHERE {pairs}", *(insert + s for s in _from_days(pairs))]


def expire(db: Db, cut: int) -> None:
    """Drop the spans that ended before ``cut`` and move the first day of those that began
    before it to their first install-day left (``an_install_days`` expired before)."""
    db.execute(f"DELETE FROM {NAME} WHERE last_day < ?", (cut,))
    db.execute(
        f"UPDATE {NAME} SET first_day = (SELECT min(d.day) {_DAYS_OF_SPAN}) WHERE first_day < ?",
        (cut,),
    )
