"""What one command run did, for telemetry: filled by commands, read once at exit.

Commands note facts about their run (``current().note(model_used="local")``);
the CLI entry point (``iconiq.cli.main``) starts the run, sets the outcome and
hands it to telemetry. Nothing here imports anything heavy.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Run:
    started_ms: int = field(default_factory=lambda: int(time.time() * 1000))
    started_perf: float = field(default_factory=time.perf_counter)
    command: str | None = None
    # True for commands that must not record an event (``iconiq telemetry ...``).
    exempt: bool = False
    # True once the command's own code started (False for --help and usage errors).
    invoked: bool = False
    # True when the command line asks for --help: no first-run notice, no event.
    help_requested: bool = False
    success: bool = False
    error_type: str | None = None
    exit_code: int = 0
    flags: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

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
