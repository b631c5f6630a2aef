"""Healing a damaged spool: set it aside, salvage what is still readable, carry on.

``heal(path, ino)`` is called by any operation that met SQLite's "database disk
image is malformed" or "file is not a database" (``spool.open_healing`` and
``spool.healing``). Under ``telemetry.db.heal-lock`` (an ``flock``: a second
process that met the same damage waits, then finds the file already replaced
and does nothing):

1. the spool and its WAL files are renamed ``telemetry.db.damaged-<unix ms>`` and
   a fresh spool starts, keeping the install id when it can be read;
2. the damaged copy is salvaged into the fresh spool, then renamed
   ``telemetry.db.corrupt-<unix ms>`` (at most ``KEEP_CORRUPT`` are kept). A
   command's recording path only does step 1 (a salvage of a full spool takes a
   second or two); the flusher it starts, or any ``iconiq telemetry`` command,
   does step 2 (``salvage_pending``).

Salvage reads the copy with ``writable_schema`` (so a truncated file still opens),
and without its lock (``immutable``) when a normal open fails: the state rows
(install id, counters, back-off), then the events in ``seq`` order, one row at a
time. Where a read fails, the next readable ``seq`` is found by probing ``seq > x``
at growing then halving distances, so a damaged page costs only the rows on it.
Each body must be JSON whose ``event_id`` is the row's: none is invented, and
``INSERT OR IGNORE`` on ``event_id`` stores none twice. Counters are added to the
fresh spool's (``corrupt_spools``, and ``dropped_corrupt``: the old queue length
minus the events salvaged, or the ``seq`` ranges skipped when that length is
unreadable).

Standard library only (step 1 runs on a command's recording path), and only
imported when damage was met or a damaged copy waits.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from iconiq.telemetry.spool import FILE_MODE, SIDE_SUFFIXES, Queued, Spool, now_ms

KEEP_CORRUPT = 2
LOCK_WAIT_S = 10.0
# Not carried over: they describe a process of the old file.
_TRANSIENT = frozenset({"flusher_pid", "flusher_started_ms"})
# Added to the fresh spool's own counts; other state keys only fill gaps.
COUNTERS = frozenset(
    {"uploaded", "dropped", "rejected", "exported", "corrupt_spools", "dropped_corrupt"}
)
_MAX_SEQ = 1 << 62


def heal(path: Path, ino: int = 0, *, salvage_now: bool = True, wait: float = LOCK_WAIT_S) -> None:
    """Set the damaged spool at ``path`` (inode ``ino`` when known, 0 when not) aside
    and start a fresh one; with ``salvage_now``, salvage it into the fresh one too."""
    with _heal_lock(path, wait):
        try:
            current = os.stat(path).st_ino
        except FileNotFoundError:
            current = 0  # already set aside by another process
        if current and (not ino or current == ino):
            install_id = _install_id(path)
            _set_aside(path)
            with Spool(path) as fresh:
                fresh.load([], {"install_id": install_id} if install_id else {}, {})
                fresh.bump("corrupt_spools")
        if salvage_now:
            _salvage_all(path)


def has_pending(path: Path) -> bool:
    """Whether a damaged copy waits to be salvaged."""
    return any(path.parent.glob(path.name + ".damaged-*[0-9]"))


def salvage_pending(path: Path) -> None:
    """Salvage every damaged copy waiting into the spool at ``path``."""
    with _heal_lock(path, LOCK_WAIT_S):
        _salvage_all(path)


def _salvage_all(path: Path) -> None:
    waiting = sorted(path.parent.glob(path.name + ".damaged-*[0-9]"), key=_stamp)
    for damaged in waiting:
        state, events, lost = salvage(damaged)
        counters = {k: int(v) for k, v in state.items() if k in COUNTERS and v.isdigit()}
        if lost:
            counters["dropped_corrupt"] = counters.get("dropped_corrupt", 0) + lost
        with Spool(path) as spool:
            spool.load(events, {k: v for k, v in state.items() if k not in COUNTERS}, counters)
        corrupt = damaged.with_name(damaged.name.replace(".damaged-", ".corrupt-"))
        _rename_with_side_files(damaged, corrupt)
    if waiting:
        _prune(path)


def _stamp(p: Path) -> int:
    try:
        return int(p.name.rsplit("-", 1)[1])
    except ValueError:
        return 0


def _install_id(path: Path) -> str | None:
    """The damaged spool's install id, if one quick read finds it."""
    try:
        db = _connect(path)
    except sqlite3.DatabaseError:
        return None
    try:
        row = db.execute("SELECT value FROM state WHERE key = 'install_id'").fetchone()
        return str(row[0]) if row and row[0] else None
    except sqlite3.DatabaseError:
        return None
    finally:
        db.close()


