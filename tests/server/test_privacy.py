"""Privacy: the client address becomes a country and is then forgotten (never stored or logged)."""

from __future__ import annotations

from pathlib import Path

import httpx

from iconiq.server.storage.base import open_store
from tests.server.conftest import make_event, stored
from tests.support.server import running_server

# A global address (GB in geoip2fast's data) used as a canary.
CANARY = "81.2.69.142"


def _everything_in(db_url: str, directory: Path) -> str:
    """All the database holds, as text (SQLite: the raw files; PostgreSQL: every table)."""
    if db_url.startswith("sqlite"):
        return "\n".join(
            p.read_bytes().decode("latin-1") for p in directory.rglob("*") if p.is_file()
        )
    store = open_store(db_url, pool_size=1)
    try:
        with store.connection() as conn:
            tables = conn.execute(
                "SELECT quote_ident(relname) FROM pg_class c JOIN pg_namespace n"
                " ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r'"
            ).fetchall()
            dumps = [
                str(conn.execute(f"SELECT json_agg(t)::text FROM {name} t").fetchone())
                for (name,) in tables
            ]
        return "\n".join(dumps)
    finally:
        store.close()


def test_canary_address_is_never_stored_nor_logged(db_url: str, tmp_path: Path) -> None:
    if db_url.startswith("sqlite"):
        db_url = f"sqlite:///{tmp_path / 'db' / 'privacy.db'}"
    env = {"ICONIQ_TRUSTED_PROXIES": "127.0.0.1/32", "ICONIQ_RATE_LIMIT": "100/minute"}
    trusted = make_event()
    with running_server(db_url, env=env, directory=tmp_path / "srv") as srv:
        headers = {"X-Forwarded-For": f"10.9.8.7, {CANARY}"}
        r = httpx.post(srv.base_url + "/v1/batch", json={"events": [trusted]}, headers=headers)
        assert r.json()["accepted"] == 1
        bad = httpx.post(
            srv.base_url + "/v1/batch",
            content=b"{broken",
            headers={**headers, "Content-Type": "application/json"},
        )
        assert bad.status_code == 400
        httpx.delete(f"{srv.base_url}/v1/installs/{make_event()['install_id']}", headers=headers)
    store = open_store(db_url, pool_size=1)
    try:
        (row,) = stored(store, "event_id = ?", (trusted["event_id"],))
    finally:
        store.close()
    assert row["country"] == "GB"  # the trusted proxy's X-Forwarded-For was believed
    log = srv.log()
    assert log.strip()  # the server did log (start-up lines), just never the address
    assert CANARY not in log and "10.9.8.7" not in log
    assert CANARY not in _everything_in(db_url, tmp_path / "db")


def test_forwarded_for_from_untrusted_peer_is_ignored(db_url: str) -> None:
    event = make_event()
    with running_server(db_url) as srv:
        r = httpx.post(srv.base_url + "/v1/track", json=event, headers={"X-Forwarded-For": CANARY})
        assert r.json()["accepted"] == 1
    store = open_store(db_url, pool_size=1)
    try:
        (row,) = stored(store, "event_id = ?", (event["event_id"],))
    finally:
        store.close()
    assert row["country"] is None
