"""Triggers on ``events`` that only append to ``an_pending``; ``fold`` applies the rows later.

Ingest stays cheap: an insert or delete on ``events`` appends, per row, the
columns the rollups aggregate with a sign (+1 stored, -1 removed) to the
insert-only ``an_pending`` table; no rollup row is touched and no lock is taken
besides the insert's own. SQLite: ``AFTER INSERT`` / ``AFTER DELETE`` row
triggers. PostgreSQL: statement-level triggers over transition tables (one
``INSERT ... SELECT`` per statement). Rows ignored as duplicates (``INSERT OR
IGNORE``, ``ON CONFLICT DO NOTHING``) fire no trigger and are in no transition
table, so they never reach ``an_pending``.

Dropping a whole partition fires nothing: ``rollups.expire`` covers that case.
Events are never updated in place, so there is no UPDATE trigger.
"""

from __future__ import annotations

from iconiq.telemetry.schema import FIELDS

TRIGGER_NAMES = ("an_events_insert", "an_events_delete")

# The columns of ``events`` that some rollup aggregates, copied to ``an_pending``: the
# contract's fields declared ``pending``.
PENDING_COLUMNS = tuple(name for name, field in FIELDS.items() if field.get("pending"))


def bucket(expr: str) -> str:
    return f"(SELECT bucket FROM an_buckets WHERE lo <= {expr} ORDER BY lo DESC LIMIT 1)"


def flag_values(r: str, dialect: str) -> str:
    """A FROM-clause item yielding one ``value`` per flag name of the row."""
    if dialect == "postgres":
        return f"jsonb_array_elements_text({r}.flags) AS j(value)"
    return f"json_each({r}.flags) AS j"


def _pending_type(name: str, dialect: str) -> str:
    field = FIELDS[name]
    kind = field["postgres"] if dialect == "postgres" else field["sqlite"]
    if kind.startswith(("varchar", "char")):
        kind = "text"
    required = field.get("required") or field["kind"] == "flags"
    return f"{name} {kind}{' NOT NULL' if required else ''}"


def pending_table_sql(dialect: str) -> str:
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
    out = [pending_table_sql(dialect)]
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
