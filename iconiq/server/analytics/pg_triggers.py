"""PostgreSQL: statement-level triggers with transition tables that keep the rollups exact.

One trigger run per INSERT or DELETE statement on the partitioned ``events``
table sees all the rows it stored (``new_rows``: only the rows really inserted,
never the ones ``ON CONFLICT DO NOTHING`` skipped) or removed (``old_rows``),
and applies them to every rollup in a few set-based statements: a batch of 500
events costs a handful of grouped upserts instead of 500 row-trigger runs.

Each statement runs through ``EXECUTE`` so it is planned with the tables' current
size. Distinct-install counters need to know whether an install already had an event
that day; transactions that touch the same (install, day) are serialized by a
transaction-scoped advisory lock taken first, in key order, so two server
instances writing at once can never both count the same install. Week counts
use the row an upsert returns (the row lock serializes them).
"""

from __future__ import annotations

from iconiq.server.analytics.aggregates import (
    DAILY_COLUMNS,
    HIST_COLUMNS,
    daily_selects,
    hist_selects,
)

_DAY = "timestamp / 86400000"
_WEEK = "(timestamp / 86400000 + 3) / 7"
_FAIL = "CASE WHEN success THEN 0 ELSE 1 END"
_ACTIVE_UP = (
    " ON CONFLICT (period, start, version, command) DO UPDATE"
    " SET installs = an_active.installs + excluded.installs"
)


def _lock(src: str) -> str:
    return (
        "PERFORM pg_advisory_xact_lock(k) FROM (SELECT DISTINCT hashtextextended("
        f"install_id::text || '/' || ({_DAY})::text, 1712) AS k FROM {src} ORDER BY 1) AS keys"
    )


def _match(columns: tuple[str, ...], keys: int) -> str:
    return " AND ".join(f"t.{c} = d.{c}" for c in columns[:keys])


def _sorted(select: str, keys: int) -> str:
    """The rows of ``select`` in key order: concurrent transactions then lock the rollup
    rows they upsert in the same order, and cannot deadlock on them."""
    order = ", ".join(str(i) for i in range(1, keys + 1))
    return f"SELECT * FROM ({select}) AS s ORDER BY {order}"


def insert_body() -> list[str]:
    src = "new_rows"
    daily_up = " ON CONFLICT (dim, day, version, command, value) DO UPDATE SET " + ", ".join(
        f"{c} = an_daily.{c} + excluded.{c}" for c in DAILY_COLUMNS[5:]
    )
    out = [_lock(src)]
    out += [
        f"INSERT INTO an_daily ({', '.join(DAILY_COLUMNS)}) {_sorted(s, 5)}{daily_up}"
        for s in daily_selects("postgres", src)
    ]
    out += [
        f"INSERT INTO an_hist ({', '.join(HIST_COLUMNS)}) {_sorted(s, 5)}"
        " ON CONFLICT (metric, day, version, command, bucket) DO UPDATE"
        " SET n = an_hist.n + excluded.n"
        for s in hist_selects("postgres", src)
    ]
    out += [
        # New active installs of a day / of a day and version: before the per-day upsert.
        "INSERT INTO an_active (period, start, version, installs)"
        f" SELECT 'd', k.day, '', count(*) FROM (SELECT DISTINCT install_id, {_DAY} AS day"
        f" FROM {src}) AS k WHERE NOT EXISTS (SELECT 1 FROM an_install_days d"
        " WHERE d.install_id = k.install_id AND d.day = k.day) GROUP BY k.day ORDER BY 2"
        + _ACTIVE_UP,
        "INSERT INTO an_active (period, start, version, installs)"
        " SELECT 'v', k.day, k.version, count(*) FROM (SELECT DISTINCT install_id,"
        f" {_DAY} AS day, version FROM {src}) AS k WHERE NOT EXISTS (SELECT 1"
        " FROM an_install_days d WHERE d.install_id = k.install_id AND d.day = k.day"
        " AND d.version = k.version) GROUP BY k.day, k.version ORDER BY 2, 3" + _ACTIVE_UP,
        "INSERT INTO an_active (period, start, version, command, installs)"
        " SELECT 'c', k.day, '', k.command, count(*) FROM (SELECT DISTINCT install_id,"
        f" {_DAY} AS day, command FROM {src}) AS k WHERE NOT EXISTS (SELECT 1"
        " FROM an_install_days d WHERE d.install_id = k.install_id AND d.day = k.day"
        " AND d.command = k.command) GROUP BY k.day, k.command ORDER BY 2, 4" + _ACTIVE_UP,
        "INSERT INTO an_active (period, start, version, command, installs)"
        " SELECT 'x', k.day, k.version, k.command, count(*) FROM (SELECT DISTINCT install_id,"
        f" {_DAY} AS day, version, command FROM {src}) AS k WHERE NOT EXISTS (SELECT 1"
        " FROM an_install_days d WHERE d.install_id = k.install_id AND d.day = k.day"
        " AND d.version = k.version AND d.command = k.command)"
        " GROUP BY k.day, k.version, k.command ORDER BY 2, 3, 4" + _ACTIVE_UP,
        "INSERT INTO an_install_days (install_id, day, version, command, events, failures)"
        f" SELECT install_id, {_DAY}, version, command, count(*), sum({_FAIL}) FROM {src}"
        " GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"
        " ON CONFLICT (install_id, day, version, command) DO UPDATE SET"
        " events = an_install_days.events + excluded.events,"
        " failures = an_install_days.failures + excluded.failures",
        f"WITH agg AS (SELECT install_id, {_WEEK} AS week, count(*) AS n FROM {src}"
        " GROUP BY 1, 2), up AS (INSERT INTO an_install_weeks (install_id, week, events)"
        " SELECT install_id, week, n FROM agg ORDER BY 1, 2"
        " ON CONFLICT (install_id, week) DO UPDATE"
        " SET events = an_install_weeks.events + excluded.events"
        " RETURNING install_id, week, events)"
        " INSERT INTO an_active (period, start, version, installs)"
        " SELECT 'w', up.week, '', count(*) FROM up JOIN agg USING (install_id, week)"
        " WHERE up.events = agg.n GROUP BY up.week ORDER BY 2" + _ACTIVE_UP,
        "INSERT INTO an_first_seen (install_id, first_day)"
        f" SELECT install_id, min({_DAY}) FROM {src} GROUP BY 1 ORDER BY 1"
        " ON CONFLICT (install_id) DO UPDATE"
        " SET first_day = LEAST(an_first_seen.first_day, excluded.first_day)",
    ]
    return out


