"""``iconiq config``: get, set, list and unset settings, show the file; telemetry on/off."""

from __future__ import annotations

import sys
from typing import Any

import typer

from iconiq.cli.base import App

app = App(
    help="Show and change iconiq's settings.",
    no_args_is_help=False,
    invoke_without_command=True,
)


@app.callback()
def config(
    ctx: typer.Context,
    telemetry: str | None = typer.Option(
        None,
        "--telemetry",
        metavar="true|false",
        help="Turn anonymous usage telemetry on or off.",
    ),
    show_telemetry: bool = typer.Option(
        False, "--show-telemetry", help="Show whether telemetry is on and why."
    ),
) -> None:
    """Show and change iconiq's settings (a TOML file; `iconiq config path` shows where)."""
    if telemetry is not None:
        from iconiq.telemetry import controls

        typer.echo(controls.set_enabled(telemetry))
    if show_telemetry:
        from iconiq.cli.telemetry import render_status

        render_status()
    if telemetry is None and not show_telemetry and ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())


def _shown(key: str, value: Any) -> str:
    """A value as the user sees it: secrets masked, booleans as true/false."""
    from iconiq import settings

    known = settings.KNOWN.get(key)
    if known is not None and known.secret and isinstance(value, str):
        return settings.mask(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@app.command("path")
def path_cmd() -> None:
    """Print the path of the settings file (it may not exist yet)."""
    from iconiq import paths

    typer.echo(str(paths.config_path()))


@app.command("get")
def get_cmd(key: str = typer.Argument(..., help="Dotted key, e.g. icon.model.")) -> None:
    """Print one setting's value (secrets masked); exit 2 when it is not set."""
    from iconiq import settings
    from iconiq.errors import InvalidInput

    value = settings.get(key)
    if value is None or isinstance(value, dict):
        if key not in settings.KNOWN:
            known = ", ".join(sorted(settings.KNOWN))
            raise InvalidInput(f"unknown setting {key!r}; known: {known}")
        raise InvalidInput(f"{key} is not set")
    typer.echo(_shown(key, value))


@app.command("set")
def set_cmd(
    key: str = typer.Argument(..., help="Dotted key, e.g. openai.api_key."),
    value: str | None = typer.Argument(
        None, help="The value; leave out for a secret to type it hidden (or pipe it in)."
    ),
) -> None:
    """Set a setting in the settings file (written with mode 0600)."""
    from iconiq import settings
    from iconiq.errors import InvalidInput

    known = settings.KNOWN.get(key)
    if value is None:
        if known is None or not known.secret:
            raise InvalidInput(f"give a value: iconiq config set {key} VALUE")
        if sys.stdin.isatty():
            value = typer.prompt(key, hide_input=True)
        else:
            value = sys.stdin.readline().strip()
    parsed = settings.parse_value(key, value)
    settings.set_value(key, parsed)
    typer.echo(f"{key} = {_shown(key, parsed)}")


@app.command("unset")
def unset_cmd(key: str = typer.Argument(..., help="Dotted key to remove.")) -> None:
    """Remove a setting from the settings file (its default applies again)."""
    from iconiq import settings

    removed = settings.unset(key)
    typer.echo(f"{key} removed" if removed else f"{key} was not set")


@app.command("list")
def list_cmd(
    as_json: bool = typer.Option(False, "--json", help="Print the set values as JSON."),
    show_all: bool = typer.Option(False, "--all", help="Also list known settings not set."),
) -> None:
    """List the settings in the settings file (secrets masked)."""
    from iconiq import settings

    values = settings.flatten(settings.load())
    if as_json:
        import json

        typer.echo(
            json.dumps(
                {k: _json_value(k, v) for k, v in sorted(values.items())}, ensure_ascii=False
            )
        )
        return
    keys = sorted(set(values) | (set(settings.KNOWN) if show_all else set()))
    if not keys:
        typer.echo("no settings set (iconiq config list --all shows what can be set)")
    for key in keys:
        if key in values:
            typer.echo(f"{key} = {_shown(key, values[key])}{_overridden(key)}")
        else:
            typer.echo(f"{key} (not set) - {settings.KNOWN[key].help}")


# Environment variables that win over a setting (see docs/cli.md).
_ENV_WINS = {"openai.api_key": "OPENAI_API_KEY", "openai.base_url": "OPENAI_BASE_URL"}


def _overridden(key: str) -> str:
    import os

    name = _ENV_WINS.get(key)
    return f"  ({name} is set and wins)" if name and os.environ.get(name, "").strip() else ""


def _json_value(key: str, value: Any) -> Any:
    from iconiq import settings

    known = settings.KNOWN.get(key)
    if known is not None and known.secret and isinstance(value, str):
        return settings.mask(value)
    return value
