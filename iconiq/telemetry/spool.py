"""The local telemetry spool: one SQLite file (``telemetry.db``) of queued events.

Tables (created by ``MIGRATIONS``, a list that only grows, each recorded in
``migrations`` inside the transaction that applies it):

    events(seq, event_id UNIQUE, created_ms, body)   body = the event's wire JSON
    totals(id=1, n, bytes)                           kept by triggers, for the cap
    state(key, value)                                install id, counters, last error

Commands do not open it: on POSIX they append to its inbox (``telemetry.db.inbox``,
``iconiq.telemetry.inbox``), which every ``Spool`` opened on the file takes in first
(``take_inbox``); the delivery rule's state sits beside it in ``telemetry.db.due``
(``iconiq.telemetry.due``). Every write is one short ``BEGIN IMMEDIATE`` transaction
(WAL, busy timeout), so readers, the flusher and ``iconiq telemetry`` commands can work
side by side. Where there is no ``flock`` (Windows), a command appends here, waiting
for a lock at most ``RECORD_BUDGET_S`` in all (``budget_s``). An event a command could
not store is counted once in the side file ``telemetry.db.dropped`` (one byte per
event: it needs no lock). A damaged spool is healed by ``open_healing``, and
``healing_iter`` / ``healing`` run an operation once more on the healed spool (see
``iconiq.telemetry.salvage``). Every spool file is created and kept with mode 0600.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from iconiq.telemetry import due, inbox
from iconiq.telemetry.ids import uuid4
from iconiq.telemetry.inbox import DROPPED_SUFFIX, RECORD_BUDGET_S

# ``typing.TYPE_CHECKING`` without importing typing (~4 ms of CPU for a host that
# records an event); mypy treats a name ``TYPE_CHECKING`` the same way.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import sqlite3
    from typing import TypeVar

    T = TypeVar("T")
else:
    # ``_sqlite3`` is the C module that ``sqlite3`` re-exports (the same ``connect``,
    # ``Connection`` and exception classes). The ``sqlite3`` package adds only the DB-API
    # wrapper and its default date adapters, whose ``import datetime`` costs a host that
    # records an event ~2 ms of CPU (the pure-Python ``datetime`` is compiled before the C
    # one replaces it). Nothing here passes dates, so the wrapper is skipped where it can be
    # (docs/telemetry.md, "What it costs"); any other Python gets the public module.
    try:
        import _sqlite3 as sqlite3
    except ImportError:
        import sqlite3

BUSY_TIMEOUT_MS = 5000
# How long opening the spool waits for its write lock to take the inbox in.
INBOX_WAIT_MS = 500
# The budget is kept to within this many ms (the busy timeout is shrunk only past it).
SPEND_SLACK_MS = 5
FILE_MODE = 0o600
SIDE_SUFFIXES = ("-wal", "-shm", "-journal")
# WAL with synchronous=NORMAL never corrupts and survives any process crash (kill -9);
# commands that append here (where there is no inbox) use OFF (no fsync, ~0.5 ms instead
# of 10-30 ms on a slow disk): a process crash still loses nothing, an OS crash or power
# cut may lose the last events (a spool that comes back corrupt is set aside and
# restarted). Taking the inbox in commits with FULL (``take_inbox``).
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


def _m3_due_state_to_file(db: sqlite3.Connection, path: Path) -> None:
    """The delivery state moves to ``<spool>.due`` (``iconiq.telemetry.due``), where a
    command reads it without opening SQLite; a back-off in force is kept."""
    marks = ",".join("?" * len(due.KEYS))
    rows = db.execute(f"SELECT key, value FROM state WHERE key IN ({marks})", due.KEYS)
    values = {str(k): _as_int(v) for k, v in rows}
    if values and str(path) != ":memory:" and not due.exists(path):
        due.update(path, **values)
    db.execute(f"DELETE FROM state WHERE key IN ({marks})", due.KEYS)


MIGRATIONS: list[tuple[str, Callable[[sqlite3.Connection, Path], None]]] = [
    ("m001_events_and_state", lambda db, _: _m1_events(db)),
    ("m002_totals_triggers", lambda db, _: _m2_totals(db)),
    ("m003_due_state_to_file", _m3_due_state_to_file),
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

    def __init__(self, path: Path, *, sync: str = "NORMAL", budget_s: float | None = None) -> None:
        """Open (creating) the spool. With ``budget_s``, all waits for locks on this
        connection together last at most that long (the recording path); otherwise
        each statement waits up to ``BUSY_TIMEOUT_MS``."""
        self.path = path
        self.ino = 0
        self._deadline = None if budget_s is None else time.monotonic() + budget_s
        wait_s = BUSY_TIMEOUT_MS / 1000 if budget_s is None else budget_s
        self._timeout_ms = int(wait_s * 1000)  # the connection's busy timeout now
        if str(path) != ":memory:":
            try:
                self.ino = secure_files(path)
            except FileNotFoundError:  # no folder yet (first run)
                path.parent.mkdir(parents=True, exist_ok=True)
                self.ino = secure_files(path)
        self.db = sqlite3.connect(
            str(path), timeout=wait_s, isolation_level=None, check_same_thread=False
        )
        try:  # ``timeout`` above is SQLite's busy timeout: no PRAGMA needed for it
            if self.db.execute("PRAGMA user_version").fetchone()[0] != len(MIGRATIONS):
                # Once per spool (creation, upgrade): may wait like any other writer.
                self.db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                self._timeout_ms = BUSY_TIMEOUT_MS
                self._migrate()
                if budget_s is not None:
                    self._deadline = time.monotonic() + budget_s
            self._sync = SYNC_MODES[sync]
            self.db.execute(f"PRAGMA synchronous = {self._sync}")
            if budget_s is None and str(path) != ":memory:":
                self._take_inbox_on_open()
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
                    apply(self.db, self.path)
                    self.db.execute("INSERT INTO migrations VALUES (?, ?)", (name, now_ms()))
            self.db.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _spend(self) -> None:
        """Shrink the busy timeout to what is left of this connection's budget (to
        ``SPEND_SLACK_MS``: a statement less when nothing waited yet)."""
        if self._deadline is not None:
            left = max(0, int((self._deadline - time.monotonic()) * 1000))
            if left < self._timeout_ms - SPEND_SLACK_MS:
                self.db.execute(f"PRAGMA busy_timeout = {left}")
                self._timeout_ms = left

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self._spend()
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            if self.db.in_transaction:  # SQLite may have rolled back already (full disk...)
                try:
                    self.db.execute("ROLLBACK")
                except sqlite3.Error:
                    pass  # the error that stopped the transaction is the one to raise
            raise
        self.db.execute("COMMIT")

    # -- state ------------------------------------------------------------------

    def get(self, key: str, default: str | None = None) -> str | None:
        self._spend()
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
            return _install_id(db)

    # -- events -----------------------------------------------------------------

    def append(
        self,
        event_id: str,
        body: str,
        *,
        max_events: int = MAX_EVENTS,
        max_bytes: int = MAX_BYTES,
    ) -> int:
        """Queue one event, dropping (and counting) the oldest beyond the caps; how
        many events are queued now."""
        with self.transaction() as db:
            return _insert(db, [(event_id, now_ms(), body)], max_events, max_bytes)

    def _take_inbox_on_open(self) -> None:
        """Take in what commands recorded since, so every reader sees it; a spool whose
        write lock is held (a stuck writer) is read as it is, the inbox left for later."""
        if not inbox.size(self.path):
            return
        self.db.execute(f"PRAGMA busy_timeout = {INBOX_WAIT_MS}")
        try:
            self.take_inbox()
        except sqlite3.OperationalError as exc:
            if not is_busy(exc):
                raise
        finally:
            self.db.execute(f"PRAGMA busy_timeout = {self._timeout_ms}")

    def take_inbox(self) -> int:
        """Move the events commands appended to the inbox into the spool
        (``iconiq.telemetry.inbox``), filling in this install's id; how many it took.

        The inbox is locked inside this spool's write transaction and emptied only
        after it committed: a crash on the way loses nothing and, since the spool
        keeps each ``event_id`` once, queues nothing twice."""
        if not inbox.size(self.path):
            return 0
        from iconiq.telemetry.event import dumps

        taken: inbox.Taken | None = None
        # The inbox is emptied right after this commit: the commit must be on disk by
        # then, or a power cut could keep the emptying and lose the events.
        self.db.execute("PRAGMA synchronous = FULL")
        try:
            with self.transaction() as db:
                taken = inbox.take(self.path)  # nothing when locked past its wait
                install_id = _install_id(db) if taken.events else ""
                now = now_ms()
                rows = []
                for event in taken.events:
                    if not event.get("install_id"):
                        event["install_id"] = install_id
                    stamp = event.get("timestamp")
                    created = stamp if type(stamp) is int and 0 < stamp <= now else now
                    rows.append((str(event["event_id"]), created, dumps(event)))
                _insert(db, rows, MAX_EVENTS, MAX_BYTES)
                if taken.corrupt:
                    _bump(db, "dropped_corrupt", taken.corrupt)
            taken.clear()
            return len(rows)
        finally:
            self.db.execute(f"PRAGMA synchronous = {self._sync}")
            if taken is not None:
                taken.release()

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

    def load(
        self, events: Iterable[Queued], state: dict[str, str], counters: dict[str, int]
    ) -> int:
        """Add salvaged events (keeping their ``created_ms``), state and counters to this
        spool in one transaction: an event already here (same ``event_id``) is not added
        twice, a state key already set keeps its value, counters are added. How many
        events were added."""
        with self.transaction() as db:
            before = db.total_changes
            db.executemany(
                "INSERT OR IGNORE INTO events (event_id, created_ms, body) VALUES (?, ?, ?)",
                ((q.event_id, q.created_ms, q.body) for q in events),
            )
            added = db.total_changes - before
            db.executemany(
                "INSERT INTO state (key, value) VALUES (?, ?) ON CONFLICT (key)"
                " DO UPDATE SET value = coalesce(value, excluded.value)",
                list(state.items()),
            )
            for key, by in counters.items():
                _bump(db, key, by)
        return added

    def purge(self) -> int:
        """Delete every queued event; how many were deleted."""
        with self.transaction() as db:
            n = int(db.execute("SELECT n FROM totals WHERE id = 1").fetchone()[0])
            db.execute("DELETE FROM events")
        return n


def _insert(
    db: sqlite3.Connection, rows: list[tuple[str, int, str]], max_n: int, max_b: int
) -> int:
    """Queue events ``(event_id, created_ms, body)`` (once per ``event_id``), dropping
    and counting the oldest beyond the caps; how many events are queued now."""
    db.executemany(
        "INSERT OR IGNORE INTO events (event_id, created_ms, body) VALUES (?, ?, ?)", rows
    )
    n, size = db.execute("SELECT n, bytes FROM totals WHERE id = 1").fetchone()
    if n > max_n or size > max_b:
        _bump(db, "dropped", _drop_oldest(db, n, size, max_n, max_b))
        n = db.execute("SELECT n FROM totals WHERE id = 1").fetchone()[0]
    return int(n)


def _install_id(db: sqlite3.Connection) -> str:
    """This install's id (inside a write transaction), made on first use."""
    row = db.execute("SELECT value FROM state WHERE key = 'install_id'").fetchone()
    if row and row[0]:
        return str(row[0])
    new = uuid4()
    _put(db, {"install_id": new})
    return new


