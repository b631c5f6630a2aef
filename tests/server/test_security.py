"""Admin access (bearer token or dashboard cookie), exposure refusal, no stack traces."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import Depends
from fastapi.testclient import TestClient

from iconiq.errors import InvalidInput
from iconiq.server.app import create_app
from iconiq.server.config import ServerSettings
from iconiq.server.security import COOKIE_NAME, require_admin, session_cookie_value
from tests.server.conftest import make_event

TOKEN = "s3cret-admin-token"


def _client(tmp_path: Path, **settings: object) -> TestClient:
    app = create_app(
        ServerSettings(database_url=f"sqlite:///{tmp_path / 's.db'}", purge_interval=0, **settings)  # type: ignore[arg-type]
    )

    @app.get("/probe-admin", dependencies=[Depends(require_admin)])
    def probe() -> dict[str, bool]:
        return {"ok": True}

    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture()
def client(tmp_path: Path) -> Iterator[TestClient]:
    with _client(tmp_path, admin_token=TOKEN) as c:
        yield c


def test_bearer_token(client: TestClient) -> None:
    assert client.get("/probe-admin").status_code == 401
    assert client.get("/probe-admin", headers={"Authorization": "Bearer wrong"}).status_code == 401
    ok = client.get("/probe-admin", headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200


def test_dashboard_cookie(client: TestClient) -> None:
    client.cookies.set(COOKIE_NAME, session_cookie_value(TOKEN))
    assert client.get("/probe-admin").status_code == 200
    client.cookies.set(COOKIE_NAME, session_cookie_value("other"))
    assert client.get("/probe-admin").status_code == 401


def test_healthz_needs_no_token(client: TestClient) -> None:
    assert client.get("/healthz").status_code == 200


def test_non_loopback_without_token_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="ICONIQ_ADMIN_TOKEN"):
        create_app(ServerSettings(database_url=f"sqlite:///{tmp_path / 'x.db'}", host="0.0.0.0"))
    app = create_app(
        ServerSettings(
            database_url=f"sqlite:///{tmp_path / 'x.db'}", host="0.0.0.0", admin_token=TOKEN
        )
    )
    assert app.state.store.dialect == "sqlite"


def test_storage_failure_is_503_without_stack_trace(tmp_path: Path) -> None:
    with _client(tmp_path, admin_token=TOKEN) as client:
        with client.app.state.store.connection() as conn:  # type: ignore[attr-defined]
            conn.execute("DROP TABLE events")
        r = client.post("/v1/track", json=make_event())
        assert r.status_code == 503
        assert r.headers["Retry-After"]
        assert "Traceback" not in r.text and "sqlite" not in r.text.lower()


def test_unexpected_error_is_500_without_stack_trace(tmp_path: Path) -> None:
    with _client(tmp_path, admin_token=TOKEN) as client:
        store = client.app.state.store  # type: ignore[attr-defined]

        def broken(rows: object) -> int:
            raise RuntimeError("secret internals")

        store.insert = broken
        r = client.post("/v1/track", json=make_event())
        assert r.status_code == 500
        assert r.json() == {"error": "internal server error"}
