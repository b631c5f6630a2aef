"""SQLite store: one file, WAL mode, ``INSERT OR IGNORE`` on a UNIQUE ``event_id``.

Ingest path (the server's hot loop): every ``insert`` of this process goes through one
dedicated writer connection, serialized by a Python lock. SQLite allows one writer at a
time anyway; one connection keeps its page cache (``WRITER_CACHE_KIB``) warm from batch to
batch, where rotating pooled connections each find their cache stale after another
connection wrote and re-read the index pages. The writer never checkpoints inside a
commit (``wal_autocheckpoint=0``): after every ``CHECKPOINT_ROWS`` rows a background
thread runs a PASSIVE checkpoint (copy the WAL into the database, fsync), which lets
writers go on meanwhile, so no request waits for that fsync. Other connections (reads,
folds, retention, erasure) come from the pool and keep SQLite's automatic checkpoints.

Durability: WAL with ``synchronous=NORMAL``. A commit survives a crash or kill -9 of the
server process; an operating-system crash or power loss may roll back the transactions
committed since the last checkpoint (at most a few thousand events), whose clients were
already answered 200 and dropped them. Deployments that cannot accept that run
PostgreSQL (``synchronous_commit`` on by default).
"""

from __future__ import annotations

import functools
import logging
import queue
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from iconiq.errors import InvalidInput, OutputError
from iconiq.server.analytics import rollups
from iconiq.server.analytics.db import Db, Dialect
from iconiq.server.events import COLUMNS, Row
from iconiq.server.storage.base import unique_rows
from iconiq.server.storage.migrations import migrate_sqlite
from iconiq.server.storage.migrations.sqlite import MIGRATIONS

log = logging.getLogger("iconiq.server")

# Rows written between two checkpoints (~ SQLite's default of 1000 WAL pages at full schema).
CHECKPOINT_ROWS = 2000
# Page cache of the writer connection (KiB; SQLite's default is 2 MiB): the UNIQUE event_id
# and install_id indexes take random UUIDs, so inserts touch pages all over them.
WRITER_CACHE_KIB = 64 * 1024

# Rows per INSERT statement (multi-row VALUES) and the smaller shapes a remainder is split
# into (powers of two), so a handful of statements serve every batch size from the
# connection's statement cache. One sqlite3_step stores a whole chunk with the GIL
# released; executemany steps once per row and re-takes the GIL each time, often waiting
# behind the event loop's thread while this connection holds the write lock.
CHUNK_ROWS = 50
_SHAPES = (32, 16, 8, 4, 2, 1)


@functools.cache
def _insert_sql(rows: int) -> str:
    values = ", ".join([f"({', '.join('?' for _ in COLUMNS)})"] * rows)
    return f"INSERT OR IGNORE INTO events ({', '.join(COLUMNS)}) VALUES {values}"


def _chunks(count: int, largest: int) -> Iterator[int]:
    """Chunk sizes that add up to ``count``: ``largest`` while it fits, then powers of two."""
    while count >= largest:
        yield largest
        count -= largest
    for shape in _SHAPES:
        if count >= shape:
            yield shape
            count -= shape