def _as_int(value: object) -> int:
    try:
        return int(str(value)) if value is not None else 0
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


def secure_files(path: Path) -> int:
    """Create the spool file with mode 0600 if missing and give 0600 to it and its WAL
    side files (whatever the umask; SQLite gives new side files the database's mode).
    The spool's inode number."""
    fd = os.open(path, os.O_RDONLY | os.O_CREAT, FILE_MODE)
    try:
        st = os.fstat(fd)
    finally:
        os.close(fd)
    if st.st_mode & 0o777 != FILE_MODE:
        os.chmod(path, FILE_MODE)
    for suffix in (*SIDE_SUFFIXES, DROPPED_SUFFIX, inbox.SUFFIX, due.SUFFIX):
        try:
            if os.stat(f"{path}{suffix}").st_mode & 0o777 != FILE_MODE:
                os.chmod(f"{path}{suffix}", FILE_MODE)
        except OSError:
            pass
    return st.st_ino


def is_corrupt(exc: BaseException) -> bool:
    """True for SQLite's "database disk image is malformed" and "file is not a database"."""
    if not isinstance(exc, sqlite3.DatabaseError):
        return False
    name = getattr(exc, "sqlite_errorname", "") or ""
    if name.startswith("SQLITE_CORRUPT") or name == "SQLITE_NOTADB":
        return True
    text = str(exc)
    return "malformed" in text or "not a database" in text


