"""docs/server.md mentions every command, setting and endpoint the server has."""

from __future__ import annotations

import re
from pathlib import Path

from typer.main import get_command

from iconiq.server import api, config
from iconiq.server.cli import app

DOC = (Path(__file__).resolve().parents[2] / "docs" / "server.md").read_text()


def test_every_command_is_documented() -> None:
    group = get_command(app)
    names = list(getattr(group, "commands", {}))
    assert {"serve", "migrate", "purge-expired", "import", "report"} <= set(names)
    for name in names:
        assert f"iconiq-server {name}" in DOC, name


def test_every_setting_is_documented() -> None:
    source = (
        Path(config.__file__).read_text()
        + Path(__file__).parents[2].joinpath("iconiq/server/ratelimit.py").read_text()
    )
    for var in set(re.findall(r"ICONIQ_[A-Z_]+", source)):
        assert var in DOC, var


def test_every_route_is_documented() -> None:
    for route in api.router.routes:
        path = getattr(route, "path", "")
        assert path in DOC, path
