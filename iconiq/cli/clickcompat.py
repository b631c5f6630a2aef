"""The click that typer runs on: newer typer releases vendor it as ``typer._click``.

Import click's classes from here, never ``import click`` directly: a plain
``click`` may be a different copy whose exception classes typer never raises.
"""

from __future__ import annotations

from typer._click.core import Context, ParameterSource
from typer._click.exceptions import (
    BadParameter,
    ClickException,
    NoArgsIsHelpError,
    UsageError,
)
from typer._click.utils import echo
from typer.core import TyperOption as Option
from typer.exceptions import Abort

__all__ = [
    "Abort",
    "BadParameter",
    "ClickException",
    "Context",
    "NoArgsIsHelpError",
    "Option",
    "ParameterSource",
    "UsageError",
    "echo",
]
