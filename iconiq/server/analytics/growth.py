"""Growth: weekly retention cohorts, the heaviest installs, commands that fail most,
and the live view of the last minutes."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from iconiq.server.analytics import pseudonym
from iconiq.server.analytics.db import Db
from iconiq.server.analytics.query import LONG_RANGE_DAYS, Filters, Table, share
from iconiq.server.analytics.top import among
from iconiq.server.calendar import date_of, week_end, week_of, week_sql, week_start

MAX_COHORTS = 26
GAP_MIN_EVENTS = 5


def cohorts(db: Db, f: Filters) -> Table:
    """Installs first seen in each week (the last 26 weeks of the range at most), and how
    many of them were active 0, 1, 2… weeks later. Install-level: the version and
    command filters do not apply."""
    last = week_of(f.end)
    first = max(week_of(f.start), last - MAX_COHORTS + 1)
    first_week = week_sql("s.first_day")
    rows = db.fetch(
        f"SELECT {first_week}, w.week, count(*) FROM an_first_seen s"
        " JOIN an_install_weeks w ON w.install_id = s.install_id"
        " WHERE s.first_day BETWEEN ? AND ? AND w.week <= ?"
        f" GROUP BY {first_week}, w.week",
        [week_start(first), week_end(last), last],
    )
    grid: dict[int, dict[int, int]] = {}
    for cohort, week, n in rows:
        grid.setdefault(int(cohort), {})[int(week) - int(cohort)] = int(n)
    out = []
    for cohort in range(first, last + 1):
        weeks = grid.get(cohort, {})
        size = weeks.get(0, 0)
        for k in range(0, last - cohort + 1):
            n = weeks.get(k, 0)
            out.append([date_of(week_start(cohort)), size, k, n, share(n, size)])
    return Table(
        ["cohort_week", "cohort_size", "weeks_since", "active_installs", "retention"],
        out,
        note=None if not f.filtered else "cohorts are install-level: filters not applied",
    )


def _heavy_index(f: Filters) -> str:
    """The index SQLite should sum install-days by install with: one in install order under
    the filter (no sort of every row), or over a short range the per-day one."""
    if f.end - f.start < LONG_RANGE_DAYS:
        return "an_install_days_day"
    return "an_install_days_version" if f.version is not None else "an_install_days_command"


# heaviest(): installs taken in order of their totals at first, and at most this many
# before it sums every install of the range instead.
FIRST_CANDIDATES = 50
MAX_CANDIDATES = 3200


Query = tuple[str, list[Any]]  # SQL and its parameters


def heaviest(
    db: Db, sums: Callable[[str], Query], every: Query, limit: int, prune: bool = True
) -> list[tuple[Any, int]]:
    """The ``limit`` (install_id, count) with the largest counts, most first (ties: by
    install id). ``sums(installs)`` is the query of (install_id, count) of the installs
    matching the SQL condition ``installs`` (``install_id IN (?, …)``, whose parameters
    ``heaviest`` appends after the query's); ``every`` the same for every install, ordered
    and limited.

    An install counts at most its ``an_install_totals`` events whatever the range and the
    filters, so installs are summed in order of their totals, a batch at a time, until
    the last of the top counts more than any install left could: the same answer as
    ``every`` (which sums every install of the range) from a few hundred installs.
    ``prune=False`` (a short range: few rows to sum, and the heaviest of all time may well
    have none) runs ``every``."""
    counts: dict[Any, int] = {}
    offset, size = 0, FIRST_CANDIDATES
    while prune and offset < MAX_CANDIDATES:
        batch = db.fetch(
            # A total order (ties by install), so no install falls between two pages.
            "SELECT install_id, events FROM an_install_totals"
            f" ORDER BY events DESC, install_id DESC LIMIT {int(size)} OFFSET {int(offset)}"
        )
        if batch:
            ids = [i for i, _ in batch]
            sql, params = sums(f"install_id IN ({', '.join('?' for _ in ids)})")
            for install, n in db.fetch(sql, [*params, *ids]):
                counts[install] = int(n)
        top = sorted(counts.items(), key=lambda r: (-r[1], str(r[0])))[:limit]
        if len(batch) < size or (len(top) == limit and top[-1][1] > int(batch[-1][1])):
            return top  # every install seen, or none left can reach the top
        offset, size = offset + size, size * 2
    return [(i, int(n)) for i, n in db.fetch(*every)]


def heavy_installs(db: Db, f: Filters) -> Table:
    """The ``f.top`` installs that ran the most commands in the range (paid-plan
    candidates), each shown by its pseudonym, never its install id."""
    limit = int(f.top)
    weeks = max(1, (f.end - f.start + 1) / 7)
    prune = f.end - f.start >= LONG_RANGE_DAYS
    if not f.filtered:
        params: list[Any] = [week_of(f.start), week_of(f.end)]
        weeks_in = "week BETWEEN ? AND ?"
        top = heaviest(
            db,
            lambda installs: (
                "SELECT install_id, sum(events) FROM an_install_weeks"
                f" WHERE {weeks_in} AND {installs} GROUP BY install_id",
                params,
            ),
            (
                f"SELECT install_id, sum(events) FROM an_install_weeks WHERE {weeks_in}"
                f" GROUP BY install_id ORDER BY 2 DESC, 1 LIMIT {limit}",
                params,
            ),
            limit,
            prune,
        )
        active_weeks: dict[str, int] = {}
        if top:
            inside, ids = among("install_id", [i for i, _ in top])
            for install, n in db.fetch(
                f"SELECT install_id, count(*) FROM an_install_weeks WHERE {weeks_in} AND {inside}"
                " GROUP BY install_id",
                [*params, *ids],
            ):
                active_weeks[str(install)] = int(n)
        rows = [(i, n, active_weeks.get(str(i), 0)) for i, n in top]
    else:
        where, params = f.where()
        hint = f" INDEXED BY {_heavy_index(f)}" if db.dialect == "sqlite" else ""
        top = heaviest(
            db,
            lambda installs: (
                f"SELECT install_id, sum(events) FROM an_install_days WHERE {where}"
                f" AND {installs} GROUP BY install_id",
                params,
            ),
            (
                f"SELECT install_id, sum(events) FROM an_install_days{hint} WHERE {where}"
                f" GROUP BY install_id ORDER BY 2 DESC, 1 LIMIT {limit}",
                params,
            ),
            limit,
            prune,
        )
        active: dict[str, int] = {}
        if top:
            marks = ", ".join("?" for _ in top)
            for install, n in db.fetch(
                f"SELECT install_id, count(DISTINCT {week_sql('day')}) FROM an_install_days"
                f" WHERE install_id IN ({marks}) AND {where} GROUP BY install_id",
                [i for i, _ in top] + params,
            ):
                active[str(install)] = int(n)
        rows = [(i, n, active.get(str(i), 0)) for i, n in top]
    secret = pseudonym.key(db) if rows else b""
    out = [
        [pseudonym.pseudonym(secret, i), int(n), int(w), round(int(n) / weeks, 1)]
        for i, n, w in rows
    ]
    return Table(
        ["install", "commands", "active_weeks", "commands_per_week"],
        out,
        note=None if f.filtered else "unfiltered: counted over whole weeks the range touches",
    )


def feature_gaps(db: Db, f: Filters) -> Table:
    """The ``f.top`` commands with the highest failure rates (at least 5 runs), with their
    top error."""
    where, params = f.where()
    rows = db.fetch(
        f"SELECT command, sum(events), sum(failures) FROM an_daily WHERE dim = 'total'"
        f" AND {where} GROUP BY command HAVING sum(events) >= {GAP_MIN_EVENTS}"
        " AND sum(failures) > 0 ORDER BY 1.0 * sum(failures) / sum(events) DESC, command"
        f" LIMIT {int(f.top)}",
        params,
    )
    if not rows:
        return Table(["command", "events", "failures", "failure_rate", "top_error"], [])
    inside, kp = among("command", [c for c, _, _ in rows])
    errs = db.fetch(
        f"SELECT command, value, sum(events) FROM an_daily WHERE dim = 'error_type'"
        f" AND {where} AND {inside} GROUP BY command, value",
        [*params, *kp],
    )
    top: dict[str, tuple[int, str]] = {}
    for command, value, n in errs:
        best = top.get(command)
        if best is None or (int(n), value) > best:
            top[command] = (int(n), value)
    out = [[c, int(n), int(x), share(int(x), int(n)), top.get(c, (0, None))[1]] for c, n, x in rows]
    out.sort(key=lambda r: (-r[3], r[0]))
    return Table(["command", "events", "failures", "failure_rate", "top_error"], out)


def live(db: Db, f: Filters, minutes: int = 15) -> Table:
    """Events per minute over the last minutes (by event time), newest last."""
    now = int(time.time() * 1000)
    first = now // 60_000 - minutes + 1
    sql = "SELECT timestamp / 60000, count(*), sum(CASE WHEN success THEN 0 ELSE 1 END)"
    sql += " FROM events WHERE timestamp >= ? AND timestamp <= ?"
    params: list[Any] = [first * 60_000, now + 60_000]
    for name in ("version", "command"):
        if getattr(f, name) is not None:
            sql += f" AND {name} = ?"
            params.append(getattr(f, name))
    rows = db.fetch(sql + " GROUP BY timestamp / 60000", params)
    found = {int(m): (int(n), int(x)) for m, n, x in rows}
    out = []
    for m in range(first, first + minutes):
        n, x = found.get(m, (0, 0))
        out.append([time.strftime("%H:%M", time.gmtime(m * 60)), n, x])
    return Table(["minute", "events", "failures"], out)


STAMP = "%Y-%m-%d %H:%M:%S"  # an event's date and time (UTC): a clock ahead shows as a later day


def recent(db: Db, f: Filters, limit: int = 15) -> Table:
    """The latest events (no identifiers), newest first, each with its date and time."""
    sql = (
        "SELECT timestamp, command, version, success, error_type, execution_time, country"
        " FROM events WHERE timestamp >= ?"
    )
    params: list[Any] = [int(time.time() * 1000) - 3_600_000]
    for name in ("version", "command"):
        if getattr(f, name) is not None:
            sql += f" AND {name} = ?"
            params.append(getattr(f, name))
    rows = db.fetch(sql + f" ORDER BY timestamp DESC LIMIT {limit}", params)
    return Table(
        ["time", "command", "version", "success", "error_type", "execution_time", "country"],
        [
            [time.strftime(STAMP, time.gmtime(t / 1000)), c, v, bool(s), e, x, g or ""]
            for t, c, v, s, e, x, g in rows
        ],
    )
