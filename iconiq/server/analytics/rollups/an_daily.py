"""``an_daily``: events, failures and prompt-length sums per (dim, day, version, command,
value).

``dim`` is ``total`` (value ``''``), one of the breakdowns in ``DIMENSIONS``, or
``flag`` (one row per option name given; a flag named twice in one event counts
once). Read by the usage, adoption, performance and growth panels.
"""

from __future__ import annotations

from iconiq.server.analytics.db import Db
from iconiq.server.analytics.rollups.base import DAY, add_counts, refill, subtract_counts
from iconiq.telemetry.schema import FIELDS

NAME = "an_daily"
COLUMNS = (
    "dim", "day", "version", "command", "value", "events", "failures", "prompt_sum", "prompt_n",
)  # fmt: skip
KEYS = 5

# Breakdowns besides ``total`` and ``flag``: name -> SQL value over a row alias ``{r}``;
# the contract's ``breakdown`` fields (``iconiq.telemetry.schema``), by their column unless
# an expression is given here. A NULL value means "not counted in this breakdown".
_EXPRESSIONS = {
    "error_type": "CASE WHEN {r}.success THEN NULL ELSE {r}.error_type END",
    "ci": "CASE WHEN {r}.ci THEN 'ci' WHEN NOT {r}.ci THEN 'interactive' ELSE 'unknown' END",
    "country": "COALESCE({r}.country, '')",
}
DIMENSIONS: dict[str, str] = {
    **{
        field["breakdown"]: _EXPRESSIONS.get(name, "{r}." + name)
        for name, field in FIELDS.items()
        if field.get("breakdown") and field["kind"] != "flags"
    },
    "hour": "CAST((({r}.timestamp / 3600000) % 24) AS TEXT)",
}

_AGG = (
    "count(*), sum(CASE WHEN e.success THEN 0 ELSE 1 END),"
    " sum(COALESCE(e.prompt_length, 0)), count(e.prompt_length)"
)
_KEY = f"{DAY}, e.version, e.command"


def flag_values(dialect: str, r: str) -> str:
    """A FROM-clause item yielding one ``value`` per flag name of the row ``r``."""
    if dialect == "postgres":
        return f"jsonb_array_elements_text({r}.flags) AS j(value)"
    return f"json_each({r}.flags) AS j"


def selects(dialect: str, src: str, key: str = "event_id") -> list[str]:
    """One SELECT of rows per breakdown from the event rows of ``src``, whose column
    ``key`` tells rows apart (``event_id`` in ``events``, ``id`` in ``an_pending``)."""
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
        f" FROM {src} e, {flag_values(dialect, 'e')}) AS e"
        " WHERE e.value IS NOT NULL GROUP BY 2, 3, 4, 5"
    )
    return out


def rows_from(dialect: str, src: str, key: str = "event_id") -> str:
    """The rows of ``an_daily`` computed from the event rows of ``src`` (every breakdown,
    ``UNION ALL``). ``src`` appears once per breakdown: give a filtered source as a CTE
    name (``WITH f AS (SELECT * FROM events WHERE ...) <rows_from(dialect, 'f')>``)."""
    return " UNION ALL ".join(selects(dialect, src, key))


def rebuild(dialect: str) -> list[str]:
    return refill(NAME, COLUMNS, *selects(dialect, "events"))


def add(dialect: str, src: str) -> list[str]:
    return [add_counts(NAME, COLUMNS, KEYS, s) for s in selects(dialect, src, key="id")]


def remove(dialect: str, src: str) -> list[str]:
    return [
        statement
        for s in selects(dialect, src, key="id")
        for statement in subtract_counts(NAME, COLUMNS, KEYS, s, "events")
    ]


def expire(db: Db, cut: int) -> None:
    db.execute(f"DELETE FROM {NAME} WHERE day < ?", (cut,))
