"""``an_pending``, the queue of event rows not yet folded, and the triggers that fill it.

Ingest stays cheap: an insert or delete on ``events`` appends, per row, the
columns the rollups aggregate with a sign (+1 stored, -1 removed) to the
insert-only ``an_pending`` table; no rollup row is touched and no lock is taken
besides the insert's own. SQLite: ``AFTER INSERT`` / ``AFTER DELETE`` row
triggers. PostgreSQL: statement-level triggers over transition tables (one
``INSERT ... SELECT`` per statement). Rows ignored as duplicates (``INSERT OR
IGNORE``, ``ON CONFLICT DO NOTHING``) fire no trigger and are in no transition
table, so they never reach ``an_pending``.

``take`` moves the queue into two temporary tables (``ADDED``, ``REMOVED``) that
``folding`` hands to each rollup's ``add`` and ``remove``. Dropping a whole
partition fires nothing: ``expire`` covers that case. Events are never updated
in place, so there is no UPDATE trigger. The migrations create the table and
triggers with their own frozen SQL; ``create_sql`` re-arms them after a bulk load.
"""

from __future__ import annotations

from iconiq.server.analytics.db import Db
from iconiq.telemetry.schema import FIELDS

TRIGGER_NAMES = ("an_events_insert", "an_events_delete")

# The columns of ``events`` that some rollup aggregates, copied to ``an_pending``: the
# contract's fields declared ``pending``.
PENDING_COLUMNS = tuple(name for name, field in FIELDS.items() if field.get("pending"))

# Per-session temporary tables holding the rows one fold took, by sign.
ADDED, REMOVED = "an_fold_added", "an_fold_removed"
_COLS = ", ".join(("id", "sign", *PENDING_COLUMNS))


def _pending_type(name: str, dialect: str) -> str:
    field = FIELDS[name]
    kind = field["postgres"] if dialect == "postgres" else field["sqlite"]
    if kind.startswith(("varchar", "char")):
        kind = "text"
    required = field.get("required") or field["kind"] == "flags"
    return f"{name} {kind}{' NOT NULL' if required else ''}"


def table_sql(dialect: str) -> str:
    """``an_pending``: one row per stored (+1) or removed (-1) event not yet folded (the
    migrations create it; their SQL is frozen, this is today's shape)."""
    head = (
        "id bigint GENERATED ALWAYS AS IDENTITY, sign smallint NOT NULL"
        if dialect == "postgres"
        else "id INTEGER PRIMARY KEY, sign INTEGER NOT NULL"
    )
    columns = ", ".join(_pending_type(name, dialect) for name in PENDING_COLUMNS)
    return f"CREATE TABLE IF NOT EXISTS an_pending ({head}, {columns})"


def create_sql(dialect: str) -> list[str]:
    """Statements creating ``an_pending`` (if missing) and both triggers."""
    cols = ", ".join(PENDING_COLUMNS)
    out = [table_sql(dialect)]
    if dialect == "postgres":
        for name, op, ref, src, sign in (
            ("an_events_insert", "INSERT", "NEW TABLE AS new_rows", "new_rows", 1),
            ("an_events_delete", "DELETE", "OLD TABLE AS old_rows", "old_rows", -1),
        ):
            out.append(
                f"CREATE OR REPLACE FUNCTION {name}_fn() RETURNS trigger LANGUAGE plpgsql"
                f" AS $fn$\nBEGIN\nINSERT INTO an_pending (sign, {cols})"
                f" SELECT {sign}, {cols} FROM {src};\nRETURN NULL;\nEND\n$fn$"
            )
            out.append(
                f"CREATE TRIGGER {name} AFTER {op} ON events REFERENCING {ref}"
                f" FOR EACH STATEMENT EXECUTE FUNCTION {name}_fn()"
            )
        return out
    for name, op, row, sign in (
        ("an_events_insert", "INSERT", "NEW", 1),
        ("an_events_delete", "DELETE", "OLD", -1),
    ):
        values = ", ".join(f"{row}.{c}" for c in PENDING_COLUMNS)
        out.append(
            f"CREATE TRIGGER {name} AFTER {op} ON events BEGIN\n"
            f"INSERT INTO an_pending (sign, {cols}) VALUES ({sign}, {values});\nEND"
        )
    return out


def drop_sql(dialect: str) -> list[str]:
    """Statements removing both triggers (the PostgreSQL functions and ``an_pending`` stay)."""
    if dialect == "sqlite":
        return [f"DROP TRIGGER IF EXISTS {name}" for name in TRIGGER_NAMES]
    return [f"DROP TRIGGER IF EXISTS {name} ON events" for name in TRIGGER_NAMES]


def take(db: Db) -> None:
    """Move the committed pending rows into the (emptied) temporary tables, by sign.
    PostgreSQL's ``DELETE ... RETURNING`` sees only committed rows, so those of
    transactions still inserting stay for the next fold."""
    for table in (ADDED, REMOVED):
        if db.postgres:
            db.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {table} (LIKE an_pending) ON COMMIT DELETE ROWS",
            )  # fmt: skip
        else:
            db.execute(f"CREATE TEMP TABLE IF NOT EXISTS {table} AS"
                    " SELECT * FROM an_pending WHERE 0")  # fmt: skip
        db.execute(f"DELETE FROM {table}")
    if db.postgres:
        db.execute(
            f"WITH taken AS (DELETE FROM an_pending RETURNING {_COLS}),"
            f" plus AS (INSERT INTO {ADDED} ({_COLS}) SELECT {_COLS} FROM taken"
            f" WHERE sign > 0) INSERT INTO {REMOVED} ({_COLS})"
            f" SELECT {_COLS} FROM taken WHERE sign < 0",
        )  # fmt: skip
        return
    for table, cond in ((ADDED, "sign > 0"), (REMOVED, "sign < 0")):
        db.execute(f"INSERT INTO temp.{table} ({_COLS})"
                f" SELECT {_COLS} FROM an_pending WHERE {cond}")  # fmt: skip
    db.execute("DELETE FROM an_pending")
