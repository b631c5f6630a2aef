"""Validation of incoming v1 events (``iconiq.telemetry.schema``) into storable rows.

Unknown fields are ignored and never stored. A rejected event gets one short
reason that never echoes the value it was given. Closed fields (``error_type``,
``output_format``, ``os``, ``ci``) take only the contract's values and ``python``
only a "3.12" shape; open ones (``version``, ``command``, ``model_used``, at most
32 ``flags``) are bounded in length and shape, and the analytics show only their
top values (``analytics.top``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)

from iconiq.server.config import DAY_MS
from iconiq.telemetry.schema import (
    ERROR_TYPES,
    FIELDS,
    MAX_BATCH_EVENTS,
    MAX_FLAG_LENGTH,
    MAX_FLAGS,
    OS_NAMES,
    OUTPUT_FORMATS,
    SCHEMA_VERSION,
)

INT32_MAX = 2**31 - 1
TOKEN = r"^[A-Za-z0-9][A-Za-z0-9._+\-]*$"
COMMAND = r"^[A-Za-z0-9][A-Za-z0-9._+\- ]*$"
FLAG = r"^-{0,2}[A-Za-z0-9][A-Za-z0-9_\-]*$"
# "3.12": a major version 2-9 and a minor of one or two digits (at most 800 values).
PYTHON = r"^[2-9]\.[0-9]{1,2}$"


def _token(field: str, pattern: str = TOKEN) -> Any:
    limit = FIELDS[field][1]
    return Annotated[
        str, StringConstraints(strict=True, min_length=1, max_length=limit, pattern=pattern)
    ]


Count = Annotated[int, Field(strict=True, ge=0, le=INT32_MAX)]
Flag = Annotated[
    str, StringConstraints(strict=True, min_length=1, max_length=MAX_FLAG_LENGTH, pattern=FLAG)
]
UUID_RE = r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$"
# Checked and lower-cased inside pydantic-core (no Python validator: ingest speed matters).
Uuid = Annotated[str, StringConstraints(strict=True, pattern=UUID_RE, to_lower=True)]
# Closed fields: a value outside the contract's list is rejected, never stored, so these
# breakdowns can never hold more than a handful of values.
ErrorType = Literal[ERROR_TYPES]  # type: ignore[valid-type]
OutputFormat = Literal[OUTPUT_FORMATS]  # type: ignore[valid-type]
OsName = Literal[OS_NAMES]  # type: ignore[valid-type]
Python = Annotated[str, StringConstraints(strict=True, max_length=5, pattern=PYTHON)]


class Event(BaseModel):
    """One telemetry event, wire format v1 (see docs/server.md)."""

    model_config = ConfigDict(extra="ignore", strict=True)

    event_id: Uuid
    session_id: Uuid
    install_id: Uuid
    schema_: int = Field(alias="schema", ge=SCHEMA_VERSION, le=SCHEMA_VERSION)
    command: _token("command", COMMAND)  # type: ignore[valid-type]
    success: bool
    timestamp: int = Field(ge=0, le=2**53)
    version: _token("version")  # type: ignore[valid-type]
    execution_time: Count | None = None
    error_type: ErrorType | None = None
    prompt_length: Count | None = None
    output_format: OutputFormat | None = None
    model_used: _token("model_used") | None = None  # type: ignore[valid-type]
    api_time: Count | None = None
    flags: list[Flag] = Field(default_factory=list, max_length=MAX_FLAGS)
    os: OsName | None = None
    python: Python | None = None
    ci: bool | None = None


class Batch(BaseModel):
    """The envelope of ``POST /v1/batch`` when every event in it is valid (the fast path)."""

    model_config = ConfigDict(extra="ignore", strict=True)

    events: list[Event] = Field(max_length=MAX_BATCH_EVENTS)


# Column order of the ``events`` table as the stores insert it.
COLUMNS: tuple[str, ...] = (
    "event_id", "session_id", "install_id", "schema", "command", "success", "timestamp",
    "version", "execution_time", "error_type", "prompt_length", "output_format", "model_used",
    "api_time", "flags", "os", "python", "ci", "country", "received_at",
)  # fmt: skip


def _flags_json(flags: list[str]) -> str:
    """JSON text of validated flags (FLAG admits nothing that needs escaping); the same
    text ``json.dumps`` gives, several times faster."""
    if not flags:
        return "[]"
    return '["' + '", "'.join(flags) + '"]'


@dataclass(frozen=True)
class Row:
    """A validated event plus the server-side fields, ready to store."""

    event: Event
    country: str | None
    received_at: int

    def values(self) -> tuple[Any, ...]:
        e = self.event
        return (
            e.event_id, e.session_id, e.install_id, e.schema_, e.command, e.success,
            e.timestamp, e.version, e.execution_time, e.error_type, e.prompt_length,
            e.output_format, e.model_used, e.api_time, _flags_json(e.flags), e.os, e.python,
            e.ci, self.country, self.received_at,
        )  # fmt: skip


def _reason(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False, include_input=False)[:3]:
        loc = ".".join(str(p) for p in err["loc"]) or "event"
        msg = str(err["msg"])
        parts.append(f"{loc}: {msg}"[:200])
    return "; ".join(parts)


def validate(raw: Any, now_ms: int, retention_ms: int) -> Event | str:
    """The validated event, or the reason it can never be accepted."""
    if not isinstance(raw, dict):
        return "event: not a JSON object"
    try:
        event = Event.model_validate(raw)
    except ValidationError as exc:
        return _reason(exc)
    return check_time(event, now_ms, retention_ms)


def check_time(event: Event, now_ms: int, retention_ms: int) -> Event | str:
    """The event if its timestamp is inside the retention window and at most a day ahead."""
    if event.timestamp < now_ms - retention_ms:
        return "timestamp: older than the retention window"
    if event.timestamp > now_ms + DAY_MS:
        return "timestamp: more than a day in the future"
    return event
