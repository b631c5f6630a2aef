"""Validation of incoming v1 events (``iconiq.telemetry.schema``) into storable rows.

Unknown fields are ignored and never stored. A rejected event gets one short
reason that never echoes the value it was given. The model is built from the
contract (``FIELDS``): closed fields (``choice``: ``error_type``, ``output_format``,
``os``, ``ci_provider``, ``invoked_by``) take only the contract's values, ``ci`` a
bool and ``python`` only a "3.12" shape; open ones (``version``, ``command``,
``model_used``, at most 32 ``flags``) are bounded in length and shape, and the
analytics show only their top values (``analytics.top``). ``COLUMNS``, ``PG_TYPES``
and ``Row.values`` are the contract's columns in the stores' insert order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    create_model,
)

from iconiq.server.calendar import DAY_MS
from iconiq.telemetry.schema import (
    FIELDS,
    MAX_BATCH_EVENTS,
    SERVER_FIELDS,
    WIRE_FIELDS,
    pattern,
)


def _text(spec: dict[str, Any], shape: str, **extra: Any) -> Any:
    return Annotated[
        str,
        StringConstraints(strict=True, max_length=spec.get("max"), pattern=pattern(shape), **extra),
    ]


def _annotation(spec: dict[str, Any]) -> Any:
    """The pydantic type of one contract field (``iconiq.telemetry.schema``). Checks run
    inside pydantic-core (no Python validators: ingest speed matters)."""
    kind = spec["kind"]
    if kind == "uuid":  # lower-cased, so one id is one key whatever its case
        return Annotated[str, StringConstraints(strict=True, pattern=pattern("uuid"),
                                                to_lower=True)]  # fmt: skip
    if kind in ("command", "token"):
        return _text(spec, kind, min_length=1)
    if kind == "python":
        return _text(spec, "python")
    if kind == "bool":
        return bool
    if kind in ("schema", "timestamp"):
        return Annotated[int, Field(ge=spec["min"], le=spec["max"])]
    if kind == "count":
        return Annotated[int, Field(strict=True, ge=spec["min"], le=spec["max"])]
    if kind == "choice":
        # Closed lists: a value outside is rejected, never stored, so these breakdowns
        # can never hold more than a handful of values.
        return Literal[spec["choices"]]  # type: ignore[valid-type]
    if kind == "flags":
        flag = _text({"max": spec["item_max"]}, "flag", min_length=1)
        return Annotated[list[flag], Field(max_length=spec["max"])]  # type: ignore[valid-type]
    raise ValueError(f"no validation for field kind {kind!r}")


def _attribute(name: str) -> str:
    """The model attribute of a field (``schema`` would shadow a BaseModel attribute)."""
    return "schema_" if name == "schema" else name


def _model_fields() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in WIRE_FIELDS:
        spec = FIELDS[name]
        attribute = _attribute(name)
        alias = name if attribute != name else None
        kind = _annotation(spec)
        if spec.get("required"):
            out[attribute] = (kind, Field(alias=alias))
        elif spec["kind"] == "flags":
            out[attribute] = (kind, Field(default_factory=list, alias=alias))
        else:
            out[attribute] = (kind | None, Field(None, alias=alias))
    return out


if TYPE_CHECKING:

    class Event(BaseModel):
        """One telemetry event, wire format v1 (fields: ``iconiq.telemetry.schema``)."""

        def __getattr__(self, name: str) -> Any: ...

else:
    Event = create_model(
        "Event",
        __config__=ConfigDict(extra="ignore", strict=True),
        __doc__="One telemetry event, wire format v1 (fields: ``iconiq.telemetry.schema``).",
        __module__=__name__,
        **_model_fields(),
    )


class Batch(BaseModel):
    """The envelope of ``POST /v1/batch`` when every event in it is valid (the fast path)."""

    model_config = ConfigDict(extra="ignore", strict=True)

    events: list[Event] = Field(max_length=MAX_BATCH_EVENTS)


# Column order of the ``events`` table as the stores insert it: the contract's order.
COLUMNS: tuple[str, ...] = tuple(FIELDS)
# PostgreSQL array types the insert casts each column's values to (``varchar(n)`` and
# ``char(n)`` go through ``text``: an explicit cast to them would truncate silently).
PG_TYPES: tuple[str, ...] = tuple(
    "text" if FIELDS[c]["postgres"].startswith(("varchar", "char")) else FIELDS[c]["postgres"]
    for c in COLUMNS
)


def _flags_json(flags: list[str]) -> str:
    """JSON text of validated flags (FLAG admits nothing that needs escaping); the same
    text ``json.dumps`` gives, several times faster."""
    if not flags:
        return "[]"
    return '["' + '", "'.join(flags) + '"]'


def _values_function() -> Any:
    """``Row.values``, written out from the contract: one tuple display of every column, as
    fast as the hand-written function it replaces (the ingest path calls it per event)."""
    parts = []
    for name in COLUMNS:
        if name in SERVER_FIELDS:
            parts.append(f"row.{name}")
        elif FIELDS[name]["kind"] == "flags":
            parts.append(f"_flags_json(e.{name})")
        else:
            parts.append(f"e.{_attribute(name)}")
    source = f"def values(row):\n    e = row.event\n    return ({', '.join(parts)},)\n"
    namespace: dict[str, Any] = {"_flags_json": _flags_json}
    exec(compile(source, "<iconiq.server.events.Row.values>", "exec"), namespace)  # noqa: S102
    return namespace["values"]


_values = _values_function()


@dataclass(frozen=True)
class Row:
    """A validated event plus the server-side fields (``SERVER_FIELDS``), ready to store."""

    event: Event
    country: str | None
    received_at: int

    def values(self) -> tuple[Any, ...]:
        """The ``COLUMNS`` values of this row."""
        return _values(self)  # type: ignore[no-any-return]


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
