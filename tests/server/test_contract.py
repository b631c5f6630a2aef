"""The event contract (``iconiq.telemetry.schema.FIELDS``) reaches everywhere it must.

For every declared field, on a fresh SQLite and a fresh PostgreSQL database made by
``iconiq-server migrate``: the ``events`` column exists with the declared type, the
``an_pending`` column exists when the field is declared ``pending``, an event sent
through the real HTTP API carries the value into ``events``, ``an_pending`` and (for a
``breakdown`` field) the ``an_daily`` rollup; the client's ``build()`` emits every
wire field with a value the server accepts; docs/privacy.md lists every field.

A field declared in the contract without its migration (or missing from any of
those places) fails here, on both databases.
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iconiq.run import Run
from iconiq.server.analytics.rollups.an_daily import DIMENSIONS
from iconiq.server.calendar import DAY_MS
from iconiq.server.events import COLUMNS, Event
from iconiq.telemetry import event as client_event
from iconiq.telemetry.schema import FIELDS, SERVER_FIELDS, SHAPES, WIRE_FIELDS, chars, pattern
from tests.support.pg import fresh_database
from tests.support.server import ServerHandle, running_server

ROOT = Path(__file__).resolve().parents[2]
# A public address the offline country database knows (tests/server/test_geo.py).
GB_ADDRESS = "81.2.69.142"
PENDING = [name for name, field in FIELDS.items() if field.get("pending")]
BREAKDOWNS = [name for name, field in FIELDS.items() if field.get("breakdown")]


def sample(name: str, field: dict[str, Any]) -> Any:
    """A non-null value of the field, valid under the contract (not its first choice, so
    a default cannot pass for it)."""
    kind = field["kind"]
    values: dict[str, Any] = {
        "uuid": str(uuid.uuid4()),
        "schema": field.get("min"),
        "command": "icon",
        "token": "tok-1.2",
        "bool": False,
        "timestamp": int(time.time() * 1000),
        "count": 7,
        "flags": ["--prompt", "-n"],
        "python": "3.12",
    }
    if kind == "choice":
        return field["choices"][-2]
    return values[kind]


def contract_event() -> dict[str, Any]:
    """An event with every wire field set (a failure, so ``error_type`` counts)."""
    out = {name: sample(name, FIELDS[name]) for name in WIRE_FIELDS}
    out["success"] = False
    return out


def stored(value: Any, field: dict[str, Any]) -> Any:
    """A column's value as the sender wrote it (0/1 bools, JSON text, uuid objects)."""
    if value is None:
        return None
    kind = field["kind"]
    if kind == "bool":
        return bool(value)
    if kind == "flags":
        return json.loads(value) if isinstance(value, str) else value
    if kind == "uuid":
        return str(value)
    return value


def _pg_type(declared: str) -> str:
    """A migration's spelling of a type as PostgreSQL's ``format_type`` prints it."""
    declared = re.sub(r"^varchar\(", "character varying(", declared)
    return re.sub(r"^char\(", "character(", declared)


def _migrate(url: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "iconiq.server.cli", "migrate", "--database", url],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def _query(url: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            return conn.execute(sql, params).fetchall()
    with psycopg.connect(url) as pg:
        return [tuple(r) for r in pg.execute(sql.replace("?", "%s"), params).fetchall()]


def _columns(url: str, table: str) -> dict[str, str]:
    """Column name -> declared type of ``table``."""
    if url.startswith("sqlite:///"):
        return {r[1]: r[2] for r in _query(url, f"SELECT * FROM pragma_table_info('{table}')")}
    return dict(
        _query(
            url,
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a"
            " WHERE a.attrelid = ?::regclass AND a.attnum > 0 AND NOT a.attisdropped",
            (table,),
        )
    )


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def fresh_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('contract') / 'events.db'}"
        _migrate(url)
        yield url
        return
    with fresh_database() as url:
        _migrate(url)
        yield url


@pytest.fixture(scope="module")
def contract_server(
    fresh_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerHandle]:
    env = {"ICONIQ_FOLD_INTERVAL": "0", "ICONIQ_TRUSTED_PROXIES": "127.0.0.1/32"}
    with running_server(fresh_url, env=env, directory=tmp_path_factory.mktemp("srv")) as srv:
        yield srv


@pytest.fixture(scope="module")
def sent(contract_server: ServerHandle) -> dict[str, Any]:
    """The contract event, sent once through ``POST /v1/batch`` from a GB address."""
    event = contract_event()
    r = httpx.post(
        contract_server.base_url + "/v1/batch",
        json={"events": [event]},
        headers={"X-Forwarded-For": GB_ADDRESS},
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"accepted": 1, "duplicates": 0, "rejected": []}
    return event


def test_every_field_is_an_events_column_of_its_declared_type(fresh_url: str) -> None:
    columns = _columns(fresh_url, "events")
    for name, field in FIELDS.items():
        assert name in columns, f"events has no column {name} (a migration is missing)"
        if fresh_url.startswith("sqlite:///"):
            assert columns[name] == field["sqlite"], name
        else:
            assert columns[name] == _pg_type(field["postgres"]), name
    assert tuple(FIELDS) == COLUMNS


def test_every_pending_field_is_an_an_pending_column(fresh_url: str) -> None:
    columns = _columns(fresh_url, "an_pending")
    missing = [name for name in PENDING if name not in columns]
    assert not missing, f"an_pending lacks {missing} (a migration is missing)"


