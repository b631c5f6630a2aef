"""Building events for tests: valid v1 events and storable rows."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from iconiq.server.calendar import DAY_MS as DAY_MS
from iconiq.server.events import Event, Row


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


def seeded_rows() -> list[Row]:
    """The small hand-checked data set of ``test_metrics`` (today: 2026-03-15, a Sunday).

    Install A (0): three events Mon 03-09 and Tue 03-10; B (1): Mon 03-02 and Tue 03-10;
    C (2): Sat 03-14; D (3): Fri 02-20, outside the two-week range.
    """
    a, b, c, d = install(0), install(1), install(2), install(3)
    spec: list[tuple[dict[str, Any], str | None]] = [
        (dict(install_id=a, timestamp=ms("2026-03-09", 10), flags=["--prompt", "--size"]), "DE"),
        (dict(install_id=a, timestamp=ms("2026-03-09", 11), success=False, error_type="network",
              execution_time=2000, api_time=None, prompt_length=60), "DE"),
        (dict(install_id=a, timestamp=ms("2026-03-10", 10), command="config", version="1.1.0",
              execution_time=5, api_time=None, prompt_length=None, output_format=None,
              model_used=None, flags=["--telemetry"]), "DE"),
        (dict(install_id=b, timestamp=ms("2026-03-10", 14), version="1.1.0", execution_time=3000,
              api_time=2500, output_format="webp", model_used="gpt-image-1", prompt_length=100,
              flags=["--prompt", "--model"], ci=True), "US"),
        (dict(install_id=b, timestamp=ms("2026-03-02", 9), success=False, error_type="timeout",
              execution_time=4000, api_time=None, prompt_length=20, flags=[], ci=True), "US"),
        (dict(install_id=c, timestamp=ms("2026-03-14", 23), version="1.1.0", api_time=900,
              output_format="ico", model_used="local", prompt_length=30,
              flags=["--prompt", "--model"]), None),
        (dict(install_id=d, timestamp=ms("2026-02-20", 12), command="telemetry", execution_time=10,
              api_time=None, prompt_length=None, output_format=None, model_used=None,
              flags=[]), "JP"),
    ]  # fmt: skip
    return [row(event(**fields), country) for fields, country in spec]
