"""Build the v1 wire event of one command run (``iconiq.run.Run``).

Only categorical facts go in: option *names*, a model from a fixed list, a
length instead of a prompt. Anything that does not fit the schema's bounds is
left out (null) rather than truncated, so a stray value never leaks.
"""

from __future__ import annotations

import os
import sys

from iconiq import __version__
from iconiq.run import Run
from iconiq.telemetry import schema
from iconiq.telemetry.spool import uuid4

# ``typing.TYPE_CHECKING`` without importing typing (~4 ms of CPU for a host that
# records an event); mypy treats a name ``TYPE_CHECKING`` the same way.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# Option and command names: letters, digits and dashes (a subset of the contract's shapes).
_NAME_CHARS = schema.chars(schema.ALNUM + r"\-")
_COMMAND_MAX = schema.FIELDS["command"]["max"]
_VERSION_MAX = schema.FIELDS["version"]["max"]


def _is_flag(value: object) -> bool:
    """``-x`` or ``--some-name`` (an option's name, never a value)."""
    if not isinstance(value, str) or not value.startswith("-"):
        return False
    name = value[2:] if value.startswith("--") else value[1:]
    return bool(name) and name[0] != "-" and set(name) <= _NAME_CHARS


def _is_command(value: object) -> bool:
    return (
        isinstance(value, str)
        and bool(value)
        and value[0].isalpha()
        and value.islower()
        and set(value) <= _NAME_CHARS
    )


# Environment variables that mean "running in CI" (their values are never read).
CI_VARS = (
    "CI",
    "GITHUB_ACTIONS",
    "GITLAB_CI",
    "BUILDKITE",
    "CIRCLECI",
    "TRAVIS",
    "JENKINS_URL",
    "TF_BUILD",
    "TEAMCITY_VERSION",
    "BITBUCKET_BUILD_NUMBER",
    "CODEBUILD_BUILD_ID",
)


def in_ci() -> bool:
    value = os.environ.get("CI", "")
    if value.strip().lower() in ("false", "0"):
        return False
    return any(os.environ.get(name) for name in CI_VARS)


def os_name() -> str:
    if sys.platform.startswith("linux"):
        return "linux"
    if sys.platform == "darwin":
        return "darwin"
    if sys.platform in ("win32", "cygwin"):
        return "windows"
    return "other"


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return max(0, int(value))


def _choice(value: Any, allowed: tuple[str, ...]) -> str | None:
    if not isinstance(value, str):
        return None
    lowered = value.strip().lower()
    return lowered if lowered in allowed else None


def build(run: Run, install_id: str) -> dict[str, Any]:
    """The v1 event for ``run``: every field of ``schema.WIRE_FIELDS``, in that order, null
    where not applicable."""
    facts = run.facts
    command = run.command if run.command and _is_command(run.command) else "unknown"
    flags = [f for f in run.flags if _is_flag(f)]
    flags = [f for f in flags if len(f) <= schema.MAX_FLAG_LENGTH][: schema.MAX_FLAGS]
    error_type = None
    if not run.success:
        error_type = run.error_type if run.error_type in schema.ERROR_TYPES else "internal"
    execution_time = _count(facts.get("execution_time"))
    return {
        "event_id": uuid4(),
        "session_id": uuid4(),
        "install_id": install_id,
        "schema": schema.SCHEMA_VERSION,
        "command": command[:_COMMAND_MAX],
        "success": bool(run.success),
        "timestamp": int(run.started_ms),
        "version": __version__[:_VERSION_MAX],
        "execution_time": execution_time if execution_time is not None else run.elapsed_ms(),
        "error_type": error_type,
        "prompt_length": _count(facts.get("prompt_length")),
        "output_format": _choice(facts.get("output_format"), schema.OUTPUT_FORMATS),
        "model_used": _choice(facts.get("model_used"), schema.MODELS),
        "api_time": _count(facts.get("api_time")),
        "flags": flags,
        "os": os_name(),
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
        "ci": in_ci(),
    }


class _NotPlain(Exception):
    pass


def _plain(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if type(value) is int:
        return str(value)
    if type(value) is str and value.isascii() and value.isprintable():
        if '"' not in value and "\\" not in value:
            return f'"{value}"'
    if type(value) is list:
        return "[" + ",".join([_plain(v) for v in value]) + "]"
    raise _NotPlain


def dumps(event: dict[str, Any]) -> str:
    """The one JSON text of an event: stored in the spool, sent and exported as is.

    Byte for byte ``json.dumps(event, separators=(",", ":"))``; events are plain
    (ASCII names, ints, bools, null), so the json module is loaded only when a
    value needs escaping (it costs ~1-2 ms of import on every command).
    """
    try:
        return "{" + ",".join([f'"{k}":{_plain(v)}' for k, v in event.items()]) + "}"
    except _NotPlain:
        import json

        return json.dumps(event, separators=(",", ":"), ensure_ascii=True)
