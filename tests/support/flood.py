"""A hostile client's flood of high-cardinality events, for the cardinality test and benchmark.

    body = flood_batch(rng, mode="raw")   # 500 events, gzip-compressed JSON bytes

``mode="raw"``: every free-text field is random, the closed ones too (``output_format``,
``os``, ``python``): what one client sent when the dashboard broke. ``mode="open"``:
the closed fields take valid values and only the open ones (``version``, ``command``,
``model_used``, 32 ``flags``) are random, so the events are accepted and stored.
Every event has a fresh ``install_id`` and is timestamped in the last hour.
"""

from __future__ import annotations

import gzip
import json
import random
import string
import time
import uuid
from typing import Any

BATCHES = 20
BATCH_SIZE = 500
FLAGS_PER_EVENT = 32
_ALNUM = string.ascii_lowercase + string.digits


def _word(rng: random.Random, n: int) -> str:
    return rng.choice(string.ascii_lowercase) + "".join(rng.choices(_ALNUM, k=n - 1))


def flood_event(rng: random.Random, mode: str = "raw", now_ms: int | None = None) -> dict[str, Any]:
    """One event with random values in the fields ``mode`` says."""
    now = now_ms if now_ms is not None else int(time.time() * 1000)
    event: dict[str, Any] = {
        "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "session_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "install_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "schema": 1,
        "command": _word(rng, 12),
        "success": rng.random() < 0.8,
        "timestamp": now - rng.randrange(3_600_000),
        "version": f"{rng.randrange(10**6)}.{_word(rng, 8)}",
        "execution_time": rng.randrange(1, 60_000),
        "error_type": None,
        "prompt_length": rng.randrange(200),
        "output_format": _word(rng, 6),
        "model_used": _word(rng, 14),
        "api_time": rng.randrange(1, 30_000),
        "flags": [f"--{_word(rng, 14)}" for _ in range(FLAGS_PER_EVENT)],
        "os": _word(rng, 7),
        "python": f"{rng.randrange(100)}.{_word(rng, 4)}",
        "ci": rng.random() < 0.5,
    }
    if not event["success"]:
        event["error_type"] = "internal"
    if mode == "open":
        event["output_format"] = rng.choice(("png", "webp", "jpeg", "ico", "icns"))
        event["os"] = rng.choice(("linux", "darwin", "windows"))
        event["python"] = rng.choice(("3.10", "3.11", "3.12", "3.13"))
    return event


def flood_batch(rng: random.Random, mode: str = "raw", size: int = BATCH_SIZE) -> bytes:
    """A gzip-compressed ``{"events": [...]}`` body of ``size`` flood events."""
    now = int(time.time() * 1000)
    events = [flood_event(rng, mode, now) for _ in range(size)]
    return gzip.compress(json.dumps({"events": events}).encode())


def menu_entries(html: str, name: str) -> list[str]:
    """The option values of the dashboard's ``<select name=...>`` menu (without "all")."""
    start = html.find(f'<select name="{name}"')
    if start < 0:
        return []
    end = html.find("</select>", start)
    values = []
    for part in html[start:end].split("<option")[1:]:
        value = part.split('value="', 1)[1].split('"', 1)[0]
        if value:
            values.append(value)
    return values