def delete_body() -> list[str]:
    src = "old_rows"
    out = [_lock(src)]
    sub = ", ".join(f"{c} = t.{c} - d.{c}" for c in DAILY_COLUMNS[5:])
    for select in daily_selects("postgres", src):
        out.append(
            f"UPDATE an_daily t SET {sub} FROM ({select}) AS d({', '.join(DAILY_COLUMNS)})"
            f" WHERE {_match(DAILY_COLUMNS, 5)}"
        )
    out.append(
        f"DELETE FROM an_daily t USING (SELECT DISTINCT {_DAY} AS day, version, command"
        f" FROM {src}) AS d WHERE t.dim IN ('total', 'error_type', 'output_format',"
        " 'model_used', 'ci', 'country', 'os', 'hour', 'flag')"
        f" AND {_match(DAILY_COLUMNS[1:], 3)} AND t.events = 0"
    )
    for select in hist_selects("postgres", src):
        out.append(
            f"UPDATE an_hist t SET n = t.n - d.n FROM ({select}) AS d({', '.join(HIST_COLUMNS)})"
            f" WHERE {_match(HIST_COLUMNS, 5)}"
        )
    out.append(
        f"DELETE FROM an_hist t USING (SELECT DISTINCT {_DAY} AS day, version, command"
        f" FROM {src}) AS d WHERE t.metric IN ('exec', 'api')"
        f" AND {_match(HIST_COLUMNS[1:], 3)} AND t.n = 0"
    )
    install_keys = ("install_id", "day", "version", "command")
    out += [
        "UPDATE an_install_days t SET events = t.events - d.n, failures = t.failures - d.f"
        f" FROM (SELECT install_id, {_DAY} AS day, version, command, count(*) AS n,"
        f" sum({_FAIL}) AS f FROM {src} GROUP BY 1, 2, 3, 4) AS d"
        f" WHERE {_match(install_keys, 4)}",
        "DELETE FROM an_install_days t USING (SELECT DISTINCT install_id, {_DAY} AS day,"
        f" version, command FROM {src}) AS d WHERE {_match(install_keys, 4)}"
        " AND t.events = 0".replace("{_DAY}", _DAY),
        "UPDATE an_active a SET installs = a.installs - x.c FROM (SELECT k.day, count(*) AS c"
        f" FROM (SELECT DISTINCT install_id, {_DAY} AS day FROM {src}) AS k"
        " WHERE NOT EXISTS (SELECT 1 FROM an_install_days d WHERE d.install_id = k.install_id"
        " AND d.day = k.day) GROUP BY k.day) AS x"
        " WHERE a.period = 'd' AND a.start = x.day AND a.version = ''",
        "UPDATE an_active a SET installs = a.installs - x.c FROM (SELECT k.day, k.version,"
        f" count(*) AS c FROM (SELECT DISTINCT install_id, {_DAY} AS day, version FROM {src})"
        " AS k WHERE NOT EXISTS (SELECT 1 FROM an_install_days d"
        " WHERE d.install_id = k.install_id AND d.day = k.day AND d.version = k.version)"
        " GROUP BY k.day, k.version) AS x"
        " WHERE a.period = 'v' AND a.start = x.day AND a.version = x.version",
        "UPDATE an_active a SET installs = a.installs - x.c FROM (SELECT k.day, k.command,"
        f" count(*) AS c FROM (SELECT DISTINCT install_id, {_DAY} AS day, command FROM {src})"
        " AS k WHERE NOT EXISTS (SELECT 1 FROM an_install_days d"
        " WHERE d.install_id = k.install_id AND d.day = k.day AND d.command = k.command)"
        " GROUP BY k.day, k.command) AS x WHERE a.period = 'c' AND a.start = x.day"
        " AND a.version = '' AND a.command = x.command",
        "UPDATE an_active a SET installs = a.installs - x.c FROM (SELECT k.day, k.version,"
        f" k.command, count(*) AS c FROM (SELECT DISTINCT install_id, {_DAY} AS day, version,"
        f" command FROM {src}) AS k WHERE NOT EXISTS (SELECT 1 FROM an_install_days d"
        " WHERE d.install_id = k.install_id AND d.day = k.day AND d.version = k.version"
        " AND d.command = k.command) GROUP BY k.day, k.version, k.command) AS x"
        " WHERE a.period = 'x' AND a.start = x.day AND a.version = x.version"
        " AND a.command = x.command",
        f"WITH agg AS (SELECT install_id, {_WEEK} AS week, count(*) AS n FROM {src}"
        " GROUP BY 1, 2), dn AS (UPDATE an_install_weeks t SET events = t.events - agg.n"
        " FROM agg WHERE t.install_id = agg.install_id AND t.week = agg.week"
        " RETURNING t.week, t.events)"
        " UPDATE an_active a SET installs = a.installs - x.c FROM (SELECT week, count(*) AS c"
        " FROM dn WHERE events = 0 GROUP BY week) AS x"
        " WHERE a.period = 'w' AND a.start = x.week AND a.version = ''",
        "DELETE FROM an_install_weeks t USING (SELECT DISTINCT install_id,"
        f" {_WEEK} AS week FROM {src}) AS d WHERE t.install_id = d.install_id"
        " AND t.week = d.week AND t.events = 0",
        "DELETE FROM an_active WHERE installs = 0",
        "UPDATE an_first_seen s SET first_day = (SELECT min(d.day) FROM an_install_days d"
        f" WHERE d.install_id = s.install_id) WHERE s.install_id IN (SELECT install_id"
        f" FROM {src})",
        "DELETE FROM an_first_seen WHERE first_day IS NULL"
        f" AND install_id IN (SELECT install_id FROM {src})",
    ]
    return out


def dynamic(statement: str) -> str:
    """Run a statement through EXECUTE, planned afresh each time: PL/pgSQL would otherwise
    keep, for the whole session, the plan made when the rollup tables were small (sequential
    scans that grow slower with every batch)."""
    if statement.startswith("PERFORM "):
        statement = "SELECT " + statement.removeprefix("PERFORM ")
    assert "$q$" not in statement
    return f"EXECUTE $q${statement}$q$"


def create_sql() -> list[str]:
    out = []
    for name, body, op, ref in (
        ("an_events_insert", insert_body(), "INSERT", "NEW TABLE AS new_rows"),
        ("an_events_delete", delete_body(), "DELETE", "OLD TABLE AS old_rows"),
    ):
        out.append(
            f"CREATE OR REPLACE FUNCTION {name}_fn() RETURNS trigger LANGUAGE plpgsql AS $fn$\n"
            "BEGIN\n" + ";\n".join(dynamic(s) for s in body) + ";\nRETURN NULL;\nEND\n$fn$"
        )
        out.append(
            f"CREATE TRIGGER {name} AFTER {op} ON events REFERENCING {ref}"
            f" FOR EACH STATEMENT EXECUTE FUNCTION {name}_fn()"
        )
    return out
