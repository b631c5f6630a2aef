"""Entry point of ``iconiq``: run the command, turn any failure into one line
and an exit code, then hand the finished run to telemetry (which never raises).
"""

from __future__ import annotations

import os
import sys

from iconiq import errors
from iconiq import run as run_mod


def _fail(message: str) -> None:
    sys.stderr.write(f"iconiq: error: {message}\n")


def _invoke(argv: list[str] | None) -> tuple[int, str | None]:
    """Run the command line; return (exit code, error_type or None)."""
    args = sys.argv[1:] if argv is None else argv
    if args == ["--version"]:  # needs no command tree: skip importing typer (~30 ms)
        from iconiq import __version__

        sys.stdout.write(f"iconiq {__version__}\n")
        return 0, None

    from typer.main import get_command

    from iconiq.cli import clickcompat as click
    from iconiq.cli.app import app

    command = get_command(app)
    try:
        rv = command.main(args=args, prog_name="iconiq", standalone_mode=False)
        code = rv if isinstance(rv, int) else 0
        if code == errors.EXIT_CANCELLED:  # typer turns Ctrl-C into Exit(130), silently
            _fail("cancelled")
            return code, "cancelled"
        return code, None if code == 0 else "internal"
    except click.NoArgsIsHelpError as exc:
        click.echo(exc.ctx.get_help() if exc.ctx else "", err=False)
        return 0, None
    except click.UsageError as exc:
        hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx else ""
        _fail(exc.format_message().replace("\n", " ") + hint)
        return 2, "invalid_input"
    except click.ClickException as exc:
        _fail(exc.format_message().replace("\n", " "))
        return exc.exit_code, "invalid_input"
    except (click.Abort, KeyboardInterrupt):
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
