"""SQLite server schema: every migration, core then analytics, with the SQL of its own time.

Frozen: these statements were generated once by the code of their time and pasted
here; they never call today's builders (see ``iconiq.server.storage.migrations``).
The same names are listed in ``postgres.py``, in the same order.

SQLite keeps every event in one ``events`` table whose ``event_id`` is UNIQUE.
"""

from __future__ import annotations

import secrets
from typing import Any

from iconiq.server.storage.migrations import Migration

# Lower bounds (ms) of the duration buckets of ``an_hist``, eight per doubling up to 2**32 ms.
_BUCKET_LOWS = sorted({int(2 ** (k / 8)) - 1 for k in range(8 * 32 + 1)})
_FILL_BUCKETS = "INSERT INTO an_buckets (bucket, lo) VALUES " + ", ".join(
    f"({bucket}, {lo})" for bucket, lo in enumerate(_BUCKET_LOWS)
)

# 0001_events
_EVENTS = (
    """CREATE TABLE events (
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
)""",
    "CREATE INDEX idx_events_timestamp ON events (timestamp)",
    "CREATE INDEX idx_events_command ON events (command)",
    "CREATE INDEX idx_events_success ON events (success)",
    "CREATE INDEX idx_events_install ON events (install_id)",
)

# 0002_revoked_sessions: dashboard sign-ins ended by "sign out" before their expiry.
_REVOKED_SESSIONS = (
    """CREATE TABLE revoked_sessions (
    session_id TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
)""",
    "CREATE INDEX idx_revoked_sessions_expires ON revoked_sessions (expires_at)",
)

# The analytics rollups (tables, triggers appending to an_pending, rebuild), as of
# analytics_0008_deferred_rollups: the earlier analytics steps end in the same state.
_ROLLUP_TABLES = (
    "CREATE TABLE an_buckets (bucket integer PRIMARY KEY, lo INTEGER NOT NULL UNIQUE)",
    """CREATE TABLE an_daily (
            dim text NOT NULL, day integer NOT NULL, version text NOT NULL,
            command text NOT NULL, value text NOT NULL,
            events INTEGER NOT NULL, failures INTEGER NOT NULL,
            prompt_sum INTEGER NOT NULL, prompt_n INTEGER NOT NULL,
            PRIMARY KEY (dim, day, version, command, value)) WITHOUT ROWID""",
    """CREATE TABLE an_hist (
            metric text NOT NULL, day integer NOT NULL, version text NOT NULL,
            command text NOT NULL, bucket integer NOT NULL, n INTEGER NOT NULL,
            PRIMARY KEY (metric, day, version, command, bucket)) WITHOUT ROWID""",
    """CREATE TABLE an_install_days (
            install_id TEXT NOT NULL, day integer NOT NULL, version text NOT NULL,
            command text NOT NULL, events INTEGER NOT NULL, failures INTEGER NOT NULL,
            PRIMARY KEY (install_id, day, version, command)) WITHOUT ROWID""",
    (
        "CREATE INDEX an_install_days_day ON an_install_days (day, version, command, "
        "install_id, events)"
    ),
    """CREATE TABLE an_install_weeks (
            install_id TEXT NOT NULL, week integer NOT NULL, events INTEGER NOT NULL,
            PRIMARY KEY (install_id, week)) WITHOUT ROWID""",
    "CREATE INDEX an_install_weeks_week ON an_install_weeks (week, install_id, events)",
    """CREATE TABLE an_active (
            period text NOT NULL, start integer NOT NULL, version text NOT NULL,
            command text NOT NULL DEFAULT '', installs INTEGER NOT NULL,
            PRIMARY KEY (period, start, version, command)) WITHOUT ROWID""",
    """CREATE TABLE an_first_seen (
            install_id TEXT PRIMARY KEY, first_day integer)""",
    "CREATE INDEX an_first_seen_day ON an_first_seen (first_day)",
)

