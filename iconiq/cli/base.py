"""The typer pieces every iconiq command is built from.

``App`` is a ``typer.Typer`` whose commands note, for telemetry, which options
were given (their names, never their values) before they run, render plain
(fast) help, and convert plain ``str``/``int``/``float``/``bool``/``Path``
values without pydantic (typer 0.29 builds a pydantic ``TypeAdapter`` for every
parameter, which costs ~100 ms of imports on each run; start-up matters here).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup
from typer.models import CommandFunctionType

from iconiq import run as run_mod
from iconiq.cli import clickcompat as click

_GIVEN = {click.ParameterSource.COMMANDLINE, click.ParameterSource.ENVIRONMENT}
_PLAIN_TYPES: dict[type, str] = {
    str: "text",
    int: "integer",
    float: "number",
    bool: "boolean",
    Path: "path",
}
_TRUE = {"true", "1", "yes", "on", "y", "t"}
_FALSE = {"false", "0", "no", "off", "n", "f"}

try:  # typer internals; without them (another typer release) nothing is changed
    from typer._coercion import RuntimeParam as _RuntimeParam
except ImportError:  # pragma: no cover - depends on the installed typer
    _RuntimeParam = None  # type: ignore[assignment,misc]


if _RuntimeParam is not None:

    @dataclass(frozen=True)
    class _PlainParam(_RuntimeParam):
        """Converts a command-line string to str/int/float/bool/Path, no pydantic."""

        def _coerce_value(self, value: Any, param: Any, ctx: click.Context) -> Any:
            kind = self.annotation
            if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
                return value
            try:
                if kind is bool:
                    text = str(value).strip().lower()
                    if text in _TRUE or text in _FALSE:
                        return text in _TRUE
                    raise ValueError(value)
                return kind(value)
            except (TypeError, ValueError):
                label = _PLAIN_TYPES.get(kind, "value")
                raise click.BadParameter(
                    f"{value!r} is not a valid {label}.", ctx=ctx, param=param
                ) from None


def _checks_paths(info: Any) -> bool:
    """True when a Path parameter asks typer to check or resolve it (keep typer's way)."""
    asks = ("exists", "writable", "resolve_path", "allow_dash", "path_type")
    if any(getattr(info, name, None) for name in asks):
        return True
    return getattr(info, "file_okay", True) is False or getattr(info, "dir_okay", True) is False


def _lighten(params: list[Any]) -> None:
    """Give simple parameters the pydantic-free converter."""
    if _RuntimeParam is None:
        return
    for param in params:
        desc = getattr(param, "type_descriptor", None)
        if desc is None or not hasattr(param, "_runtime_param"):
            continue
        info = desc.parameter_info
        if desc.annotation not in _PLAIN_TYPES or desc.file_annotation is not None:
            continue
        if getattr(info, "min", None) is not None or getattr(info, "max", None) is not None:
            continue
        if getattr(info, "parser", None) is not None or getattr(info, "click_type", None):
            continue
        if desc.annotation is Path and _checks_paths(info):
            continue
        param._runtime_param = _PlainParam(parameter_info=info, annotation=desc.annotation)


class _Light:
    """Mixin: the command's own options (and --help) use the pydantic-free converter."""

    params: list[Any]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _lighten(self.params)

    def get_help_option(self, ctx: click.Context) -> Any:
        option = super().get_help_option(ctx)  # type: ignore[misc]
        _lighten([option])
        return option


class RecordingCommand(_Light, TyperCommand):
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


class LightGroup(_Light, TyperGroup):
    """A command group whose own options use the pydantic-free converter."""


class App(typer.Typer):
    """``typer.Typer`` with iconiq's defaults: recording commands, plain (fast) help,
    no pretty tracebacks."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("no_args_is_help", True)
        kwargs.setdefault("pretty_exceptions_enable", False)
        kwargs.setdefault("add_completion", False)
        # Plain click help: rendering it with rich costs ~90 ms of imports per --help.
        kwargs.setdefault("rich_markup_mode", None)
        kwargs.setdefault("cls", LightGroup)
        super().__init__(**kwargs)

    def command(  # type: ignore[override]
        self, name: str | None = None, **kwargs: Any
    ) -> Callable[[CommandFunctionType], CommandFunctionType]:
        kwargs.setdefault("cls", RecordingCommand)
        return super().command(name, **kwargs)
