"""Core storage schema, one named migration per change; this list only grows.

SQLite keeps everything in one ``events`` table whose ``event_id`` is UNIQUE.
PostgreSQL partitions ``events`` by month on ``timestamp`` (range partitions,
created on demand by the store), and keeps global uniqueness of ``event_id``
in the small ``event_ids`` table: a unique index on a partitioned table would
have to include the partition key, which would let the same event with two
different timestamps be stored twice.
"""

from __future__ import annotations

from iconiq.server.storage.migration import Migration

_SQLITE_EVENTS = """
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    session_id TEXT NOT NULL,
    install_id TEXT NOT NULL,
    schema INTEGER NOT NULL,
    command TEXT NOT NULL,
    success INTEGER NOT NULL,
    timestamp INTEGER NOT NULL,
    version TEXT NOT NULL,
    execution_time INTEGER,
    error_type TEXT,
    prompt_length INTEGER,
    output_format TEXT,
    model_used TEXT,
    api_time INTEGER,
    flags TEXT NOT NULL DEFAULT '[]',
    os TEXT,
    python TEXT,
    ci INTEGER,
    country TEXT,
    received_at INTEGER NOT NULL
);
CREATE INDEX idx_events_timestamp ON events (timestamp);
CREATE INDEX idx_events_command ON events (command);
CREATE INDEX idx_events_success ON events (success);
CREATE INDEX idx_events_install ON events (install_id);
"""

_POSTGRES_EVENTS = """
CREATE TABLE events (
    event_id uuid NOT NULL,
    session_id uuid NOT NULL,
    install_id uuid NOT NULL,
    schema integer NOT NULL,
    command varchar(50) NOT NULL,
    success boolean NOT NULL,
    timestamp bigint NOT NULL,
    version varchar(20) NOT NULL,
    execution_time integer,
    error_type varchar(50),
    prompt_length integer,
    output_format varchar(10),
    model_used varchar(20),
    api_time integer,
    flags jsonb NOT NULL DEFAULT '[]'::jsonb,
    os varchar(10),
    python varchar(10),
    ci boolean,
    country char(2),
    received_at bigint NOT NULL
) PARTITION BY RANGE (timestamp);
CREATE INDEX idx_events_timestamp ON events (timestamp);
CREATE INDEX idx_events_command ON events (command);
CREATE INDEX idx_events_success ON events (success);
CREATE INDEX idx_events_install ON events (install_id);
CREATE INDEX idx_events_event_id ON events (event_id);
CREATE TABLE event_ids (
    event_id uuid PRIMARY KEY,
    timestamp bigint NOT NULL
);
CREATE INDEX idx_event_ids_timestamp ON event_ids (timestamp);
"""

# Dashboard sign-ins ended by "sign out" before their expiry (see iconiq/server/sessions.py).
_REVOKED_SESSIONS = """
CREATE TABLE revoked_sessions (
    session_id TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX idx_revoked_sessions_expires ON revoked_sessions (expires_at);
"""

MIGRATIONS: list[Migration] = [
    Migration("0001_events", sqlite=_SQLITE_EVENTS, postgres=_POSTGRES_EVENTS),
    Migration("0002_revoked_sessions", sqlite=_REVOKED_SESSIONS, postgres=_REVOKED_SESSIONS),
]
