"""What one command run did, for telemetry: filled by commands, read once at exit.

Commands note facts about their run (``current().note(model_used="local")``);
the CLI entry point (``iconiq.cli.main``) starts the run, sets the outcome and
hands it to telemetry. Nothing here imports anything heavy.
"""

from __future__ import annotations

import time

# ``typing.TYPE_CHECKING`` without importing typing (~4 ms of CPU for a host that
# records an event); mypy treats a name ``TYPE_CHECKING`` the same way.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class Run:
    """One command run. A plain class: importing ``dataclasses`` (and with it
    ``inspect``) would cost a host that embeds the hooks ~12 ms."""

    __slots__ = (
        "started_ms",
        "started_perf",
        "command",
        "exempt",
        "invoked",
        "help_requested",
        "success",
        "error_type",
        "exit_code",
        "flags",
        "facts",
    )

    def __init__(
        self,
        *,
        command: str | None = None,
        exempt: bool = False,
        invoked: bool = False,
        help_requested: bool = False,
        success: bool = False,
        error_type: str | None = None,
        exit_code: int = 0,
        flags: list[str] | None = None,
        facts: dict[str, Any] | None = None,
    ) -> None:
        self.started_ms = int(time.time() * 1000)
        self.started_perf = time.perf_counter()
        self.command = command
        # True for commands that must not record an event (``iconiq telemetry ...``).
        self.exempt = exempt
        # True once the command's own code started (False for --help and usage errors).
        self.invoked = invoked
        # True when the command line asks for --help: no first-run notice, no event.
        self.help_requested = help_requested
        self.success = success
        self.error_type = error_type
        self.exit_code = exit_code
        self.flags = [] if flags is None else flags
        self.facts = {} if facts is None else facts

    def __repr__(self) -> str:
        return f"Run(command={self.command!r}, success={self.success}, flags={self.flags})"

    def note(self, **facts: Any) -> None:
        """Record command-specific event fields (prompt_length, output_format, ...)."""
        self.facts.update(facts)

    def elapsed_ms(self) -> int:
        return int((time.perf_counter() - self.started_perf) * 1000)


_current: Run | None = None


def start() -> Run:
    global _current
    _current = Run()
    return _current


def current() -> Run:
    """The run in progress (a throwaway one when called outside the CLI, e.g. in tests)."""
    global _current
    if _current is None:
        _current = Run()
    return _current
