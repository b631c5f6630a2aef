"""What every metric takes (a time range and filters) and gives (a table).

A range is whole UTC days, both ends included. ``Filters.parse`` reads the
query-string form shared by the API, the dashboard and the report:
``from``/``to`` (``YYYY-MM-DD``) or ``days`` (default 30, ending today),
``version`` and ``command``, and ``threshold`` (commands per month, for
``commands-per-month``: whole number, default 100). ``top`` is not read from the query: it is the
server's ``ICONIQ_TOP_VALUES``, how many values a per-value answer shows before
its ``(other)`` row (see ``top``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from iconiq.errors import InvalidInput
from iconiq.server.calendar import EPOCH, date_of, today
from iconiq.server.config import DEFAULT_TOP_VALUES

DEFAULT_DAYS = 30
MAX_DAYS = 366 * 5
# Dates outside these are refused (400): no event can be there, and day arithmetic
# (weeks, the days around a range) stays far from the limits of ``datetime.date``.
FIRST_DATE = dt.date(1970, 1, 1)
LAST_DATE = dt.date(2999, 12, 31)
MAX_FILTER = 50
DEFAULT_THRESHOLD = 100  # commands per month (``commands-per-month``)
MAX_THRESHOLD = 1_000_000
# From this many days on, SQLite is told to read some rollups through an index in the order
# of the GROUP BY (every row of the table, no sort) instead of the range's rows then a sort.
LONG_RANGE_DAYS = 90


def parse_day(date: str) -> int:
    """The day number of a ``YYYY-MM-DD`` date given in a query (400 when it is not one)."""
    try:
        d = dt.date.fromisoformat(date[:40])
    except ValueError:
        raise InvalidInput(f"not a date (YYYY-MM-DD): {date[:20]!r}") from None
    if not FIRST_DATE <= d <= LAST_DATE:
        raise InvalidInput(f"dates must lie between {FIRST_DATE} and {LAST_DATE}")
    return (d - EPOCH).days


@dataclass(frozen=True)
class Filters:
    start: int
    end: int
    version: str | None = None
    command: str | None = None
    top: int = DEFAULT_TOP_VALUES
    threshold: int = DEFAULT_THRESHOLD

    @classmethod
    def last(cls, days: int = DEFAULT_DAYS, **kw: Any) -> Filters:
        end = today()
        return cls(end - days + 1, end, **kw)

    @classmethod
    def parse(cls, args: Mapping[str, str], top: int = DEFAULT_TOP_VALUES) -> Filters:
        """Filters from query-string arguments; bad values raise ``InvalidInput``
        (a 400 on every surface: no value may reach the database unchecked)."""
        version = args.get("version") or None
        command = args.get("command") or None
        for name, value in (("version", version), ("command", command)):
            if value is not None and len(value) > MAX_FILTER:
                raise InvalidInput(f"{name} is too long (at most {MAX_FILTER} characters)")
            if value is not None and not value.isprintable():
                raise InvalidInput(f"{name} holds control characters")
        end = parse_day(args["to"]) if args.get("to") else today()
        if args.get("from"):
            start = parse_day(args["from"])
        else:
            raw = args.get("days") or str(DEFAULT_DAYS)
            # isdigit() alone takes "²" and other non-ASCII digits int() refuses.
            ok = len(raw) <= 6 and raw.isascii() and raw.isdigit()
            if not ok or not 1 <= int(raw) <= MAX_DAYS:
                raise InvalidInput(f"days must be a whole number from 1 to {MAX_DAYS}")
            start = end - int(raw) + 1
            if start < 0:
                raise InvalidInput(f"the range may not start before {FIRST_DATE}")
        if start > end:
            raise InvalidInput("the range starts after it ends")
        if end - start + 1 > MAX_DAYS:
            raise InvalidInput(f"the range may span at most {MAX_DAYS} days")
        raw = args.get("threshold") or str(DEFAULT_THRESHOLD)
        if not (len(raw) <= 7 and raw.isascii() and raw.isdigit()) or int(raw) > MAX_THRESHOLD:
            raise InvalidInput(f"threshold must be a whole number from 0 to {MAX_THRESHOLD:,}")
        return cls(start, end, version, command, top, threshold=int(raw))

    @property
    def filtered(self) -> bool:
        return self.version is not None or self.command is not None

    def where(self, alias: str = "") -> tuple[str, list[Any]]:
        """SQL condition (range, version, command) and its parameters, over the columns
        ``day``, ``version`` and ``command`` of the table called ``alias`` (if given)."""
        t = f"{alias}." if alias else ""
        sql = f"{t}day BETWEEN ? AND ?"
        params: list[Any] = [self.start, self.end]
        if self.version is not None:
            sql += f" AND {t}version = ?"
            params.append(self.version)
        if self.command is not None:
            sql += f" AND {t}command = ?"
            params.append(self.command)
        return sql, params

    def describe(self) -> dict[str, Any]:
        return {
            "from": date_of(self.start),
            "to": date_of(self.end),
            "version": self.version,
            "command": self.command,
        }

    def query_string(self) -> str:
        parts = [f"from={date_of(self.start)}", f"to={date_of(self.end)}"]
        if self.version:
            parts.append(f"version={self.version}")
        if self.command:
            parts.append(f"command={self.command}")
        if self.threshold != DEFAULT_THRESHOLD:
            parts.append(f"threshold={self.threshold}")
        return "&".join(parts)


@dataclass
class Table:
    """A metric's answer: named columns and rows of plain values; ``parts``, further named
    tables that belong to the answer (e.g. release health's ``regressions``)."""

    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    note: str | None = None
    parts: dict[str, Table] = field(default_factory=dict)

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, r, strict=True)) for r in self.rows]


def share(part: float, whole: float) -> float:
    return round(part / whole, 4) if whole else 0.0
