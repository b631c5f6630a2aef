"""The local telemetry spool: one SQLite file (``telemetry.db``) of queued events.

Tables (created by ``MIGRATIONS``, a list that only grows, each recorded in
``migrations`` inside the transaction that applies it):

    events(seq, event_id UNIQUE, created_ms, body)   body = the event's wire JSON
    totals(id=1, n, bytes)                           kept by triggers, for the cap
    state(key, value)                                install id, counters, backoff

Every write is one short ``BEGIN IMMEDIATE`` transaction (WAL, busy timeout), so
many commands can append while a flusher deletes what the server took. Only
the standard library is imported here: this module is on every command's path.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

BUSY_TIMEOUT_MS = 5000
# WAL with synchronous=NORMAL never corrupts and survives any process crash (kill -9);
# commands append with OFF (no fsync, ~0.5 ms instead of 10-30 ms on a slow disk): a
# process crash still loses nothing, an OS crash or power cut may lose the last events
# (a spool that comes back corrupt is set aside and restarted).
SYNC_MODES = {"OFF": "OFF", "NORMAL": "NORMAL", "FULL": "FULL"}
MAX_EVENTS = 50_000
MAX_BYTES = 20 * 1024 * 1024


def _m1_events(db: sqlite3.Connection) -> None:
    db.execute(
        "CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
        " event_id TEXT NOT NULL UNIQUE, created_ms INTEGER NOT NULL, body TEXT NOT NULL)"
    )
    db.execute("CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT)")


def _m2_totals(db: sqlite3.Connection) -> None:
    db.execute(
        "CREATE TABLE totals (id INTEGER PRIMARY KEY CHECK (id = 1), n INTEGER, bytes INTEGER)"
    )
    db.execute(
        "INSERT INTO totals (id, n, bytes)"
        " SELECT 1, count(*), coalesce(sum(length(body)), 0) FROM events"
    )
    db.execute(
        "CREATE TRIGGER events_ins AFTER INSERT ON events BEGIN UPDATE totals"
        " SET n = n + 1, bytes = bytes + length(NEW.body) WHERE id = 1; END"
    )
    db.execute(
        "CREATE TRIGGER events_del AFTER DELETE ON events BEGIN UPDATE totals"
        " SET n = n - 1, bytes = bytes - length(OLD.body) WHERE id = 1; END"
    )


MIGRATIONS: list[tuple[str, Callable[[sqlite3.Connection], None]]] = [
    ("m001_events_and_state", _m1_events),
    ("m002_totals_triggers", _m2_totals),
]


class Queued:
    """One queued event (a plain class: a dataclass costs ~1 ms of import on every command)."""

    __slots__ = ("seq", "event_id", "created_ms", "body")

    def __init__(self, seq: int, event_id: str, created_ms: int, body: str) -> None:
        self.seq = seq
        self.event_id = event_id
        self.created_ms = created_ms
        self.body = body


def now_ms() -> int:
    return int(time.time() * 1000)


class Spool:
    """An open spool file. Use as a context manager; every method is one transaction."""

    def __init__(self, path: Path, *, sync: str = "NORMAL") -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(
            str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
        )
        try:
            self.db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            if self.db.execute("PRAGMA user_version").fetchone()[0] != len(MIGRATIONS):
                self._migrate()
            self.db.execute(f"PRAGMA synchronous = {SYNC_MODES[sync]}")
        except BaseException:
            self.db.close()
            raise

    def _migrate(self) -> None:
        if self.db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            self.db.execute("PRAGMA journal_mode = WAL")
        with self.transaction():
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_ms INTEGER)"
            )
            done = {row[0] for row in self.db.execute("SELECT name FROM migrations")}
            for name, apply in MIGRATIONS:
                if name not in done:
                    apply(self.db)
                    self.db.execute("INSERT INTO migrations VALUES (?, ?)", (name, now_ms()))
            self.db.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # -- state ------------------------------------------------------------------

    def get(self, key: str, default: str | None = None) -> str | None:
        row = self.db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return default if row is None or row[0] is None else str(row[0])

    def get_int(self, key: str, default: int = 0) -> int:
        value = self.get(key)
        try:
            return int(value) if value is not None else default
        except ValueError:
            return default

    def set(self, **values: object) -> None:
        with self.transaction() as db:
            _put(db, values)

    def bump(self, key: str, by: int = 1) -> None:
        with self.transaction() as db:
            _bump(db, key, by)

    def install_id(self) -> str:
        """This install's random id, made on first use (never derived from the machine)."""
        current = self.get("install_id")
        if current:
            return current
        with self.transaction() as db:
            row = db.execute("SELECT value FROM state WHERE key = 'install_id'").fetchone()
            if row and row[0]:
                return str(row[0])
            new = uuid4()
            _put(db, {"install_id": new})
            return new

    # -- events -----------------------------------------------------------------

    def append(
        self,
        event_id: str,
        body: str,
        *,
        max_events: int = MAX_EVENTS,
        max_bytes: int = MAX_BYTES,
        claim_ms: int | None = None,
    ) -> bool:
        """Queue one event, dropping (and counting) the oldest beyond the caps.

        With ``claim_ms``, also claim the right to start a flusher: when the
        persisted next-attempt time has passed, push it ``claim_ms`` ahead and
        return True (the caller spawns); otherwise return False.
        """
        now = now_ms()
        with self.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO events (event_id, created_ms, body) VALUES (?, ?, ?)",
                (event_id, now, body),
            )
            n, size = db.execute("SELECT n, bytes FROM totals WHERE id = 1").fetchone()
            if n > max_events or size > max_bytes:
                _bump(db, "dropped", _drop_oldest(db, n, size, max_events, max_bytes))
            if claim_ms is None:
                return False
            next_at = _int(db.execute("SELECT value FROM state WHERE key='next_attempt_ms'"))
            if now < next_at:
                return False
            _put(db, {"next_attempt_ms": now + claim_ms})
            return True

    def pending(self) -> tuple[int, int]:
        """(events queued, bytes queued)."""
        row = self.db.execute("SELECT n, bytes FROM totals WHERE id = 1").fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)

    def oldest_ms(self) -> int | None:
        row = self.db.execute("SELECT min(created_ms) FROM events").fetchone()
        return int(row[0]) if row and row[0] is not None else None

    def batch(self, limit: int, after_seq: int = 0) -> list[Queued]:
        rows = self.db.execute(
            "SELECT seq, event_id, created_ms, body FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
            (after_seq, limit),
        ).fetchall()
        return [Queued(*row) for row in rows]

    def iter_all(self, chunk: int = 1000) -> Iterator[Queued]:
        after = 0
        while True:
            rows = self.batch(chunk, after)
            if not rows:
                return
            yield from rows
            after = rows[-1].seq

    def delete(self, seqs: Iterable[int], **bumps: int) -> int:
        """Delete these events (and add to counters) in one transaction; how many went."""
        ids = list(seqs)
        with self.transaction() as db:
            before = db.total_changes
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                db.execute(f"DELETE FROM events WHERE seq IN ({marks})", chunk)
            gone = db.total_changes - before
            for key, by in bumps.items():
                if by:
                    _bump(db, key, by)
        return gone

    def purge(self) -> int:
        """Delete every queued event; how many were deleted."""
        with self.transaction() as db:
            n = int(db.execute("SELECT n FROM totals WHERE id = 1").fetchone()[0])
            db.execute("DELETE FROM events")
        return n


