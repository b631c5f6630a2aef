"""docs/cli.md documents every command, subcommand, ``icon`` option and exit code."""

from __future__ import annotations

from pathlib import Path

from typer.main import get_command

from iconiq.cli.app import app
from iconiq.errors import EXIT_CODES

DOCS = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def _commands() -> list[str]:
    root = get_command(app)
    names: list[str] = []
    for name, command in getattr(root, "commands", {}).items():
        names.append(f"iconiq {name}")
        for sub in getattr(command, "commands", {}):
            names.append(f"iconiq {name} {sub}")
    return names


def test_every_command_is_documented() -> None:
    text = DOCS.read_text()
    commands = _commands()
    assert "iconiq config set" in commands and "iconiq icon" in commands
    missing = [c for c in commands if f"`{c}" not in text]
    assert missing == [], f"add these to docs/cli.md: {missing}"


def test_every_icon_option_is_documented() -> None:
    text = DOCS.read_text()
    icon = get_command(app).commands["icon"]  # type: ignore[attr-defined]
    options = [max(p.opts, key=len) for p in icon.params]
    missing = [o for o in options if f"`{o}" not in text]
    assert missing == [], f"add these options to docs/cli.md: {missing}"


def test_every_exit_code_is_documented() -> None:
    text = DOCS.read_text()
    for error_type, code in EXIT_CODES.items():
        assert f"| {code} | `{error_type}`" in text, (code, error_type)
