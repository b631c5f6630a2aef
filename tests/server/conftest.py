"""Fixtures for the server tests: a PostgreSQL database per session, real servers per module.

``db_url`` is parametrized over SQLite and PostgreSQL, so every contract test
runs on both. PostgreSQL tests are never skipped: if 127.0.0.1:5432 is
unreachable they fail.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from iconiq.server.storage.base import Store, open_store
from tests.support.pg import fresh_database
from tests.support.server import ServerHandle, running_server


def make_event(**overrides: Any) -> dict[str, Any]:
    """A valid v1 event with fresh ids, timestamped now."""
    event: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "session_id": str(uuid.uuid4()),
        "install_id": str(uuid.uuid4()),
        "schema": 1,
        "command": "icon",
        "success": True,
        "timestamp": int(time.time() * 1000),
        "version": "0.1.0",
        "execution_time": 1234,
        "error_type": None,
        "prompt_length": 42,
        "output_format": "png",
        "model_used": "local",
        "api_time": 0,
        "flags": ["--model", "--size"],
        "os": "linux",
        "python": "3.11",
        "ci": False,
    }
    event.update(overrides)
    return event


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    with fresh_database() as url:
        yield url


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('db') / 'events.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture(scope="module")
def server(db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    with running_server(db_url, directory=tmp_path_factory.mktemp("srv")) as handle:
        yield handle


@pytest.fixture()
def store(db_url: str) -> Iterator[Store]:
    s = open_store(db_url, pool_size=4)
    s.migrate()
    try:
        yield s
    finally:
        s.close()


def stored(store: Store, where: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
    """Rows of ``events`` matching a WHERE clause written with ``?`` placeholders."""
    if store.dialect == "postgres":
        where = where.replace("?", "%s")
    with store.connection() as conn:
        cur = conn.execute(f"SELECT * FROM events WHERE {where}", params)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


@pytest.fixture()
def workdir(tmp_path: Path) -> Path:
    return tmp_path
