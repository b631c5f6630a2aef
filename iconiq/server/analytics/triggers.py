"""Triggers on ``events`` that keep every rollup table exact.

SQLite: ``AFTER INSERT`` / ``AFTER DELETE`` row triggers running the statements
below (one writer at a time, so the "first event of this install today" checks
are race-free). PostgreSQL: statement-level triggers over transition tables
(``pg_triggers``). Rows ignored as duplicates (``INSERT OR IGNORE``, ``ON
CONFLICT DO NOTHING``) fire no trigger and are in no transition table, so they
are never counted.

Dropping a whole partition fires nothing: ``rollups.expire`` covers that case.
Events are never updated in place, so there is no UPDATE trigger.
"""

from __future__ import annotations

from iconiq.server.analytics.schema import DIMENSIONS

TRIGGER_NAMES = ("an_events_insert", "an_events_delete")


def day(r: str) -> str:
    return f"({r}.timestamp / 86400000)"


def week(r: str) -> str:
    return f"(({r}.timestamp / 86400000 + 3) / 7)"


def failed(r: str) -> str:
    return f"(CASE WHEN {r}.success THEN 0 ELSE 1 END)"


def prompt(r: str) -> str:
    return (
        f"COALESCE({r}.prompt_length, 0), (CASE WHEN {r}.prompt_length IS NULL THEN 0 ELSE 1 END)"
    )


def bucket(expr: str) -> str:
    return f"(SELECT bucket FROM an_buckets WHERE lo <= {expr} ORDER BY lo DESC LIMIT 1)"


def flag_values(r: str, dialect: str) -> str:
    """A FROM-clause item yielding one ``value`` per flag name of the row."""
    if dialect == "postgres":
        return f"jsonb_array_elements_text({r}.flags) AS j(value)"
    return f"json_each({r}.flags) AS j"


_DAILY_UP = (
    " ON CONFLICT (dim, day, version, command, value) DO UPDATE SET"
    " events = an_daily.events + excluded.events,"
    " failures = an_daily.failures + excluded.failures,"
    " prompt_sum = an_daily.prompt_sum + excluded.prompt_sum,"
    " prompt_n = an_daily.prompt_n + excluded.prompt_n"
)
_ACTIVE_UP = (
    " ON CONFLICT (period, start, version, command) DO UPDATE"
    " SET installs = an_active.installs + 1"
)
_DAILY_COLS = "INSERT INTO an_daily (dim, day, version, command, value, events, failures,"
_DAILY_COLS += " prompt_sum, prompt_n)"


