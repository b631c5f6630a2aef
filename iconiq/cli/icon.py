"""``iconiq icon``: generate an icon (issue 2 fills this in)."""

from __future__ import annotations

import typer


def icon(prompt: str = typer.Option(..., "--prompt", help="What the icon shows.")) -> None:
    """Generate an app icon."""
    raise NotImplementedError("iconiq icon is being built")
