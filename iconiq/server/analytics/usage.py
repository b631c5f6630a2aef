"""Usage: commands, flags, output formats, models, prompt length, peak hours, CI share."""

from __future__ import annotations

from iconiq.server.analytics.db import Db
from iconiq.server.analytics.query import NONE, Filters, Table, share
from iconiq.server.analytics.top import ranked, with_other
from iconiq.server.calendar import date_of, weekday_sql

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def total_events(db: Db, f: Filters) -> tuple[int, int]:
    """(events, failures) in the range."""
    where, params = f.where()
    rows = db.fetch(
        f"SELECT sum(events), sum(failures) FROM an_daily WHERE dim = 'total' AND {where}",
        params,
    )
    events, failures = rows[0] if rows else (None, None)
    return int(events or 0), int(failures or 0)


def breakdown(db: Db, f: Filters, dim: str, label: str, single: bool = True) -> Table:
    """Events per value of one dimension, with each value's share of all events: the top
    ``f.top`` values, then ``(other)`` for the rest (see ``top``). ``single``: an event has
    at most one value, so the events with none get a ``(none)`` row and the shares sum
    to 1 (flags: an event may have several, or none, and the shares do not add up)."""
    where, params = f.where()
    head, more = ranked(
        db,
        f"SELECT value, sum(events) FROM an_daily WHERE dim = ? AND {where}"
        " GROUP BY value ORDER BY 2 DESC, 1",
        [dim, *params],
        f.top,
    )
    rows = with_other(
        head,
        more,
        lambda: db.fetch(
            f"SELECT sum(events) FROM an_daily WHERE dim = ? AND {where}",
            [dim, *params],
        )[0],
    )
    total, _ = total_events(db, f)
    missing = total - sum(int(r[1]) for r in rows)
    if single and missing > 0:
        rows.append([NONE, missing])
    return Table([label, "events", "share"], [[v, n, share(n, total)] for v, n in rows])


def commands(db: Db, f: Filters) -> Table:
    """How often each command ran, and how often it failed (top ``f.top``, then ``(other)``)."""
    where, params = f.where()
    head, more = ranked(
        db,
        f"SELECT command, sum(events), sum(failures) FROM an_daily WHERE dim = 'total'"
        f" AND {where} GROUP BY command ORDER BY 2 DESC, 1",
        params,
        f.top,
    )
    rows = with_other(head, more, lambda: total_events(db, f))
    total = sum(r[1] for r in rows)
    return Table(
        ["command", "events", "share", "failures", "failure_rate"],
        [[c, n, share(n, total), x, share(x, n)] for c, n, x in rows],
    )


def flags(db: Db, f: Filters) -> Table:
    """Events that used each option (share: of all events in the range). ``(other)`` counts
    the uses of the remaining options (an event with two of them counts twice)."""
    return breakdown(db, f, "flag", "flag", single=False)


def output_formats(db: Db, f: Filters) -> Table:
    return breakdown(db, f, "output_format", "output_format")


def models(db: Db, f: Filters) -> Table:
    return breakdown(db, f, "model_used", "model")


def ci_share(db: Db, f: Filters) -> Table:
    """Events run under CI against interactive ones."""
    return breakdown(db, f, "ci", "kind")


def operating_systems(db: Db, f: Filters) -> Table:
    return breakdown(db, f, "os", "os")


def prompt_length(db: Db, f: Filters) -> Table:
    """Average prompt length (characters) per day, over events that had a prompt."""
    where, params = f.where()
    rows = db.fetch(
        f"SELECT day, sum(prompt_sum), sum(prompt_n) FROM an_daily WHERE dim = 'total'"
        f" AND {where} GROUP BY day",
        params,
    )
    found = {int(d): (int(s), int(n)) for d, s, n in rows}
    out = []
    for d in range(f.start, f.end + 1):
        s, n = found.get(d, (0, 0))
        out.append([date_of(d), round(s / n, 1) if n else None, n])
    return Table(["day", "average_prompt_length", "prompts"], out)


def average_prompt_length(db: Db, f: Filters) -> float | None:
    where, params = f.where()
    rows = db.fetch(
        f"SELECT sum(prompt_sum), sum(prompt_n) FROM an_daily WHERE dim = 'total' AND {where}",
        params,
    )
    s, n = rows[0] if rows else (None, None)
    return round(int(s) / int(n), 1) if n else None


def peak_hours(db: Db, f: Filters) -> Table:
    """Events per weekday and hour of day (UTC): the 7×24 grid."""
    where, params = f.where()
    rows = db.fetch(
        f"SELECT {weekday_sql('day')}, value, sum(events) FROM an_daily WHERE dim = 'hour'"
        f" AND {where} GROUP BY {weekday_sql('day')}, value",
        params,
    )
    grid = {(int(w), int(h)): int(n) for w, h, n in rows}
    return Table(
        ["weekday", "hour", "events"],
        [[WEEKDAYS[w], h, grid.get((w, h), 0)] for w in range(7) for h in range(24)],
    )
