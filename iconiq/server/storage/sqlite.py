"""SQLite store: one file, WAL mode, ``INSERT OR IGNORE`` on a UNIQUE ``event_id``."""

from __future__ import annotations

import queue
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from iconiq.errors import InvalidInput, OutputError
from iconiq.server.events import COLUMNS, Row
from iconiq.server.storage.base import Dialect, unique_rows
from iconiq.server.storage.hooks import expire_rollups
from iconiq.server.storage.migrate import all_migrations, migrate_sqlite

_INSERT = (
    f"INSERT OR IGNORE INTO events ({', '.join(COLUMNS)})"
    f" VALUES ({', '.join('?' for _ in COLUMNS)})"
)


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

    def migrate(self) -> list[str]:
        with self.connection() as conn:
            return migrate_sqlite(conn, all_migrations())

    def insert(self, rows: Sequence[Row]) -> int:
        rows = unique_rows(rows)
        if not rows:
            return 0
        with self.connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            # rowcount, not total_changes: the analytics triggers' own writes must not count.
            return conn.executemany(_INSERT, [row.values() for row in rows]).rowcount

    def erase_install(self, install_id: str) -> int:
        with self.connection() as conn:
            return conn.execute("DELETE FROM events WHERE install_id = ?", (install_id,)).rowcount

    def purge_expired(self, cutoff_ms: int) -> int:
        with self.connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            deleted = conn.execute("DELETE FROM events WHERE timestamp < ?", (cutoff_ms,)).rowcount
            expire_rollups(conn, "sqlite", cutoff_ms)
            return deleted

    def count(self) -> int:
        with self.connection() as conn:
            return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])

    def close(self) -> None:
        """Close every connection (the store reopens lazily if used again)."""
        with self._lock:
            conns, self._all = self._all, []
            while not self._idle.empty():
                self._idle.get_nowait()
        for conn in conns:
            conn.close()
