"""Adoption: daily and weekly active installs, new installs, versions, countries."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from iconiq.server.analytics.db import Db
from iconiq.server.analytics.query import Filters, Table, share
from iconiq.server.analytics.top import OTHER, ranked, top_and_other, with_other
from iconiq.server.calendar import date_of, week_end, week_of, week_start


def _active(
    db: Db, f: Filters, periods: tuple[str, str, str, str], first: int, last: int
) -> dict[int, int]:
    """Distinct installs per ``an_active`` period start from ``first`` to ``last``, read from
    the rows of the filters' kind: ``periods`` names them for no filter, the version, the
    command, and both (days: d v c x; weeks: w wv wc wx)."""
    kind = periods[(f.version is not None) + 2 * (f.command is not None)]
    rows = db.fetch(
        "SELECT start, installs FROM an_active WHERE period = ? AND version = ?"
        " AND command = ? AND start BETWEEN ? AND ?",
        [kind, f.version or "", f.command or "", first, last],
    )
    return {int(start): int(n) for start, n in rows}


def daily_active(db: Db, f: Filters) -> Table:
    """Distinct installs with at least one stored event, per UTC day."""
    found = _active(db, f, ("d", "v", "c", "x"), f.start, f.end)
    return Table(
        ["day", "installs"], [[date_of(d), found.get(d, 0)] for d in range(f.start, f.end + 1)]
    )


def weekly_active(db: Db, f: Filters) -> Table:
    """Distinct installs per Monday-based week, for every week the range touches, each counted
    over the whole week; ``partial`` marks a first or last week that reaches outside the range
    (its count includes days before ``from`` or after ``to``)."""
    first, last = week_of(f.start), week_of(f.end)
    found = _active(db, f, ("w", "wv", "wc", "wx"), first, last)
    return Table(
        ["week", "installs", "partial"],
        [
            [
                date_of(week_start(w)),
                found.get(w, 0),
                week_start(w) < f.start or week_end(w) > f.end,
            ]
            for w in range(first, last + 1)
        ],
    )


def active_installs(db: Db, f: Filters) -> int:
    """Distinct installs with at least one stored event (matching the filters) in the range."""
    where, params = f.where()
    return int(
        db.scalar(f"SELECT count(DISTINCT install_id) FROM an_install_days WHERE {where}", params)
        or 0
    )


def active_last_7_days(db: Db, f: Filters) -> int:
    """ "Active installs, last 7 days": distinct installs with an event (matching the filters)
    in the 7 days ending at ``to``, within the range (the whole range when it is shorter)."""
    return active_installs(db, replace(f, start=max(f.start, f.end - 6)))


def new_installs(db: Db, f: Filters) -> Table:
    """Installs whose first stored event falls on each day (with the filters: whose first
    day included that version/command)."""
    if f.filtered:
        where, params = f.where()
        rows = db.fetch(
            f"SELECT day, count(DISTINCT install_id) FROM an_first_days WHERE {where} GROUP BY day",
            params,
        )
    else:
        rows = db.fetch(
            "SELECT first_day, count(*) FROM an_first_seen WHERE first_day BETWEEN ? AND ?"
            " GROUP BY first_day",
            [f.start, f.end],
        )
    found = {int(d): int(n) for d, n in rows}
    return Table(
        ["day", "installs"], [[date_of(d), found.get(d, 0)] for d in range(f.start, f.end + 1)]
    )


def versions(db: Db, f: Filters) -> Table:
    """Active installs per version per day (version adoption over time): the ``f.top``
    versions with the most install-days in the range, then ``(other)``, the sum of the
    rest's counts (an install on two of those versions the same day counts twice)."""
    if f.command is None:
        # an_active rows of period 'v': (start, version, installs).
        src = "SELECT start AS day, version, installs AS n FROM an_active WHERE period = 'v'"
        src += " AND start BETWEEN ? AND ?"
        params: list[Any] = [f.start, f.end]
        if f.version is not None:
            src += " AND version = ?"
            params.append(f.version)
    else:
        # an_active rows of period 'x': distinct installs per (day, version, command).
        src = (
            "SELECT start AS day, version, installs AS n FROM an_active WHERE period = 'x'"
            " AND start BETWEEN ? AND ? AND command = ?"
        )
        params = [f.start, f.end, f.command]
        if f.version is not None:
            src += " AND version = ?"
            params.append(f.version)
    top, more = ranked(
        db,
        f"SELECT version FROM ({src}) AS s GROUP BY version ORDER BY sum(n) DESC, version",
        params,
        f.top,
    )
    if not top:
        return Table(["day", "version", "installs"], [])
    keys = [str(v) for (v,) in top]
    rows = top_and_other(
        db,
        "version",
        keys,
        more,
        (
            f"SELECT day, version, n FROM ({src}) AS s WHERE {{cond}}",
            f"SELECT day, '{OTHER}', sum(n) FROM ({src}) AS s WHERE {{cond}} GROUP BY day",
        ),
        params,
    )
    order = {v: i for i, v in enumerate(sorted(keys))}
    rows.sort(key=lambda r: (int(r[0]), order.get(str(r[1]), len(order))))
    return Table(["day", "version", "installs"], [[date_of(int(d)), v, int(n)] for d, v, n in rows])


def countries(db: Db, f: Filters) -> Table:
    """Events per country (``unknown`` when the address had no known country): the top
    ``f.top`` countries, then ``(other)``."""
    where, params = f.where()
    head, more = ranked(
        db,
        f"SELECT value, sum(events) FROM an_daily WHERE dim = 'country' AND {where}"
        " GROUP BY value ORDER BY 2 DESC, 1",
        params,
        f.top,
    )
    rows = with_other(
        [(c or "unknown", n) for c, n in head],
        more,
        lambda: db.fetch(
            f"SELECT sum(events) FROM an_daily WHERE dim = 'country' AND {where}",
            params,
        )[0],
    )
    total = sum(n for _, n in rows)
    return Table(["country", "events", "share"], [[c, n, share(n, total)] for c, n in rows])