def is_busy(exc: BaseException) -> bool:
    """True when another process holds the lock the statement needed."""
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    name = getattr(exc, "sqlite_errorname", "") or ""
    return name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in str(exc)


def open_healing(path: Path, *, sync: str = "NORMAL", budget_s: float | None = None) -> Spool:
    """Open the spool; a damaged one is set aside and healed first (``salvage.heal``).

    With ``budget_s`` (a command's recording path) a damaged spool is only set aside;
    without, damaged copies set aside earlier are salvaged first."""
    try:
        ino = os.stat(path).st_ino
    except OSError:
        ino = 0
    if budget_s is None and ino and any(path.parent.glob(path.name + ".damaged-*")):
        from iconiq.telemetry.salvage import salvage_pending

        salvage_pending(path)
    try:
        return Spool(path, sync=sync, budget_s=budget_s)
    except sqlite3.DatabaseError as exc:
        if not is_corrupt(exc):
            raise
    heal_damaged(path, ino, recording=budget_s is not None)
    return Spool(path, sync=sync, budget_s=budget_s)


def heal_damaged(path: Path, ino: int, *, recording: bool = False) -> None:
    """Set a damaged spool aside (``salvage.heal``); salvage it now unless ``recording``
    (a command must not wait for it: the flusher or the next telemetry command will)."""
    from iconiq.telemetry.salvage import heal

    if recording:
        heal(path, ino, salvage_now=False, wait=RECORD_BUDGET_S)
    else:
        heal(path, ino)


