"""The event contract, declared once: every field of wire format v1, what it may hold
and where it goes.

Everything that knows an event field reads it from ``FIELDS``: the client's builder
(``telemetry/event.py``: bounds and lists), the server's validation model, the
``events`` columns, their insert order and PostgreSQL types (``server/events.py``),
the columns the rollup triggers copy into ``an_pending`` (``analytics/rollups/pending.py``)
and the ``an_daily`` breakdowns (``analytics/rollups/an_daily.py``). Adding a field is one
entry here plus a migration on both stores (docs/architecture.md, "Adding an event
field"); ``tests/server/test_contract.py`` fails while the field does not reach
every one of those places.

Imported on the client's recording path: plain data (dicts, tuples, strings), no
``typing``, ``dataclasses``, ``enum`` or ``re`` at run time.

Each field is a dict:

- ``kind``: ``uuid``, ``schema`` (the format version), ``command``, ``token`` (a short
  name of the ``token`` shape), ``bool``, ``timestamp`` (Unix ms), ``count`` (a
  non-negative int32), ``choice`` (one of ``choices``, a closed list: anything else is
  rejected), ``flags`` (a list of option names), ``python`` ("3.12"), ``country``;
- ``required``: the event is rejected without it (else null when not applicable);
- ``max``: longest text (characters) or largest number; ``min`` smallest number;
- ``choices``: the closed list of a ``choice`` field; ``known``: the values the client
  sends for an open ``token`` field (the server takes any token, for newer clients);
- ``sqlite`` / ``postgres``: the column type in ``events`` (as ``PRAGMA table_info`` /
  the migration spell it);
- ``pending``: the rollups read it, so the triggers copy it into ``an_pending``;
- ``breakdown``: the ``an_daily`` dimension it feeds (``dim``), if any;
- ``server``: set by the server on receipt, never sent by the client.
"""

from __future__ import annotations

from iconiq.errors import ERROR_TYPES

# ``typing.TYPE_CHECKING`` without importing typing (~4 ms of CPU for a host that
# records an event); mypy treats a name ``TYPE_CHECKING`` the same way.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Final

SCHEMA_VERSION: Final = 1
INT32_MAX: Final = 2**31 - 1

OUTPUT_FORMATS: Final = ("png", "webp", "jpeg", "ico", "icns")
MODELS: Final = ("dall-e-3", "gpt-image-1", "dall-e-2", "local")
OS_NAMES: Final = ("linux", "darwin", "windows", "other")
CI_PROVIDERS: Final = (
    "github-actions", "gitlab-ci", "circleci", "jenkins", "azure-pipelines", "bitbucket",
    "buildkite", "other",
)  # fmt: skip
INVOKERS: Final = (
    "terminal", "make", "npm", "yarn", "pnpm", "xcodebuild", "gradle", "script", "other",
)  # fmt: skip
MAX_FLAGS: Final = 32
MAX_FLAG_LENGTH: Final = 40

# The shapes of text fields, once: regular-expression character classes, from which the
# server's patterns are built (``pattern``) and the client's character sets (``chars``),
# so the client never loads ``re`` to check its own values.
ALNUM: Final = "A-Za-z0-9"
SHAPES: Final = {
    # name: (first character, the others, prefix)
    "token": (ALNUM, ALNUM + r"._+\-", ""),
    "command": (ALNUM, ALNUM + r"._+\- ", ""),
    "flag": (ALNUM, ALNUM + r"_\-", "-{0,2}"),
}
PATTERNS: Final = {
    "uuid": r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$",
    # "3.12": a major version 2-9 and a minor of one or two digits (at most 800 values).
    "python": r"^[2-9]\.[0-9]{1,2}$",
}


def pattern(shape: str) -> str:
    """The regular expression of a shape (``token``, ``command``, ``flag``, ``uuid``, ...)."""
    if shape in PATTERNS:
        return PATTERNS[shape]
    first, rest, prefix = SHAPES[shape]
    return f"^{prefix}[{first}][{rest}]*$"


def chars(cls: str) -> frozenset[str]:
    """The characters of a regular-expression class body (ranges ``a-z``, escapes ``\\-``)."""
    out: set[str] = set()
    i = 0
    while i < len(cls):
        c = cls[i]
        if c == "\\":
            out.add(cls[i + 1])
            i += 2
        elif i + 2 < len(cls) and cls[i + 1] == "-":
            out.update(map(chr, range(ord(c), ord(cls[i + 2]) + 1)))
            i += 3
        else:
            out.add(c)
            i += 1
    return frozenset(out)