def insert_statements(dialect: str) -> list[str]:
    """What one stored event adds (row alias NEW)."""
    r = "NEW"
    key = f"{day(r)}, {r}.version, {r}.command"
    out = [
        f"{_DAILY_COLS} SELECT 'total', {key}, '', 1, {failed(r)}, {prompt(r)}"
        f" WHERE 1 = 1{_DAILY_UP}"
    ]
    for dim, value in DIMENSIONS.items():
        v = value.format(r=r)
        out.append(
            f"{_DAILY_COLS} SELECT '{dim}', {key}, {v}, 1, {failed(r)}, {prompt(r)}"
            f" WHERE {v} IS NOT NULL{_DAILY_UP}"
        )
    out.append(
        f"{_DAILY_COLS} SELECT 'flag', {key}, f.value, 1, {failed(r)}, {prompt(r)}"
        f" FROM (SELECT DISTINCT j.value AS value FROM {flag_values(r, dialect)}) AS f"
        f" WHERE f.value IS NOT NULL{_DAILY_UP}"
    )
    for metric, col in (("exec", "execution_time"), ("api", "api_time")):
        out.append(
            "INSERT INTO an_hist (metric, day, version, command, bucket, n)"
            f" SELECT '{metric}', {key}, {bucket(f'{r}.{col}')}, 1 WHERE {r}.{col} >= 0"
            " ON CONFLICT (metric, day, version, command, bucket) DO UPDATE SET"
            " n = an_hist.n + 1"
        )
    out += [
        "INSERT INTO an_install_days (install_id, day, version, command, events, failures)"
        f" VALUES ({r}.install_id, {key}, 1, {failed(r)})"
        " ON CONFLICT (install_id, day, version, command) DO UPDATE SET"
        " events = an_install_days.events + 1,"
        " failures = an_install_days.failures + excluded.failures",
        f"INSERT INTO an_active (period, start, version, installs) SELECT 'd', {day(r)}, '', 1"
        " WHERE (SELECT sum(events) FROM an_install_days"
        f" WHERE install_id = {r}.install_id AND day = {day(r)}) = 1{_ACTIVE_UP}",
        f"INSERT INTO an_active (period, start, version, installs)"
        f" SELECT 'v', {day(r)}, {r}.version, 1 WHERE (SELECT sum(events) FROM an_install_days"
        f" WHERE install_id = {r}.install_id AND day = {day(r)} AND version = {r}.version) = 1"
        f"{_ACTIVE_UP}",
        f"INSERT INTO an_active (period, start, version, command, installs)"
        f" SELECT 'c', {day(r)}, '', {r}.command, 1 WHERE (SELECT sum(events)"
        f" FROM an_install_days WHERE install_id = {r}.install_id AND day = {day(r)}"
        f" AND command = {r}.command) = 1{_ACTIVE_UP}",
        f"INSERT INTO an_active (period, start, version, command, installs)"
        f" SELECT 'x', {day(r)}, {r}.version, {r}.command, 1 WHERE (SELECT events"
        f" FROM an_install_days WHERE install_id = {r}.install_id AND day = {day(r)}"
        f" AND version = {r}.version AND command = {r}.command) = 1{_ACTIVE_UP}",
        "INSERT INTO an_install_weeks (install_id, week, events)"
        f" VALUES ({r}.install_id, {week(r)}, 1)"
        " ON CONFLICT (install_id, week) DO UPDATE SET events = an_install_weeks.events + 1",
        f"INSERT INTO an_active (period, start, version, installs) SELECT 'w', {week(r)}, '', 1"
        " WHERE (SELECT events FROM an_install_weeks"
        f" WHERE install_id = {r}.install_id AND week = {week(r)}) = 1{_ACTIVE_UP}",
        f"INSERT INTO an_first_seen (install_id, first_day) VALUES ({r}.install_id, {day(r)})"
        " ON CONFLICT (install_id) DO UPDATE SET first_day = CASE"
        " WHEN an_first_seen.first_day IS NULL OR excluded.first_day < an_first_seen.first_day"
        " THEN excluded.first_day ELSE an_first_seen.first_day END",
    ]
    return out