_CREATE_TRIGGERS = (
    """CREATE TABLE IF NOT EXISTS an_pending (
        id INTEGER PRIMARY KEY, sign INTEGER NOT NULL,
        install_id TEXT NOT NULL, timestamp INTEGER NOT NULL, version TEXT NOT NULL,
        command TEXT NOT NULL, success INTEGER NOT NULL, error_type TEXT,
        prompt_length INTEGER, output_format TEXT, model_used TEXT,
        execution_time INTEGER, api_time INTEGER, flags TEXT NOT NULL, os TEXT,
        ci INTEGER, country TEXT)""",
    (
        "CREATE TRIGGER an_events_insert AFTER INSERT ON events BEGIN\nINSERT INTO an_pending "
        "(sign, install_id, timestamp, version, command, success, error_type, prompt_length, "
        "output_format, model_used, execution_time, api_time, flags, os, ci, country) VALUES "
        "(1, NEW.install_id, NEW.timestamp, NEW.version, NEW.command, NEW.success, "
        "NEW.error_type, NEW.prompt_length, NEW.output_format, NEW.model_used, "
        "NEW.execution_time, NEW.api_time, NEW.flags, NEW.os, NEW.ci, NEW.country);\nEND"
    ),
    (
        "CREATE TRIGGER an_events_delete AFTER DELETE ON events BEGIN\nINSERT INTO an_pending "
        "(sign, install_id, timestamp, version, command, success, error_type, prompt_length, "
        "output_format, model_used, execution_time, api_time, flags, os, ci, country) VALUES "
        "(-1, OLD.install_id, OLD.timestamp, OLD.version, OLD.command, OLD.success, "
        "OLD.error_type, OLD.prompt_length, OLD.output_format, OLD.model_used, "
        "OLD.execution_time, OLD.api_time, OLD.flags, OLD.os, OLD.ci, OLD.country);\nEND"
    ),
)

_DROP_TRIGGERS = (
    "DROP TRIGGER IF EXISTS an_events_insert",
    "DROP TRIGGER IF EXISTS an_events_delete",
)

_ACTIVE_TABLE = (
    """CREATE TABLE an_active (
            period text NOT NULL, start integer NOT NULL, version text NOT NULL,
            command text NOT NULL DEFAULT '', installs INTEGER NOT NULL,
            PRIMARY KEY (period, start, version, command)) WITHOUT ROWID""",
)

_ACTIVE_REBUILD = (
    (
        "INSERT INTO an_active (period, start, version, installs) SELECT 'd', day, '', "
        "count(DISTINCT install_id) FROM an_install_days GROUP BY day"
    ),
    (
        "INSERT INTO an_active (period, start, version, installs) SELECT 'v', day, version, "
        "count(DISTINCT install_id) FROM an_install_days GROUP BY day, version"
    ),
    (
        "INSERT INTO an_active (period, start, version, installs) SELECT 'w', week, '', "
        "count(*) FROM an_install_weeks GROUP BY week"
    ),
    (
        "INSERT INTO an_active (period, start, version, command, installs) SELECT 'c', day, "
        "'', command, count(DISTINCT install_id) FROM an_install_days GROUP BY day, command"
    ),
    (
        "INSERT INTO an_active (period, start, version, command, installs) SELECT 'x', day, "
        "version, command, count(*) FROM an_install_days GROUP BY day, version, command"
    ),
)

