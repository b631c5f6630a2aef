"""``an_install_spans``: per (install, version, command), and per (install, version) with
command ``''`` (all commands), the first and last day it has a row in
``an_install_days``, so release health counts a version's installs in a range from one
row per install instead of every install-day: a span inside the range is in, one outside
is out, and only one that crosses an end of the range is looked up by day
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
_SAME = (
    f"d.install_id = {NAME}.install_id AND d.version = {NAME}.version"
    f" AND ({NAME}.command = '' OR d.command = {NAME}.command)"
)
_RECOUNT = (
    f"UPDATE {NAME} SET first_day = (SELECT min(d.day) FROM an_install_days d WHERE {_SAME}),"
    f" last_day = (SELECT max(d.day) FROM an_install_days d WHERE {_SAME})"
)


def rows_from(dialect: str, src: str) -> str:
    """The rows of ``an_install_spans`` computed from the event rows of ``src``."""
    return (
        f"SELECT e.install_id, e.version, e.command, min({DAY}), max({DAY}) FROM {src} e"
        f" GROUP BY 1, 2, 3 UNION ALL SELECT e.install_id, e.version, '', min({DAY}),"
        f" max({DAY}) FROM {src} e GROUP BY 1, 2"
    )


def rebuild(dialect: str) -> list[str]:
    """From ``an_install_days`` (rebuilt before)."""
    return refill(
        NAME,
        COLUMNS,
        f"SELECT {_KEY}, min(day), max(day) FROM an_install_days GROUP BY {_KEY}",
        "SELECT install_id, version, '', min(day), max(day) FROM an_install_days"
        " GROUP BY install_id, version",
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
    keys = (
        f"({_KEY}) IN (SELECT e.install_id, e.version, e.command FROM {src} e"
        f" UNION SELECT e.install_id, e.version, '' FROM {src} e)"
    )
    return [f"{_RECOUNT} WHERE {keys}", f"DELETE FROM {NAME} WHERE first_day IS NULL AND {keys}"]


def expire(db: Db, cut: int) -> None:
    """Recount the spans that began before ``cut`` from the days left."""
    db.execute(f"{_RECOUNT} WHERE first_day < ?", (cut,))
    db.execute(f"DELETE FROM {NAME} WHERE first_day IS NULL")


def installs_by_version(
    start: int, end: int, command: str | None, versions: list[str]
) -> tuple[str, list[Any]]:
    """Query of (version, installs with an event in days ``start``..``end``) for each of
    ``versions`` (of one ``command`` if given): the spans inside the range, plus those
    crossing an end of it that have a day inside."""
    marks = ", ".join("?" for _ in versions)
    which = f"p.command = ? AND p.version IN ({marks})"
    keys = [command or "", *versions]
    crossing = (
        " AND (p.first_day < ? OR p.last_day > ?) AND EXISTS (SELECT 1 FROM an_install_days d"
        " WHERE d.install_id = p.install_id AND d.day BETWEEN ? AND ? AND d.version = p.version"
        " AND (p.command = '' OR d.command = p.command))"
    )
    sql = (
        "SELECT version, sum(n) FROM ("
        f"SELECT p.version, count(*) AS n FROM {NAME} p WHERE {which}"
        " AND p.first_day >= ? AND p.last_day <= ? GROUP BY p.version"
        f" UNION ALL SELECT p.version, count(*) AS n FROM {NAME} p WHERE {which}"
        f" AND p.first_day <= ? AND p.last_day >= ?{crossing} GROUP BY p.version"
        ") AS c GROUP BY version"
    )
    return sql, [*keys, start, end, *keys, end, start, start, end, start, end]
