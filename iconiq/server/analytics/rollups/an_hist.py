"""``an_hist``: counts of execution and API times in fixed logarithmic buckets per
(metric, day, version, command, bucket).

``metric`` is ``exec`` (``execution_time``) or ``api`` (``api_time``). Buckets
are ``an_buckets`` (filled by the migrations): eight per doubling of the
duration in ms, ``bucket_bounds()``; the performance panel reports a bucket as
``bucket_value``.
"""

from __future__ import annotations

import math

from iconiq.server.analytics.db import Db
from iconiq.server.analytics.rollups.base import DAY, add_counts, refill, subtract_counts

NAME = "an_hist"
COLUMNS = ("metric", "day", "version", "command", "bucket", "n")
KEYS = 5
METRICS = (("exec", "execution_time"), ("api", "api_time"))

BUCKETS_PER_DOUBLING = 8
MAX_DOUBLINGS = 32  # buckets reach past 2**32 ms (seven weeks): every int32 fits


def bucket_bounds() -> list[int]:
    """Lower bounds (ms) of the duration buckets, ascending, starting at 0."""
    top = BUCKETS_PER_DOUBLING * MAX_DOUBLINGS
    return sorted({int(2 ** (k / BUCKETS_PER_DOUBLING)) - 1 for k in range(top + 1)})


def bucket_value(lo: int, hi: int | None) -> float:
    """The value reported for a bucket [lo, hi): exact for one-wide buckets, else the
    geometric middle (at most ~4.5 % away from any value inside)."""
    if hi is None or hi - lo <= 1:
        return float(lo)
    return math.sqrt((lo + 1) * hi) - 1


def bucket_sql(dialect: str, expr: str) -> str:
    """SQL for the bucket of a duration: PostgreSQL ``width_bucket`` over the bounds,
    SQLite a lookup in ``an_buckets``."""
    if dialect == "postgres":
        bounds = ",".join(str(b) for b in bucket_bounds())
        return f"(width_bucket({expr}, ARRAY[{bounds}]::bigint[]) - 1)"
    return f"(SELECT bucket FROM an_buckets WHERE lo <= {expr} ORDER BY lo DESC LIMIT 1)"


def selects(dialect: str, src: str) -> list[str]:
    """One SELECT of rows per metric from the event rows of ``src``."""
    return [
        f"SELECT '{metric}', {DAY}, e.version, e.command, {bucket_sql(dialect, f'e.{col}')},"
        f" count(*) FROM {src} e WHERE e.{col} >= 0 GROUP BY 2, 3, 4, 5"
        for metric, col in METRICS
    ]


def rows_from(dialect: str, src: str) -> str:
    """The rows of ``an_hist`` computed from the event rows of ``src`` (both metrics,
    ``UNION ALL``; ``src`` appears twice, see ``an_daily.rows_from``)."""
    return " UNION ALL ".join(selects(dialect, src))


def rebuild(dialect: str) -> list[str]:
    return refill(NAME, COLUMNS, *selects(dialect, "events"))


def add(dialect: str, src: str) -> list[str]:
    return [add_counts(NAME, COLUMNS, KEYS, s) for s in selects(dialect, src)]


def remove(dialect: str, src: str) -> list[str]:
    return [
        statement
        for s in selects(dialect, src)
        for statement in subtract_counts(NAME, COLUMNS, KEYS, s, "n")
    ]


def expire(db: Db, cut: int) -> None:
    db.execute(f"DELETE FROM {NAME} WHERE day < ?", (cut,))
