"""PostgreSQL store: psycopg 3 with a pool, ``events`` partitioned by month.

Exactly-once by ``event_id`` across partitions and server instances: one
statement first claims the ids in ``event_ids`` (its primary key is global;
``ON CONFLICT DO NOTHING``) and inserts into ``events`` only the rows whose
claim succeeded. Two instances racing on one id serialize on that key.
Monthly partitions ``events_pYYYYMM`` are created on demand under an advisory
lock; retention drops whole months and deletes the boundary month's rows.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from iconiq.errors import NetworkError
from iconiq.server.analytics import rollups
from iconiq.server.analytics.db import Db, Dialect
from iconiq.server.events import COLUMNS, PG_TYPES, Row
from iconiq.server.storage.base import unique_rows
from iconiq.server.storage.migrations import migrate_postgres
from iconiq.server.storage.migrations.postgres import MIGRATIONS

PARTITION_LOCK_KEY = 0x1C0_0002
RETENTION_LOCK_KEY = 0x1C0_0003
_INSERT = (
    "WITH input AS (SELECT * FROM unnest("
    + ", ".join(f"%s::{t}[]" for t in PG_TYPES)
    + f") AS t({', '.join(COLUMNS)})),"
    " claimed AS (INSERT INTO event_ids (event_id, timestamp)"
    " SELECT event_id, timestamp FROM input ON CONFLICT DO NOTHING RETURNING event_id)"
    f" INSERT INTO events ({', '.join(COLUMNS)})"
    f" SELECT {', '.join('input.' + c for c in COLUMNS)} FROM input JOIN claimed USING (event_id)"
)


def month_start(ms: int) -> dt.datetime:
    t = dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)
    return dt.datetime(t.year, t.month, 1, tzinfo=dt.UTC)


def next_month(start: dt.datetime) -> dt.datetime:
    return start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)


def _ms(t: dt.datetime) -> int:
    return int(t.timestamp() * 1000)


def partition_name(start: dt.datetime) -> str:
    return f"events_p{start.year:04d}{start.month:02d}"


class PostgresStore:
    dialect: Dialect = "postgres"

    def __init__(self, url: str, pool_size: int = 10) -> None:
        self.url = url
        self._known: set[str] = set()
        self._known_lock = threading.Lock()
        self._pool_size = pool_size
        self._pool_lock = threading.Lock()
        self.pool = self._open_pool()

    def _open_pool(self) -> ConnectionPool[Any]:
        try:  # fail fast with one clear line when the server is not there at all
            psycopg.connect(self.url, connect_timeout=10).close()
        except psycopg.Error as exc:
            raise NetworkError(f"cannot connect to PostgreSQL: {type(exc).__name__}") from exc
        pool: ConnectionPool[Any] = ConnectionPool(
            self.url, min_size=1, max_size=self._pool_size, open=False, timeout=30, name="iconiq"
        )
        try:
            pool.open(wait=True, timeout=15)
        except Exception as exc:  # noqa: BLE001 - one line for the operator
            pool.close()
            raise NetworkError(f"cannot connect to PostgreSQL: {type(exc).__name__}") from exc
        return pool

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection; committed on a clean exit, rolled back on error."""
        if self.pool.closed:  # closed by an app shutdown, used again (tests): reopen
            with self._pool_lock:
                if self.pool.closed:
                    self.pool = self._open_pool()
        with self.pool.connection() as conn:
            yield conn

    @contextmanager
    def db(self) -> Iterator[Db]:
        """``connection()`` wrapped as a ``Db`` (what analytics takes)."""
        with self.connection() as conn:
            yield Db(conn, self.dialect)

    def migrate(self) -> list[str]:
        with self.connection() as conn:
            return migrate_postgres(conn, MIGRATIONS)

    def ensure_partitions(self, timestamps: Sequence[int]) -> None:
        """Create the monthly partitions these timestamps fall in, if missing."""
        starts = {month_start(ts) for ts in timestamps}
        missing = [s for s in starts if partition_name(s) not in self._known]
        if not missing:
            return
        with self.connection() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (PARTITION_LOCK_KEY,))
            for start in sorted(missing):
                name = partition_name(start)
                conn.execute(
                    f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF events"
                    f" FOR VALUES FROM ({_ms(start)}) TO ({_ms(next_month(start))})"
                )
        with self._known_lock:
            self._known.update(partition_name(s) for s in missing)

    def insert(self, rows: Sequence[Row]) -> int:
        rows = unique_rows(rows)
        if not rows:
            return 0
        self.ensure_partitions([r.event.timestamp for r in rows])
        columns = list(zip(*(row.values() for row in rows), strict=True))
        params = [list(col) for col in columns]
        try:
            with self.connection() as conn:
                return conn.execute(_INSERT, params).rowcount
        except psycopg.errors.CheckViolation:
            # A partition another instance dropped since we cached it: forget and retry once.
            with self._known_lock:
                self._known.clear()
            self.ensure_partitions([r.event.timestamp for r in rows])
            with self.connection() as conn:
                return conn.execute(_INSERT, params).rowcount

    def erase_install(self, install_id: str) -> int:
        with self.connection() as conn:
            row = conn.execute(
                "WITH gone AS (DELETE FROM events WHERE install_id = %s RETURNING event_id),"
                " ids AS (DELETE FROM event_ids WHERE event_id IN (SELECT event_id FROM gone))"
                " SELECT count(*) FROM gone",
                (install_id,),
            ).fetchone()
            return int(row[0]) if row else 0

    def partitions(self, conn: psycopg.Connection[Any] | None = None) -> list[tuple[str, int, int]]:
        """(name, from_ms, to_ms) of every monthly partition, oldest first."""
        if conn is None:
            with self.connection() as own:
                return self.partitions(own)
        names = conn.execute(
            "SELECT c.relname FROM pg_inherits i"
            " JOIN pg_class c ON c.oid = i.inhrelid"
            " JOIN pg_class p ON p.oid = i.inhparent"
            " WHERE p.relname = 'events' AND c.relname ~ '^events_p[0-9]{6}$'"
        ).fetchall()
        out = []
        for (name,) in names:
            start = dt.datetime(int(name[8:12]), int(name[12:14]), 1, tzinfo=dt.UTC)
            out.append((name, _ms(start), _ms(next_month(start))))
        return sorted(out, key=lambda p: p[1])

    def purge_expired(self, cutoff_ms: int) -> int:
        """Drop whole expired months, delete the boundary month's expired rows, prune
        ``event_ids``, then expire analytics rollups, in one transaction. When another
        instance is purging right now, do nothing (return 0)."""
        deleted = 0
        with self.connection() as conn:
            got = conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (RETENTION_LOCK_KEY,))
            if not got.fetchone()[0]:  # type: ignore[index]
                return 0
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (PARTITION_LOCK_KEY,))
            for name, _start, end in self.partitions(conn):
                if end <= cutoff_ms:
                    row = conn.execute(f"SELECT count(*) FROM {name}").fetchone()
                    deleted += int(row[0]) if row else 0
                    conn.execute(f"DROP TABLE {name}")
            deleted += conn.execute(
                "DELETE FROM events WHERE timestamp < %s", (cutoff_ms,)
            ).rowcount
            conn.execute("DELETE FROM event_ids WHERE timestamp < %s", (cutoff_ms,))
            rollups.expire(Db(conn, "postgres"), cutoff_ms)
        with self._known_lock:
            self._known.clear()
        return deleted

    def count(self) -> int:
        with self.connection() as conn:
            row = conn.execute("SELECT count(*) FROM events").fetchone()
            return int(row[0]) if row else 0

    def close(self) -> None:
        self.pool.close()
