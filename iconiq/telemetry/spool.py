"""The local telemetry spool: one SQLite file (``telemetry.db``) of queued events.

Tables (created by ``MIGRATIONS``, a list that only grows, each recorded in
``migrations`` inside the transaction that applies it):

    events(seq, event_id UNIQUE, created_ms, body)   body = the event's wire JSON
    totals(id=1, n, bytes)                           kept by triggers, for the cap
    state(key, value)                                install id, counters, backoff

Every write is one short ``BEGIN IMMEDIATE`` transaction (WAL, busy timeout), so
many commands can append while a flusher deletes what the server took. A
command's append waits for a lock at most ``RECORD_BUDGET_S`` in all (``budget_s``);
an event it could not store is counted once in the side file ``telemetry.db.dropped``
(one byte per event: it needs no lock on the spool). A damaged spool is healed by
``open_healing``, and ``healing_iter`` / ``healing`` run an operation once more on the
healed spool (see ``iconiq.telemetry.salvage``). Every spool file is created and kept
with mode 0600. Only the standard library is imported here: this module is on every
command's path.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

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
# All a command may wait for the spool's lock (open, read the install id, append).
RECORD_BUDGET_S = 0.15
# The budget is kept to within this many ms (the busy timeout is shrunk only past it).
SPEND_SLACK_MS = 5
FILE_MODE = 0o600
SIDE_SUFFIXES = ("-wal", "-shm", "-journal")
# One byte per event a command could not store: L = spool locked, E = any other failure.
DROPPED_SUFFIX = ".dropped"
LOST_LOCKED = b"L"
LOST_ERROR = b"E"
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
        interval_ms: int | None = None,
    ) -> int | None:
        """Queue one event, dropping (and counting) the oldest beyond the caps.

        With ``interval_ms``, also ask the delivery rule (``iconiq.telemetry.due``)
        in the same transaction whether this command starts a flusher: the answer
        is the delay in ms after which that flusher uploads (0: at once), and the
        claim is stored as ``flush_at_ms``; None means start nothing.
        """
        now = now_ms()
        with self.transaction() as db:
            n = _insert(db, event_id, body, now, max_events, max_bytes)
            if interval_ms is None:
                return None
            return _claim(db, now, n, _read_state(db, ()), interval_ms)

    def record(self, make: Callable[[str], tuple[str, str]], *, interval_ms: int) -> int | None:
        """A command's append, in one transaction (one wait for the lock): read this
        install's id (made on first use) and the delivery state, queue the event
        ``make(install_id)`` returns as ``(event_id, body)``, and answer as ``append``
        with ``interval_ms`` does (when the flusher this command starts uploads, or None)."""
        now = now_ms()
        with self.transaction() as db:
            state = _read_state(db, ("install_id",))
            install_id = state.get("install_id")
            if not install_id:
                install_id = uuid4()
                _put(db, {"install_id": install_id})
            event_id, body = make(str(install_id))
            n = _insert(db, event_id, body, now, MAX_EVENTS, MAX_BYTES)
            return _claim(db, now, n, state, interval_ms)

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
    db: sqlite3.Connection, event_id: str, body: str, now: int, max_n: int, max_b: int
) -> int:
    """Queue one event (once per ``event_id``), dropping and counting the oldest beyond
    the caps; how many events are queued now."""
    db.execute(
        "INSERT OR IGNORE INTO events (event_id, created_ms, body) VALUES (?, ?, ?)",
        (event_id, now, body),
    )
    n, size = db.execute("SELECT n, bytes FROM totals WHERE id = 1").fetchone()
    if n > max_n or size > max_b:
        _bump(db, "dropped", _drop_oldest(db, n, size, max_n, max_b))
        n = db.execute("SELECT n FROM totals WHERE id = 1").fetchone()[0]
    return int(n)


def _read_state(db: sqlite3.Connection, extra: tuple[str, ...]) -> dict[str, str]:
    """The delivery rule's state keys (``due.KEYS``) and ``extra`` keys that are set."""
    from iconiq.telemetry import due

    keys = (*extra, *due.KEYS)
    marks = ",".join("?" * len(keys))
    rows = db.execute(f"SELECT key, value FROM state WHERE key IN ({marks})", keys)
    return {str(k): str(v) for k, v in rows if v is not None}


def _claim(
    db: sqlite3.Connection, now: int, n: int, state: dict[str, str], interval: int
) -> int | None:
    """Ask the delivery rule (``iconiq.telemetry.due``) whether this command starts a
    flusher; store the claim (``flush_at_ms``) and answer its delay in ms, or None."""
    from iconiq.telemetry import due

    at = due.schedule(now, n, {k: _as_int(state.get(k)) for k in due.KEYS}, interval)
    if at is None:
        return None
    _put(db, {"flush_at_ms": at})
    return at - now


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


def uuid4() -> str:
    """A random UUIDv4 string, without importing ``uuid`` (kept off the command path)."""
    b = bytearray(os.urandom(16))
    b[6] = (b[6] & 0x0F) | 0x40
    b[8] = (b[8] & 0x3F) | 0x80
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


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
    for suffix in (*SIDE_SUFFIXES, DROPPED_SUFFIX):
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


def dropped_path(path: Path) -> Path:
    return path.with_name(path.name + DROPPED_SUFFIX)


def count_dropped(path: Path, reason: bytes) -> None:
    """Count one event this command could not store (one byte, appended atomically)."""
    fd = os.open(dropped_path(path), os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
    try:
        os.write(fd, reason[:1])
    finally:
        os.close(fd)


def dropped_counts(path: Path) -> tuple[int, int]:
    """(events not stored because the spool was locked, because of another failure)."""
    try:
        data = dropped_path(path).read_bytes()
    except OSError:
        return 0, 0
    return data.count(LOST_LOCKED), data.count(LOST_ERROR)


def remove_files(path: Path) -> None:
    """Delete the spool and its WAL side files (missing ones are fine)."""
    for suffix in ("", *SIDE_SUFFIXES):
        try:
            os.unlink(f"{path}{suffix}")
        except FileNotFoundError:
            pass
