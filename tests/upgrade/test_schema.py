"""The frozen migrations build exactly the schema the previous release's code built.

Reference: the server databases of ``release-<commit>/`` (made by that release's own
``iconiq-server``). A fresh database migrated by ``iconiq-server migrate`` today must
hold every table, column, index, constraint, trigger and function those hold, with the
same definitions, plus only the objects of the migrations released since; and the
release's database upgraded in place must end up with exactly the fresh schema.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from iconiq.server.storage.migrations import postgres as pg_migrations
from iconiq.server.storage.migrations import sqlite as sqlite_migrations
from tests.support.pg import fresh_database

RELEASES = sorted(Path(__file__).parent.glob("release-*"))


class Since:
    """What the migrations released after a reference database was made add to it."""

    def __init__(
        self,
        newer: dict[str, set[str]],
        altered: dict[str, list[str]],
        altered_functions: set[str],
        new_indexes: set[str],
    ) -> None:
        self.newer = newer  # migration -> the tables it adds (columns, indexes, constraints)
        # Tables the newer migrations change, and the columns they append to each (the
        # triggers on ``events`` and their PostgreSQL functions are re-created with them).
        self.altered = altered
        self.altered_functions = altered_functions
        self.new_indexes = new_indexes  # indexes added to tables the release had


# What ``iconiq-server migrate`` says when there is nothing to apply.
UP_TO_DATE = ["schema", "is", "up", "to", "date"]

SINCE = {
    "release-0848fdc": Since(
        newer={
            "0002_revoked_sessions": {"revoked_sessions"},
            "analytics_0009_pseudonym_key": {"an_secrets"},
            "0003_ci_provider_invoked_by": set(),
            "analytics_0010_ci_provider_invoked_by": set(),
            "analytics_0011_weekly_active_by_filter": set(),  # rows of an_active only
            "analytics_0012_filter_indexes": set(),  # new_indexes on existing tables
            "analytics_0013_first_days": {"an_first_days"},
            "analytics_0014_install_totals": {"an_install_totals"},
            "analytics_0015_install_spans": {"an_install_spans"},
        },
        altered={
            "events": ["ci_provider", "invoked_by"],
            "an_pending": ["ci_provider", "invoked_by"],
        },
        altered_functions={"an_events_insert_fn", "an_events_delete_fn"},
        new_indexes={"an_install_days_command", "an_install_days_version", "an_hist_command"},
    ),
    "release-9ebfbed": Since(newer={}, altered={}, altered_functions=set(), new_indexes=set()),
}

Schema = dict[tuple[str, str], Any]


def _migrate(url: str) -> str:
    """Run ``iconiq-server migrate`` on ``url`` in a subprocess; return its output."""
    done = subprocess.run(
        [sys.executable, "-m", "iconiq.server.cli", "migrate", "--database", url],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def _applied(release: Path) -> set[str]:
    with sqlite3.connect(release / "server.db") as conn:
        return {r[0] for r in conn.execute("SELECT name FROM schema_migrations")}


def _sqlite_schema(path: Path) -> Schema:
    """Every object of ``sqlite_master`` with its SQL, and every table's columns."""
    conn = sqlite3.connect(path)
    try:
        out: Schema = {}
        for kind, name, table, sql in conn.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master"
        ):
            out[(kind, name)] = (table, sql)
            if kind == "table":
                out[("columns", name)] = conn.execute(
                    "SELECT * FROM pragma_table_info(?)", (name,)
                ).fetchall()
        return out
    finally:
        conn.close()


def _owner(key: tuple[str, str], schema: Schema) -> str:
    kind, name = key
    return name if kind in ("table", "columns") else str(schema[key][0])


def test_the_newer_migrations_are_the_ones_the_release_had_not_applied() -> None:
    names = [m.name for m in sqlite_migrations.MIGRATIONS]
    assert {r.name for r in RELEASES} == set(SINCE)
    for release in RELEASES:
        assert set(names) - _applied(release) == set(SINCE[release.name].newer), release.name


@pytest.mark.parametrize("release", RELEASES, ids=[r.name for r in RELEASES])
def test_sqlite_fresh_schema_is_the_previous_releases(release: Path, tmp_path: Path) -> None:
    since = SINCE[release.name]
    fresh = tmp_path / "fresh.db"
    out = _migrate(f"sqlite:///{fresh}")
    assert out.split() == [w for m in sqlite_migrations.MIGRATIONS for w in ("applied", m.name)]
    reference = _sqlite_schema(release / "server.db")
    schema = _sqlite_schema(fresh)

    added = {k for k in schema if k not in reference}
    assert {k[1] for k in added} >= since.new_indexes
    added = {k for k in added if k[1] not in since.new_indexes}
    newer = set().union(*since.newer.values())
    assert {_owner(k, schema) for k in added} == newer
    assert not [k for k in reference if k not in schema]
    same = [k for k in reference if _owner(k, reference) not in since.altered]
    assert {k: schema[k] for k in same} == {k: reference[k] for k in same}
    for table, new_columns in since.altered.items():  # the old columns, then the new ones
        old, now = reference[("columns", table)], schema[("columns", table)]
        assert now[: len(old)] == old, table
        assert [c[1] for c in now[len(old) :]] == new_columns, table

    upgraded = tmp_path / "upgraded.db"
    shutil.copy(release / "server.db", upgraded)
    expected = [w for name in since.newer for w in ("applied", name)] or UP_TO_DATE
    assert _migrate(f"sqlite:///{upgraded}").split() == expected
    assert _sqlite_schema(upgraded) == schema


