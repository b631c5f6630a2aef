"""Every ``iconiq telemetry`` command and status field is documented."""

from __future__ import annotations

from pathlib import Path

from typer.main import get_command

from iconiq.cli.telemetry import app
from iconiq.telemetry import status

DOC = Path(__file__).resolve().parents[2] / "docs" / "telemetry.md"


def test_every_telemetry_command_is_documented() -> None:
    text = DOC.read_text()
    group = get_command(app)
    names = sorted(group.commands)  # type: ignore[attr-defined]
    assert len(names) == 8
    for name in names:
        assert f"iconiq telemetry {name}" in text, name


def test_every_status_field_is_documented() -> None:
    text = DOC.read_text()
    for key in status.read().as_json():
        assert f"`{key}`" in text, key
