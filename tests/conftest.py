"""Fixtures every test gets: an isolated iconiq home and no route off loopback.

Each test runs with ``ICONIQ_HOME`` in its own temporary directory, and with
every endpoint iconiq could talk to pointed at a closed loopback port, so a
test that forgets to start its own server fails fast instead of reaching out.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

# A loopback port nothing listens on (discard): connections are refused at once.
CLOSED_LOOPBACK = "http://127.0.0.1:9"

_CLEARED = (
    "OPENAI_API_KEY",
    "OPENAI_ORG_ID",
    "OPENAI_PROJECT_ID",
    "DO_NOT_TRACK",
    "ICONIQ_TELEMETRY_DISABLED",
    "ICONIQ_TELEMETRY_DEBUG",
    "ICONIQ_DATABASE_URL",
    "ICONIQ_ADMIN_TOKEN",
    "ICONIQ_DEBUG",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
)


@pytest.fixture(autouse=True)
def iconiq_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "iconiq-home"
    home.mkdir()
    for name in _CLEARED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ICONIQ_HOME", str(home))
    monkeypatch.setenv("ICONIQ_TELEMETRY_ENDPOINT", CLOSED_LOOPBACK)
    monkeypatch.setenv("OPENAI_BASE_URL", CLOSED_LOOPBACK + "/v1")
    monkeypatch.setenv("NO_PROXY", "*")
    yield home
