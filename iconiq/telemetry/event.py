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
from iconiq.telemetry.ids import uuid4

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


# CI services by the variable each one sets (only presence is read, never the value).
CI_PROVIDER_VARS = (
    ("GITHUB_ACTIONS", "github-actions"),
    ("GITLAB_CI", "gitlab-ci"),
    ("CIRCLECI", "circleci"),
    ("JENKINS_URL", "jenkins"),
    ("TF_BUILD", "azure-pipelines"),
    ("BITBUCKET_BUILD_NUMBER", "bitbucket"),
    ("BUILDKITE", "buildkite"),
)


def ci_provider(ci: bool | None = None) -> str | None:
    """Which CI service runs this command (``schema.CI_PROVIDERS``), ``other`` for a CI
    outside the list, None when no CI is detected (``ci``: ``in_ci()``, if known)."""
    if not (in_ci() if ci is None else ci):
        return None
    environ = os.environ
    for name, provider in CI_PROVIDER_VARS:
        if environ.get(name):
            return provider
    return "other"


# Parent process names (``/proc/<ppid>/comm``, Linux) that name a tool of the allow-list;
# any other name is never sent, it only decides between ``script`` and ``other``.
PARENT_TOOLS = {
    "make": "make", "gmake": "make", "npm": "npm", "yarn": "yarn", "pnpm": "pnpm",
    "xcodebuild": "xcodebuild", "gradle": "gradle", "gradlew": "gradle",
}  # fmt: skip
SHELLS = frozenset(("sh", "bash", "dash", "zsh", "fish", "ksh", "mksh", "ash", "csh", "tcsh"))
# The package managers ``npm_config_user_agent`` names first ("pnpm/9.1.0 npm/? node/...").
PACKAGE_MANAGERS = ("npm", "yarn", "pnpm")


def _parent_name() -> str | None:
    """The parent process's name on Linux (one small read of ``/proc``), else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        fd = os.open(f"/proc/{os.getppid()}/comm", os.O_RDONLY)
        try:
            return os.read(fd, 64).decode("ascii", "replace").strip()
        finally:
            os.close(fd)
    except OSError:
        return None


def _tty(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False


def invoked_by() -> str:
    """What started this command, as one entry of ``schema.INVOKERS`` (never another name):
    a build tool or package manager (its environment variables, or the parent process's
    name on Linux), else ``terminal`` when stdin and stdout are terminals, ``script`` when
    the parent is a shell, ``other`` otherwise."""
    parent = _parent_name()
    tool = PARENT_TOOLS.get(parent or "")
    if tool is not None:
        return tool
    environ = os.environ
    if environ.get("XCODE_VERSION_ACTUAL") or environ.get("XCODE_PRODUCT_BUILD_VERSION"):
        return "xcodebuild"
    if environ.get("MAKELEVEL"):
        return "make"
    agent = environ.get("npm_config_user_agent")
    if agent:
        name = agent.split("/", 1)[0].strip().lower()
        return name if name in PACKAGE_MANAGERS else "other"
    if _tty(0) and _tty(1):
        return "terminal"
    if parent in SHELLS:
        return "script"
    return "other"


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


def build(run: Run, install_id: str | None) -> dict[str, Any]:
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
    ci = in_ci()
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
        "ci": ci,
        "ci_provider": ci_provider(ci),
        "invoked_by": invoked_by(),
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
