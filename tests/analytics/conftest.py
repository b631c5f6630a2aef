"""Stores on both databases (a SQLite file and a fresh PostgreSQL database), migrated; and
headless Chromium (Debian's package, driven by Playwright) for the dashboard tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from iconiq.server.storage.base import Store, open_store
from tests.support.pg import fresh_database

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]  # fmt: skip


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium, one per test module."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    with fresh_database("iconiq_t_an") as url:
        yield url


def _fresh_pg_schema(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: Any, tmp_path: Path) -> Iterator[Store]:
    """A migrated, empty store on each database."""
    if request.param == "sqlite":
        s = open_store(f"sqlite:///{tmp_path / 'events.db'}")
    else:
        url = request.getfixturevalue("pg_url")
        _fresh_pg_schema(url)
        s = open_store(url, pool_size=2)
    s.migrate()
    try:
        yield s
    finally:
        s.close()
