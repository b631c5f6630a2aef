"""Wire format v1 of a telemetry event: the one list of fields and their bounds.

Shared by the client (which builds events) and the server (which validates
them), so both agree on the contract in shared/design.md.
"""

from __future__ import annotations

from iconiq.errors import ERROR_TYPES

# ``typing.TYPE_CHECKING`` without importing typing (~4 ms of CPU for a host that
# records an event); mypy treats a name ``TYPE_CHECKING`` the same way.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Final

SCHEMA_VERSION: Final = 1

# field name -> (python type, max length for strings or None)
FIELDS: Final[dict[str, tuple[type, int | None]]] = {
    "event_id": (str, 36),
    "session_id": (str, 36),
    "install_id": (str, 36),
    "schema": (int, None),
    "command": (str, 50),
    "success": (bool, None),
    "timestamp": (int, None),
    "version": (str, 20),
    "execution_time": (int, None),
    "error_type": (str, 50),
    "prompt_length": (int, None),
    "output_format": (str, 10),
    "model_used": (str, 20),
    "api_time": (int, None),
    "flags": (list, None),
    "os": (str, 10),
    "python": (str, 10),
    "ci": (bool, None),
}

REQUIRED: Final = frozenset(
    {"event_id", "session_id", "install_id", "schema", "command", "success", "timestamp", "version"}
)

OUTPUT_FORMATS: Final = ("png", "webp", "jpeg", "ico", "icns")
MODELS: Final = ("dall-e-3", "gpt-image-1", "dall-e-2", "local")
OS_NAMES: Final = ("linux", "darwin", "windows", "other")
MAX_FLAGS: Final = 32
MAX_FLAG_LENGTH: Final = 40

# Client → server batch limits (design: at most 500 events and 1 MiB decompressed).
MAX_BATCH_EVENTS: Final = 500
MAX_BATCH_BYTES: Final = 1024 * 1024

__all__ = [
    "ERROR_TYPES",
    "FIELDS",
    "MAX_BATCH_BYTES",
    "MAX_BATCH_EVENTS",
    "MAX_FLAGS",
    "MAX_FLAG_LENGTH",
    "MODELS",
    "OS_NAMES",
    "OUTPUT_FORMATS",
    "REQUIRED",
    "SCHEMA_VERSION",
]

