"""The trigger-fed, folded rollups equal a rebuild from ``events`` after every kind of change:
inserts, duplicates, late (air-gapped) uploads, erasure and retention, on both databases."""

from __future__ import annotations

import random
import uuid
from typing import Any

import pytest

from iconiq.server.analytics import rollups
from iconiq.server.analytics.rollups import TABLES
from iconiq.server.storage.base import Store
from tests.analytics.seed import DAY_MS, event, install, ms, row

FLAGS = ["--prompt", "--size", "--model", "--out", "--style"]
ERRORS = ["network", "timeout", "auth", "rate_limit"]


def as_text(rows: list[tuple[Any, ...]]) -> list[tuple[str, ...]]:
    return sorted(tuple(str(v) for v in r) for r in rows)


def snapshot(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """The rollups as a read sees them (after folding the pending rows)."""
    out = {}
    with store.db() as db:
        rollups.fold(db)
        for table in TABLES:
            rows = db.fetch(f"SELECT * FROM {table}")
            out[table] = as_text(rows)
    return out


def rebuilt(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """The rollups recomputed from scratch, leaving the database as it was."""
    with store.db() as db:
        before = {t: db.fetch(f"SELECT * FROM {t}") for t in TABLES}
        rollups.rebuild(db)
        out = {t: as_text(db.fetch(f"SELECT * FROM {t}")) for t in TABLES}
        db.conn.rollback()
    after = snapshot(store)
    assert {t: len(r) for t, r in after.items()} == {t: len(r) for t, r in before.items()}
    return out


def random_events(rng: random.Random, n: int, start: int, days: int) -> list[dict[str, Any]]:
    out = []
    for _ in range(n):
        ok = rng.random() > 0.2
        out.append(
            event(
                event_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                install_id=install(rng.randrange(12)),
                command=rng.choice(["icon", "icon", "config", "telemetry"]),
                success=ok,
                error_type=None if ok else rng.choice(ERRORS),
                timestamp=start + rng.randrange(days * DAY_MS),
                version=rng.choice(["1.0.0", "1.1.0", "1.2.0"]),
                execution_time=rng.choice([None, rng.randrange(0, 90_000)]),
                api_time=rng.choice([None, rng.randrange(0, 60_000)]),
                prompt_length=rng.choice([None, rng.randrange(1, 500)]),
                output_format=rng.choice([None, "png", "webp", "ico"]),
                model_used=rng.choice([None, "dall-e-3", "local"]),
                flags=rng.sample(FLAGS, rng.randrange(4)),
                ci=rng.choice([None, True, False]),
            )
        )
    return out


def test_rollups_stay_exact_through_every_kind_of_change(store: Store) -> None:
    rng = random.Random(5)
    start = ms("2026-01-05", 0)
    events = random_events(rng, 400, start, 40)
    countries = ["DE", "US", None, "JP"]
    rows = [row(e, rng.choice(countries)) for e in events]
    assert store.insert(rows[:300]) == 300
    assert snapshot(store) == rebuilt(store)
    assert snapshot(store)["an_daily"], "the rollups hold something"

    # Duplicates (same event_id, even with other content) are ignored and never counted.
    dupes = [row({**e, "command": "other"}, "FR") for e in events[:50]]
    assert store.insert(dupes + rows[300:]) == 100
    assert snapshot(store) == rebuilt(store)

    # A late air-gapped upload: events months older than anything stored.
    late = random_events(rng, 60, start - 120 * DAY_MS, 10)
    assert store.insert([row(e) for e in late]) == 60
    assert snapshot(store) == rebuilt(store)

    # Erasure of two installs.
    for n in (3, 7):
        assert store.erase_install(install(n)) > 0
    assert snapshot(store) == rebuilt(store)

    # Retention with a cutoff in the middle of a day and of a week.
    store.purge_expired(start + 17 * DAY_MS + 5 * 3_600_000)
    assert snapshot(store) == rebuilt(store)
    with store.db() as db:
        left = db.fetch("SELECT min(timestamp) FROM events")[0][0]
    assert left >= start + 17 * DAY_MS + 5 * 3_600_000


def test_concurrent_writers_keep_active_counts_exact(store: Store) -> None:
    """Two writers at once (as two server instances sharing PostgreSQL), the same installs
    and days, different commands: the distinct-install counters must not double count."""
    import threading

    rng = random.Random(11)
    day = ms("2026-02-02", 0)
    batches: list[list[Any]] = [[], []]
    for w, command in enumerate(["icon", "config"]):
        for k in range(120):
            fields = event(
                event_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                install_id=install(k % 6), command=command, version=rng.choice(["1.0", "1.1"]),
                timestamp=day + ((k // 6) % 3) * DAY_MS + k,
            )  # fmt: skip
            batches[w].append(row(fields))
    errors: list[BaseException] = []

    def writer(rows: list[Any]) -> None:
        try:
            for start in range(0, len(rows), 4):
                store.insert(rows[start : start + 4])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(b,)) for b in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert snapshot(store) == rebuilt(store)
    with store.db() as db:
        active = db.fetch("SELECT installs FROM an_active WHERE period = 'd'")
    assert sorted(int(n) for (n,) in active) == [6, 6, 6]


# The migrations that fill a rollup from the others, with the rows each one fills.
BACKFILLS = {
    "analytics_0011_weekly_active_by_filter": [
        "DELETE FROM an_active WHERE period IN ('wv', 'wc', 'wx')"
    ],
    "analytics_0013_first_days": ["DROP TABLE an_first_days"],
    "analytics_0014_install_totals": ["DROP TABLE an_install_totals"],
    "analytics_0015_install_spans": ["DROP TABLE an_install_spans"],
}


@pytest.mark.parametrize("migration", list(BACKFILLS))
def test_backfilling_migrations_are_exact(store: Store, migration: str) -> None:
    """A migration that adds a rollup to a database already holding events fills it from
    the other rollups, with some events not folded yet: once those are folded, every
    rollup equals a rebuild."""
    rng = random.Random(23)
    start = ms("2026-03-02", 0)
    rows = [row(e, rng.choice(["DE", None])) for e in random_events(rng, 300, start, 30)]
    assert store.insert(rows[:200]) == 200
    snapshot(store)  # folded
    assert store.insert(rows[200:]) == 100  # left pending across the migration
    with store.db() as db, db.transaction():
        for sql in BACKFILLS[migration]:
            db.execute(sql)
        db.execute("DELETE FROM schema_migrations WHERE name = ?", [migration])
    assert store.migrate() == [migration]
    after = snapshot(store)
    assert after == rebuilt(store)
    assert after["an_first_days"] and after["an_install_totals"] and after["an_install_spans"]
    assert [r for r in after["an_active"] if r[0] == "wx"]