_UUID = {"kind": "uuid", "required": True, "sqlite": "TEXT", "postgres": "uuid"}
_COUNT = {"kind": "count", "min": 0, "max": INT32_MAX, "sqlite": "INTEGER",
          "postgres": "integer"}  # fmt: skip

# The contract. Order matters: it is the order of the fields in an event's JSON (the
# client's wire format) and of the ``events`` columns the stores insert.
FIELDS: Final[dict[str, dict[str, Any]]] = {
    "event_id": _UUID,
    "session_id": _UUID,
    "install_id": {**_UUID, "pending": True},
    "schema": {"kind": "schema", "required": True, "min": SCHEMA_VERSION,
               "max": SCHEMA_VERSION, "sqlite": "INTEGER", "postgres": "integer"},
    "command": {"kind": "command", "required": True, "max": 50, "sqlite": "TEXT",
                "postgres": "varchar(50)", "pending": True},
    "success": {"kind": "bool", "required": True, "sqlite": "INTEGER", "postgres": "boolean",
                "pending": True},
    "timestamp": {"kind": "timestamp", "required": True, "min": 0, "max": 2**53,
                  "sqlite": "INTEGER", "postgres": "bigint", "pending": True},
    "version": {"kind": "token", "required": True, "max": 20, "sqlite": "TEXT",
                "postgres": "varchar(20)", "pending": True},
    "execution_time": {**_COUNT, "pending": True},
    "error_type": {"kind": "choice", "choices": ERROR_TYPES, "max": 50, "sqlite": "TEXT",
                   "postgres": "varchar(50)", "pending": True, "breakdown": "error_type"},
    "prompt_length": {**_COUNT, "pending": True},
    "output_format": {"kind": "choice", "choices": OUTPUT_FORMATS, "max": 10,
                      "sqlite": "TEXT", "postgres": "varchar(10)", "pending": True,
                      "breakdown": "output_format"},
    "model_used": {"kind": "token", "known": MODELS, "max": 20, "sqlite": "TEXT",
                   "postgres": "varchar(20)", "pending": True, "breakdown": "model_used"},
    "api_time": {**_COUNT, "pending": True},
    "flags": {"kind": "flags", "max": MAX_FLAGS, "item_max": MAX_FLAG_LENGTH,
              "sqlite": "TEXT", "postgres": "jsonb", "pending": True, "breakdown": "flag"},
    "os": {"kind": "choice", "choices": OS_NAMES, "max": 10, "sqlite": "TEXT",
           "postgres": "varchar(10)", "pending": True, "breakdown": "os"},
    "python": {"kind": "python", "max": 5, "sqlite": "TEXT", "postgres": "varchar(10)"},
    "ci": {"kind": "bool", "sqlite": "INTEGER", "postgres": "boolean", "pending": True,
           "breakdown": "ci"},
    "country": {"kind": "country", "server": True, "max": 2, "sqlite": "TEXT",
                "postgres": "char(2)", "pending": True, "breakdown": "country"},
    "received_at": {"kind": "timestamp", "server": True, "required": True, "min": 0,
                    "max": 2**53, "sqlite": "INTEGER", "postgres": "bigint"},
    "ci_provider": {"kind": "choice", "choices": CI_PROVIDERS, "max": 20, "sqlite": "TEXT",
                    "postgres": "varchar(20)", "pending": True, "breakdown": "ci_provider"},
    "invoked_by": {"kind": "choice", "choices": INVOKERS, "max": 20, "sqlite": "TEXT",
                   "postgres": "varchar(20)", "pending": True, "breakdown": "invoked_by"},
}  # fmt: skip

# The fields a client sends (in wire order) and the ones the server adds.
WIRE_FIELDS: Final = tuple(n for n, f in FIELDS.items() if not f.get("server"))
SERVER_FIELDS: Final = tuple(n for n, f in FIELDS.items() if f.get("server"))

# Client → server batch limits (design: at most 500 events and 1 MiB decompressed).
MAX_BATCH_EVENTS: Final = 500
MAX_BATCH_BYTES: Final = 1024 * 1024

__all__ = [
    "ALNUM",
    "CI_PROVIDERS",
    "ERROR_TYPES",
    "FIELDS",
    "INT32_MAX",
    "INVOKERS",
    "MAX_BATCH_BYTES",
    "MAX_BATCH_EVENTS",
    "MAX_FLAGS",
    "MAX_FLAG_LENGTH",
    "MODELS",
    "OS_NAMES",
    "OUTPUT_FORMATS",
    "PATTERNS",
    "SCHEMA_VERSION",
    "SERVER_FIELDS",
    "SHAPES",
    "WIRE_FIELDS",
    "chars",
    "pattern",
]
