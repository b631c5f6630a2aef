"""Set-based statements applying a set of pending rows to every rollup table.

Both take the name of a table holding ``an_pending`` rows (all of one sign)
and are plain SQL that SQLite (3.33+: ``UPDATE ... FROM``) and PostgreSQL both
run. Only one fold runs at a time (``fold``), so the "first event of this
install that day/week" checks see every earlier fold's work and no other
writer's. ``added`` runs before ``removed``: counts never go below their final
value in between, and every removed event is either already counted or among
the added ones, so each step starts from the rollups of a real set of events.
"""

from __future__ import annotations

from iconiq.server.analytics.aggregates import (
    DAILY_COLUMNS,
    HIST_COLUMNS,
    daily_selects,
    hist_selects,
)
from iconiq.server.analytics.first_days import first_days_sql
from iconiq.server.calendar import day_sql, week_sql

_DAY = day_sql("timestamp")
_WEEK = week_sql(_DAY)
_FAIL = "CASE WHEN success THEN 0 ELSE 1 END"
_ACTIVE_UP = (
    " ON CONFLICT (period, start, version, command) DO UPDATE"
    " SET installs = an_active.installs + excluded.installs"
)
# (period, the columns of an install-day that decide a distinct active install beside
# install and day, the an_active columns they fill)
_ACTIVE = (
    ("d", (), "'' AS version, '' AS command"),
    ("v", ("version",), "k.version AS version, '' AS command"),
    ("c", ("command",), "'' AS version, k.command AS command"),
    ("x", ("version", "command"), "k.version AS version, k.command AS command"),
)
# The same per week (Monday to Sunday), for the filtered weekly-active counts.
_ACTIVE_WEEKS = (
    ("wv", ("version",), "k.version AS version, '' AS command"),
    ("wc", ("command",), "'' AS version, k.command AS command"),
    ("wx", ("version", "command"), "k.version AS version, k.command AS command"),
)


def _match(columns: tuple[str, ...], keys: int, a: str = "t", b: str = "d") -> str:
    return " AND ".join(f"{a}.{c} = {b}.{c}" for c in columns[:keys])


def _new_installs(period: str, cols: tuple[str, ...], fill: str, src: str) -> tuple[str, str]:
    """(``SELECT`` of an_active rows counting the (install, day[, cols]) of ``src`` with no
    row in ``an_install_days``, the GROUP BY) shared by ``added`` and ``removed``."""
    extra = "".join(f", {c}" for c in cols)
    match = "".join(f" AND d.{c} = k.{c}" for c in cols)
    group = "k.day" + "".join(f", k.{c}" for c in cols)
    select = (
        f"SELECT '{period}' AS period, k.day AS start, {fill}, count(*) AS c"
        f" FROM (SELECT DISTINCT install_id, {_DAY} AS day{extra} FROM {src}) AS k"
        " WHERE NOT EXISTS (SELECT 1 FROM an_install_days d"
        f" WHERE d.install_id = k.install_id AND d.day = k.day{match})"
    )
    return select, group


def _new_week_installs(period: str, cols: tuple[str, ...], fill: str, src: str) -> tuple[str, str]:
    """As ``_new_installs``, per (install, week[, cols]): no ``an_install_days`` row on any
    day of that week."""
    extra = "".join(f", {c}" for c in cols)
    match = "".join(f" AND d.{c} = k.{c}" for c in cols)
    group = "k.week" + "".join(f", k.{c}" for c in cols)
    select = (
        f"SELECT '{period}' AS period, k.week AS start, {fill}, count(*) AS c"
        f" FROM (SELECT DISTINCT install_id, {_WEEK} AS week{extra} FROM {src}) AS k"
        " WHERE NOT EXISTS (SELECT 1 FROM an_install_days d WHERE d.install_id = k.install_id"
        f" AND d.day BETWEEN k.week * 7 - 3 AND k.week * 7 + 3{match})"
    )
    return select, group


def _active_selects(src: str) -> list[tuple[str, str]]:
    """Every (select, group by) counting installs new (or gone) on a day or in a week."""
    out = [_new_installs(period, cols, fill, src) for period, cols, fill in _ACTIVE]
    out += [_new_week_installs(period, cols, fill, src) for period, cols, fill in _ACTIVE_WEEKS]
    return out


def _first_days(src: str) -> list[str]:
    """Recompute the ``an_first_days`` rows of the installs of ``src`` (after their
    install-days and first day are up to date)."""
    installs = f"install_id IN (SELECT install_id FROM {src})"
    return [f"DELETE FROM an_first_days WHERE {installs}", first_days_sql(f"s.{installs}")]


