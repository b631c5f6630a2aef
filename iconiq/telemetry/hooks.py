"""The two calls the CLI makes around every command: notice before, record after.

``before_command`` shows the first-run notice (a y/n prompt on a terminal, a
one-time note on stderr otherwise); until it was shown, nothing is recorded
unless the config file turned telemetry on. ``after_command`` appends the run's event
to the spool's inbox and maybe starts the detached flusher. Neither ever raises (but
KeyboardInterrupt and SystemExit, which are the user's, go through): an event
that could not be stored is counted once in ``telemetry.db.dropped``.

This module is imported on every command, so it imports nothing heavy: an event
goes to the inbox (a file append, ``iconiq.telemetry.inbox``), never through
SQLite (except where there is no ``flock``), and httpx is never loaded.
"""

from __future__ import annotations

import os
import sys
import time

from iconiq.run import Run

# ``typing.TYPE_CHECKING`` without importing typing (this module is on every command's
# path; so are plain ``os.path`` strings, not ``pathlib``: ``iconiq.paths``).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

    from iconiq.telemetry.spool import Spool

NOTICE = """\
\U0001f680 Welcome to Iconiq!

This tool collects anonymous usage data to help improve the experience.
No personal information, API keys, or prompt content is collected.

To disable: iconiq config --telemetry false
Learn more: https://iconiq.dev/privacy
"""

# Commands that manage settings: no notice before them (the user is deciding already).
NO_NOTICE = frozenset({"config"})

# Set when this run must record nothing (the first-run question went unanswered,
# or the home cannot be written).
_state = {"suppressed": False}

# How often the first-run question is asked before it counts as "not now".
ASK_ATTEMPTS = 3
YES = ("y", "yes")
NO = ("n", "no")


def notice_marker() -> Path:
    from pathlib import Path

    return Path(_marker())


def _marker() -> str:
    from iconiq import paths

    return os.path.join(paths.data_dir_str(), "telemetry-notice-shown")


def should_record(run: Run) -> bool:
    return bool(run.command) and not run.exempt and (run.invoked or run.exit_code != 0)


def _interactive() -> bool:
    from iconiq.telemetry.event import in_ci

    try:
        return sys.stdin.isatty() and sys.stderr.isatty() and not in_ci()
    except (AttributeError, ValueError, OSError):
        return False


def _home_writable() -> bool:
    """Whether the answer to the notice can be kept (marker in the data dir, config file)."""
    from iconiq import paths

    for folder in {paths.data_dir_str(), paths.config_dir_str()}:
        probe = os.path.join(folder, f".iconiq-write-test-{os.getpid()}")
        try:
            os.makedirs(folder, exist_ok=True)
            os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            os.unlink(probe)
        except OSError:
            return False
    return True


def _mark_shown() -> None:
    marker = _marker()
    os.makedirs(os.path.dirname(marker), exist_ok=True)
    os.close(os.open(marker, os.O_WRONLY | os.O_CREAT, 0o600))


def _ask() -> bool | None:
    """The first-run question: True (y/yes), False (n/no), None (no answer: "not now").

    Anything else asks again, ``ASK_ATTEMPTS`` times in all; end of input is no answer.
    Ctrl-C (KeyboardInterrupt) goes through to the CLI: the command does not run.
    """
    prompt = "Continue? (y/n) "
    for _ in range(ASK_ATTEMPTS):
        sys.stderr.write(prompt)
        sys.stderr.flush()
        line = sys.stdin.readline()
        if not line:  # end of input
            sys.stderr.write("\n")
            return None
        answer = line.strip().lower()
        if answer in YES:
            return True
        if answer in NO:
            return False
        prompt = "Please answer y (yes) or n (no). Continue? (y/n) "
    return None


def before_command(run: Run) -> None:
    """Show the first-run notice when telemetry is on by default and it was never shown.

    An unwritable home turns telemetry off for this run, silently (no notice, no
    question: the answer could not be kept). Never raises, except KeyboardInterrupt
    and SystemExit, which belong to the user.
    """
    _state["suppressed"] = False
    try:
        if not run.command or run.exempt or run.command in NO_NOTICE:
            return
        from iconiq.telemetry.decision import decide

        decision = decide()
        if not decision.enabled or decision.source != "default" or os.path.exists(_marker()):
            return
        if not _home_writable():
            _state["suppressed"] = True
            return
        if not _interactive():
            sys.stderr.write(NOTICE + "\n")
            sys.stderr.flush()
            _mark_shown()
            return
        sys.stderr.write(NOTICE + "\n")
        _state["suppressed"] = True  # until answered (also when Ctrl-C ends the question)
        answer = _ask()
        run.started_perf = time.perf_counter()  # execution_time starts after the question
        if answer is None:
            sys.stderr.write("No answer: nothing is recorded this time; iconiq will ask again.\n")
            return
        if answer is False:
            from iconiq.telemetry.controls import disable

            disable()
            sys.stderr.write("Telemetry is off. Turn it on with: iconiq config --telemetry true\n")
        _mark_shown()
        _state["suppressed"] = False
    except Exception:  # noqa: BLE001 - telemetry never breaks a command
        _state["suppressed"] = True


