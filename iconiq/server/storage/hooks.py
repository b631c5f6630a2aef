"""Calls from storage into the analytics part, when analytics provides them."""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any


def expire_rollups(conn: Any, dialect: str, cutoff_ms: int) -> None:
    """Run ``iconiq.server.analytics.rollups.expire(conn, dialect, cutoff_ms)`` if it exists,
    inside the caller's transaction, after the expired events were deleted."""
    if importlib.util.find_spec("iconiq.server.analytics.rollups") is None:
        return
    rollups = importlib.import_module("iconiq.server.analytics.rollups")
    expire = getattr(rollups, "expire", None)
    if callable(expire):
        expire(conn, dialect, cutoff_ms)
