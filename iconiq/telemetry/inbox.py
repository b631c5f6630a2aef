"""The inbox: where a command puts its event, without opening the SQLite spool.

Opening SQLite costs a command about 3 ms of CPU (loading ``_sqlite3`` and the
library, opening the file, a transaction, closing): most of what recording used
to cost. So on POSIX a command appends its event to ``telemetry.db.inbox``
instead, as one line of JSON, in one ``write`` on a descriptor opened with
``O_APPEND`` while it holds a *shared* ``flock`` on the file (many commands can
append at once). The event's ``install_id`` is null there: the spool owns the
install id and fills it in when the event moves in.

Whoever opens the spool moves the inbox into it first (``Spool`` does it on
open, ``drain``): inside the spool's write transaction it takes the inbox's
*exclusive* lock (so no append is half-done), reads every line, inserts the events
(once per ``event_id``), commits, and only then empties the inbox. A crash before
the commit leaves the inbox as it was; a crash after it, before the inbox is
emptied, moves the same events again, and the spool keeps each ``event_id``
once. So an event is never lost or queued twice, and every reader of the spool
(the flusher, ``status``, ``show``, ``purge``, ``export``) sees what commands
recorded.

Bounds: an append waits for the lock at most the recording budget, and the
inbox holds at most ``MAX_BYTES`` (the flusher empties it every interval, even
offline); an event that cannot be appended is counted once in the ``.dropped``
side file, like one the spool could not take. A line that is not an event (a
write cut short by a full disk) is skipped and counted as ``dropped_corrupt``; the
next append starts on a new line, so it is not lost with it.
Standard library only, and no SQLite: this module is on every command's path.
"""

from __future__ import annotations

import os
import time

from iconiq.telemetry.locks import flock_until

SUFFIX = ".inbox"
FILE_MODE = 0o600
# All a command may wait for a lock while it records (the inbox's, then the delivery state's).
RECORD_BUDGET_S = 0.15
# One byte per event a command could not store: L = locked past the budget, F = inbox
# full, E = any other failure.
DROPPED_SUFFIX = ".dropped"
LOST_LOCKED = b"L"
LOST_FULL = b"F"
LOST_ERROR = b"E"
# About 10,000 events (~420 bytes each): the flusher empties the inbox every interval,
# even offline.
MAX_BYTES = 4 * 1024 * 1024
# How long a reader waits for appends in progress before it leaves the inbox for later.
DRAIN_WAIT_S = 1.0

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any


class Full(Exception):
    """The inbox holds ``MAX_BYTES`` already: the event was not appended."""


class Busy(Exception):
    """The inbox stayed locked for the whole budget: the event was not appended."""


def path_of(spool_path: Path | str) -> str:
    return f"{spool_path}{SUFFIX}"


def supported() -> bool:
    """Whether this platform has ``flock`` (POSIX); elsewhere commands write the spool."""
    try:
        import fcntl  # noqa: F401
    except ImportError:
        return False
    return True


def append(spool_path: Path | str, body: str, budget_s: float) -> int:
    """Append one event (its JSON text) to the inbox; the inbox's size after it.

    Raises ``Busy`` when the inbox stayed locked past ``budget_s``, ``Full`` at
    ``MAX_BYTES``, ``OSError`` when the file cannot be written.
    """
    line = (body + "\n").encode()
    name = path_of(spool_path)
    deadline = time.monotonic() + budget_s
    try:
        fd = os.open(name, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
    except FileNotFoundError:  # no folder yet (first run)
        os.makedirs(os.path.dirname(name) or ".", exist_ok=True)
        fd = os.open(name, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
    try:
        if not flock_until(fd, exclusive=False, deadline=deadline):
            raise Busy(name)
        size = os.fstat(fd).st_size
        if size + len(line) > MAX_BYTES:
            raise Full(name)
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = b"\n" + line  # after a line cut short: keep this one whole
        written = os.write(fd, line)
        if written != len(line):  # a full disk: the reader skips the cut line
            raise OSError(f"short write to {name}")
        return size + written
    finally:
        os.close(fd)  # and with it the lock


def size(spool_path: Path | str) -> int:
    try:
        return os.stat(path_of(spool_path)).st_size
    except OSError:
        return 0


class Taken:
    """What a reader took from the inbox: the event lines, how many were not events,
    and how to empty the inbox once they are committed."""

    def __init__(self, fd: int | None, events: list[dict[str, Any]], corrupt: int) -> None:
        self._fd = fd
        self.events = events
        self.corrupt = corrupt

    def clear(self) -> None:
        """Empty the inbox (call after the events are committed) and release it."""
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, 0)
            finally:
                self.release()

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def take(spool_path: Path | str, wait_s: float = DRAIN_WAIT_S) -> Taken:
    """Lock the inbox exclusively and read it: the events in it, in append order.

    The lock is held until ``Taken.clear`` or ``Taken.release``. No inbox, or one
    still locked after ``wait_s`` (an append cannot hold it that long; a stopped
    process might), gives nothing: the events wait for the next reader.
    """
    try:
        fd = os.open(path_of(spool_path), os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return Taken(None, [], 0)
    try:
        if not flock_until(fd, exclusive=True, deadline=time.monotonic() + wait_s):
            os.close(fd)
            return Taken(None, [], 0)
        if os.fstat(fd).st_mode & 0o777 != FILE_MODE:
            os.fchmod(fd, FILE_MODE)
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    except BaseException:
        os.close(fd)
        raise
    events, corrupt = parse(b"".join(chunks))
    return Taken(fd, events, corrupt)


def parse(data: bytes) -> tuple[list[dict[str, Any]], int]:
    """The events in an inbox's bytes, and how many lines were not events (cut short
    by a full disk, or not JSON objects with an ``event_id``)."""
    import json

    events: list[dict[str, Any]] = []
    corrupt = 0
    for raw in data.split(b"\n"):
        if not raw.strip():
            continue
        try:
            event = json.loads(raw)
        except ValueError:  # UnicodeDecodeError too
            corrupt += 1
            continue
        if isinstance(event, dict) and isinstance(event.get("event_id"), str):
            events.append(event)
        else:
            corrupt += 1
    return events, corrupt


def dropped_path(spool_path: Path | str) -> Path:
    from pathlib import Path

    return Path(f"{spool_path}{DROPPED_SUFFIX}")


def count_dropped(spool_path: Path | str, reason: bytes) -> None:
    """Count one event this command could not store (one byte, appended atomically)."""
    fd = os.open(f"{spool_path}{DROPPED_SUFFIX}", os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
    try:
        os.write(fd, reason[:1])
    finally:
        os.close(fd)


def dropped_counts(spool_path: Path | str) -> tuple[int, int, int]:
    """Events commands could not store: (the lock was taken past the budget, the inbox
    was full, any other failure)."""
    try:
        with open(f"{spool_path}{DROPPED_SUFFIX}", "rb") as f:
            data = f.read()
    except OSError:
        return 0, 0, 0
    return data.count(LOST_LOCKED), data.count(LOST_FULL), data.count(LOST_ERROR)