def after_command(run: Run) -> None:
    """Append this run's event to the spool; start a flusher when one is due.

    Never raises, except KeyboardInterrupt and SystemExit (the user's).
    """
    suppressed, _state["suppressed"] = _state["suppressed"], False  # one run only
    try:
        if suppressed or not should_record(run):
            return
        from iconiq.telemetry.decision import decide

        decision = decide()
        if not decision.enabled:
            return
        if decision.source == "default" and not os.path.exists(_marker()):
            return  # on by default only once the first-run notice was shown
        _record(run)
    except Exception:  # noqa: BLE001 - telemetry never breaks a command
        pass


def _record(run: Run) -> None:
    """Store the event, waiting for locks at most ``inbox.RECORD_BUDGET_S`` in all; an
    event not stored is counted once (``telemetry.db.dropped``)."""
    from iconiq import paths

    path = paths.telemetry_db_str()
    try:
        delay = _store(run, path)
    except Exception as exc:  # noqa: BLE001 - counted, never raised
        _count_dropped(path, exc)
        return
    if delay is not None:  # this command claimed the next upload (``iconiq.telemetry.due``)
        from pathlib import Path

        from iconiq.telemetry.spawn import flusher_running, spawn_flusher

        spool = Path(path)
        if delay > 0 or not flusher_running(spool):  # a running one takes this event too
            spawn_flusher(spool, delay_ms=delay)


def _store(run: Run, path: str) -> int | None:
    """Append the event to the inbox (no SQLite: ``iconiq.telemetry.inbox``), then ask
    the delivery rule: in how many ms a flusher this command starts should upload, or
    None: start none."""
    from iconiq.telemetry import due, event, inbox

    started = time.monotonic()
    if not inbox.supported():
        return _store_in_spool(run, path)
    body = event.dumps(event.build(run, None))  # the spool fills in the install id
    waiting = inbox.append(path, body, inbox.RECORD_BUDGET_S)
    _debug(body)  # printed once stored: a dropped event is counted, not shown
    left = max(0.0, inbox.RECORD_BUDGET_S - (time.monotonic() - started))
    try:  # the event is stored: from here on a failure only means no flusher now
        if not due.exists(path) and os.path.exists(path):
            _hand_over_due_state(path, left)
        return due.claim(path, int(time.time() * 1000), waiting, due.interval_ms(), left)
    except Exception:  # noqa: BLE001 - the next command claims the upload
        return None


def _hand_over_due_state(path: str, budget_s: float) -> None:
    """Once, on the first command after an upgrade: a spool from an older release keeps
    the delivery state (a back-off in force, say) in SQLite; opening it moves that out
    (spool migration ``m003``) before this command claims an upload."""
    from pathlib import Path

    from iconiq.telemetry.spool import healing

    healing(Path(path), lambda spool: None, sync="OFF", budget_s=max(budget_s, 0.01))


def _store_in_spool(run: Run, path: str) -> int | None:
    """Where there is no ``flock`` (Windows): append to the spool itself (healing a
    damaged one once), within the recording budget."""
    from pathlib import Path

    from iconiq.telemetry import due, event, inbox
    from iconiq.telemetry.spool import healing

    made: list[str] = []  # [event_id, body]: built once, so a retry stores the same event

    def append(spool: Spool) -> int:
        if not made:
            payload = event.build(run, spool.install_id())
            made.extend((str(payload["event_id"]), event.dumps(payload)))
        spool.append(made[0], made[1])
        return spool.pending()[1]

    waiting = healing(Path(path), append, sync="OFF", budget_s=inbox.RECORD_BUDGET_S)
    _debug(made[1])
    return due.claim(path, int(time.time() * 1000), waiting, due.interval_ms(), 0.0)


def _debug(body: str) -> None:
    if os.environ.get("ICONIQ_TELEMETRY_DEBUG", "").strip() not in ("", "0"):
        try:
            sys.stderr.write(f"iconiq telemetry: {body}\n")
        except Exception:  # noqa: BLE001 - the event is stored; a closed stderr is fine
            pass


def _count_dropped(path: str, exc: BaseException) -> None:
    from iconiq.telemetry import inbox

    if isinstance(exc, inbox.Full):
        reason = inbox.LOST_FULL
    elif isinstance(exc, inbox.Busy) or _spool_busy(exc):
        reason = inbox.LOST_LOCKED
    else:
        reason = inbox.LOST_ERROR
    try:
        inbox.count_dropped(path, reason)
    except OSError:
        pass  # nowhere to write (no home, full disk): nothing can be kept


def _spool_busy(exc: BaseException) -> bool:
    """A spool locked past the budget (the Windows path); the spool module is loaded then."""
    spool = sys.modules.get("iconiq.telemetry.spool")
    return spool is not None and bool(spool.is_busy(exc))
