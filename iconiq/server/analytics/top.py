"""Top values plus ``(other)``: how every per-value answer stays bounded.

Open fields (version, command, model, flags) take any value a client sends, so
a table with one row per value could grow without bound. Every per-value
answer (breakdowns, the version chart, latency per command, the filter menus)
shows the ``Filters.top`` values that count most (``ICONIQ_TOP_VALUES``,
default 25) and, when there are more, one ``(other)`` row holding what all the
rest counted, so the rows still add up to the whole. Ranking happens in SQL
(``ORDER BY … LIMIT top + 1``): an answer carries at most ``top + 1`` rows
however many values are stored. No stored value can be ``(other)``: every open
field must start with a letter or digit (``iconiq.server.events``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from iconiq.server.analytics.db import Db

OTHER = "(other)"


def ranked(db: Db, sql: str, params: Sequence[Any], n: int) -> tuple[list[tuple[Any, ...]], bool]:
    """The first ``n`` rows of ``sql`` (already ordered by rank) and whether there were more."""
    rows = db.fetch(f"{sql} LIMIT {int(n) + 1}", params)
    return rows[:n], len(rows) > n


def with_other(
    rows: Sequence[Sequence[Any]], more: bool, totals: Callable[[], Sequence[int]]
) -> list[list[Any]]:
    """``rows`` of (label, count…) as lists; when ``more`` were left out, an ``(other)`` row
    after them with each count's ``totals()`` (over every value) minus the rows' own."""
    out = [[r[0], *(int(v or 0) for v in r[1:])] for r in rows]
    if not more:
        return out
    whole = totals()
    rest = [int(t or 0) - sum(r[i + 1] for r in out) for i, t in enumerate(whole)]
    return [*out, [OTHER, *rest]]


def among(column: str, keys: Sequence[Any], inside: bool = True) -> tuple[str, list[Any]]:
    """SQL ``column [NOT] IN (…)`` over ``keys`` and its parameters (``keys`` not empty)."""
    marks = ", ".join("?" for _ in keys)
    return f"{column} {'' if inside else 'NOT '}IN ({marks})", list(keys)


def top_and_other(
    db: Db,
    column: str,
    keys: Sequence[Any],
    more: bool,
    sql: tuple[str, str],
    params: Sequence[Any],
) -> list[tuple[Any, ...]]:
    """Rows of ``sql[0]`` over the top ``keys`` of ``column``, then, when ``more`` values were
    left out, rows of ``sql[1]`` (which labels them ``(other)``) over the rest. Each query
    has a ``{cond}`` where the condition on ``column`` goes, after ``params``' placeholders."""
    cond, kp = among(column, keys)
    rows = db.fetch(sql[0].format(cond=cond), [*params, *kp])
    if more:
        cond, kp = among(column, keys, inside=False)
        rows += db.fetch(sql[1].format(cond=cond), [*params, *kp])
    return rows
