"""Mounts the dashboard (``/``) and the metrics API (``/v1/metrics/...``) on the app.

``iconiq.server.app.create_app`` calls ``register(app)`` once; the analytics
issue fills this in.
"""

from __future__ import annotations

from typing import Any


def register(app: Any) -> None:
    """Add the analytics routes to ``app`` (none yet)."""