def healing_iter(
    path: Path,
    items: Callable[[Spool], Iterable[T]],
    *,
    sync: str = "NORMAL",
    budget_s: float | None = None,
) -> Generator[T, None, None]:
    """What ``items(spool)`` yields; when it meets damage, the spool is healed and
    ``items`` runs once more, on the healed spool (what was done or yielded before the
    damage stays so). The one "heal and retry once" of every spool operation.

    With ``budget_s`` (a command's recording path) the spool is opened within that
    lock budget and a damaged one is only set aside (``heal_damaged``)."""
    for attempt in (1, 2):
        spool = open_healing(path, sync=sync, budget_s=budget_s)
        try:
            yield from items(spool)
            return
        except sqlite3.DatabaseError as exc:
            if attempt == 2 or not is_corrupt(exc):
                raise
            ino = spool.ino
        finally:
            spool.close()
        heal_damaged(path, ino, recording=budget_s is not None)


def healing(
    path: Path,
    operation: Callable[[Spool], T],
    *,
    sync: str = "NORMAL",
    budget_s: float | None = None,
) -> T:
    """Run ``operation`` on the spool; when it meets damage, heal the spool and run it
    once more on the healed one (``healing_iter``)."""
    results = healing_iter(path, lambda spool: (operation(spool),), sync=sync, budget_s=budget_s)
    try:
        return next(results)
    finally:
        results.close()  # closes the spool


def exists(path: Path) -> bool:
    """Whether anything was recorded here: the spool, or an inbox commands appended to."""
    return path.exists() or os.path.exists(inbox.path_of(path))


def remove_files(path: Path) -> None:
    """Delete the spool, its WAL side files, its inbox and its delivery state (missing
    ones are fine)."""
    for suffix in ("", *SIDE_SUFFIXES, inbox.SUFFIX, due.SUFFIX):
        try:
            os.unlink(f"{path}{suffix}")
        except FileNotFoundError:
            pass
