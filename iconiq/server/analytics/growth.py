"""Growth: weekly retention cohorts, the heaviest installs, installs by commands per month,
commands that fail most, and the live view of the last minutes."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from iconiq.server.analytics import pseudonym
from iconiq.server.analytics.db import Db
from iconiq.server.analytics.query import LONG_RANGE_DAYS, Filters, Table, share
from iconiq.server.analytics.top import among
from iconiq.server.calendar import (
    DAY_MS,
    EPOCH,
    date_of,
    week_end,
    week_of,
    week_sql,
    week_start,
)

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


HEAVY_COLUMNS = [
    "install", "commands", "active_days", "active_weeks", "commands_per_week", "first_seen",
    "last_seen", "os", "ci",
]  # fmt: skip


def heavy_installs(db: Db, f: Filters) -> Table:
    """The ``f.top`` installs that ran the most commands in the range (paid-plan
    candidates), each shown by its pseudonym, never its install id. Everything counts
    inside the range only (and the filters): commands, active days and weeks, commands
    per week (commands / (range days / 7)) and the last day with a command
    (``last_seen``); the install's OS and whether it runs in CI are as of that day;
    ``first_seen`` is the install's first stored event, whenever it was."""
    top = _heaviest(db, f)
    if not top:
        return Table(HEAVY_COLUMNS, [])
    ids = [str(i) for i, _ in top]
    inside, kp = among("install_id", ids)
    where, params = f.where()
    days: dict[str, tuple[int, int, int]] = {
        str(i): (int(d), int(w), int(last))
        for i, d, w, last in db.fetch(
            f"SELECT install_id, count(DISTINCT day), count(DISTINCT {week_sql('day')}), max(day)"
            f" FROM an_install_days WHERE {inside} AND {where} GROUP BY install_id",
            [*kp, *params],
        )
    }
    first = {
        str(i): int(d)
        for i, d in db.fetch(f"SELECT install_id, first_day FROM an_first_seen WHERE {inside}", kp)
        if d is not None
    }
    profile = _last_day_profiles(db, f, {i: days[i][2] for i in ids if i in days})
    secret = pseudonym.key(db)
    weeks = (f.end - f.start + 1) / 7
    out = []
    for install, n in top:
        i, n = str(install), int(n)
        active, active_weeks, last = days.get(i, (0, 0, f.end))
        os_name, ci = profile.get(i, (None, False))
        out.append(
            [
                pseudonym.pseudonym(secret, i),
                n,
                active,
                active_weeks,
                round(n / weeks, 1),
                date_of(first[i]) if i in first else None,
                date_of(last),
                os_name,
                ci,
            ]
        )
    return Table(HEAVY_COLUMNS, out)


def _heaviest(db: Db, f: Filters) -> list[tuple[Any, int]]:
    """(install_id, commands) of the ``f.top`` installs with the most commands in the range,
    most first (ties: by install id); over a long range through ``heaviest``'s pruning."""
    limit = int(f.top)
    src, params = install_events(db, f)
    plain, plain_params = install_events(db, f, hint=False)
    return heaviest(
        db,
        lambda installs: (
            f"SELECT install_id, sum(events) FROM ({plain}) AS s WHERE {installs}"
            " GROUP BY install_id",
            plain_params,
        ),
        (
            f"SELECT install_id, sum(events) FROM ({src}) AS s GROUP BY install_id"
            f" ORDER BY 2 DESC, 1 LIMIT {limit}",
            params,
        ),
        limit,
        prune=f.end - f.start >= LONG_RANGE_DAYS,
    )


def install_events(db: Db, f: Filters, hint: bool = True) -> tuple[str, list[Any]]:
    """SQL of (install_id, events) rows that add up, per install, to its events in the range
    that match the filters, and its parameters. Unfiltered, the whole weeks inside the
    range come from the per-install-week rollup and only the days of the partial weeks at
    either end from the per-install-day one: exact, and far fewer rows over a long range.
    ``hint``: on SQLite, read the per-install-day rows through the index that suits a
    GROUP BY install over the range (``_heavy_index``); without it, a condition on the
    installs added around the query can use the primary key."""
    if f.filtered:
        where, params = f.where()
        index = f" INDEXED BY {_heavy_index(f)}" if hint and db.dialect == "sqlite" else ""
        return f"SELECT install_id, events FROM an_install_days{index} WHERE {where}", params
    first, last = week_of(f.start), week_of(f.end)
    whole_first = first if week_start(first) == f.start else first + 1
    whole_last = last if week_end(last) == f.end else last - 1
    parts: list[str] = []
    params = []
    if whole_first <= whole_last:
        parts.append("SELECT install_id, events FROM an_install_weeks WHERE week BETWEEN ? AND ?")
        params += [whole_first, whole_last]
        edges = [(f.start, week_start(whole_first) - 1), (week_end(whole_last) + 1, f.end)]
    else:
        edges = [(f.start, f.end)]
    for lo, hi in edges:
        if lo <= hi:
            parts.append("SELECT install_id, events FROM an_install_days WHERE day BETWEEN ? AND ?")
            params += [lo, hi]
    return " UNION ALL ".join(parts), params