def _int(cursor: sqlite3.Cursor) -> int:
    row = cursor.fetchone()
    try:
        return int(row[0]) if row and row[0] is not None else 0
    except ValueError:
        return 0


def _put(db: sqlite3.Connection, values: dict[str, object]) -> None:
    db.executemany(
        "INSERT INTO state (key, value) VALUES (?, ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [(k, None if v is None else str(v)) for k, v in values.items()],
    )


def _bump(db: sqlite3.Connection, key: str, by: int) -> None:
    db.execute(
        "INSERT INTO state (key, value) VALUES (?, ?)"
        " ON CONFLICT (key) DO UPDATE SET value = CAST(coalesce(value, 0) AS INTEGER) + ?",
        (key, by, by),
    )


def _drop_oldest(db: sqlite3.Connection, n: int, size: int, max_n: int, max_b: int) -> int:
    dropped = 0
    if n > max_n:
        cur = db.execute(
            "DELETE FROM events WHERE seq IN (SELECT seq FROM events ORDER BY seq LIMIT ?)",
            (n - max_n,),
        )
        dropped += cur.rowcount
    while db.execute("SELECT bytes FROM totals WHERE id = 1").fetchone()[0] > max_b:
        cur = db.execute(
            "DELETE FROM events WHERE seq IN (SELECT seq FROM events ORDER BY seq LIMIT 1)"
        )
        if cur.rowcount <= 0:
            break
        dropped += cur.rowcount
    return dropped


def uuid4() -> str:
    """A random UUIDv4 string, without importing ``uuid`` (kept off the command path)."""
    b = bytearray(os.urandom(16))
    b[6] = (b[6] & 0x0F) | 0x40
    b[8] = (b[8] & 0x3F) | 0x80
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def remove_files(path: Path) -> None:
    """Delete the spool and its WAL side files (missing ones are fine)."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        try:
            os.unlink(f"{path}{suffix}")
        except FileNotFoundError:
            pass
