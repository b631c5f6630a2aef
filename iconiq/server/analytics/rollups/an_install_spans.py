"""``an_install_spans``: per (install, version, command), the first and last day it has a
row in ``an_install_days``, so release health counts a version's installs in a range from
one row per install instead of every install-day: a span inside the range is in, one
outside is out, and only one that crosses an end of the range is looked up by day
(``installs_by_version``).

``add`` merges the batch's spans (whatever the order); ``remove`` and ``expire`` run after
``an_install_days``' (``ROLLUPS`` order) and recount the spans concerned from it.
"""

from __future__ import annotations

from typing import Any

from iconiq.server.analytics.db import Db
from iconiq.server.analytics.rollups.base import DAY, refill, upsert

NAME = "an_install_spans"
COLUMNS = ("install_id", "version", "command", "first_day", "last_day")
KEYS = 3
_KEY = "install_id, version, command"
_RECOUNT = (
    f"UPDATE {NAME} SET first_day = (SELECT min(d.day) FROM an_install_days d"
    f" WHERE d.install_id = {NAME}.install_id AND d.version = {NAME}.version"
    f" AND d.command = {NAME}.command), last_day = (SELECT max(d.day) FROM an_install_days d"
    f" WHERE d.install_id = {NAME}.install_id AND d.version = {NAME}.version"
    f" AND d.command = {NAME}.command)"
)


def rows_from(dialect: str, src: str) -> str:
    """The rows of ``an_install_spans`` computed from the event rows of ``src``."""
    return (
        f"SELECT e.install_id, e.version, e.command, min({DAY}), max({DAY}) FROM {src} e"
        " GROUP BY 1, 2, 3"
    )


def rebuild(dialect: str) -> list[str]:
    """From ``an_install_days`` (rebuilt before)."""
    return refill(
        NAME, COLUMNS, f"SELECT {_KEY}, min(day), max(day) FROM an_install_days GROUP BY {_KEY}"
    )


def add(dialect: str, src: str) -> list[str]:
    widen = (
        f"first_day = CASE WHEN excluded.first_day < {NAME}.first_day"
        f" THEN excluded.first_day ELSE {NAME}.first_day END,"
        f" last_day = CASE WHEN excluded.last_day > {NAME}.last_day"
        f" THEN excluded.last_day ELSE {NAME}.last_day END"
    )
    return [upsert(NAME, COLUMNS, KEYS, rows_from(dialect, src), widen)]


def remove(dialect: str, src: str) -> list[str]:
    """Recount the spans of ``src`` from ``an_install_days`` (removed from before)."""
    keys = f"({_KEY}) IN (SELECT e.install_id, e.version, e.command FROM {src} e)"
    return [f"{_RECOUNT} WHERE {keys}", f"DELETE FROM {NAME} WHERE first_day IS NULL AND {keys}"]


def expire(db: Db, cut: int) -> None:
    """Recount the spans that began before ``cut`` from the days left."""
    db.execute(f"{_RECOUNT} WHERE first_day < ?", (cut,))
    db.execute(f"DELETE FROM {NAME} WHERE first_day IS NULL")


def installs_by_version(
    start: int, end: int, command: str | None, versions: str
) -> tuple[str, list[Any]]:
    """Query of (version, distinct installs with an event in days ``start``..``end``) for
    the versions matching ``versions`` (a SQL condition on ``p.version`` whose parameters
    the caller appends), of one ``command`` if given."""
    params: list[Any] = [end, start]
    by_command = ""
    if command is not None:
        by_command = " AND p.command = ?"
        params.append(command)
    sql = (
        "SELECT version, count(*) FROM (SELECT DISTINCT p.version, p.install_id"
        f" FROM {NAME} p WHERE p.first_day <= ? AND p.last_day >= ?{by_command}"
        " AND (p.first_day >= ? AND p.last_day <= ? OR EXISTS (SELECT 1 FROM an_install_days d"
        " WHERE d.install_id = p.install_id AND d.version = p.version"
        " AND d.command = p.command AND d.day BETWEEN ? AND ?))"
        f" AND {versions}) AS pairs GROUP BY version"
    )
    return sql, [*params, start, end, start, end]