class SQLiteStore:
    dialect: Dialect = "sqlite"

    def __init__(self, url: str) -> None:
        self.url = url
        raw = url.removeprefix("sqlite:///")
        if not raw:
            raise InvalidInput("sqlite:/// URL needs a file path")
        self.path = Path(raw).expanduser()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create {self.path.parent}: {exc.strerror}") from exc
        self._idle: queue.LifoQueue[sqlite3.Connection] = queue.LifoQueue()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._checkpointer: threading.Thread | None = None
        self._wake = threading.Event()
        self._stop = False
        self._unsaved = 0
        self.checkpoints = 0  # background checkpoints done (tests, diagnostics)
        self._writer: sqlite3.Connection | None = None
        self._write_lock = threading.Lock()
        self._chunk_rows = CHUNK_ROWS

    def _open(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
        except sqlite3.Error as exc:
            raise OutputError(f"cannot open database {self.path}: {exc}") from exc
        with self._lock:
            self._all.append(conn)
        return conn

    @contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        try:
            conn = self._idle.get_nowait()
        except queue.Empty:
            conn = self._open()
        try:
            yield conn
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        finally:
            self._idle.put(conn)

    @contextmanager
    def db(self) -> Iterator[Db]:
        """``connection()`` wrapped as a ``Db`` (what analytics takes)."""
        with self.connection() as conn:
            yield Db(conn, self.dialect)

    def migrate(self) -> list[str]:
        with self.connection() as conn:
            return migrate_sqlite(conn, MIGRATIONS)

    def insert(self, rows: Sequence[Row]) -> int:
        rows = unique_rows(rows)
        if not rows:
            return 0
        values = [row.values() for row in rows]
        with self._write_lock:
            conn = self._writer or self._open_writer()
            try:
                conn.execute("BEGIN IMMEDIATE")
                added = 0
                start = 0
                for size in _chunks(len(values), self._chunk_rows):
                    params = [v for row in values[start : start + size] for v in row]
                    start += size
                    # rowcount (sqlite3_changes), not total_changes: the analytics triggers'
                    # own writes must not count, nor the rows INSERT OR IGNORE skipped.
                    added += conn.execute(_insert_sql(size), params).rowcount
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
        self._written(len(rows))
        return added

    def _open_writer(self) -> sqlite3.Connection:
        """The one connection that inserts events (see the module docstring)."""
        conn = self._open()
        conn.execute(f"PRAGMA cache_size=-{WRITER_CACHE_KIB}")
        conn.execute("PRAGMA wal_autocheckpoint=0")
        # Older SQLite builds allow 999 parameters per statement.
        limit = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        self._chunk_rows = max(1, min(CHUNK_ROWS, limit // len(COLUMNS)))
        self._writer = conn
        return conn

    def _written(self, rows: int) -> None:
        """Count rows written; past CHECKPOINT_ROWS, wake the checkpointer."""
        with self._lock:
            self._unsaved += rows
            if self._unsaved < CHECKPOINT_ROWS:
                return
            self._unsaved = 0
            if self._checkpointer is None or not self._checkpointer.is_alive():
                self._stop = False
                self._checkpointer = threading.Thread(
                    target=self._checkpoint_loop, name="sqlite-checkpoint", daemon=True
                )
                self._checkpointer.start()
        self._wake.set()

    def _checkpoint_loop(self) -> None:
        """PASSIVE checkpoints on request: writers go on meanwhile (WAL), and no request
        waits for the checkpoint's fsync."""
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._stop:
                return
            try:
                with self.connection() as conn:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                self.checkpoints += 1
            except sqlite3.Error as exc:  # retried at the next wake-up
                log.warning("WAL checkpoint failed: %s", type(exc).__name__)

    def erase_install(self, install_id: str) -> int:
        with self.connection() as conn:
            return conn.execute("DELETE FROM events WHERE install_id = ?", (install_id,)).rowcount

    def purge_expired(self, cutoff_ms: int) -> int:
        with self.connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            deleted = conn.execute("DELETE FROM events WHERE timestamp < ?", (cutoff_ms,)).rowcount
            rollups.expire(Db(conn, "sqlite"), cutoff_ms)
            return deleted

    def count(self) -> int:
        with self.connection() as conn:
            return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])

    def close(self) -> None:
        """Stop the checkpointer and close every connection (the store reopens lazily if
        used again; the last connection to close checkpoints the WAL)."""
        with self._lock:
            thread, self._checkpointer = self._checkpointer, None
            self._stop = True
        self._wake.set()
        if thread is not None:
            thread.join()
        with self._write_lock, self._lock:
            self._writer = None
            conns, self._all = self._all, []
            while not self._idle.empty():
                self._idle.get_nowait()
        for conn in conns:
            conn.close()