PG_SCHEMA = {
    # Tables and sequences (monthly partitions of ``events`` are data, not schema).
    "relations": """
        SELECT c.relname, c.relkind::text FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'S') AND NOT c.relispartition
        ORDER BY 1""",
    "columns": """
        SELECT table_name, column_name, ordinal_position, data_type,
               character_maximum_length, is_nullable, column_default, is_identity
        FROM information_schema.columns c
        JOIN pg_class r ON r.relname = c.table_name AND NOT r.relispartition
        WHERE table_schema = 'public' ORDER BY 1, 3""",
    "indexes": """
        SELECT i.tablename, i.indexname, i.indexdef FROM pg_indexes i
        JOIN pg_class r ON r.relname = i.tablename AND NOT r.relispartition
        WHERE i.schemaname = 'public' ORDER BY 1, 2""",
    "constraints": """
        SELECT r.relname, c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint c
        JOIN pg_class r ON r.oid = c.conrelid AND NOT r.relispartition
        JOIN pg_namespace n ON n.oid = r.relnamespace
        WHERE n.nspname = 'public' ORDER BY 1, 2""",
    "triggers": """
        SELECT t.tgrelid::regclass::text, t.tgname, pg_get_triggerdef(t.oid) FROM pg_trigger t
        JOIN pg_class r ON r.oid = t.tgrelid AND NOT r.relispartition
        WHERE NOT t.tgisinternal ORDER BY 1, 2""",
    "functions": """
        SELECT p.proname, pg_get_functiondef(p.oid) FROM pg_proc p
        JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'public' ORDER BY 1""",
}


def _pg_schema(url: str) -> dict[str, list[tuple[Any, ...]]]:
    with psycopg.connect(url, connect_timeout=10) as conn:
        return {k: [tuple(r) for r in conn.execute(q).fetchall()] for k, q in PG_SCHEMA.items()}


def _without_newer(
    schema: dict[str, list[tuple[Any, ...]]], since: Since
) -> dict[str, list[tuple[Any, ...]]]:
    """The schema less the newer migrations' tables, the columns of the tables they alter
    and the trigger functions they re-create (checked on their own)."""
    newer = set().union(*since.newer.values())
    out = {k: [r for r in rows if r[0] not in newer] for k, rows in schema.items()}
    out["columns"] = [r for r in out["columns"] if r[0] not in since.altered]
    out["functions"] = [r for r in out["functions"] if r[0] not in since.altered_functions]
    out["indexes"] = [r for r in out["indexes"] if r[1] not in since.new_indexes]
    return out


def _altered_columns(schema: dict[str, list[tuple[Any, ...]]], table: str) -> list[tuple[Any, ...]]:
    return [r for r in schema["columns"] if r[0] == table]


@pytest.fixture
def restored_release(request: pytest.FixtureRequest) -> Iterator[tuple[str, Since]]:
    release: Path = request.param
    with fresh_database() as url:
        subprocess.run(
            ["psql", "-q", "-v", "ON_ERROR_STOP=1", "-f", str(release / "server-postgres.sql"),
             url],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        yield url, SINCE[release.name]


@pytest.mark.postgres
@pytest.mark.parametrize(
    "restored_release", RELEASES, ids=[r.name for r in RELEASES], indirect=True
)
def test_postgres_fresh_schema_is_the_previous_releases(
    restored_release: tuple[str, Since],
) -> None:
    release_url, since = restored_release
    reference = _pg_schema(release_url)
    with fresh_database() as fresh:
        out = _migrate(fresh)
        assert out.split() == [w for m in pg_migrations.MIGRATIONS for w in ("applied", m.name)]
        schema = _pg_schema(fresh)
    assert all(reference.values())
    added = {r[0] for rows in schema.values() for r in rows} - {
        r[0] for rows in reference.values() for r in rows
    }
    assert added == set().union(*since.newer.values())
    assert {r[1] for r in schema["indexes"]} >= since.new_indexes
    assert _without_newer(schema, since) == _without_newer(reference, since)
    for table, new_columns in since.altered.items():  # the old columns, then the new ones
        old, now = _altered_columns(reference, table), _altered_columns(schema, table)
        assert now[: len(old)] == old, table
        assert [c[1] for c in now[len(old) :]] == new_columns, table
    functions = {r[0] for r in schema["functions"]}
    assert since.altered_functions <= functions

    expected = [w for name in since.newer for w in ("applied", name)] or UP_TO_DATE
    assert _migrate(release_url).split() == expected
    assert _pg_schema(release_url) == schema
