"""PostgreSQL server schema: every migration, core then analytics, with the SQL of its own time.

Frozen: these statements were generated once by the code of their time and pasted
here; they never call today's builders (see ``iconiq.server.storage.migrations``).
The same names are listed in ``sqlite.py``, in the same order.

``events`` is partitioned by month on ``timestamp`` (range partitions, created on
demand by the store); global uniqueness of ``event_id`` is kept in the small
``event_ids`` table: a unique index on a partitioned table would have to include
the partition key, which would let the same event with two different timestamps be
stored twice.
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
_BOUNDS_ARRAY = "ARRAY[" + ",".join(map(str, _BUCKET_LOWS)) + "]::bigint[]"

# 0001_events
_EVENTS = (
    """CREATE TABLE events (
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
) PARTITION BY RANGE (timestamp)""",
    "CREATE INDEX idx_events_timestamp ON events (timestamp)",
    "CREATE INDEX idx_events_command ON events (command)",
    "CREATE INDEX idx_events_success ON events (success)",
    "CREATE INDEX idx_events_install ON events (install_id)",
    "CREATE INDEX idx_events_event_id ON events (event_id)",
    """CREATE TABLE event_ids (
    event_id uuid PRIMARY KEY,
    timestamp bigint NOT NULL
)""",
    "CREATE INDEX idx_event_ids_timestamp ON event_ids (timestamp)",
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
    "CREATE TABLE an_buckets (bucket integer PRIMARY KEY, lo bigint NOT NULL UNIQUE)",
    """CREATE TABLE an_daily (
            dim text NOT NULL, day integer NOT NULL, version text NOT NULL,
            command text NOT NULL, value text NOT NULL,
            events bigint NOT NULL, failures bigint NOT NULL,
            prompt_sum bigint NOT NULL, prompt_n bigint NOT NULL,
            PRIMARY KEY (dim, day, version, command, value))""",
    """CREATE TABLE an_hist (
            metric text NOT NULL, day integer NOT NULL, version text NOT NULL,
            command text NOT NULL, bucket integer NOT NULL, n bigint NOT NULL,
            PRIMARY KEY (metric, day, version, command, bucket))""",
    """CREATE TABLE an_install_days (
            install_id uuid NOT NULL, day integer NOT NULL, version text NOT NULL,
            command text NOT NULL, events bigint NOT NULL, failures bigint NOT NULL,
            PRIMARY KEY (install_id, day, version, command))""",
    (
        "CREATE INDEX an_install_days_day ON an_install_days (day, version, command, "
        "install_id, events)"
    ),
    """CREATE TABLE an_install_weeks (
            install_id uuid NOT NULL, week integer NOT NULL, events bigint NOT NULL,
            PRIMARY KEY (install_id, week))""",
    "CREATE INDEX an_install_weeks_week ON an_install_weeks (week, install_id, events)",
    """CREATE TABLE an_active (
            period text NOT NULL, start integer NOT NULL, version text NOT NULL,
            command text NOT NULL DEFAULT '', installs bigint NOT NULL,
            PRIMARY KEY (period, start, version, command))""",
    """CREATE TABLE an_first_seen (
            install_id uuid PRIMARY KEY, first_day integer)""",
    "CREATE INDEX an_first_seen_day ON an_first_seen (first_day)",
)

_CREATE_TRIGGERS = (
    """CREATE TABLE IF NOT EXISTS an_pending (
            id bigint GENERATED ALWAYS AS IDENTITY, sign smallint NOT NULL,
            install_id uuid NOT NULL, timestamp bigint NOT NULL, version text NOT NULL,
            command text NOT NULL, success boolean NOT NULL, error_type text,
            prompt_length integer, output_format text, model_used text,
            execution_time integer, api_time integer, flags jsonb NOT NULL, os text,
            ci boolean, country text)""",
    (
        "CREATE OR REPLACE FUNCTION an_events_insert_fn() RETURNS trigger LANGUAGE plpgsql AS "
        "$fn$\nBEGIN\nINSERT INTO an_pending (sign, install_id, timestamp, version, command, "
        "success, error_type, prompt_length, output_format, model_used, execution_time, "
        "api_time, flags, os, ci, country) SELECT 1, install_id, timestamp, version, command, "
        "success, error_type, prompt_length, output_format, model_used, execution_time, "
        "api_time, flags, os, ci, country FROM new_rows;\nRETURN NULL;\nEND\n$fn$"
    ),
    (
        "CREATE TRIGGER an_events_insert AFTER INSERT ON events REFERENCING NEW TABLE AS "
        "new_rows FOR EACH STATEMENT EXECUTE FUNCTION an_events_insert_fn()"
    ),
    (
        "CREATE OR REPLACE FUNCTION an_events_delete_fn() RETURNS trigger LANGUAGE plpgsql AS "
        "$fn$\nBEGIN\nINSERT INTO an_pending (sign, install_id, timestamp, version, command, "
        "success, error_type, prompt_length, output_format, model_used, execution_time, "
        "api_time, flags, os, ci, country) SELECT -1, install_id, timestamp, version, command, "
        "success, error_type, prompt_length, output_format, model_used, execution_time, "
        "api_time, flags, os, ci, country FROM old_rows;\nRETURN NULL;\nEND\n$fn$"
    ),
    (
        "CREATE TRIGGER an_events_delete AFTER DELETE ON events REFERENCING OLD TABLE AS "
        "old_rows FOR EACH STATEMENT EXECUTE FUNCTION an_events_delete_fn()"
    ),
)

_DROP_TRIGGERS = (
    "DROP TRIGGER IF EXISTS an_events_insert ON events",
    "DROP TRIGGER IF EXISTS an_events_delete ON events",
)

_ACTIVE_TABLE = (
    """CREATE TABLE an_active (
            period text NOT NULL, start integer NOT NULL, version text NOT NULL,
            command text NOT NULL DEFAULT '', installs bigint NOT NULL,
            PRIMARY KEY (period, start, version, command))""",
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
    "LOCK TABLE events IN SHARE MODE",
    "SELECT pg_advisory_xact_lock(29360132)",
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
        "value FROM events e, jsonb_array_elements_text(e.flags) AS j(value)) AS e WHERE "
        "e.value IS NOT NULL GROUP BY 2, 3, 4, 5"
    ),
    (
        "INSERT INTO an_hist (metric, day, version, command, bucket, n) SELECT 'exec', "
        "e.timestamp / 86400000, e.version, e.command, (width_bucket(e.execution_time, "
    )
    + _BOUNDS_ARRAY
    + ") - 1), count(*) FROM events e WHERE e.execution_time >= 0 GROUP BY 2, 3, 4, 5",
    (
        "INSERT INTO an_hist (metric, day, version, command, bucket, n) SELECT 'api', "
        "e.timestamp / 86400000, e.version, e.command, (width_bucket(e.api_time, "
    )
    + _BOUNDS_ARRAY
    + ") - 1), count(*) FROM events e WHERE e.api_time >= 0 GROUP BY 2, 3, 4, 5",
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
    "ANALYZE an_daily",
    "ANALYZE an_hist",
    "ANALYZE an_install_days",
    "ANALYZE an_install_weeks",
    "ANALYZE an_active",
    "ANALYZE an_first_seen",
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
# the command); NULL in the events stored before. On the partitioned table, so every
# monthly partition gains them too.
_EVENT_CONTEXT = (
    "ALTER TABLE events ADD COLUMN ci_provider varchar(20), ADD COLUMN invoked_by varchar(20)",
)

# analytics_0010_ci_provider_invoked_by: an_pending carries them to the rollups (an_daily
# breakdowns); the trigger functions copy them.
_PENDING_CONTEXT = (
    *_DROP_TRIGGERS,
    "ALTER TABLE an_pending ADD COLUMN ci_provider text, ADD COLUMN invoked_by text",
    (
        "CREATE OR REPLACE FUNCTION an_events_insert_fn() RETURNS trigger LANGUAGE plpgsql AS "
        "$fn$\nBEGIN\nINSERT INTO an_pending (sign, install_id, command, success, timestamp, "
        "version, execution_time, error_type, prompt_length, output_format, model_used, "
        "api_time, flags, os, ci, country, ci_provider, invoked_by) SELECT 1, install_id, "
        "command, success, timestamp, version, execution_time, error_type, prompt_length, "
        "output_format, model_used, api_time, flags, os, ci, country, ci_provider, invoked_by "
        "FROM new_rows;\nRETURN NULL;\nEND\n$fn$"
    ),
    (
        "CREATE TRIGGER an_events_insert AFTER INSERT ON events REFERENCING NEW TABLE AS "
        "new_rows FOR EACH STATEMENT EXECUTE FUNCTION an_events_insert_fn()"
    ),
    (
        "CREATE OR REPLACE FUNCTION an_events_delete_fn() RETURNS trigger LANGUAGE plpgsql AS "
        "$fn$\nBEGIN\nINSERT INTO an_pending (sign, install_id, command, success, timestamp, "
        "version, execution_time, error_type, prompt_length, output_format, model_used, "
        "api_time, flags, os, ci, country, ci_provider, invoked_by) SELECT -1, install_id, "
        "command, success, timestamp, version, execution_time, error_type, prompt_length, "
        "output_format, model_used, api_time, flags, os, ci, country, ci_provider, invoked_by "
        "FROM old_rows;\nRETURN NULL;\nEND\n$fn$"
    ),
    (
        "CREATE TRIGGER an_events_delete AFTER DELETE ON events REFERENCING OLD TABLE AS "
        "old_rows FOR EACH STATEMENT EXECUTE FUNCTION an_events_delete_fn()"
    ),
)


# analytics_0011_weekly_active_by_filter: an_active gains distinct installs per week by
# version ('wv'), by command ('wc') and by both ('wx'), counted from an_install_days.
_WEEKLY_ACTIVE = (
    # One folder at a time: no fold may commit between this count and the record.
    "SELECT pg_advisory_xact_lock(29360132)",
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
    # Heavy installs by command.
    (
        "CREATE INDEX an_install_days_command ON an_install_days (command, install_id, day, "
        "version, events)"
    ),
    # Heavy installs by version (and command).
    (
        "CREATE INDEX an_install_days_version ON an_install_days (version, command, install_id, "
        "day, events)"
    ),
    # Latency per command over long ranges.
    "CREATE INDEX an_hist_command ON an_hist (metric, command, bucket, day, version, n)",
    "ANALYZE an_install_days",
    "ANALYZE an_hist",
)


# analytics_0013_first_days: each install's install-day keys on its first day (new installs
# by version or command without a join per install), filled from the rollups.
_FIRST_DAYS = (
    # One folder at a time: no fold may commit between this copy and the record.
    "SELECT pg_advisory_xact_lock(29360132)",
    """CREATE TABLE an_first_days (
            install_id uuid NOT NULL, day integer NOT NULL, version text NOT NULL,
            command text NOT NULL,
            PRIMARY KEY (install_id, day, version, command))""",
    "CREATE INDEX an_first_days_day ON an_first_days (day, command, version, install_id)",
    (
        "INSERT INTO an_first_days (install_id, day, version, command) SELECT d.install_id, "
        "d.day, d.version, d.command FROM an_first_seen s JOIN an_install_days d ON "
        "d.install_id = s.install_id AND d.day = s.first_day"
    ),
    "ANALYZE an_first_days",
)


# analytics_0014_install_totals: every install's events, all days together (the heaviest
# installs of a range are looked for in that order), filled from an_install_days.
_INSTALL_TOTALS = (
    # One folder at a time: no fold may commit between this sum and the record.
    "SELECT pg_advisory_xact_lock(29360132)",
    """CREATE TABLE an_install_totals (
            install_id uuid PRIMARY KEY, events bigint NOT NULL)""",
    "CREATE INDEX an_install_totals_events ON an_install_totals (events)",
    (
        "INSERT INTO an_install_totals (install_id, events) SELECT install_id, sum(events) "
        "FROM an_install_days GROUP BY install_id"
    ),
    "ANALYZE an_install_totals",
)


# analytics_0015_install_spans: per (install, version, command), and per (install, version)
# with command '', the first and last day with an event (release health's installs per
# version), filled from an_install_days.
_INSTALL_SPANS = (
    # One folder at a time: no fold may commit between this copy and the record.
    "SELECT pg_advisory_xact_lock(29360132)",
    """CREATE TABLE an_install_spans (
            install_id uuid NOT NULL, version text NOT NULL, command text NOT NULL,
            first_day integer, last_day integer,
            PRIMARY KEY (install_id, version, command))""",
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
    "ANALYZE an_install_spans",
)


def _pseudonym_key(conn: Any) -> None:
    """``an_secrets`` and a fresh random key for install pseudonyms."""
    conn.execute("CREATE TABLE an_secrets (name text PRIMARY KEY, value text NOT NULL)")
    conn.execute(
        "INSERT INTO an_secrets (name, value) VALUES (%s, %s)",
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
    # an_pending and its trigger functions carry them to the rollups.
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