def added(dialect: str, src: str) -> list[str]:
    """Statements adding the events of ``src`` to the rollups."""
    daily_up = " ON CONFLICT (dim, day, version, command, value) DO UPDATE SET " + ", ".join(
        f"{c} = an_daily.{c} + excluded.{c}" for c in DAILY_COLUMNS[5:]
    )
    out = [
        f"INSERT INTO an_daily ({', '.join(DAILY_COLUMNS)}) SELECT * FROM ({s}) AS s"
        f" WHERE true{daily_up}"
        for s in daily_selects(dialect, src, key="id")
    ]
    out += [
        f"INSERT INTO an_hist ({', '.join(HIST_COLUMNS)}) SELECT * FROM ({s}) AS s WHERE true"
        " ON CONFLICT (metric, day, version, command, bucket) DO UPDATE"
        " SET n = an_hist.n + excluded.n"
        for s in hist_selects(dialect, src)
    ]
    # Installs new on a day or in a week (per version, command, both): before the per-day
    # upsert.
    for select, group in _active_selects(src):
        out.append(
            "INSERT INTO an_active (period, start, version, command, installs)"
            f" {select} GROUP BY {group}{_ACTIVE_UP}"
        )
    out += [
        "INSERT INTO an_active (period, start, version, command, installs)"
        f" SELECT 'w', k.week, '', '', count(*) FROM (SELECT DISTINCT install_id,"
        f" {_WEEK} AS week FROM {src}) AS k WHERE NOT EXISTS (SELECT 1 FROM an_install_weeks w"
        " WHERE w.install_id = k.install_id AND w.week = k.week) GROUP BY k.week" + _ACTIVE_UP,
        "INSERT INTO an_install_days (install_id, day, version, command, events, failures)"
        f" SELECT install_id, {_DAY}, version, command, count(*), sum({_FAIL}) FROM {src}"
        " WHERE true GROUP BY 1, 2, 3, 4"
        " ON CONFLICT (install_id, day, version, command) DO UPDATE SET"
        " events = an_install_days.events + excluded.events,"
        " failures = an_install_days.failures + excluded.failures",
        "INSERT INTO an_install_weeks (install_id, week, events)"
        f" SELECT install_id, {_WEEK}, count(*) FROM {src} WHERE true GROUP BY 1, 2"
        " ON CONFLICT (install_id, week) DO UPDATE"
        " SET events = an_install_weeks.events + excluded.events",
        "INSERT INTO an_first_seen (install_id, first_day)"
        f" SELECT install_id, min({_DAY}) FROM {src} WHERE true GROUP BY 1"
        " ON CONFLICT (install_id) DO UPDATE SET first_day = CASE"
        " WHEN an_first_seen.first_day IS NULL OR excluded.first_day < an_first_seen.first_day"
        " THEN excluded.first_day ELSE an_first_seen.first_day END",
        *_first_days(src),
    ]
    return out


def removed(dialect: str, src: str) -> list[str]:
    """Statements taking the events of ``src`` away from the rollups."""
    out = []
    sub = ", ".join(f"{c} = t.{c} - d.{c}" for c in DAILY_COLUMNS[5:])
    cols = ", ".join(DAILY_COLUMNS)
    for select in daily_selects(dialect, src, key="id"):
        cte = f"WITH d ({cols}) AS ({select}) "
        out += [
            f"{cte}UPDATE an_daily AS t SET {sub} FROM d WHERE {_match(DAILY_COLUMNS, 5)}",
            f"{cte}DELETE FROM an_daily WHERE events = 0 AND ({', '.join(DAILY_COLUMNS[:5])})"
            f" IN (SELECT {', '.join(DAILY_COLUMNS[:5])} FROM d)",
        ]
    hcols = ", ".join(HIST_COLUMNS)
    for select in hist_selects(dialect, src):
        cte = f"WITH d ({hcols}) AS ({select}) "
        out += [
            f"{cte}UPDATE an_hist AS t SET n = t.n - d.n FROM d WHERE {_match(HIST_COLUMNS, 5)}",
            f"{cte}DELETE FROM an_hist WHERE n = 0 AND ({', '.join(HIST_COLUMNS[:5])})"
            f" IN (SELECT {', '.join(HIST_COLUMNS[:5])} FROM d)",
        ]
    keys = ("install_id", "day", "version", "command")
    out += [
        f"WITH d (install_id, day, version, command, n, f) AS (SELECT install_id, {_DAY},"
        f" version, command, count(*), sum({_FAIL}) FROM {src} GROUP BY 1, 2, 3, 4)"
        " UPDATE an_install_days AS t SET events = t.events - d.n, failures = t.failures - d.f"
        f" FROM d WHERE {_match(keys, 4)}",
        "DELETE FROM an_install_days WHERE events = 0 AND (install_id, day, version, command)"
        f" IN (SELECT install_id, {_DAY}, version, command FROM {src})",
    ]
    # Installs with no event left on a day or in a week (per version, command, both): after
    # the delete.
    for select, group in _active_selects(src):
        out.append(
            f"UPDATE an_active AS a SET installs = a.installs - x.c FROM ({select}"
            f" GROUP BY {group}) AS x"
            " WHERE a.period = x.period AND a.start = x.start AND a.version = x.version"
            " AND a.command = x.command"
        )
    week_keys = f"(SELECT install_id, {_WEEK} FROM {src})"
    out += [
        f"WITH d (install_id, week, n) AS (SELECT install_id, {_WEEK}, count(*) FROM {src}"
        " GROUP BY 1, 2) UPDATE an_install_weeks AS t SET events = t.events - d.n FROM d"
        " WHERE t.install_id = d.install_id AND t.week = d.week",
        "UPDATE an_active AS a SET installs = a.installs - x.c FROM (SELECT w.week, count(*)"
        f" AS c FROM an_install_weeks w WHERE w.events = 0 AND (w.install_id, w.week) IN"
        f" {week_keys} GROUP BY w.week) AS x WHERE a.period = 'w' AND a.start = x.week"
        " AND a.version = '' AND a.command = ''",
        f"DELETE FROM an_install_weeks WHERE events = 0 AND (install_id, week) IN {week_keys}",
        "DELETE FROM an_active WHERE installs = 0"
        " AND period IN ('d', 'v', 'c', 'x', 'w', 'wv', 'wc', 'wx')"
        f" AND start IN (SELECT {_DAY} FROM {src} UNION SELECT {_WEEK} FROM {src})",
        "UPDATE an_first_seen AS s SET first_day = (SELECT min(d.day) FROM an_install_days d"
        f" WHERE d.install_id = s.install_id) WHERE s.install_id IN (SELECT install_id"
        f" FROM {src})",
        "DELETE FROM an_first_seen WHERE first_day IS NULL"
        f" AND install_id IN (SELECT install_id FROM {src})",
        *_first_days(src),
    ]
    return out
