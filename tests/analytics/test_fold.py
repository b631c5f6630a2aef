"""Deferred rollups: folds running while several writers insert and erase stay exact, and a
fold that is rolled back or killed half-way applies nothing (its rows are folded once, later)."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import textwrap
import threading
from typing import Any

import pytest

from iconiq.server.analytics import rollups
from iconiq.server.analytics.rollups import TABLES
from iconiq.server.storage.base import Store, open_store
from tests.analytics.seed import DAY_MS, install, ms, row
from tests.analytics.test_rollup_exactness import random_events, rebuilt, snapshot


def raw_rollups(store: Store) -> dict[str, list[tuple[str, ...]]]:
    """The rollup tables as stored, without folding."""
    with store.db() as db:
        tables = {t: db.fetch(f"SELECT * FROM {t}") for t in TABLES}
    return {t: sorted(tuple(str(v) for v in r) for r in rows) for t, rows in tables.items()}


def pending(store: Store) -> int:
    with store.db() as db:
        return int(db.scalar("SELECT count(*) FROM an_pending"))


def test_folds_stay_exact_with_concurrent_writers(store: Store) -> None:
    """Four writers (own connections) insert batches with duplicates, one erases installs,
    two folders fold in a loop, all at once; afterwards the rollups equal a rebuild."""
    busy = open_store(store.url, pool_size=8) if store.dialect == "postgres" else store
    rng = random.Random(23)
    start = ms("2026-03-02", 0)
    events = random_events(rng, 1200, start, 20)
    rows = [row(e, rng.choice(["DE", "US", None])) for e in events]
    chunks = [rows[k::4] for k in range(4)]
    errors: list[BaseException] = []
    writing = threading.Event()
    writing.set()
    folds = [0, 0]

    def guarded(fn: Any, *args: Any) -> None:
        try:
            fn(*args)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def writer(mine: list[Any]) -> None:
        for k in range(0, len(mine), 25):
            busy.insert(mine[k : k + 25] + mine[max(0, k - 5) : k])  # with duplicates

    def eraser() -> None:
        for n in (2, 9):
            busy.erase_install(install(n))

    def folder(i: int) -> None:
        while writing.is_set():
            with busy.db() as db:
                rollups.fold(db)
            folds[i] += 1

    folders = [threading.Thread(target=guarded, args=(folder, i)) for i in range(2)]
    writers = [threading.Thread(target=guarded, args=(writer, c)) for c in chunks]
    writers.append(threading.Thread(target=guarded, args=(eraser,)))
    for t in folders + writers:
        t.start()
    for t in writers:
        t.join()
    writing.clear()
    for t in folders:
        t.join()
    try:
        assert errors == []
        assert min(folds) > 0
        assert snapshot(store) == rebuilt(store)
        assert pending(store) == 0
        with store.db() as db:
            stored = db.scalar("SELECT count(*) FROM events")
            counted = db.scalar("SELECT sum(events) FROM an_daily WHERE dim = 'total'")
        assert int(counted) == int(stored) > 0
    finally:
        if busy is not store:
            busy.close()


def test_a_rolled_back_fold_applies_nothing(store: Store) -> None:
    rng = random.Random(31)
    events = random_events(rng, 200, ms("2026-03-02", 0), 10)
    store.insert([row(e) for e in events[:120]])
    assert snapshot(store) == rebuilt(store)  # folded
    store.insert([row(e) for e in events[120:]])
    store.erase_install(install(4))
    before, waiting = raw_rollups(store), pending(store)
    assert waiting > 80
    with pytest.raises(RuntimeError), store.db() as db:
        if store.dialect == "postgres":
            with db.conn.transaction():
                assert rollups.fold(db) == waiting
                raise RuntimeError("the folder fails before it commits")
        db.conn.execute("BEGIN IMMEDIATE")
        assert rollups.fold(db) == waiting
        raise RuntimeError("the folder fails before it commits")
    assert raw_rollups(store) == before and pending(store) == waiting
    assert snapshot(store) == rebuilt(store)
    assert pending(store) == 0


_DYING_FOLDER = """
    import os, sys
    from iconiq.server.analytics.rollups import folding as fold
    from iconiq.server.analytics.db import Db
    from iconiq.server.storage.base import open_store

    store, calls, real = open_store(sys.argv[1]), [0], Db.execute

    def dying(self, sql, params=()):
        real(self, sql, params)
        calls[0] += 1
        if calls[0] == int(sys.argv[2]):
            os._exit(3)  # killed half-way through the fold, no cleanup

    Db.execute = dying
    fold.fold_store(store)
"""


@pytest.mark.parametrize("after", [9, 30])
def test_a_folder_killed_half_way_applies_nothing(store: Store, after: int) -> None:
    """A process dies after ``after`` fold statements: nothing is applied and no pending row
    is lost; the next fold applies each once."""
    rng = random.Random(after)
    events = random_events(rng, 300, ms("2026-03-02", 0) - 40 * DAY_MS, 50)
    store.insert([row(e) for e in events[:150]])
    assert snapshot(store) == rebuilt(store)
    store.insert([row(e) for e in events[150:]])
    store.erase_install(install(6))
    before, waiting = raw_rollups(store), pending(store)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    died = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_DYING_FOLDER), store.url, str(after)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert died.returncode == 3, died.stderr
    assert raw_rollups(store) == before and pending(store) == waiting
    assert snapshot(store) == rebuilt(store)
    assert pending(store) == 0


def test_a_read_leaves_a_burst_too_large_to_fold_to_the_periodic_folder(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Below the limit a read folds everything (exact); above it, the read answers at once from
    the rollups as last folded, its note says so, and a later fold makes it exact again."""
    from iconiq.server.analytics.metrics import compute
    from iconiq.server.analytics.query import Filters
    from iconiq.server.analytics.rollups.folding import fold_for_read

    rng = random.Random(5)
    start = ms("2026-03-02", 0)
    store.insert([row(e, None) for e in random_events(rng, 40, start, 3)])
    backlog = pending(store)
    assert backlog > 4
    with store.db() as db:
        assert fold_for_read(db, limit=backlog - 1) == backlog
    assert pending(store) == backlog  # left to the periodic folder
    with store.db() as db:
        assert fold_for_read(db, limit=backlog) == 0
    assert pending(store) == 0
    assert raw_rollups(store) == snapshot(store)

    store.insert([row(e, None) for e in random_events(rng, 40, start, 3)])
    f = Filters(start // DAY_MS, start // DAY_MS + 2)
    from iconiq.server.analytics.rollups import folding as fold_mod

    monkeypatch.setattr(fold_mod, "READ_FOLD_LIMIT", 1)
    with store.db() as db:
        lagging = compute(db, "commands", f)
    monkeypatch.undo()
    assert lagging.note and "still being folded in" in lagging.note
    assert pending(store) > 0
    with store.db() as db:
        exact = compute(db, "commands", f)
    assert pending(store) == 0
    assert sum(r[1] for r in exact.rows) == 80
    assert sum(r[1] for r in lagging.rows) == 40
