"""The root ``iconiq`` command and its subcommands."""

from __future__ import annotations

import typer

from iconiq import __version__
from iconiq import run as run_mod
from iconiq.cli import config as config_cmd
from iconiq.cli import icon as icon_cmd
from iconiq.cli import telemetry as telemetry_cmd
from iconiq.cli.base import App

app = App(
    name="iconiq",
    add_completion=True,  # --install-completion / --show-completion (bash, zsh, fish)
    help="Generate app icons with OpenAI's image models, or offline with --model local.",
)

# Subcommands that never record a telemetry event themselves.
EXEMPT = {"telemetry"}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"iconiq {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """Generate app icons with OpenAI's image models, or offline with --model local."""
    run = run_mod.current()
    run.command = ctx.invoked_subcommand
    run.exempt = ctx.invoked_subcommand in EXEMPT
    if run.help_requested:
        return  # help is not a use of the tool: no notice, no prompt
    try:
        from iconiq.telemetry.hooks import before_command

        before_command(run)
    except Exception:  # noqa: BLE001 - telemetry never breaks a command
        pass


app.command("icon")(icon_cmd.icon)
app.add_typer(config_cmd.app, name="config")
app.add_typer(telemetry_cmd.app, name="telemetry")
