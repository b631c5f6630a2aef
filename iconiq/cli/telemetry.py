"""``iconiq telemetry``: status, flush, purge, enable, disable, show, export, upload."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer

from iconiq.cli.base import App

app = App(help="Inspect and control anonymous usage telemetry.")

F = TypeVar("F", bound=Callable[..., Any])

_EXPORT_FILE = typer.Argument(..., help="JSONL file to write (gzip'd when it ends in .gz).")
_UPLOAD_FILE = typer.Argument(..., help="A file written by `iconiq telemetry export`.")


def command(name: str) -> Callable[[F], F]:
    return app.command(name)


@command("status")
def status(
    as_json: bool = typer.Option(False, "--json", help="Print a stable JSON object."),
) -> None:
    """Show whether telemetry is on and why, the endpoint, the queue and the last upload."""
    render_status(as_json)


def render_status(as_json: bool = False) -> None:
    """The one renderer of ``iconiq.telemetry.status``, for ``iconiq telemetry status``
    and ``iconiq config --show-telemetry``: the JSON object, aligned plain lines (a pipe,
    a file, NO_COLOR: no escape codes), or a table with bold labels on a terminal."""
    from iconiq.telemetry import status as telemetry_status

    info = telemetry_status.read()
    if as_json:
        typer.echo(json.dumps(info.as_json(), indent=2, sort_keys=True))
        return
    rows = info.rows()
    from rich.console import Console

    console = Console(highlight=False)
    if not console.is_terminal or os.environ.get("NO_COLOR", ""):
        width = max(len(label) for label, _ in rows)
        for label, text in rows:
            typer.echo(f"{label.ljust(width)}  {text}")
        return
    from rich.table import Table
    from rich.text import Text

    table = Table(show_header=False, box=None)
    for label, text in rows:
        table.add_row(Text(label, style="bold"), Text(text))  # Text: user data is never markup
    console.print(table)


@command("flush")
def flush(
    background: bool = typer.Option(
        False, "--background", help="Upload in a detached process and return at once."
    ),
) -> None:
    """Upload queued events now (exit 6 when some could not be delivered)."""
    from iconiq import errors
    from iconiq.telemetry import manage

    if background:
        manage.flush_background()
        typer.echo("Uploading in the background; see `iconiq telemetry status`.")
        return
    total = manage.pending_count()
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(
        TextColumn("Uploading events"),
        BarColumn(),
        MofNCompleteColumn(),
        console=Console(stderr=True),
        transient=total < 1000,
        disable=total == 0,
    ) as bar:
        task = bar.add_task("upload", total=total)
        result = manage.flush_now(progress=lambda n: bar.advance(task, n))
    summary = f"{result.uploaded} uploaded ({result.duplicates} already on the server)"
    if result.rejected:
        summary += f", {result.rejected} rejected and dropped"
    left = manage.pending_count()
    if not result.delivered:
        raise errors.NetworkError(f"{summary}; {left} still queued: {result.error}")
    if not result.uploaded and not result.rejected and not left:
        summary = "Nothing to upload: the queue is empty"
    typer.echo(summary + ".")


@command("purge")
def purge(
    remote: bool = typer.Option(
        False, "--remote", help="Also erase this install's events on the server (new install id)."
    ),
) -> None:
    """Delete queued events; with --remote, ask the server to erase this install's events too."""
    from iconiq.telemetry import manage

    message = f"Deleted {manage.purge(remote)} queued events."
    if remote:
        message += " The server erased this install's events; a new install id starts now."
    typer.echo(message)


@command("enable")
def enable() -> None:
    """Turn telemetry on (a new install id if it was off)."""
    from iconiq.telemetry import controls

    typer.echo(controls.enable())


@command("disable")
def disable() -> None:
    """Turn telemetry off and delete everything queued."""
    from iconiq.telemetry import controls

    typer.echo(controls.disable())


@command("show")
def show() -> None:
    """Print the queued events, one JSON object a line, exactly as they will be sent."""
    from iconiq.telemetry import manage

    for body in manage.queued_bodies():
        typer.echo(body)


@command("export")
def export(
    file: Path = _EXPORT_FILE,
) -> None:
    """Move queued events to a file, to upload later from a connected machine."""
    from iconiq.telemetry import manage

    count = manage.export(file)
    typer.echo(f"Exported {count} events to {file}.")


@command("upload")
def upload(
    file: Path = _UPLOAD_FILE,
) -> None:
    """Send an exported file to the server (uploading the same file twice is harmless).

    Exit 2 when telemetry is off here (nothing is sent) or when the server stored none
    of the file's events (every one rejected); exit 6 when delivery stopped.
    """
    from iconiq import errors
    from iconiq.telemetry import manage

    count, result = manage.upload(file)
    summary = (
        f"{count} events in file: {result.uploaded} uploaded"
        f" ({result.duplicates} already on the server), {result.rejected} rejected"
    )
    if not result.delivered:
        raise errors.NetworkError(f"{summary}; stopped: {result.error}")
    if result.rejected and not result.uploaded:
        why = f" (first: {result.first_rejection})" if result.first_rejection else ""
        raise errors.InvalidInput(f"{summary}: the server stored none of them{why}")
    typer.echo(summary + ".")
