"""The two calls the CLI makes around every command: notice before, record after.

``before_command`` shows the first-run notice (a y/n prompt on a terminal, a
one-time note on stderr otherwise); until it was shown, nothing is recorded
unless the config file turned telemetry on. ``after_command`` appends the run's event
to the spool and maybe starts the detached flusher. Neither ever raises: a
failure is counted in the spool when it can be, and otherwise forgotten.

This module is imported on every command, so it imports nothing heavy: the
spool (``sqlite3``) is loaded only when telemetry is on, httpx never.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from iconiq.run import Run

if TYPE_CHECKING:
    from iconiq.telemetry.spool import Spool

# How long a command's claim to start a flusher holds before another may try.
CLAIM_MS = 30_000

NOTICE = """\
\U0001f680 Welcome to Iconiq!

This tool collects anonymous usage data to help improve the experience.
No personal information, API keys, or prompt content is collected.

To disable: iconiq config --telemetry false
Learn more: https://iconiq.dev/privacy
"""

# Commands that manage settings: no notice before them (the user is deciding already).
NO_NOTICE = frozenset({"config"})

# Set when the first-run question went unanswered: this run records nothing.
_state = {"suppressed": False}


def notice_marker() -> Path:
    from iconiq import paths

    return paths.data_dir() / "telemetry-notice-shown"


def should_record(run: Run) -> bool:
    return bool(run.command) and not run.exempt and (run.invoked or run.exit_code != 0)


def _interactive() -> bool:
    from iconiq.telemetry.event import in_ci

    try:
        return sys.stdin.isatty() and sys.stderr.isatty() and not in_ci()
    except (AttributeError, ValueError, OSError):
        return False


def _mark_shown() -> None:
    marker = notice_marker()
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()


def before_command(run: Run) -> None:
    """Show the first-run notice when telemetry is on by default and it was never shown."""
    try:
        _state["suppressed"] = False
        if not run.command or run.exempt or run.command in NO_NOTICE:
            return
        from iconiq.telemetry.decision import decide

        decision = decide()
        if not decision.enabled or decision.source != "default" or notice_marker().exists():
            return
        if not _interactive():
            sys.stderr.write(NOTICE + "\n")
            sys.stderr.flush()
            _mark_shown()
            return
        sys.stderr.write(NOTICE + "\nContinue? (y/n) ")
        sys.stderr.flush()
        answer = sys.stdin.readline()
        if not answer:  # end of input: ask again next time, record nothing now
            sys.stderr.write("\n")
            _state["suppressed"] = True
            return
        if answer.strip().lower() in ("n", "no"):
            from iconiq.telemetry.controls import disable

            disable()
            sys.stderr.write("Telemetry is off. Turn it on with: iconiq config --telemetry true\n")
        _mark_shown()
    except BaseException:  # noqa: BLE001 - telemetry never breaks a command
        _state["suppressed"] = True


def after_command(run: Run) -> None:
    """Append this run's event to the spool; start a flusher when one is due."""
    try:
        suppressed, _state["suppressed"] = _state["suppressed"], False  # one run only
        if suppressed or not should_record(run):
            return
        from iconiq.telemetry.decision import decide

        decision = decide()
        if not decision.enabled:
            return
        if decision.source == "default" and not notice_marker().exists():
            return  # on by default only once the first-run notice was shown
        _record(run)
    except BaseException:  # noqa: BLE001 - telemetry never breaks a command
        _count_failure()


def _record(run: Run) -> None:
    from iconiq import paths
    from iconiq.telemetry import event

    path = paths.telemetry_db_path()
    spool = open_spool(path)
    try:
        payload = event.build(run, spool.install_id())
        body = event.dumps(payload)
        if os.environ.get("ICONIQ_TELEMETRY_DEBUG", "").strip() not in ("", "0"):
            sys.stderr.write(f"iconiq telemetry: {body}\n")
        claimed = spool.append(payload["event_id"], body, claim_ms=CLAIM_MS)
    finally:
        spool.close()
    if claimed:
        from iconiq.telemetry.spawn import flusher_running, spawn_flusher

        if not flusher_running(path):
            spawn_flusher(path)


def open_spool(path: Path) -> Spool:
    """Open the spool; a corrupt file is set aside (``telemetry.db.corrupt``) and replaced."""
    import sqlite3

    from iconiq.telemetry.spool import Spool, remove_files

    try:
        return Spool(path, sync="OFF")
    except sqlite3.DatabaseError as exc:
        if getattr(exc, "sqlite_errorname", "") not in ("SQLITE_NOTADB", "SQLITE_CORRUPT"):
            raise
    os.replace(path, path.with_name(path.name + ".corrupt"))
    remove_files(path)
    spool = Spool(path, sync="OFF")
    spool.bump("corrupt_spools")
    return spool


def _count_failure() -> None:
    try:
        from iconiq import paths
        from iconiq.telemetry.spool import Spool

        path = paths.telemetry_db_path()
        if path.exists():
            with Spool(path) as spool:
                spool.bump("record_errors")
    except BaseException:  # noqa: BLE001
        pass
