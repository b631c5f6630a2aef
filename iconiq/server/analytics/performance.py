"""Performance: success rate, errors by type, execution and API time percentiles (per
command, and over time).

Percentiles come from the fixed logarithmic histogram (eight buckets per
doubling): the nearest-rank percentile's bucket is exact, and the value shown
is the bucket's geometric middle, within about 4.5 % of the true value (exact
below 12 ms, where buckets are one millisecond wide).
"""

from __future__ import annotations

import math

from iconiq.server.analytics.db import Db
from iconiq.server.analytics.query import LONG_RANGE_DAYS, NONE, Filters, Table, share
from iconiq.server.analytics.rollups.an_hist import bucket_bounds, bucket_value
from iconiq.server.analytics.top import OTHER, ranked, top_and_other
from iconiq.server.calendar import date_of, today, week_end, week_of, week_sql, week_start

_BOUNDS = bucket_bounds()
WEEKLY_AFTER_DAYS = 92  # longer ranges: latency over time per week, not per day
OVER_TIME = (0.5, 0.9, 0.99)


def percentile(counts: dict[int, int], p: float) -> float | None:
    """Nearest-rank percentile ``p`` (0..1) of a bucket histogram, in ms."""
    total = sum(counts.values())
    if not total:
        return None
    rank = max(1, math.ceil(p * total))
    seen = 0
    for b in sorted(counts):
        seen += counts[b]
        if seen >= rank:
            hi = _BOUNDS[b + 1] if b + 1 < len(_BOUNDS) else None
            return round(bucket_value(_BOUNDS[b], hi), 1)
    return None  # pragma: no cover - unreachable: seen reaches total


def histograms(db: Db, f: Filters, metric: str) -> dict[str, dict[int, int]]:
    """Bucket counts of the ``f.top`` most measured commands, ``(other)`` for the rest
    together, plus ``*`` for all commands together."""
    where, params = f.where()
    # SQLite: a long range is grouped in the (metric, command, bucket) index's order (no
    # sort), a short one read by day through the primary key (its own index).
    hint = ""
    if db.dialect == "sqlite":
        long = f.end - f.start >= LONG_RANGE_DAYS
        hint = f" INDEXED BY {'an_hist_command' if long else 'sqlite_autoindex_an_hist_1'}"
    base = f"FROM an_hist{hint} WHERE metric = ? AND {where}"
    params = [metric, *params]
    top, more = ranked(
        db,
        f"SELECT command {base} GROUP BY command ORDER BY sum(n) DESC, command",
        params,
        f.top,
    )
    out: dict[str, dict[int, int]] = {"*": {}}
    if not top:
        return out
    keys = [str(c) for (c,) in top]
    rows = top_and_other(
        db,
        "command",
        keys,
        more,
        (
            f"SELECT command, bucket, sum(n) {base} AND {{cond}} GROUP BY command, bucket",
            f"SELECT '{OTHER}', bucket, sum(n) {base} AND {{cond}} GROUP BY bucket",
        ),
        params,
    )
    for command, b, n in rows:
        out.setdefault(str(command), {})[int(b)] = int(n)
        out["*"][int(b)] = out["*"].get(int(b), 0) + int(n)
    return out


def _latency(db: Db, f: Filters, metric: str, ps: tuple[float, ...]) -> Table:
    hists = histograms(db, f, metric)
    named = sorted(
        (c for c in hists if c not in ("*", OTHER)), key=lambda c: -sum(hists[c].values())
    )
    order = ["*", *named, *([OTHER] if OTHER in hists else [])]
    rows = []
    for command in order:
        counts = hists[command]
        if command == "*" and not counts:
            continue
        rows.append(
            [command if command != "*" else "all", sum(counts.values())]
            + [percentile(counts, p) for p in ps]
        )
    names = [f"p{round(p * 100)}_ms" for p in ps]
    return Table(["command", "measured", *names], rows)


def execution_time(db: Db, f: Filters) -> Table:
    """Command execution time p50/p95/p99 (ms), overall and per command."""
    return _latency(db, f, "exec", (0.5, 0.95, 0.99))


def api_time(db: Db, f: Filters) -> Table:
    """Time spent waiting on the image API, p50/p95 (ms)."""
    return _latency(db, f, "api", (0.5, 0.95))


def success_rate(db: Db, f: Filters) -> Table:
    """Events, failures and the success rate per day."""
    where, params = f.where()
    rows = db.fetch(
        f"SELECT day, sum(events), sum(failures) FROM an_daily WHERE dim = 'total'"
        f" AND {where} GROUP BY day",
        params,
    )
    found = {int(d): (int(n), int(x)) for d, n, x in rows}
    out = []
    for d in range(f.start, f.end + 1):
        n, x = found.get(d, (0, 0))
        out.append([date_of(d), n, x, share(n - x, n) if n else None])
    return Table(["day", "events", "failures", "success_rate"], out)


def errors(db: Db, f: Filters) -> Table:
    """Failures per error type: share of failures and rate per event."""
    where, params = f.where()
    rows = db.fetch(
        f"SELECT value, sum(events) FROM an_daily WHERE dim = 'error_type' AND {where}"
        " GROUP BY value ORDER BY 2 DESC, 1",
        params,
    )
    totals = db.fetch(
        f"SELECT sum(events), sum(failures) FROM an_daily WHERE dim = 'total' AND {where}",
        params,
    )
    events, failures = (int(v or 0) for v in totals[0]) if totals else (0, 0)
    counted = [(str(e), int(n)) for e, n in rows]
    missing = failures - sum(n for _, n in counted)
    if missing > 0:  # failures that carried no error type: their own row, so shares sum to 1
        counted.append((NONE, missing))
    return Table(
        ["error_type", "failures", "share_of_failures", "rate"],
        [[e, n, share(n, failures), share(n, events)] for e, n in counted],
    )


def latency_over_time(db: Db, f: Filters) -> Table:
    """Execution and API time p50/p90/p99 (ms) per day, or per Monday-based week when the
    range is longer than 92 days, from the same histograms as the tables. ``partial``: a
    day or week not over yet (today, this week) or, per week, one the range cuts."""
    weekly = f.end - f.start + 1 > WEEKLY_AFTER_DAYS
    period = week_sql("day") if weekly else "day"
    where, params = f.where()
    rows = db.fetch(
        f"SELECT {period}, metric, bucket, sum(n) FROM an_hist WHERE {where}"
        f" GROUP BY {period}, metric, bucket",
        params,
    )
    hists: dict[tuple[int, str], dict[int, int]] = {}
    for at, metric, b, n in rows:
        hists.setdefault((int(at), str(metric)), {})[int(b)] = int(n)
    now = today()
    keys = range(week_of(f.start), week_of(f.end) + 1) if weekly else range(f.start, f.end + 1)
    out = []
    for k in keys:
        first, last = (week_start(k), week_end(k)) if weekly else (k, k)
        partial = last >= now or first < f.start or last > f.end
        exec_h, api_h = hists.get((k, "exec"), {}), hists.get((k, "api"), {})
        out.append(
            [date_of(first), sum(exec_h.values())]
            + [percentile(exec_h, p) for p in OVER_TIME]
            + [percentile(api_h, p) for p in OVER_TIME]
            + [partial]
        )
    names = [f"{m}_p{round(p * 100)}_ms" for m in ("exec", "api") for p in OVER_TIME]
    return Table(["week" if weekly else "day", "measured", *names, "partial"], out)
