"""``iconiq config``: get, set, list and unset settings; telemetry on/off."""

from __future__ import annotations

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
    from iconiq.telemetry import controls

    if telemetry is not None:
        controls.set_enabled_from_cli(telemetry)
    if show_telemetry:
        controls.print_status()
    if telemetry is None and not show_telemetry and ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())
