"""Building events for tests: valid v1 events and storable rows."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from iconiq.server.events import Event, Row

DAY_MS = 86_400_000


def ms(day: str, hour: int = 12, minute: int = 0) -> int:
    """Unix ms of ``YYYY-MM-DD`` at ``hour:minute`` UTC."""
    t = dt.datetime.fromisoformat(day).replace(hour=hour, minute=minute, tzinfo=dt.UTC)
    return int(t.timestamp() * 1000)


def install(n: int) -> str:
    return str(uuid.UUID(int=n + 1))


def event(**fields: Any) -> dict[str, Any]:
    """A v1 event with defaults; any field may be overridden."""
    base: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "session_id": str(uuid.uuid4()),
        "install_id": install(0),
        "schema": 1,
        "command": "icon",
        "success": True,
        "timestamp": ms("2026-03-02"),
        "version": "1.0.0",
        "execution_time": 1000,
        "error_type": None,
        "prompt_length": 40,
        "output_format": "png",
        "model_used": "dall-e-3",
        "api_time": 800,
        "flags": ["--prompt"],
        "os": "linux",
        "python": "3.12",
        "ci": False,
    }
    base.update(fields)
    return base


def row(fields: dict[str, Any], country: str | None = "DE") -> Row:
    return Row(Event.model_validate(fields), country, fields["timestamp"])
