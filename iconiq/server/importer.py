"""``iconiq-server import``: load a client export (JSONL, gzip if ``.gz``) into the store.

Each line is one event exactly as sent on the wire (a line holding
``{"events": [...]}`` is accepted too). Events go through the same validation
and exactly-once insert as the HTTP API; imported events have no country.
"""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from iconiq.errors import InvalidInput, OutputError
from iconiq.server.config import ServerSettings
from iconiq.server.events import Row, validate
from iconiq.server.storage.base import Store
from iconiq.telemetry.schema import MAX_BATCH_EVENTS


@dataclass
class ImportResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)


def _open(path: Path) -> IO[str]:
    try:
        if path.suffix == ".gz":
            return gzip.open(path, "rt", encoding="utf-8")
        return path.open("r", encoding="utf-8")
    except FileNotFoundError as exc:
        raise InvalidInput(f"no such file: {path}") from exc
    except OSError as exc:
        raise OutputError(f"cannot read {path}: {exc.strerror}") from exc


def _events(f: IO[str], result: ImportResult) -> Iterator[Any]:
    try:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                result.rejected.append((number, "not valid JSON"))
                continue
            if isinstance(obj, dict) and isinstance(obj.get("events"), list):
                for event in obj["events"]:
                    yield number, event
            else:
                yield number, obj
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read the export: {type(exc).__name__}: {exc}") from exc


def import_file(path: Path, store: Store, settings: ServerSettings) -> ImportResult:
    """Store every valid event of an export file once; report the counts."""
    result = ImportResult()
    now = int(time.time() * 1000)
    batch: list[Row] = []
    seen: set[str] = set()

    def flush() -> None:
        inserted = store.insert(batch)
        result.accepted += inserted
        result.duplicates += len(batch) - inserted
        batch.clear()

    with _open(path) as f:
        for number, raw in _events(f, result):
            event = validate(raw, now, settings.retention_ms)
            if isinstance(event, str):
                result.rejected.append((number, event))
                continue
            if event.event_id in seen:
                result.duplicates += 1
                continue
            seen.add(event.event_id)
            batch.append(Row(event, None, now))
            if len(batch) >= MAX_BATCH_EVENTS:
                flush()
    if batch:
        flush()
    return result
