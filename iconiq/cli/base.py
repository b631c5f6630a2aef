"""The typer pieces every iconiq command is built from, through typer's public API.

``App`` is a ``typer.Typer`` whose commands note, for telemetry, which options
were given (their names, never their values) before they run, render plain
(fast) help, and convert plain ``str``/``int``/``float``/``bool``/``Path``
values without pydantic: typer 0.29 builds a pydantic ``TypeAdapter`` for every
parameter it processes (even an absent ``--help``), which costs ~55 ms of imports
on each run, and start-up matters here.

The converter uses only public pieces: the ``cls=`` command classes typer
documents, click's ``Parameter.process_value(ctx, value)`` contract, and the
annotations and ``typer.Option``/``typer.Argument`` declarations of the command
functions themselves. Anything it does not know (ranges, path checks, custom
parsers, lists) is left to typer. ``run`` runs an app the way both console
scripts want: one exit code, click's errors as one ``CommandLineError``.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from pathlib import Path
from types import NoneType, UnionType
from typing import Any, TypeVar

import typer
from typer.core import TyperCommand, TyperGroup
from typer.models import ParameterInfo

from iconiq import run as run_mod

F = TypeVar("F", bound=Callable[..., Any])

_GIVEN = {"COMMANDLINE", "ENVIRONMENT"}  # click's ParameterSource names
_PLAIN_TYPES: dict[type, str] = {
    str: "text",
    int: "integer",
    float: "number",
    bool: "boolean",
    Path: "path",
}
_TRUE = {"true", "1", "yes", "on", "y", "t"}
_FALSE = {"false", "0", "no", "off", "n", "f"}
_ASKS_TYPER = ("min", "max", "parser", "exists", "writable", "resolve_path", "allow_dash",
               "path_type", "autocompletion", "shell_complete")  # fmt: skip


class CommandLineError(Exception):
    """Click refused the command line (unknown option, bad value...): one line."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


def _plain_kind(annotation: Any, info: Any) -> type | None:
    """``str``/``int``/... when ``annotation`` (or ``X | None``) is one we convert."""
    if isinstance(annotation, UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not NoneType]
        annotation = args[0] if len(args) == 1 else None
    if annotation not in _PLAIN_TYPES:
        return None
    if any(getattr(info, name, None) for name in _ASKS_TYPER):
        return None
    if getattr(info, "file_okay", True) is False or getattr(info, "dir_okay", True) is False:
        return None
    return typing.cast(type, annotation)


def _declared_kinds(callback: Callable[..., Any] | None) -> dict[str, type]:
    """Parameter name -> plain type, read from the command function's own signature."""
    if callback is None:
        return {}
    func = inspect.unwrap(callback)
    try:
        hints = typing.get_type_hints(func, include_extras=True)
        signature = inspect.signature(func)
    except (NameError, TypeError, ValueError):
        return {}
    kinds: dict[str, type] = {}
    for name, parameter in signature.parameters.items():
        hint = hints.get(name)
        info = parameter.default
        if typing.get_origin(hint) is typing.Annotated:
            hint, *extras = typing.get_args(hint)
            info = next((e for e in extras if isinstance(e, ParameterInfo)), info)
        if not isinstance(info, ParameterInfo):
            info = None
        kind = _plain_kind(hint, info)
        if kind is not None:
            kinds[name] = kind
    return kinds


def _convert(kind: type, value: Any, param: Any, ctx: Any) -> Any:
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
        raise typer.BadParameter(
            f"{value!r} is not a valid {label}.", ctx=ctx, param=param
        ) from None


def _lighten(param: Any, kind: type | None) -> None:
    """Give one parameter a pydantic-free ``process_value`` (click's contract)."""
    if getattr(param, "_iconiq_light", False):
        return
    param._iconiq_light = True
    if getattr(param, "nargs", 1) != 1 or getattr(param, "multiple", False):
        return
    if kind is None and not getattr(param, "is_flag", False):
        return
    original = param.process_value

    def process_value(ctx: Any, value: Any) -> Any:
        if value is None:
            if param.required and not ctx.resilient_parsing:  # (completion parses resiliently)
                return original(ctx, value)  # typer's own "missing" error
        elif kind is not None:
            value = _convert(kind, value, param, ctx)
        elif not isinstance(value, bool):
            return original(ctx, value)
        if param.callback is not None:
            value = param.callback(ctx, param, value)
        return value

    param.process_value = process_value


class _Light:
    """Mixin: the command's parameters (and --help) use the pydantic-free converter."""

    params: list[Any]
    callback: Callable[..., Any] | None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._iconiq_kinds = _declared_kinds(self.callback)

    def get_params(self, ctx: Any) -> list[Any]:
        params: list[Any] = super().get_params(ctx)  # type: ignore[misc]
        for param in params:  # includes --help and typer's completion options
            _lighten(param, self._iconiq_kinds.get(param.name or ""))
        return params


class RecordingCommand(_Light, TyperCommand):
    """A command that tells the current run which options the user gave."""

    def invoke(self, ctx: Any) -> Any:
        run = run_mod.current()
        run.invoked = True
        for param in self.params:
            if param.param_type_name != "option" or param.name is None:
                continue
            source = ctx.get_parameter_source(param.name)
            if source is not None and source.name in _GIVEN:
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
    ) -> Callable[[F], F]:
        kwargs.setdefault("cls", RecordingCommand)
        return super().command(name, **kwargs)


def run(app: typer.Typer, args: list[str], prog_name: str) -> int:
    """Run ``app`` on ``args``; return its exit code.

    A command line click refuses raises ``CommandLineError`` (one line); no
    arguments on a group that wants some prints its help and returns 0; Ctrl-C
    raises ``KeyboardInterrupt``; typer's completion answers (``--show-completion``,
    ``_PROG_COMPLETE=...``) return their exit code. Anything else the command raises propagates.
    """
    command = typer.main.get_command(app)
    try:
        rv = command.main(args=args, prog_name=prog_name, standalone_mode=False)
    except typer.Abort:
        raise KeyboardInterrupt from None
    except SystemExit as exc:  # typer's shell completion answers, then exits
        return exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    except typer.TyperException as exc:  # click's ClickException and its kin
        message = exc.format_message()
        ctx = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError":  # its message is the help page
            if message:  # (rich help was printed as the error was made)
                typer.echo(message)
            return 0
        line = " ".join(message.split("\n"))
        if ctx is not None:
            line += f" (see `{ctx.command_path} --help`)"
        raise CommandLineError(line, exc.exit_code) from None
    return rv if isinstance(rv, int) else 0