def delete_statements(dialect: str) -> list[str]:
    """What one deleted event takes away (row alias OLD)."""
    r = "OLD"
    match = f"day = {day(r)} AND version = {r}.version AND command = {r}.command"
    sub = (
        f"events = events - 1, failures = failures - {failed(r)},"
        f" prompt_sum = prompt_sum - COALESCE({r}.prompt_length, 0),"
        f" prompt_n = prompt_n - (CASE WHEN {r}.prompt_length IS NULL THEN 0 ELSE 1 END)"
    )
    out = [f"UPDATE an_daily SET {sub} WHERE dim = 'total' AND {match} AND value = ''"]
    for dim, value in DIMENSIONS.items():
        v = value.format(r=r)
        out.append(f"UPDATE an_daily SET {sub} WHERE dim = '{dim}' AND {match} AND value = {v}")
    out.append(
        f"UPDATE an_daily SET {sub} WHERE dim = 'flag' AND {match}"
        f" AND value IN (SELECT j.value FROM {flag_values(r, dialect)})"
    )
    dims = ", ".join(f"'{d}'" for d in ("total", *DIMENSIONS, "flag"))
    out.append(f"DELETE FROM an_daily WHERE dim IN ({dims}) AND {match} AND events = 0")
    for metric, col in (("exec", "execution_time"), ("api", "api_time")):
        out += [
            f"UPDATE an_hist SET n = n - 1 WHERE metric = '{metric}' AND {match}"
            f" AND bucket = {bucket(f'{r}.{col}')} AND {r}.{col} >= 0",
            f"DELETE FROM an_hist WHERE metric = '{metric}' AND {match} AND n = 0",
        ]
    install = f"install_id = {r}.install_id"
    out += [
        f"UPDATE an_install_days SET events = events - 1, failures = failures - {failed(r)}"
        f" WHERE {install} AND {match}",
        f"DELETE FROM an_install_days WHERE {install} AND {match} AND events = 0",
        f"UPDATE an_active SET installs = installs - 1 WHERE period = 'd' AND start = {day(r)}"
        f" AND NOT EXISTS (SELECT 1 FROM an_install_days WHERE {install} AND day = {day(r)})",
        f"UPDATE an_active SET installs = installs - 1 WHERE period = 'v' AND start = {day(r)}"
        f" AND version = {r}.version AND NOT EXISTS (SELECT 1 FROM an_install_days"
        f" WHERE {install} AND day = {day(r)} AND version = {r}.version)",
        f"UPDATE an_active SET installs = installs - 1 WHERE period = 'c' AND start = {day(r)}"
        f" AND version = '' AND command = {r}.command AND NOT EXISTS (SELECT 1"
        f" FROM an_install_days WHERE {install} AND day = {day(r)} AND command = {r}.command)",
        f"UPDATE an_active SET installs = installs - 1 WHERE period = 'x' AND start = {day(r)}"
        f" AND version = {r}.version AND command = {r}.command AND NOT EXISTS (SELECT 1"
        f" FROM an_install_days WHERE {install} AND {match})",
        f"DELETE FROM an_active WHERE period IN ('d', 'v', 'c', 'x') AND start = {day(r)}"
        " AND installs = 0",
        f"UPDATE an_install_weeks SET events = events - 1 WHERE {install} AND week = {week(r)}",
        f"UPDATE an_active SET installs = installs - 1 WHERE period = 'w' AND start = {week(r)}"
        f" AND (SELECT events FROM an_install_weeks WHERE {install} AND week = {week(r)}) = 0",
        f"DELETE FROM an_install_weeks WHERE {install} AND week = {week(r)} AND events = 0",
        f"DELETE FROM an_active WHERE period = 'w' AND start = {week(r)} AND installs = 0",
        "UPDATE an_first_seen SET first_day ="
        f" (SELECT min(day) FROM an_install_days WHERE {install})"
        f" WHERE {install} AND first_day = {day(r)}",
        f"DELETE FROM an_first_seen WHERE {install} AND first_day IS NULL",
    ]
    return out


def create_sql(dialect: str) -> list[str]:
    """Statements creating both triggers (PostgreSQL: statement-level, see pg_triggers)."""
    if dialect == "postgres":
        from iconiq.server.analytics import pg_triggers

        return pg_triggers.create_sql()
    ins, dele = insert_statements(dialect), delete_statements(dialect)
    return [
        "CREATE TRIGGER an_events_insert AFTER INSERT ON events BEGIN\n"
        + ";\n".join(ins)
        + ";\nEND",
        "CREATE TRIGGER an_events_delete AFTER DELETE ON events BEGIN\n"
        + ";\n".join(dele)
        + ";\nEND",
    ]


def drop_sql(dialect: str) -> list[str]:
    """Statements removing both triggers (the PostgreSQL functions stay)."""
    if dialect == "sqlite":
        return [f"DROP TRIGGER IF EXISTS {name}" for name in TRIGGER_NAMES]
    return [f"DROP TRIGGER IF EXISTS {name} ON events" for name in TRIGGER_NAMES]
