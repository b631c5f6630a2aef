"""``an_first_days``: the (install, day, version, command) keys of ``an_install_days`` on
each install's first day (``an_first_seen``), so the adoption panel counts new installs by
version or command from one small table instead of a join per install.

``add`` runs before ``an_first_seen``'s and ``an_install_days``' (``ROLLUPS`` order), so it
works out the new first days itself: an install whose batch starts before its first day
gets the batch's keys of that day instead of its rows; one whose batch starts on it gains
the batch's keys of it. ``remove`` and ``expire`` run after theirs and recount the
installs concerned from those two tables.
"""

from __future__ import annotations

from iconiq.server.analytics.db import Db
from iconiq.server.analytics.rollups.base import DAY, refill

NAME = "an_first_days"
COLUMNS = ("install_id", "day", "version", "command")


def _from_rollups(where: str = "") -> str:
    """SELECT of the rows from ``an_first_seen s`` and ``an_install_days`` (``where``: a
    condition on ``s``)."""
    return (
        "SELECT d.install_id, d.day, d.version, d.command FROM an_first_seen s"
        " JOIN an_install_days d ON d.install_id = s.install_id AND d.day = s.first_day"
        + (f" WHERE {where}" if where else "")
    )


def _firsts(src: str) -> str:
    """Each install of ``src`` and its first day there."""
    return f"SELECT e.install_id, min({DAY}) AS first FROM {src} e GROUP BY e.install_id"


def rows_from(dialect: str, src: str) -> str:
    """The rows of ``an_first_days`` computed from the event rows of ``src``."""
    return (
        f"SELECT DISTINCT e.install_id, {DAY} AS day, e.version, e.command FROM {src} e"
        f" JOIN ({_firsts(src)}) AS k ON k.install_id = e.install_id AND k.first = {DAY}"
    )


def rebuild(dialect: str) -> list[str]:
    """From ``an_first_seen`` and ``an_install_days`` (rebuilt before)."""
    return refill(NAME, COLUMNS, _from_rollups())


def add(dialect: str, src: str) -> list[str]:
    """Before ``an_first_seen`` and ``an_install_days`` take the batch: drop the rows of the
    installs whose batch starts before their first day, then insert the batch's keys of
    each install's first day wherever that day is (still) its first. Only new installs
    and late uploads get that far: most batches add later days of known installs."""
    firsts = (
        f"SELECT k.install_id, k.first, s.first_day FROM ({_firsts(src)}) AS k"
        " LEFT JOIN an_first_seen s ON s.install_id = k.install_id"
        " WHERE s.first_day IS NULL OR k.first <= s.first_day"
    )
    keys = (
        f"SELECT DISTINCT e.install_id, {DAY} AS day, e.version, e.command FROM {src} e"
        f" WHERE (e.install_id, {DAY}) IN (SELECT f.install_id, f.first FROM ({firsts}) AS f)"
    )
    return [
        f"DELETE FROM {NAME} WHERE install_id IN (SELECT f.install_id FROM ({firsts}) AS f"
        " WHERE f.first < f.first_day)",
        f"INSERT INTO {NAME} ({', '.join(COLUMNS)}) SELECT * FROM ({keys}) AS k WHERE true"
        " ON CONFLICT DO NOTHING",
    ]


def remove(dialect: str, src: str) -> list[str]:
    """Recount the installs of ``src`` (after ``an_install_days`` and ``an_first_seen``)."""
    installs = f"install_id IN (SELECT e.install_id FROM {src} e)"
    return [
        f"DELETE FROM {NAME} WHERE {installs}",
        f"INSERT INTO {NAME} ({', '.join(COLUMNS)}) {_from_rollups(f's.{installs}')}",
    ]


def expire(db: Db, cut: int) -> None:
    """The installs first seen before ``cut`` have a new first day, or none (after
    ``an_first_seen``'s expire): recount them."""
    db.execute(f"DELETE FROM {NAME} WHERE day < ?", (cut,))
    missing = (
        "s.first_day >= ? AND NOT EXISTS (SELECT 1 FROM an_first_days f"
        " WHERE f.install_id = s.install_id)"
    )
    db.execute(f"INSERT INTO {NAME} ({', '.join(COLUMNS)}) {_from_rollups(missing)}", (cut,))
