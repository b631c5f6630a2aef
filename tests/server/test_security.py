"""Admin access (bearer token or dashboard cookie), exposure refusal, no stack traces."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import Depends
from fastapi.testclient import TestClient

from iconiq.errors import InvalidInput
from iconiq.server import sessions
from iconiq.server.app import create_app
from iconiq.server.config import ServerSettings
from iconiq.server.security import COOKIE_NAME, require_admin
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
    client.cookies.set(COOKIE_NAME, sessions.new_cookie(TOKEN, 60))
    assert client.get("/probe-admin").status_code == 200
    client.cookies.set(COOKIE_NAME, sessions.new_cookie("other", 60))
    assert client.get("/probe-admin").status_code == 401
    client.cookies.set(COOKIE_NAME, sessions.new_cookie(TOKEN, 60, now=0))  # expired
    assert client.get("/probe-admin").status_code == 401
    value = sessions.new_cookie(TOKEN, 60)
    client.cookies.set(COOKIE_NAME, value[:-1] + ("0" if value[-1] != "0" else "1"))
    assert client.get("/probe-admin").status_code == 401


def test_healthz_needs_no_token(client: TestClient) -> None:
    assert client.get("/healthz").status_code == 200


def test_no_configured_token_means_no_admin(tmp_path: Path) -> None:
    with _client(tmp_path) as c:
        token = c.app.state.settings.admin_token  # type: ignore[attr-defined]
        assert token and len(token) >= 32  # made up, known to nobody
        assert c.get("/probe-admin").status_code == 401
        assert c.get("/v1/metrics").status_code == 401


def test_short_token_off_loopback_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    with pytest.raises(InvalidInput, match="at least 16"):
        create_app(ServerSettings(database_url=url, host="0.0.0.0", admin_token="x" * 15))
    assert create_app(ServerSettings(database_url=url, admin_token="x")).state.settings.host
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