_REBUILD = (
    "DELETE FROM an_pending",
    "DELETE FROM an_daily",
    "DELETE FROM an_hist",
    "DELETE FROM an_install_days",
    "DELETE FROM an_install_weeks",
    "DELETE FROM an_active",
    "DELETE FROM an_first_seen",
    (
        "INSERT INTO an_daily (dim, day, version, command, value, events, failures, "
        "prompt_sum, prompt_n) SELECT 'total', e.timestamp / 86400000, e.version, e.command, "
        "'', count(*), sum(CASE WHEN e.success THEN 0 ELSE 1 END), "
        "sum(COALESCE(e.prompt_length, 0)), count(e.prompt_length) FROM events e GROUP BY 2, "
        "3, 4"
    ),
    (
        "INSERT INTO an_daily (dim, day, version, command, value, events, failures, "
        "prompt_sum, prompt_n) SELECT 'error_type', e.timestamp / 86400000, e.version, "
        "e.command, CASE WHEN e.success THEN NULL ELSE e.error_type END, count(*), sum(CASE "
        "WHEN e.success THEN 0 ELSE 1 END), sum(COALESCE(e.prompt_length, 0)), "
        "count(e.prompt_length) FROM events e WHERE CASE WHEN e.success THEN NULL ELSE "
        "e.error_type END IS NOT NULL GROUP BY 2, 3, 4, 5"
    ),
    (
        "INSERT INTO an_daily (dim, day, version, command, value, events, failures, "
        "prompt_sum, prompt_n) SELECT 'output_format', e.timestamp / 86400000, e.version, "
        "e.command, e.output_format, count(*), sum(CASE WHEN e.success THEN 0 ELSE 1 END), "
        "sum(COALESCE(e.prompt_length, 0)), count(e.prompt_length) FROM events e WHERE "
        "e.output_format IS NOT NULL GROUP BY 2, 3, 4, 5"
    ),
    (
        "INSERT INTO an_daily (dim, day, version, command, value, events, failures, "
        "prompt_sum, prompt_n) SELECT 'model_used', e.timestamp / 86400000, e.version, "
        "e.command, e.model_used, count(*), sum(CASE WHEN e.success THEN 0 ELSE 1 END), "
        "sum(COALESCE(e.prompt_length, 0)), count(e.prompt_length) FROM events e WHERE "
        "e.model_used IS NOT NULL GROUP BY 2, 3, 4, 5"
    ),
    (
        "INSERT INTO an_daily (dim, day, version, command, value, events, failures, "
        "prompt_sum, prompt_n) SELECT 'ci', e.timestamp / 86400000, e.version, e.command, CASE "
        "WHEN e.ci THEN 'ci' WHEN NOT e.ci THEN 'interactive' ELSE 'unknown' END, count(*), "
        "sum(CASE WHEN e.success THEN 0 ELSE 1 END), sum(COALESCE(e.prompt_length, 0)), "
        "count(e.prompt_length) FROM events e WHERE CASE WHEN e.ci THEN 'ci' WHEN NOT e.ci "
        "THEN 'interactive' ELSE 'unknown' END IS NOT NULL GROUP BY 2, 3, 4, 5"
    ),
    (
        "INSERT INTO an_daily (dim, day, version, command, value, events, failures, "
        "prompt_sum, prompt_n) SELECT 'country', e.timestamp / 86400000, e.version, e.command, "
        "COALESCE(e.country, ''), count(*), sum(CASE WHEN e.success THEN 0 ELSE 1 END), "
        "sum(COALESCE(e.prompt_length, 0)), count(e.prompt_length) FROM events e WHERE "
        "COALESCE(e.country, '') IS NOT NULL GROUP BY 2, 3, 4, 5"
    ),
    (
        "INSERT INTO an_daily (dim, day, version, command, value, events, failures, "
        "prompt_sum, prompt_n) SELECT 'os', e.timestamp / 86400000, e.version, e.command, "
        "e.os, count(*), sum(CASE WHEN e.success THEN 0 ELSE 1 END), "
        "sum(COALESCE(e.prompt_length, 0)), count(e.prompt_length) FROM events e WHERE e.os IS "
        "NOT NULL GROUP BY 2, 3, 4, 5"
    ),
    (
        "INSERT INTO an_daily (dim, day, version, command, value, events, failures, "
        "prompt_sum, prompt_n) SELECT 'hour', e.timestamp / 86400000, e.version, e.command, "
        "CAST(((e.timestamp / 3600000) % 24) AS TEXT), count(*), sum(CASE WHEN e.success THEN "
        "0 ELSE 1 END), sum(COALESCE(e.prompt_length, 0)), count(e.prompt_length) FROM events "
        "e WHERE CAST(((e.timestamp / 3600000) % 24) AS TEXT) IS NOT NULL GROUP BY 2, 3, 4, 5"
    ),
    (
        "INSERT INTO an_daily (dim, day, version, command, value, events, failures, "
        "prompt_sum, prompt_n) SELECT 'flag', e.timestamp / 86400000, e.version, e.command, "
        "e.value, count(*), sum(CASE WHEN e.success THEN 0 ELSE 1 END), "
        "sum(COALESCE(e.prompt_length, 0)), count(e.prompt_length) FROM (SELECT DISTINCT "
        "e.event_id, e.timestamp, e.version, e.command, e.success, e.prompt_length, j.value AS "
        "value FROM events e, json_each(e.flags) AS j) AS e WHERE e.value IS NOT NULL GROUP BY "
        "2, 3, 4, 5"
    ),
    (
        "INSERT INTO an_hist (metric, day, version, command, bucket, n) SELECT 'exec', "
        "e.timestamp / 86400000, e.version, e.command, (SELECT bucket FROM an_buckets WHERE lo "
        "<= e.execution_time ORDER BY lo DESC LIMIT 1), count(*) FROM events e WHERE "
        "e.execution_time >= 0 GROUP BY 2, 3, 4, 5"
    ),
    (
        "INSERT INTO an_hist (metric, day, version, command, bucket, n) SELECT 'api', "
        "e.timestamp / 86400000, e.version, e.command, (SELECT bucket FROM an_buckets WHERE lo "
        "<= e.api_time ORDER BY lo DESC LIMIT 1), count(*) FROM events e WHERE e.api_time >= 0 "
        "GROUP BY 2, 3, 4, 5"
    ),
    (
        "INSERT INTO an_install_days (install_id, day, version, command, events, failures) "
        "SELECT e.install_id, e.timestamp / 86400000, e.version, e.command, count(*), sum(CASE "
        "WHEN e.success THEN 0 ELSE 1 END) FROM events e GROUP BY 1, 2, 3, 4"
    ),
    (
        "INSERT INTO an_install_weeks (install_id, week, events) SELECT install_id, (day + 3) "
        "/ 7, sum(events) FROM an_install_days GROUP BY 1, 2"
    ),
    (
        "INSERT INTO an_active (period, start, version, installs) SELECT 'd', day, '', "
        "count(DISTINCT install_id) FROM an_install_days GROUP BY day"
    ),
    (
        "INSERT INTO an_active (period, start, version, installs) SELECT 'v', day, version, "
        "count(DISTINCT install_id) FROM an_install_days GROUP BY day, version"
    ),
    (
        "INSERT INTO an_active (period, start, version, installs) SELECT 'w', week, '', "
        "count(*) FROM an_install_weeks GROUP BY week"
    ),
    (
        "INSERT INTO an_active (period, start, version, command, installs) SELECT 'c', day, "
        "'', command, count(DISTINCT install_id) FROM an_install_days GROUP BY day, command"
    ),
    (
        "INSERT INTO an_active (period, start, version, command, installs) SELECT 'x', day, "
        "version, command, count(*) FROM an_install_days GROUP BY day, version, command"
    ),
    (
        "INSERT INTO an_first_seen (install_id, first_day) SELECT install_id, min(day) FROM "
        "an_install_days GROUP BY 1"
    ),
)

