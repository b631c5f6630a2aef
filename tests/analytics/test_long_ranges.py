"""Over long ranges some panels read their rollups another way (SQLite: through indexes in
the order of the GROUP BY): the answers must not change. The seeded events all lie in the
last 30 days, so a 400-day range must give the same installs, counts and percentiles, with
and without every filter, on both databases."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from freezegun import freeze_time

from iconiq.server.analytics import growth
from iconiq.server.analytics.metrics import compute
from iconiq.server.analytics.query import LONG_RANGE_DAYS, Filters
from iconiq.server.analytics.rollups import an_install_spans
from iconiq.server.storage.base import Store
from tests.analytics.seed import DAY_MS, event, install, ms, row, seeded_rows

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


@pytest.mark.parametrize("first,most", [(2, 3200), (1, 4), (50, 3200)])
def test_heaviest_pruned_by_totals_equals_summing_every_install(
    store: Store, monkeypatch: pytest.MonkeyPatch, first: int, most: int
) -> None:
    """``heaviest`` sums installs in order of their totals and stops early; it must name the
    same installs with the same counts, in the same order (ties by install id), as summing
    every install of the range, for ranges that cut installs' histories and every filter.
    Batches of 1-2 installs make it stop at every possible point; ``most`` = 4 makes it
    give up and sum every install."""
    monkeypatch.setattr(growth, "FIRST_CANDIDATES", first)
    monkeypatch.setattr(growth, "MAX_CANDIDATES", most)
    rng = random.Random(31)
    start = ms("2026-01-05", 0)
    rows = []
    for _ in range(900):
        n = min(39, int(rng.paretovariate(1.2)))  # a few installs make most events
        rows.append(
            row(
                event(
                    event_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    install_id=install(n if rng.random() < 0.8 else rng.randrange(40)),
                    command=rng.choice(["icon", "icon", "config"]),
                    version=rng.choice(["1.0.0", "1.1.0"]),
                    timestamp=start + rng.randrange(60 * DAY_MS),
                )
            )
        )
    assert store.insert(rows) == 900
    first_day = start // DAY_MS
    with store.db() as db:
        for lo, hi in [(0, 59), (10, 20), (40, 59), (0, 3), (70, 80)]:
            for kw in FILTERS:
                f = Filters(first_day + lo, first_day + hi, top=5, **kw)
                where, params = f.where()
                every = (
                    f"SELECT install_id, sum(events) FROM an_install_days WHERE {where}"
                    " GROUP BY install_id ORDER BY 2 DESC, 1 LIMIT 5"
                )
                compute(db, "heavy-installs", f)  # folds
                got = growth.heaviest(
                    db,
                    lambda installs, where=where, params=params: (
                        f"SELECT install_id, sum(events) FROM an_install_days"
                        f" WHERE {where} AND {installs} GROUP BY install_id",
                        params,
                    ),
                    (every, params),
                    5,
                )
                want = [(i, int(n)) for i, n in db.fetch(every, params)]
                assert [(str(i), n) for i, n in got] == [(str(i), n) for i, n in want]


def test_installs_by_version_from_spans_equals_counting_install_days(store: Store) -> None:
    """Release health counts a version's installs in a range from (install, version,
    command) spans, looking up by day only the spans that cross an end of the range: the
    same numbers as distinct installs over ``an_install_days``, for ranges inside, across
    and outside installs' activity, with and without a command."""
    rng = random.Random(43)
    start = ms("2026-01-05", 0)
    rows = [
        row(
            event(
                event_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                install_id=install(rng.randrange(30)),
                command=rng.choice(["icon", "icon", "config"]),
                version=rng.choice(["1.0.0", "1.1.0", "1.2.0"]),
                timestamp=start + rng.randrange(50 * DAY_MS),
            )
        )
        for _ in range(600)
    ]
    assert store.insert(rows) == 600
    first = start // DAY_MS
    versions = ["1.0.0", "1.1.0", "1.2.0"]
    counted = 0
    with store.db() as db:
        compute(db, "daily-active", Filters(first, first))  # folds
        for lo, hi in [(0, 49), (3, 4), (10, 30), (45, 60), (-5, 2), (55, 70)]:
            for command in (None, "icon", "config"):
                s, e = first + lo, first + hi
                got = dict(db.fetch(*an_install_spans.installs_by_version(s, e, command, versions)))
                cmd = " AND command = ?" if command else ""
                want = dict(
                    db.fetch(
                        "SELECT version, count(DISTINCT install_id) FROM an_install_days"
                        f" WHERE day BETWEEN ? AND ?{cmd} GROUP BY version",
                        [s, e, *([command] if command else [])],
                    )
                )
                assert got == want, (lo, hi, command)
                counted += sum(want.values())
    assert counted, "something counted"
