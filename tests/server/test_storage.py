"""The repository on both databases: migrations, exactly-once inserts, erasure, retention."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from iconiq.server.analytics import rollups
from iconiq.server.calendar import DAY_MS
from iconiq.server.config import ServerSettings
from iconiq.server.events import Event, Row
from iconiq.server.retention import purge
from iconiq.server.storage.base import Store, open_store
from iconiq.server.storage.migrations import postgres as pg_migrations
from iconiq.server.storage.migrations import sqlite as sqlite_migrations
from tests.server.conftest import make_event, stored
from tests.support.server import running_server


def row(**overrides: Any) -> Row:
    return Row(Event.model_validate(make_event(**overrides)), "FR", int(time.time() * 1000))


def test_migrations_are_recorded_and_idempotent(store: Store) -> None:
    assert store.migrate() == []  # the fixture already applied them
    with store.connection() as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM schema_migrations").fetchall()]
    listed = (pg_migrations if store.dialect == "postgres" else sqlite_migrations).MIGRATIONS
    # Every migration of the list is recorded, once (a server started from a newer checkout
    # of the shared tree may have recorded more).
    assert {m.name for m in listed} <= set(names)
    assert len(names) == len(set(names))
    assert "0001_events" in names
    assert listed[0].name == "0001_events"  # core first, analytics after


def test_both_stores_list_the_same_migrations_in_the_same_order() -> None:
    sqlite_names = [m.name for m in sqlite_migrations.MIGRATIONS]
    assert sqlite_names == [m.name for m in pg_migrations.MIGRATIONS]
    assert len(set(sqlite_names)) == len(sqlite_names)


def test_columns_match_the_contract(store: Store) -> None:
    with store.connection() as conn:
        cur = conn.execute("SELECT * FROM events WHERE 1 = 0")
        columns = {d[0] for d in cur.description}
    assert columns >= {
        "event_id", "session_id", "install_id", "schema", "command", "success", "timestamp",
        "version", "execution_time", "error_type", "prompt_length", "output_format",
        "model_used", "api_time", "flags", "os", "python", "ci", "country", "received_at",
    }  # fmt: skip


def test_insert_counts_only_new_events(store: Store) -> None:
    a, b = row(), row()
    assert store.insert([a, b, a]) == 2
    assert store.insert([a, b, row()]) == 1
    assert store.insert([]) == 0
    (stored_a,) = stored(store, "event_id = ?", (a.event.event_id,))
    assert stored_a["country"] == "FR"


def test_concurrent_inserts_of_the_same_events_store_each_once(store: Store) -> None:
    rows = [row() for _ in range(200)]
    results: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        own = open_store(store.url, pool_size=2)
        try:
            n = own.insert(rows)
        finally:
            own.close()
        with lock:
            results.append(n)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(results) == 200
    ids = tuple(r.event.event_id for r in rows)
    marks = ", ".join("?" for _ in ids)
    assert len(stored(store, f"event_id IN ({marks})", ids)) == 200


def test_erase_install(store: Store) -> None:
    install = make_event()["install_id"]
    mine = [row(install_id=install) for _ in range(5)]
    store.insert([*mine, row()])
    assert store.erase_install(install) == 5
    assert store.erase_install(install) == 0
    # Erasure forgets the ids too (same on both databases): a replay is stored as new.
    assert store.insert(mine[:1]) == 1


def test_purge_expired(store: Store) -> None:
    now = int(time.time() * 1000)
    settings = ServerSettings(database_url=store.url, retention_days=730)
    old = [row(timestamp=now - 900 * DAY_MS), row(timestamp=now - 731 * DAY_MS)]
    keep = [row(timestamp=now - 729 * DAY_MS), row(timestamp=now)]
    store.insert(old + keep)
    assert purge(store, settings, now) >= 2
    for r in old:
        assert stored(store, "event_id = ?", (r.event.event_id,)) == []
    for r in keep:
        assert len(stored(store, "event_id = ?", (r.event.event_id,))) == 1
    assert purge(store, settings, now) == 0


@pytest.mark.postgres
def test_postgres_retention_drops_whole_monthly_partitions(pg_url: str) -> None:
    from iconiq.server.storage.postgres import PostgresStore, month_start, partition_name

    store = open_store(pg_url, pool_size=2)
    assert isinstance(store, PostgresStore)
    try:
        store.migrate()
        now = int(time.time() * 1000)
        ancient = now - 1000 * DAY_MS
        store.insert([row(timestamp=ancient), row(timestamp=now)])
        names = {p[0] for p in store.partitions()}
        old_part = partition_name(month_start(ancient))
        assert old_part in names and partition_name(month_start(now)) in names
        store.purge_expired(now - 730 * DAY_MS)
        after = {p[0] for p in store.partitions()}
        assert old_part not in after
        assert partition_name(month_start(now)) in after
        # An event for that month again re-creates its partition on demand.
        assert store.insert([row(timestamp=ancient)]) == 1
    finally:
        store.close()


@pytest.mark.postgres
def test_postgres_same_event_id_with_two_timestamps_is_stored_once(pg_url: str) -> None:
    store = open_store(pg_url, pool_size=2)
    try:
        store.migrate()
        first = row()
        moved = Event.model_validate(
            {
                **first.event.model_dump(by_alias=True),
                "timestamp": first.event.timestamp - 40 * DAY_MS,
            }
        )
        assert store.insert([first]) == 1
        assert store.insert([Row(moved, None, first.received_at)]) == 0
        assert len(stored(store, "event_id = ?", (first.event.event_id,))) == 1
    finally:
        store.close()


def test_month_helpers() -> None:
    from iconiq.server.storage.postgres import month_start, next_month, partition_name

    ts = int(dt.datetime(2025, 12, 31, 23, 59, tzinfo=dt.UTC).timestamp() * 1000)
    start = month_start(ts)
    assert partition_name(start) == "events_p202512"
    assert next_month(start) == dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def test_server_runs_retention_in_the_background(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bg.db'}"
    store = open_store(url)
    store.migrate()
    now = int(time.time() * 1000)
    old, fresh = row(timestamp=now - 30 * DAY_MS), row(timestamp=now)
    store.insert([old, fresh])
    env = {"ICONIQ_RETENTION_DAYS": "10", "ICONIQ_PURGE_INTERVAL": "1"}
    with running_server(url, env=env):
        deadline = time.monotonic() + 10
        while stored(store, "event_id = ?", (old.event.event_id,)) and time.monotonic() < deadline:
            time.sleep(0.1)
    assert stored(store, "event_id = ?", (old.event.event_id,)) == []
    assert len(stored(store, "event_id = ?", (fresh.event.event_id,))) == 1
    store.close()


@pytest.mark.postgres
def test_postgres_purge_skips_while_another_instance_purges(pg_url: str) -> None:
    from iconiq.server.storage.postgres import RETENTION_LOCK_KEY

    store = open_store(pg_url, pool_size=2)
    try:
        store.migrate()
        now = int(time.time() * 1000)
        old = row(timestamp=now - 800 * DAY_MS)
        store.insert([old])
        with store.connection() as holder:
            holder.execute("SELECT pg_advisory_lock(%s)", (RETENTION_LOCK_KEY,))
            assert store.purge_expired(now - 730 * DAY_MS) == 0
            holder.execute("SELECT pg_advisory_unlock(%s)", (RETENTION_LOCK_KEY,))
        assert store.purge_expired(now - 730 * DAY_MS) >= 1
        assert stored(store, "event_id = ?", (old.event.event_id,)) == []
    finally:
        store.close()


def test_purge_calls_the_analytics_expire_hook(store: Store) -> None:
    """Contract with analytics: after expired events go, rollups of whole expired days go
    too (PostgreSQL drops partitions, which fire no row triggers: only the hook can)."""
    now = int(time.time() * 1000)
    old_day = (now - 1200 * DAY_MS) // DAY_MS
    store.insert([row(timestamp=old_day * DAY_MS + 1000)])
    with store.db() as db:
        rollups.fold(db)  # what every metric read does first
        before = db.scalar("SELECT count(*) FROM an_daily WHERE day = ?", [old_day])
        assert before > 0  # the analytics triggers counted it
    store.purge_expired(now - 730 * DAY_MS)
    with store.db() as db:
        rollups.fold(db)
        after = db.scalar("SELECT count(*) FROM an_daily WHERE day = ?", [old_day])
        assert after == 0


def test_flags_text_is_the_json_of_the_list() -> None:
    from iconiq.server.events import _flags_json

    for flags in ([], ["--model"], ["--model", "-s", "out_dir", "x-1"]):
        assert json.loads(_flags_json(flags)) == flags
        assert _flags_json(flags) == json.dumps(flags)


def test_sqlite_checkpoints_in_the_background_and_close_stops_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from iconiq.server.storage import sqlite

    monkeypatch.setattr(sqlite, "CHECKPOINT_ROWS", 50)
    store = sqlite.SQLiteStore(f"sqlite:///{tmp_path / 'c.db'}")
    store.migrate()
    threads = [
        threading.Thread(target=store.insert, args=([row() for _ in range(60)],)) for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.count() == 240
    with store._write_lock:
        writer = store._writer
    assert writer is not None
    assert writer.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    deadline = time.monotonic() + 10
    while store.checkpoints == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert store.checkpoints >= 1
    checkpointer = store._checkpointer
    assert checkpointer is not None
    store.close()
    assert not checkpointer.is_alive()
    assert store.count() == 240  # reopens lazily after close
    store.close()
