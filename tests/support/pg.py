"""A fresh, uniquely named PostgreSQL database on 127.0.0.1:5432 for one test session.

    with fresh_database() as url:        # postgresql://postgres@127.0.0.1:5432/iconiq_t_<hex>
        ...                              # the database is dropped afterwards

``ICONIQ_TEST_PG_ADMIN_URL`` overrides the maintenance connection
(default ``postgresql://postgres@127.0.0.1:5432/postgres``). Nothing here
skips: when PostgreSQL is unreachable, the test using it fails (CI always
runs the PostgreSQL tests).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def admin_url() -> str:
    return os.environ.get("ICONIQ_TEST_PG_ADMIN_URL") or DEFAULT_ADMIN_URL


def _url_for(name: str) -> str:
    base = admin_url()
    head, _, _ = base.rpartition("/")
    return f"{head}/{name}"


@contextmanager
def fresh_database(prefix: str = "iconiq_t") -> Iterator[str]:
    """Create ``<prefix>_<random hex>``, yield its URL, drop it (even on failure)."""
    name = f"{prefix}_{secrets.token_hex(6)}"
    with psycopg.connect(admin_url(), autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield _url_for(name)
    finally:
        with psycopg.connect(admin_url(), autocommit=True, connect_timeout=10) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
