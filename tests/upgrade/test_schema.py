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
# Migrations released after the reference databases were made, and the tables they add
# (with their columns, indexes and constraints).
NEWER = {
    "0002_revoked_sessions": {"revoked_sessions"},
    "analytics_0009_pseudonym_key": {"an_secrets"},
    "0003_ci_provider_invoked_by": set(),
    "analytics_0010_ci_provider_invoked_by": set(),
    "analytics_0011_weekly_active_by_filter": set(),  # rows of an_active only
    "analytics_0012_filter_indexes": set(),  # NEW_INDEXES on existing tables
    "analytics_0013_first_days": {"an_first_days"},
    "analytics_0014_install_totals": {"an_install_totals"},
    "analytics_0015_install_spans": {"an_install_spans"},
}
# Tables the newer migrations change, and the columns they append to each (the
# triggers on ``events`` and their PostgreSQL functions are re-created with them).
ALTERED = {
    "events": ["ci_provider", "invoked_by"],
    "an_pending": ["ci_provider", "invoked_by"],
}
ALTERED_FUNCTIONS = {"an_events_insert_fn", "an_events_delete_fn"}
# Indexes the newer migrations add to tables the release had.
NEW_INDEXES = {"an_install_days_command", "an_install_days_version", "an_hist_command"}

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
    for release in RELEASES:
        assert set(names) - _applied(release) == set(NEWER), release.name


@pytest.mark.parametrize("release", RELEASES, ids=[r.name for r in RELEASES])
def test_sqlite_fresh_schema_is_the_previous_releases(release: Path, tmp_path: Path) -> None:
    fresh = tmp_path / "fresh.db"
    out = _migrate(f"sqlite:///{fresh}")
    assert out.split() == [w for m in sqlite_migrations.MIGRATIONS for w in ("applied", m.name)]
    reference = _sqlite_schema(release / "server.db")
    schema = _sqlite_schema(fresh)

    added = {k for k in schema if k not in reference}
    assert {k[1] for k in added} >= NEW_INDEXES
    added = {k for k in added if k[1] not in NEW_INDEXES}
    newer = set().union(*NEWER.values())
    assert {_owner(k, schema) for k in added} == newer
    assert not [k for k in reference if k not in schema]
    same = [k for k in reference if _owner(k, reference) not in ALTERED]
    assert {k: schema[k] for k in same} == {k: reference[k] for k in same}
    for table, new_columns in ALTERED.items():  # the old columns, then the new ones
        old, now = reference[("columns", table)], schema[("columns", table)]
        assert now[: len(old)] == old, table
        assert [c[1] for c in now[len(old) :]] == new_columns, table

    upgraded = tmp_path / "upgraded.db"
    shutil.copy(release / "server.db", upgraded)
    assert _migrate(f"sqlite:///{upgraded}").split() == [
        w for name in NEWER for w in ("applied", name)
    ]
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


def _without_newer(schema: dict[str, list[tuple[Any, ...]]]) -> dict[str, list[tuple[Any, ...]]]:
    """The schema less the newer migrations' tables, the columns of the tables they alter
    and the trigger functions they re-create (checked on their own)."""
    newer = set().union(*NEWER.values())
    out = {k: [r for r in rows if r[0] not in newer] for k, rows in schema.items()}
    out["columns"] = [r for r in out["columns"] if r[0] not in ALTERED]
    out["functions"] = [r for r in out["functions"] if r[0] not in ALTERED_FUNCTIONS]
    out["indexes"] = [r for r in out["indexes"] if r[1] not in NEW_INDEXES]
    return out


def _altered_columns(schema: dict[str, list[tuple[Any, ...]]], table: str) -> list[tuple[Any, ...]]:
    return [r for r in schema["columns"] if r[0] == table]


@pytest.fixture
def restored_release(request: pytest.FixtureRequest) -> Iterator[str]:
    release: Path = request.param
    with fresh_database() as url:
        subprocess.run(
            ["psql", "-q", "-v", "ON_ERROR_STOP=1", "-f", str(release / "server-postgres.sql"),
             url],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        yield url


@pytest.mark.postgres
@pytest.mark.parametrize(
    "restored_release", RELEASES, ids=[r.name for r in RELEASES], indirect=True
)
def test_postgres_fresh_schema_is_the_previous_releases(restored_release: str) -> None:
    reference = _pg_schema(restored_release)
    with fresh_database() as fresh:
        out = _migrate(fresh)
        assert out.split() == [w for m in pg_migrations.MIGRATIONS for w in ("applied", m.name)]
        schema = _pg_schema(fresh)
    assert all(reference.values())
    added = {r[0] for rows in schema.values() for r in rows} - {
        r[0] for rows in reference.values() for r in rows
    }
    assert added == set().union(*NEWER.values())
    assert {r[1] for r in schema["indexes"]} >= NEW_INDEXES
    assert _without_newer(schema) == _without_newer(reference)
    for table, new_columns in ALTERED.items():  # the old columns, then the new ones
        old, now = _altered_columns(reference, table), _altered_columns(schema, table)
        assert now[: len(old)] == old, table
        assert [c[1] for c in now[len(old) :]] == new_columns, table
    functions = {r[0] for r in schema["functions"]}
    assert ALTERED_FUNCTIONS <= functions

    assert _migrate(restored_release).split() == [w for name in NEWER for w in ("applied", name)]
    assert _pg_schema(restored_release) == schema