_ROLLUPS = (*_ROLLUP_TABLES, _FILL_BUCKETS, *_CREATE_TRIGGERS, *_REBUILD)
_RETRIGGER = (*_DROP_TRIGGERS, *_CREATE_TRIGGERS)
_ACTIVE = (
    *_DROP_TRIGGERS,
    "DROP TABLE an_active",
    *_ACTIVE_TABLE,
    *_ACTIVE_REBUILD,
    *_CREATE_TRIGGERS,
)


# 0003_ci_provider_invoked_by: two closed-list event fields (which CI service, what started
# the command); NULL in the events stored before.
_EVENT_CONTEXT = (
    "ALTER TABLE events ADD COLUMN ci_provider TEXT",
    "ALTER TABLE events ADD COLUMN invoked_by TEXT",
)

# analytics_0010_ci_provider_invoked_by: an_pending carries them to the rollups (an_daily
# breakdowns); the triggers copy them.
_PENDING_CONTEXT = (
    *_DROP_TRIGGERS,
    "ALTER TABLE an_pending ADD COLUMN ci_provider TEXT",
    "ALTER TABLE an_pending ADD COLUMN invoked_by TEXT",
    (
        "CREATE TRIGGER an_events_insert AFTER INSERT ON events BEGIN\nINSERT INTO an_pending "
        "(sign, install_id, command, success, timestamp, version, execution_time, error_type, "
        "prompt_length, output_format, model_used, api_time, flags, os, ci, country, "
        "ci_provider, invoked_by) VALUES (1, NEW.install_id, NEW.command, NEW.success, "
        "NEW.timestamp, NEW.version, NEW.execution_time, NEW.error_type, NEW.prompt_length, "
        "NEW.output_format, NEW.model_used, NEW.api_time, NEW.flags, NEW.os, NEW.ci, "
        "NEW.country, NEW.ci_provider, NEW.invoked_by);\nEND"
    ),
    (
        "CREATE TRIGGER an_events_delete AFTER DELETE ON events BEGIN\nINSERT INTO an_pending "
        "(sign, install_id, command, success, timestamp, version, execution_time, error_type, "
        "prompt_length, output_format, model_used, api_time, flags, os, ci, country, "
        "ci_provider, invoked_by) VALUES (-1, OLD.install_id, OLD.command, OLD.success, "
        "OLD.timestamp, OLD.version, OLD.execution_time, OLD.error_type, OLD.prompt_length, "
        "OLD.output_format, OLD.model_used, OLD.api_time, OLD.flags, OLD.os, OLD.ci, "
        "OLD.country, OLD.ci_provider, OLD.invoked_by);\nEND"
    ),
)