@contextmanager
def _heal_lock(path: Path, wait: float) -> Iterator[None]:
    try:
        import fcntl  # noqa: F401 - only to know whether there is flock
    except ImportError:  # Windows: no flock; two healers at once are unlikely there
        yield
        return
    from iconiq.telemetry.locks import flock_until

    fd = os.open(path.with_name(path.name + ".heal-lock"), os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        if not flock_until(fd, exclusive=True, deadline=time.monotonic() + wait, poll=0.01):
            raise TimeoutError("another process is healing the telemetry spool")
        yield
    finally:
        os.close(fd)  # closing drops the flock


def _rename_with_side_files(source: Path, target: Path) -> None:
    os.replace(source, target)
    for suffix in SIDE_SUFFIXES:
        try:
            os.replace(f"{source}{suffix}", f"{target}{suffix}")
        except FileNotFoundError:
            pass


def _set_aside(path: Path) -> Path:
    damaged = path.with_name(f"{path.name}.damaged-{now_ms()}")
    _rename_with_side_files(path, damaged)
    return damaged


def _prune(path: Path) -> None:
    """Keep the newest ``KEEP_CORRUPT`` salvaged copies (and no old-style one)."""
    copies = sorted(path.parent.glob(path.name + ".corrupt-*[0-9]"), key=_stamp)
    stale = copies[:-KEEP_CORRUPT] + [path.with_name(path.name + ".corrupt")]
    for old in stale:
        for suffix in ("", *SIDE_SUFFIXES):
            try:
                os.unlink(f"{old}{suffix}")
            except FileNotFoundError:
                pass


def remove_corrupt_copies(path: Path) -> None:
    """Delete every damaged copy of this spool (they hold events: purge deletes them)."""
    legacy = path.with_name(path.name + ".corrupt")
    copies = [
        *path.parent.glob(path.name + ".corrupt-*"),
        *path.parent.glob(path.name + ".damaged-*"),
    ]
    for old in [*copies, legacy]:
        try:
            os.unlink(old)
        except FileNotFoundError:
            pass


def _connect(aside: Path) -> sqlite3.Connection:
    """A connection that reads as much of the damaged copy as SQLite will."""
    for query in ("", "?immutable=1"):
        db = sqlite3.connect(aside.as_uri() + query, uri=True, isolation_level=None)
        try:
            db.execute("PRAGMA writable_schema = ON")  # a truncated file opens; we never write
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return db
        except sqlite3.DatabaseError:
            db.close()
    raise sqlite3.DatabaseError("file is not a database")


def salvage(aside: Path) -> tuple[dict[str, str], list[Queued], int]:
    """(state, valid events, events lost) read from a damaged spool file."""
    try:
        db = _connect(aside)
    except sqlite3.DatabaseError:
        return {}, [], 0  # not even the header: nothing can be known, nothing salvaged
    try:
        state = _state(db)
        expected = _one_int(db, "SELECT n FROM totals WHERE id = 1")
        events, skipped = _events(db)
    finally:
        db.close()
    lost = expected - len(events) if expected is not None else skipped
    return state, events, max(0, lost)


def _one_int(db: sqlite3.Connection, sql: str) -> int | None:
    try:
        row = db.execute(sql).fetchone()
        return int(row[0]) if row and row[0] is not None else None
    except (sqlite3.DatabaseError, ValueError, TypeError):
        return None


def _state(db: sqlite3.Connection) -> dict[str, str]:
    state: dict[str, str] = {}
    try:
        for key, value in db.execute("SELECT key, value FROM state"):
            if isinstance(key, str) and key not in _TRANSIENT and value is not None:
                state[key] = str(value)
    except sqlite3.DatabaseError:
        pass  # keep the rows read before the damage
    return state


def _events(db: sqlite3.Connection) -> tuple[list[Queued], int]:
    """The valid events, oldest first, and how many ``seq`` values were skipped."""
    top = _one_int(db, "SELECT seq FROM sqlite_sequence WHERE name = 'events'") or _MAX_SEQ
    events: list[Queued] = []
    skipped = 0
    after = 0
    while True:
        try:
            for seq, event_id, created_ms, body in db.execute(
                "SELECT seq, event_id, created_ms, body FROM events WHERE seq > ? ORDER BY seq",
                (after,),
            ):
                after = int(seq)
                if _valid(event_id, created_ms, body):
                    events.append(Queued(after, event_id, int(created_ms), body))
                else:
                    skipped += 1
            return events, skipped
        except sqlite3.DatabaseError:
            resume = _next_readable(db, after, top)
            if resume is None:
                return events, skipped + max(0, top - after) if top != _MAX_SEQ else skipped
            skipped += resume - after
            after = resume


def _readable(db: sqlite3.Connection, x: int) -> bool:
    try:
        db.execute("SELECT seq FROM events WHERE seq > ? ORDER BY seq LIMIT 1", (x,)).fetchone()
        return True
    except sqlite3.DatabaseError:
        return False


def _next_readable(db: sqlite3.Connection, after: int, top: int) -> int | None:
    """The smallest ``x > after`` from which ``seq > x`` reads again (None: none up to
    ``top``): the damaged page's rows end at ``x``."""
    step = 1
    while not _readable(db, after + step):
        if after + step >= top:
            return None
        step *= 2
    low, high = after + step // 2, after + step  # low fails (or is ``after``), high reads
    while high - low > 1:
        middle = (low + high) // 2
        if _readable(db, middle):
            high = middle
        else:
            low = middle
    return high


def _valid(event_id: object, created_ms: object, body: object) -> bool:
    if not isinstance(event_id, str) or len(event_id) != 36 or not isinstance(body, str):
        return False
    if not isinstance(created_ms, int):
        return False
    try:
        event = json.loads(body)
    except ValueError:
        return False
    return isinstance(event, dict) and event.get("event_id") == event_id