def _last_day_profiles(
    db: Db, f: Filters, last_days: dict[str, int]
) -> dict[str, tuple[str | None, bool]]:
    """Each install's (OS, CI) on its last active day (``last_days``), over its events of that
    day that match the filters: the OS of most of them (ties: first by name; none when none
    has one) and whether most of them ran under CI. Read from ``events`` one day at a time
    through the timestamp index (the rollups keep no OS or CI per install): the cost is a
    day's events, not an install's whole history."""
    by_day: dict[int, list[str]] = {}
    for install, day in last_days.items():
        by_day.setdefault(day, []).append(install)
    # SQLite would otherwise pick the install index and read every event those installs sent.
    hint = " INDEXED BY idx_events_timestamp" if db.dialect == "sqlite" else ""
    counts: dict[str, dict[str | None, list[int]]] = {}
    for day, installs in sorted(by_day.items()):
        inside, kp = among("install_id", installs)
        sql = (
            "SELECT install_id, os, count(*), sum(CASE WHEN ci THEN 1 ELSE 0 END)"
            f" FROM events{hint} WHERE timestamp >= ? AND timestamp < ? AND {inside}"
        )
        params: list[Any] = [day * DAY_MS, (day + 1) * DAY_MS, *kp]
        for name in ("version", "command"):
            if getattr(f, name) is not None:
                sql += f" AND {name} = ?"
                params.append(getattr(f, name))
        for install, os_name, n, in_ci in db.fetch(sql + " GROUP BY install_id, os", params):
            counts.setdefault(str(install), {})[os_name] = [int(n), int(in_ci or 0)]
    out: dict[str, tuple[str | None, bool]] = {}
    for install, per_os in counts.items():
        named = sorted((-n, name) for name, (n, _) in per_os.items() if name is not None)
        total = sum(n for n, _ in per_os.values())
        in_ci = sum(c for _, c in per_os.values())
        out[install] = (named[0][1] if named else None, 2 * in_ci > total)
    return out


# Commands per calendar month: the buckets (lowest, highest; None: no limit).
MONTH_BUCKETS: tuple[tuple[int, int | None], ...] = (
    (1, 1), (2, 5), (6, 20), (21, 50), (51, 100), (101, 500), (501, None),
)  # fmt: skip


def bucket_label(lo: int, hi: int | None) -> str:
    return f"{lo}+" if hi is None else str(lo) if lo == hi else f"{lo}-{hi}"


def calendar_months(start: int, end: int) -> list[tuple[str, int, int, bool]]:
    """(``YYYY-MM``, first day, last day, partial) of each calendar month the range touches,
    cut to the range; ``partial`` when the range leaves out some of the month's days."""
    out = []
    day = start
    while day <= end:
        d = EPOCH + dt.timedelta(days=day)
        following = dt.date(d.year + d.month // 12, d.month % 12 + 1, 1)
        month_first = (dt.date(d.year, d.month, 1) - EPOCH).days
        month_last = (following - EPOCH).days - 1
        last = min(end, month_last)
        out.append(
            (f"{d.year:04d}-{d.month:02d}", day, last, day > month_first or last < month_last)
        )
        day = last + 1
    return out


def commands_per_month(db: Db, f: Filters) -> Table:
    """Installs by how many commands they ran in each calendar month of the range (cut to
    the range; ``partial`` months are cut), in buckets, and how many ran more than
    ``f.threshold`` (the viewer's pricing-tier line) with their share of the month's
    active installs."""
    labels = [bucket_label(lo, hi) for lo, hi in MONTH_BUCKETS]
    case = " ".join(
        f"WHEN n <= {int(hi)} THEN {k}" for k, (_, hi) in enumerate(MONTH_BUCKETS) if hi is not None
    )
    out = []
    for month, lo, hi, partial in calendar_months(f.start, f.end):
        src, params = install_events(db, replace(f, start=lo, end=hi))
        rows = db.fetch(
            f"SELECT CASE {case} ELSE {len(MONTH_BUCKETS) - 1} END, count(*),"
            " sum(CASE WHEN n > ? THEN 1 ELSE 0 END) FROM (SELECT install_id, sum(events) AS n"
            f" FROM ({src}) AS s GROUP BY install_id) AS t GROUP BY 1",
            [f.threshold, *params],
        )
        counts = [0] * len(MONTH_BUCKETS)
        above = 0
        for k, n, x in rows:
            counts[int(k)] = int(n)
            above += int(x or 0)
        installs = sum(counts)
        out.append(
            [month, hi - lo + 1, partial, installs, *counts, f.threshold, above,
             share(above, installs)]
        )  # fmt: skip
    return Table(
        ["month", "days", "partial", "installs", *labels, "threshold", "above_threshold",
         "above_threshold_share"],
        out,
    )  # fmt: skip


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
        if best is None or (-int(n), value) < (-best[0], best[1]):  # ties: first by name
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
