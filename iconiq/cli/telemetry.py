"""``iconiq telemetry``: status, flush, purge, enable, disable, show, export, upload."""

from __future__ import annotations

from iconiq.cli.base import App

app = App(help="Inspect and control anonymous usage telemetry.")
