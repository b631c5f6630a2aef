"""Each rollup's public ``rows_from(dialect, src)`` (what a filtered answer is computed
with) equals its table, over all events and over a filtered event source."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest

from iconiq.server.analytics.rollups import ROLLUPS, TABLES, Rollup, fold
from iconiq.server.storage.base import Store
from tests.analytics.seed import ms, row
from tests.analytics.test_rollup_exactness import as_text, random_events


@pytest.fixture
def filled(store: Store) -> Store:
    rng = random.Random(17)
    events = random_events(rng, 300, ms("2026-03-02", 0), 20)
    store.insert([row(e, rng.choice(["DE", "US", None])) for e in events])
    with store.db() as db:
        fold(db)
    return store


def test_rollups_are_listed_once_by_table() -> None:
    assert sorted(TABLES) == sorted(
        ["an_daily", "an_hist", "an_install_days", "an_install_weeks", "an_first_seen",
         "an_first_days", "an_install_totals", "an_install_spans", "an_active"]
    )  # fmt: skip
    assert len(set(TABLES)) == len(ROLLUPS)


@pytest.mark.parametrize("rollup", ROLLUPS, ids=TABLES)
def test_rows_from_all_events_is_the_table(filled: Store, rollup: Rollup) -> None:
    with filled.db() as db:
        table = as_text(db.fetch(f"SELECT {', '.join(rollup.COLUMNS)} FROM {rollup.NAME}"))
        computed = as_text(db.fetch(rollup.rows_from(db.dialect, "events")))
    assert table, f"{rollup.NAME} holds rows"
    assert computed == table


@pytest.mark.parametrize("name", ["an_daily", "an_hist", "an_install_days"])
def test_rows_from_a_filtered_source(filled: Store, name: str) -> None:
    """A filtered source given as a CTE (parameters bound once) yields the table's rows of
    the matching events: here one command, a key column of these tables."""
    rollup = next(r for r in ROLLUPS if r.NAME == name)
    with filled.db() as db:
        table = as_text(
            db.fetch(f"SELECT {', '.join(rollup.COLUMNS)} FROM {name} WHERE command = ?", ["icon"])
        )
        source = "WITH f AS (SELECT * FROM events WHERE command = ?) "
        computed = as_text(db.fetch(source + rollup.rows_from(db.dialect, "f"), ["icon"]))
        everything = int(db.scalar(f"SELECT count(*) FROM {name}"))
    assert 0 < len(table) < everything, "the filter keeps some rows and drops others"
    assert computed == table


def test_fold_benchmark_prints_its_table() -> None:
    """``benchmarks/fold.py`` (the fold speed before/after a change) still runs."""
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, str(root / "benchmarks" / "fold.py"), "--events", "300",
         "--rounds", "1", "--no-postgres"],
        capture_output=True, text=True, timeout=120, cwd=root,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = [line.split() for line in done.stdout.splitlines()]
    assert [r[:2] for r in lines if r and r[0] == "SQLite"] == [
        ["SQLite", "add"],
        ["SQLite", "remove"],
    ]
    assert all(float(r[2].replace(",", "")) > 0 for r in lines if r and r[0] == "SQLite")
