"""``iconiq-server report``: headline metrics as rich tables (the analytics issue fills this in)."""

from __future__ import annotations

from iconiq.errors import InvalidInput


def report() -> None:
    """Print the headline usage metrics."""
    raise InvalidInput("the report is not built yet")
