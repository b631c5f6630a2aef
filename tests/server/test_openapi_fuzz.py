"""schemathesis against the app's own OpenAPI, in-process: no 5xx, no schema violation."""

from __future__ import annotations

import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings

from iconiq.server.app import create_app
from iconiq.server.config import ServerSettings

_DIR = Path(tempfile.mkdtemp(prefix="iconiq-fuzz-"))
APP = create_app(
    ServerSettings(
        database_url=f"sqlite:///{_DIR / 'fuzz.db'}",
        admin_token="fuzz-token",
        purge_interval=0,
        rate_limit=None,
    )
)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_openapi(case: schemathesis.Case) -> None:
    case.call_and_validate(headers={"Authorization": "Bearer fuzz-token"})