# analytics_0011_weekly_active_by_filter: an_active gains distinct installs per week by
# version ('wv'), by command ('wc') and by both ('wx'), counted from an_install_days.
_WEEKLY_ACTIVE = (
    (
        "INSERT INTO an_active (period, start, version, command, installs) SELECT 'wv', "
        "(day + 3) / 7, version, '', count(DISTINCT install_id) FROM an_install_days "
        "GROUP BY (day + 3) / 7, version"
    ),
    (
        "INSERT INTO an_active (period, start, version, command, installs) SELECT 'wc', "
        "(day + 3) / 7, '', command, count(DISTINCT install_id) FROM an_install_days "
        "GROUP BY (day + 3) / 7, command"
    ),
    (
        "INSERT INTO an_active (period, start, version, command, installs) SELECT 'wx', "
        "(day + 3) / 7, version, command, count(DISTINCT install_id) FROM an_install_days "
        "GROUP BY (day + 3) / 7, version, command"
    ),
)


# analytics_0012_filter_indexes: indexes for the panels that group install-days by install
# under a version or command filter, and latency histograms by command, over long ranges.
_FILTER_INDEXES = (
    # Heavy installs by command (the primary key's version rides along in the index).
    "CREATE INDEX an_install_days_command ON an_install_days (command, install_id, day, events)",
    # Heavy installs by version (and command).
    (
        "CREATE INDEX an_install_days_version ON an_install_days (version, command, install_id, "
        "day, events)"
    ),
    # Latency per command over long ranges: grouped in index order, no sort.
    "CREATE INDEX an_hist_command ON an_hist (metric, command, bucket, day, n)",
)


# analytics_0013_first_days: each install's install-day keys on its first day (new installs
# by version or command without a join per install), filled from the rollups.
_FIRST_DAYS = (
    """CREATE TABLE an_first_days (
            install_id TEXT NOT NULL, day integer NOT NULL, version text NOT NULL,
            command text NOT NULL,
            PRIMARY KEY (install_id, day, version, command)) WITHOUT ROWID""",
    "CREATE INDEX an_first_days_day ON an_first_days (day, command, version, install_id)",
    (
        "INSERT INTO an_first_days (install_id, day, version, command) SELECT d.install_id, "
        "d.day, d.version, d.command FROM an_first_seen s JOIN an_install_days d ON "
        "d.install_id = s.install_id AND d.day = s.first_day"
    ),
)


