"""``an_active``: distinct active installs per period start.

``period`` is ``d`` (a day), ``w`` (a Monday-based week, ``start`` is the week
number), a day by version (``v``), by command (``c``) or by both (``x``), or a
week by version (``wv``), by command (``wc``) or by both (``wx``); columns not
split by are ``''``. Counted from ``an_install_days`` and
``an_install_weeks``: an install is new in a period when it has no row there for
that period, so ``add`` runs before theirs and ``remove`` after (``ROLLUPS``
order). Read by the adoption panel.
"""

from __future__ import annotations

from typing import NamedTuple

from iconiq.server.analytics.db import Db
from iconiq.server.analytics.rollups.base import DAY, WEEK, refill, upsert
from iconiq.server.calendar import week_end, week_of, week_sql, week_start

NAME = "an_active"
COLUMNS = ("period", "start", "version", "command", "installs")
KEYS = 4


class Period(NamedTuple):
    code: str
    table: str  # the per-install table telling whether an install was active
    column: str  # its period column
    start: str  # the period of the event row ``e``
    by: tuple[str, ...]  # the columns split by, beside the period
    unique: bool  # one row of ``table`` per (install, period, by): count(*) is distinct
    weeks_of_days: bool = False  # ``column`` is a day, the period its week


PERIODS = (
    Period("d", "an_install_days", "day", DAY, (), False),
    Period("v", "an_install_days", "day", DAY, ("version",), False),
    Period("c", "an_install_days", "day", DAY, ("command",), False),
    Period("x", "an_install_days", "day", DAY, ("version", "command"), True),
    Period("w", "an_install_weeks", "week", WEEK, (), True),
    Period("wv", "an_install_days", "day", WEEK, ("version",), False, True),
    Period("wc", "an_install_days", "day", WEEK, ("command",), False, True),
    Period("wx", "an_install_days", "day", WEEK, ("version", "command"), False, True),
)
WEEKLY = tuple(p.code for p in PERIODS if p.start == WEEK)


def _period(p: Period) -> str:
    """SQL of the period of a row of ``p.table``."""
    return week_sql(p.column) if p.weeks_of_days else p.column


def _fill(p: Period, alias: str) -> str:
    """The version and command columns of ``p``'s rows: split by, or ``''``."""
    return ", ".join(
        f"{alias}.{c} AS {c}" if c in p.by else f"'' AS {c}" for c in ("version", "command")
    )


def rows_from(dialect: str, src: str) -> str:
    """The rows of ``an_active`` computed from the event rows of ``src`` (every period,
    ``UNION ALL``; ``src`` appears once per period, see ``an_daily.rows_from``)."""
    return " UNION ALL ".join(
        f"SELECT '{p.code}', {p.start}, {_fill(p, 'e')}, count(DISTINCT e.install_id)"
        f" FROM {src} e GROUP BY {', '.join(['2', *(f'e.{c}' for c in p.by)])}"
        for p in PERIODS
    )


def _count(p: Period, where: str = "") -> str:
    """SELECT of ``p``'s rows from ``p.table`` (``where``: a condition on its rows)."""
    count = "count(*)" if p.unique else "count(DISTINCT install_id)"
    group = ", ".join((_period(p), *p.by))
    return (
        f"SELECT '{p.code}', {_period(p)}, {_fill(p, p.table)}, {count} FROM {p.table}"
        f"{f' WHERE {where}' if where else ''} GROUP BY {group}"
    )


def rebuild(dialect: str) -> list[str]:
    """From ``an_install_days`` and ``an_install_weeks`` (rebuilt before)."""
    return refill(NAME, COLUMNS, *(_count(p) for p in PERIODS))


def _unseen(p: Period, src: str) -> str:
    """``an_active`` rows counting the (install, period[, by]) of ``src`` that have no row
    in ``p.table``: before ``add`` of that table, the installs new in the period; after
    ``remove``, those with no event left in it."""
    by = "".join(f", e.{c}" for c in p.by)
    match = "".join(f" AND t.{c} = k.{c}" for c in p.by)
    group = "k.start" + "".join(f", k.{c}" for c in p.by)
    if p.weeks_of_days:  # any day of the week (Monday k.start * 7 - 3 to Sunday)
        when = f"t.{p.column} BETWEEN k.start * 7 - 3 AND k.start * 7 + 3"
    else:
        when = f"t.{p.column} = k.start"
    return (
        f"SELECT '{p.code}' AS period, k.start AS start, {_fill(p, 'k')}, count(*) AS c"
        f" FROM (SELECT DISTINCT e.install_id, {p.start} AS start{by} FROM {src} e) AS k"
        f" WHERE NOT EXISTS (SELECT 1 FROM {p.table} t WHERE t.install_id = k.install_id"
        f" AND {when}{match}) GROUP BY {group}"
    )


def add(dialect: str, src: str) -> list[str]:
    """Count the installs new in each period (runs before the per-install tables' add)."""
    update = f"installs = {NAME}.installs + excluded.installs"
    return [upsert(NAME, COLUMNS, KEYS, _unseen(p, src), update) for p in PERIODS]


def remove(dialect: str, src: str) -> list[str]:
    """Uncount the installs left with no event in a period (runs after the per-install
    tables' remove), then drop the periods left with none."""
    out = [
        f"UPDATE {NAME} AS a SET installs = a.installs - x.c FROM ({_unseen(p, src)}) AS x"
        " WHERE a.period = x.period AND a.start = x.start AND a.version = x.version"
        " AND a.command = x.command"
        for p in PERIODS
    ]
    out.append(
        f"DELETE FROM {NAME} WHERE installs = 0 AND start IN"
        f" (SELECT {DAY} FROM {src} e UNION SELECT {WEEK} FROM {src} e)"
    )
    return out


def expire(db: Db, cut: int) -> None:
    """Drop the days before ``cut`` and the weeks up to its week, and recount that week
    from ``an_install_weeks`` and ``an_install_days`` (expired before)."""
    week = week_of(cut)
    weekly = ", ".join(f"'{code}'" for code in WEEKLY)
    db.execute(f"DELETE FROM {NAME} WHERE period NOT IN ({weekly}) AND start < ?", (cut,))
    db.execute(f"DELETE FROM {NAME} WHERE period IN ({weekly}) AND start <= ?", (week,))
    db.execute(
        f"INSERT INTO {NAME} ({', '.join(COLUMNS)}) SELECT 'w', week, '', '', count(*)"
        " FROM an_install_weeks WHERE week = ? GROUP BY week",
        (week,),
    )
    for p in PERIODS:
        if p.weeks_of_days:
            db.execute(
                f"INSERT INTO {NAME} ({', '.join(COLUMNS)}) {_count(p, 'day BETWEEN ? AND ?')}",
                (week_start(week), week_end(week)),
            )
