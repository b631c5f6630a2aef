"""The set-based aggregations of a set of event rows into ``an_daily`` and ``an_hist`` rows.

Used over the whole ``events`` table by ``rollups.rebuild`` and over the pending rows
taken by ``fold``.
Each SELECT yields the target table's columns in order; ``{src}`` is the row source.
"""

from __future__ import annotations

from iconiq.server.analytics import triggers
from iconiq.server.analytics.schema import DIMENSIONS, bucket_bounds
from iconiq.server.calendar import day_sql

DAILY_COLUMNS = (
    "dim", "day", "version", "command", "value", "events", "failures", "prompt_sum", "prompt_n",
)  # fmt: skip
HIST_COLUMNS = ("metric", "day", "version", "command", "bucket", "n")
_AGG = (
    "count(*), sum(CASE WHEN e.success THEN 0 ELSE 1 END),"
    " sum(COALESCE(e.prompt_length, 0)), count(e.prompt_length)"
)
_KEY = f"{day_sql('e.timestamp')}, e.version, e.command"


def bucket_sql(dialect: str, col: str) -> str:
    if dialect == "postgres":
        bounds = ",".join(str(b) for b in bucket_bounds())
        return f"(width_bucket(e.{col}, ARRAY[{bounds}]::bigint[]) - 1)"
    return triggers.bucket(f"e.{col}")


def daily_selects(dialect: str, src: str, key: str = "event_id") -> list[str]:
    """SELECTs of ``an_daily`` rows (one per breakdown) from the rows of ``src``, whose
    column ``key`` tells rows apart (a flag named twice in one row counts once)."""
    out = [f"SELECT 'total', {_KEY}, '', {_AGG} FROM {src} e GROUP BY 2, 3, 4"]
    for dim, value in DIMENSIONS.items():
        v = value.format(r="e")
        out.append(
            f"SELECT '{dim}', {_KEY}, {v}, {_AGG} FROM {src} e"
            f" WHERE {v} IS NOT NULL GROUP BY 2, 3, 4, 5"
        )
    out.append(
        f"SELECT 'flag', {_KEY}, e.value, {_AGG} FROM (SELECT DISTINCT e.{key},"
        " e.timestamp, e.version, e.command, e.success, e.prompt_length, j.value AS value"
        f" FROM {src} e, {triggers.flag_values('e', dialect)}) AS e"
        " WHERE e.value IS NOT NULL GROUP BY 2, 3, 4, 5"
    )
    return out


def hist_selects(dialect: str, src: str) -> list[str]:
    """SELECTs of ``an_hist`` rows (execution and API time) from the rows of ``src``."""
    return [
        f"SELECT '{metric}', {_KEY}, {bucket_sql(dialect, col)}, count(*) FROM {src} e"
        f" WHERE e.{col} >= 0 GROUP BY 2, 3, 4, 5"
        for metric, col in (("exec", "execution_time"), ("api", "api_time"))
    ]