# analytics_0014_install_totals: every install's events, all days together (the heaviest
# installs of a range are looked for in that order), filled from an_install_days.
_INSTALL_TOTALS = (
    """CREATE TABLE an_install_totals (
            install_id TEXT PRIMARY KEY, events INTEGER NOT NULL) WITHOUT ROWID""",
    "CREATE INDEX an_install_totals_events ON an_install_totals (events)",
    (
        "INSERT INTO an_install_totals (install_id, events) SELECT install_id, sum(events) "
        "FROM an_install_days GROUP BY install_id"
    ),
)


# analytics_0015_install_spans: per (install, version, command), and per (install, version)
# with command '', the first and last day with an event (release health's installs per
# version), filled from an_install_days.
_INSTALL_SPANS = (
    """CREATE TABLE an_install_spans (
            install_id TEXT NOT NULL, version text NOT NULL, command text NOT NULL,
            first_day integer, last_day integer,
            PRIMARY KEY (install_id, version, command)) WITHOUT ROWID""",
    (
        "CREATE INDEX an_install_spans_version ON an_install_spans (command, version, "
        "first_day, last_day)"
    ),
    (
        "INSERT INTO an_install_spans (install_id, version, command, first_day, last_day) "
        "SELECT install_id, version, command, min(day), max(day) FROM an_install_days "
        "GROUP BY install_id, version, command"
    ),
    (
        "INSERT INTO an_install_spans (install_id, version, command, first_day, last_day) "
        "SELECT install_id, version, '', min(day), max(day) FROM an_install_days "
        "GROUP BY install_id, version"
    ),
)


def _pseudonym_key(conn: Any) -> None:
    """``an_secrets`` and a fresh random key for install pseudonyms."""
    conn.execute("CREATE TABLE an_secrets (name text PRIMARY KEY, value text NOT NULL)")
    conn.execute(
        "INSERT INTO an_secrets (name, value) VALUES (?, ?)",
        ("install_pseudonym_key", secrets.token_hex(32)),
    )


MIGRATIONS: list[Migration] = [
    Migration("0001_events", _EVENTS),
    Migration("0002_revoked_sessions", _REVOKED_SESSIONS),
    Migration("analytics_0001_rollups", _ROLLUPS),
    # an_active gains per-version daily rows.
    Migration("analytics_0002_active_by_version", _ACTIVE),
    # Triggers re-created (PostgreSQL gained a per-install-day advisory lock).
    Migration("analytics_0003_trigger_lock", _RETRIGGER),
    # PostgreSQL: statement-level triggers over transition tables replace the row triggers.
    Migration("analytics_0004_statement_triggers", _RETRIGGER),
    # an_active gains per-command and per-version-and-command daily rows.
    Migration("analytics_0005_active_by_command", _ACTIVE),
    # PostgreSQL trigger statements run through EXECUTE (planned with current table sizes).
    Migration("analytics_0006_dynamic_triggers", _RETRIGGER),
    # PostgreSQL triggers upsert in key order (no deadlocks between concurrent writers).
    Migration("analytics_0007_sorted_upserts", _RETRIGGER),
    # Deferred rollups: the triggers only append to an_pending; fold applies it later.
    Migration("analytics_0008_deferred_rollups", _RETRIGGER),
    # The key of the install pseudonyms analytics show instead of install ids.
    Migration("analytics_0009_pseudonym_key", _pseudonym_key),
    # Events gain ci_provider and invoked_by (closed lists).
    Migration("0003_ci_provider_invoked_by", _EVENT_CONTEXT),
    # an_pending and its triggers carry them to the rollups.
    Migration("analytics_0010_ci_provider_invoked_by", _PENDING_CONTEXT),
    # an_active gains weekly rows by version, by command and by both.
    Migration("analytics_0011_weekly_active_by_filter", _WEEKLY_ACTIVE),
    # Indexes for heavy installs by version or command and latency per command.
    Migration("analytics_0012_filter_indexes", _FILTER_INDEXES),
    # an_first_days: new installs by version or command.
    Migration("analytics_0013_first_days", _FIRST_DAYS),
    # an_install_totals: the heaviest installs without summing every install.
    Migration("analytics_0014_install_totals", _INSTALL_TOTALS),
    # an_install_spans: release health counts a version's installs from spans.
    Migration("analytics_0015_install_spans", _INSTALL_SPANS),
]
