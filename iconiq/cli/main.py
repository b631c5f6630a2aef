"""Entry point of ``iconiq``: run the command, turn any failure into one line
and an exit code, then hand the finished run to telemetry (which never raises).
"""

from __future__ import annotations

import os
import sys

from iconiq import errors
from iconiq import run as run_mod

COMPLETE_VAR = "_ICONIQ_COMPLETE"  # click's _{PROG}_COMPLETE, as typer names it
SHELLS = ("bash", "zsh", "fish", "powershell", "pwsh")


def _fail(message: str) -> None:
    sys.stderr.write(f"iconiq: error: {message}\n")


def _named_shell(args: list[str]) -> list[str]:
    """``--show-completion SHELL``: typer's flag detects the shell and would ignore a
    name after it, so a named shell takes the documented ``_ICONIQ_COMPLETE=source_SHELL``
    way instead; ``--install-completion`` only installs for the shell it runs in."""
    if len(args) != 2 or args[0] not in ("--show-completion", "--install-completion"):
        return args
    if args[0] == "--install-completion":
        raise errors.InvalidInput(
            f"--install-completion takes no shell name (it installs for the shell it runs"
            f" in); for {args[1]}, save the output of `iconiq --show-completion {args[1]}`"
        )
    if args[1] not in SHELLS:
        raise errors.InvalidInput(f"unknown shell {args[1]!r}; known: {', '.join(SHELLS)}")
    os.environ[COMPLETE_VAR] = f"source_{args[1]}"
    return []


def _invoke(argv: list[str] | None) -> tuple[int, str | None]:
    """Run the command line; return (exit code, error_type or None)."""
    args = sys.argv[1:] if argv is None else argv
    if args == ["--version"]:  # needs no command tree: skip importing typer (~30 ms)
        from iconiq import __version__

        sys.stdout.write(f"iconiq {__version__}\n")
        return 0, None
    try:
        args = _named_shell(args)
    except errors.IconiqError as exc:
        _fail(exc.message)
        return exc.exit_code, exc.error_type

    from iconiq.cli import base
    from iconiq.cli.app import app

    try:
        code = base.run(app, args, "iconiq")
        if code == errors.EXIT_CANCELLED:  # typer turns Ctrl-C into Exit(130), silently
            _fail("cancelled")
            return code, "cancelled"
        return code, None if code == 0 else "internal"
    except base.CommandLineError as exc:
        _fail(exc.message)
        return exc.exit_code, "invalid_input"
    except KeyboardInterrupt:
        _fail("cancelled")
        return errors.EXIT_CANCELLED, "cancelled"
    except errors.IconiqError as exc:
        _fail(exc.message.replace("\n", " "))
        return exc.exit_code, exc.error_type
    except Exception as exc:  # noqa: BLE001 - the user gets one line, never a traceback
        if os.environ.get("ICONIQ_DEBUG"):
            raise
        error_type = errors.classify(exc)
        _fail(f"{type(exc).__name__}: {exc}".replace("\n", " "))
        return errors.exit_code_for(error_type), error_type


def main(argv: list[str] | None = None) -> int:
    run = run_mod.start()
    run.help_requested = "--help" in (sys.argv[1:] if argv is None else argv)
    code, error_type = _invoke(argv)
    run.exit_code = code
    run.success = code == 0
    run.error_type = error_type if code != 0 else None
    run.facts.setdefault("execution_time", run.elapsed_ms())
    try:
        from iconiq.telemetry.hooks import after_command

        after_command(run)
    except KeyboardInterrupt:  # Ctrl-C while recording: the user's, not telemetry's
        return errors.EXIT_CANCELLED
    except Exception:  # noqa: BLE001 - telemetry never changes the outcome
        pass
    return code
