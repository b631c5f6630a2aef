"""Over long ranges some panels read their rollups another way (SQLite: through indexes in
the order of the GROUP BY): the answers must not change. The seeded events all lie in the
last 30 days, so a 400-day range must give the same installs, counts and percentiles, with
and without every filter, on both databases."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from freezegun import freeze_time

from iconiq.server.analytics.metrics import compute
from iconiq.server.analytics.query import LONG_RANGE_DAYS, Filters
from iconiq.server.storage.base import Store
from tests.analytics.seed import seeded_rows

NOW = "2026-03-15 12:00:00"
FILTERS = [{}, {"version": "1.1.0"}, {"command": "icon"}, {"version": "1.0.0", "command": "icon"},
           {"command": "config"}]  # fmt: skip


@pytest.fixture
def seeded(store: Store) -> Iterator[Store]:
    assert store.insert(seeded_rows()) == 7
    with freeze_time(NOW):
        yield store


def answer(store: Store, name: str, days: int, kw: dict[str, str]) -> list[list[Any]]:
    with store.db() as db:
        rows = compute(db, name, Filters.last(days, **kw)).rows
    if name == "heavy-installs":
        return [r[:3] for r in rows]  # commands per week depends on the range's length
    if name in ("new-installs", "weekly-active", "daily-active"):
        return [r for r in rows if r[1]]
    return rows


@pytest.mark.parametrize(
    "name",
    ["heavy-installs", "execution-time", "api-time", "new-installs", "weekly-active",
     "versions", "daily-active"],
)  # fmt: skip
def test_long_ranges_answer_as_short_ones(seeded: Store, name: str) -> None:
    assert 400 >= LONG_RANGE_DAYS
    for kw in FILTERS:
        short = answer(seeded, name, 30, kw)
        assert answer(seeded, name, 400, kw) == short, (name, kw)
    assert any(answer(seeded, name, 30, kw) for kw in FILTERS), "something to compare"
