"""Usage: commands, flags, output formats, models, prompt length, peak hours, CI share."""

from __future__ import annotations

from typing import Any

from iconiq.server.analytics.db import fetch
from iconiq.server.analytics.query import Filters, Table, date_of, share
from iconiq.server.analytics.top import ranked, with_other

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def total_events(conn: Any, dialect: str, f: Filters) -> tuple[int, int]:
    """(events, failures) in the range."""
    where, params = f.where()
    rows = fetch(
        conn,
        dialect,
        f"SELECT sum(events), sum(failures) FROM an_daily WHERE dim = 'total' AND {where}",
        params,
    )
    events, failures = rows[0] if rows else (None, None)
    return int(events or 0), int(failures or 0)


def breakdown(conn: Any, dialect: str, f: Filters, dim: str, label: str) -> Table:
    """Events per value of one dimension, with each value's share of all events: the top
    ``f.top`` values, then ``(other)`` for the rest (see ``top``)."""
    where, params = f.where()
    head, more = ranked(
        conn,
        dialect,
        f"SELECT value, sum(events) FROM an_daily WHERE dim = ? AND {where}"
        " GROUP BY value ORDER BY 2 DESC, 1",
        [dim, *params],
        f.top,
    )
    rows = with_other(
        head,
        more,
        lambda: fetch(
            conn,
            dialect,
            f"SELECT sum(events) FROM an_daily WHERE dim = ? AND {where}",
            [dim, *params],
        )[0],
    )
    total, _ = total_events(conn, dialect, f)
    return Table([label, "events", "share"], [[v, n, share(n, total)] for v, n in rows])


def commands(conn: Any, dialect: str, f: Filters) -> Table:
    """How often each command ran, and how often it failed (top ``f.top``, then ``(other)``)."""
    where, params = f.where()
    head, more = ranked(
        conn,
        dialect,
        f"SELECT command, sum(events), sum(failures) FROM an_daily WHERE dim = 'total'"
        f" AND {where} GROUP BY command ORDER BY 2 DESC, 1",
        params,
        f.top,
    )
    rows = with_other(head, more, lambda: total_events(conn, dialect, f))
    total = sum(r[1] for r in rows)
    return Table(
        ["command", "events", "share", "failures", "failure_rate"],
        [[c, n, share(n, total), x, share(x, n)] for c, n, x in rows],
    )


def flags(conn: Any, dialect: str, f: Filters) -> Table:
    """Events that used each option (share: of all events in the range). ``(other)`` counts
    the uses of the remaining options (an event with two of them counts twice)."""
    return breakdown(conn, dialect, f, "flag", "flag")


def output_formats(conn: Any, dialect: str, f: Filters) -> Table:
    return breakdown(conn, dialect, f, "output_format", "output_format")


def models(conn: Any, dialect: str, f: Filters) -> Table:
    return breakdown(conn, dialect, f, "model_used", "model")


def ci_share(conn: Any, dialect: str, f: Filters) -> Table:
    """Events run under CI against interactive ones."""
    return breakdown(conn, dialect, f, "ci", "kind")


def operating_systems(conn: Any, dialect: str, f: Filters) -> Table:
    return breakdown(conn, dialect, f, "os", "os")


def prompt_length(conn: Any, dialect: str, f: Filters) -> Table:
    """Average prompt length (characters) per day, over events that had a prompt."""
    where, params = f.where()
    rows = fetch(
        conn,
        dialect,
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


def average_prompt_length(conn: Any, dialect: str, f: Filters) -> float | None:
    where, params = f.where()
    rows = fetch(
        conn,
        dialect,
        f"SELECT sum(prompt_sum), sum(prompt_n) FROM an_daily WHERE dim = 'total' AND {where}",
        params,
    )
    s, n = rows[0] if rows else (None, None)
    return round(int(s) / int(n), 1) if n else None


def peak_hours(conn: Any, dialect: str, f: Filters) -> Table:
    """Events per weekday and hour of day (UTC): the 7×24 grid."""
    where, params = f.where()
    rows = fetch(
        conn,
        dialect,
        f"SELECT (day + 3) % 7, value, sum(events) FROM an_daily WHERE dim = 'hour'"
        f" AND {where} GROUP BY (day + 3) % 7, value",
        params,
    )
    grid = {(int(w), int(h)): int(n) for w, h, n in rows}
    return Table(
        ["weekday", "hour", "events"],
        [[WEEKDAYS[w], h, grid.get((w, h), 0)] for w in range(7) for h in range(24)],
    )
