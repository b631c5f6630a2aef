"""Comparing headline numbers with the previous period of the same length.

``with_previous(current, previous)`` joins two ``metric``/``value`` tables (the
summary over the range and over ``Filters.previous()``, the same number of days just
before it) into one with ``previous``, ``change`` and ``change_kind`` columns:

- ``relative``: a count or a time, ``change`` is ``(value - previous) / previous``
  (0.125 is 12.5 % more); none when the previous value is 0 or missing;
- ``points``: a rate or share (0..1), ``change`` is ``value - previous`` (-0.07 is
  seven percentage points fewer), never a ratio of ratios;
- none: text (the top command), or a value missing on either side.
"""

from __future__ import annotations

from typing import Any

from iconiq.server.analytics.query import Table

COLUMNS = ["metric", "value", "previous", "change", "change_kind"]


def comparable(table: Table) -> bool:
    """Whether ``table`` is a list of named headline numbers."""
    return table.columns[:2] == ["metric", "value"]


def is_rate(name: str) -> bool:
    return name.endswith(("rate", "share", "retention")) or "_rate_" in name


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def change(name: str, value: Any, previous: Any) -> tuple[float | None, str | None]:
    """(change, kind) of one headline number against its previous value (see above)."""
    if not _number(value) or not _number(previous):
        return None, None
    if is_rate(name):
        return round(float(value) - float(previous), 4), "points"
    if not previous:
        return None, "relative"
    return round((float(value) - float(previous)) / abs(float(previous)), 4), "relative"


def with_previous(current: Table, previous: Table) -> Table:
    """``current`` with each metric's value over the previous period and the change."""
    before = {str(r[0]): r[1] for r in previous.rows}
    rows = []
    for name, value, *_ in current.rows:
        prior = before.get(str(name))
        rows.append([name, value, prior, *change(str(name), value, prior)])
    notes = [n for n in (current.note, previous.note) if n]
    return Table(COLUMNS, rows, note="; ".join(dict.fromkeys(notes)) or None)