def test_a_sent_event_carries_every_field_into_events(
    contract_server: ServerHandle, sent: dict[str, Any]
) -> None:
    url = contract_server.database_url
    names = ", ".join(FIELDS)
    [row] = _query(url, f"SELECT {names} FROM events WHERE event_id = ?", (sent["event_id"],))
    got = {name: stored(value, FIELDS[name]) for name, value in zip(FIELDS, row, strict=True)}
    for name in WIRE_FIELDS:
        assert got[name] == sent[name], name
    assert got["country"] == "GB"
    assert abs(got["received_at"] - sent["timestamp"]) < 600_000
    assert set(SERVER_FIELDS) == {"country", "received_at"}  # a new one: check it above


def test_a_sent_event_carries_every_pending_field_into_an_pending(
    contract_server: ServerHandle, sent: dict[str, Any]
) -> None:
    url = contract_server.database_url
    rows = _query(
        url,
        f"SELECT {', '.join(PENDING)} FROM an_pending WHERE install_id = ?",
        (sent["install_id"],),
    )
    assert len(rows) == 1, "the trigger did not copy the event into an_pending"
    got = {name: stored(v, FIELDS[name]) for name, v in zip(PENDING, rows[0], strict=True)}
    expected = {**sent, "country": "GB"}
    assert got == {name: expected[name] for name in PENDING}


def test_every_breakdown_field_reaches_an_daily(
    contract_server: ServerHandle, sent: dict[str, Any]
) -> None:
    srv = contract_server
    r = httpx.get(srv.base_url + "/v1/metrics/summary", headers=srv.headers())  # folds
    assert r.status_code == 200, r.text
    rows = _query(
        srv.database_url,
        "SELECT dim, value, events FROM an_daily WHERE day = ?",
        (sent["timestamp"] // DAY_MS,),
    )
    by_dim: dict[str, set[str]] = {}
    for dim, value, _ in rows:
        by_dim.setdefault(dim, set()).add(value)
    expected = {**sent, "country": "GB"}
    for name in BREAKDOWNS:
        dim = FIELDS[name]["breakdown"]
        assert dim in by_dim, f"an_daily has no {dim!r} row (declared breakdown of {name})"
        if FIELDS[name]["kind"] == "flags":
            assert by_dim[dim] == set(expected[name]), name
        elif DIMENSIONS.get(dim) == "{r}." + name:  # the column itself, not an expression
            assert by_dim[dim] == {expected[name]}, name
    assert sum(n for dim, _, n in rows if dim == "total") == 1


def test_the_client_builds_every_wire_field_with_a_value_the_server_takes() -> None:
    built = client_event.build(Run(command="icon"), str(uuid.uuid4()))
    assert list(built) == list(WIRE_FIELDS)
    for name in ("invoked_by", "ci_provider"):
        assert name in built
    validated = Event.model_validate(built)
    assert validated.invoked_by in FIELDS["invoked_by"]["choices"]


def test_privacy_page_lists_every_field() -> None:
    text = (ROOT / "docs" / "privacy.md").read_text()
    missing = [name for name in WIRE_FIELDS if f"| `{name}` |" not in text]
    assert not missing, f"docs/privacy.md's field table does not list {missing}"
    for name in SERVER_FIELDS:
        assert f"`{name}`" in text, f"docs/privacy.md does not mention {name}"
    for name, field in FIELDS.items():  # closed lists: every value is spelled out
        for choice in field.get("choices", ()):
            assert f"`{choice}`" in text, (name, choice)


# Fields added after a release's events were queued: (release folder, fields).
ADDED_SINCE = {"release-0848fdc": ["ci_provider", "invoked_by"]}
CONTEXT = ("ci_provider", "invoked_by")


@pytest.mark.parametrize(
    "spool",
    sorted((ROOT / "tests" / "upgrade").glob("release-*/telemetry.db")),
    ids=lambda p: p.parent.name,
)
def test_the_wire_format_of_the_existing_fields_is_unchanged(spool: Path) -> None:
    """An event a previous release queued and one built today: the same fields, in the
    same order and JSON spelling, then only the fields added since."""
    with sqlite3.connect(spool) as conn:
        old_body = conn.execute("SELECT body FROM events LIMIT 1").fetchone()[0]
    old = json.loads(old_body)
    run = Run(command=old["command"])
    run.success, run.started_ms = old["success"], old["timestamp"]
    run.facts["execution_time"] = old["execution_time"]
    new = client_event.build(run, old["install_id"])
    added = ADDED_SINCE.get(spool.parent.name, [])
    assert list(new)[: len(old)] == list(old)
    assert list(new)[len(old) :] == added
    # What differs by machine and moment, taken from the old event.
    machine = ("event_id", "session_id", "version", "os", "python", "ci", *CONTEXT)
    same = {**new, **{k: old[k] for k in machine if k in old}}
    for name in added:
        del same[name]
    assert client_event.dumps(same) == old_body


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("aZ09._+- -_/=é\\\n"), max_size=12))
def test_the_client_character_sets_and_the_server_patterns_are_one_definition(text: str) -> None:
    """``schema.chars`` (the client's sets, no ``re``) and ``schema.pattern`` (the server's
    regexes) read the same ``SHAPES``: they accept exactly the same strings."""
    for shape in ("token", "command"):
        first, rest, _ = SHAPES[shape]
        by_sets = bool(text) and text[0] in chars(first) and set(text) <= chars(rest)
        assert by_sets == bool(re.fullmatch(pattern(shape), text)), (shape, text)
    if client_event._is_flag(text):  # what the client sends, the server takes
        assert re.fullmatch(pattern("flag"), text), text
    if client_event._is_command(text):
        assert re.fullmatch(pattern("command"), text), text
