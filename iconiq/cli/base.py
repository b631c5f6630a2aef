"""The typer pieces every iconiq command is built from.

``App`` is a ``typer.Typer`` whose commands note, for telemetry, which options
were given (their names, never their values) before they run.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperCommand

from iconiq import run as run_mod
from iconiq.cli import clickcompat as click

_GIVEN = {click.ParameterSource.COMMANDLINE, click.ParameterSource.ENVIRONMENT}


class RecordingCommand(TyperCommand):
    """A command that tells the current run which options the user gave."""

    def invoke(self, ctx: click.Context) -> Any:
        run = run_mod.current()
        run.invoked = True
        for param in self.params:
            if not isinstance(param, click.Option) or param.name is None:
                continue
            if ctx.get_parameter_source(param.name) in _GIVEN:
                name = max(param.opts, key=len)
                if name not in run.flags:
                    run.flags.append(name)
        return super().invoke(ctx)


class App(typer.Typer):
    """``typer.Typer`` with iconiq's defaults: recording commands, no pretty tracebacks."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("no_args_is_help", True)
        kwargs.setdefault("pretty_exceptions_enable", False)
        kwargs.setdefault("add_completion", False)
        super().__init__(**kwargs)

    def command(self, name: str | None = None, **kwargs: Any) -> Any:  # type: ignore[override]
        kwargs.setdefault("cls", RecordingCommand)
        return super().command(name, **kwargs)
