"""Rate limits shared by several instances through Redis (127.0.0.1:6379, started by CI)."""

from __future__ import annotations

import secrets

import httpx

from tests.server.conftest import make_event
from tests.support.server import running_server


def test_two_instances_share_one_budget_through_redis() -> None:
    env = {
        "ICONIQ_RATE_LIMIT": "4/minute",
        "ICONIQ_RATE_LIMIT_STORAGE": "redis://127.0.0.1:6379/0",
        # A fresh key space, so parallel test runs do not share a budget.
        "ICONIQ_RATE_LIMIT_SALT": secrets.token_hex(8),
    }
    with running_server(env=env) as one, running_server(env=env) as two:
        codes = [
            httpx.post(srv.base_url + "/v1/track", json=make_event()).status_code
            for srv in (one, two, one, two, one, two)
        ]
        assert codes == [200, 200, 200, 200, 429, 429]


def test_unreachable_limiter_storage_fails_open() -> None:
    env = {"ICONIQ_RATE_LIMIT": "1/minute", "ICONIQ_RATE_LIMIT_STORAGE": "redis://127.0.0.1:9/0"}
    with running_server(env=env) as srv:
        for _ in range(2):
            r = httpx.post(srv.base_url + "/v1/track", json=make_event())
            assert r.status_code == 200
        assert "rate limiter unavailable" in srv.log()
