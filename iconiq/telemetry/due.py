"""When a command starts a flusher: the delivery rule, in one place.

A flusher run costs the machine far more CPU than recording an event (a Python
start-up, the upload), so commands do not start one each. After appending its
event to the inbox (``iconiq.telemetry.inbox``), a command asks ``claim``, which
runs ``schedule`` on the delivery state under that file's lock, and:

* starts nothing while a back-off holds (``next_attempt_ms``, set after a
  failed upload) or while another flusher is claimed (``flush_at_ms``, running
  or scheduled, for at most ``CLAIM_MS`` past its time);
* otherwise claims the next upload and starts a flusher that uploads

  - at once when the inbox holds ``BATCH_DUE_BYTES`` (about 100 events), or when the last
    flusher started ``interval`` seconds ago or more (so the first event after
    a quiet spell arrives within seconds);
  - else when that interval is over: a *scheduled* flusher that sleeps until
    then, holding no lock (``iconiq.telemetry.flusher``).

So once the endpoint is reachable no event waits longer than the interval
(``ICONIQ_TELEMETRY_INTERVAL`` seconds, default 60, 0 = upload after every
command), and a busy session starts about one flusher per interval.
``iconiq telemetry flush`` uploads at once, whatever this rule says.
The delivery state is a few integers in ``telemetry.db.due`` (``KEYS``, one
``key value`` line each), not in the SQLite spool, so a command reads and claims
without opening SQLite; every writer (command, flusher, ``flush``) changes it
under an exclusive ``flock``, held for a read and a write. Spools from releases
that kept these keys in their ``state`` table hand them over (``Spool`` on open).
Standard library only: this runs on every command's recording path.
"""

from __future__ import annotations

import os
import time

from iconiq.telemetry.locks import flock_until

# ``typing.TYPE_CHECKING`` without importing typing (this is on every command's path).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

INTERVAL_ENV = "ICONIQ_TELEMETRY_INTERVAL"
DEFAULT_INTERVAL_S = 60
MAX_INTERVAL_S = 3600
# About 100 events of ~420 bytes waiting in the inbox: upload at once.
BATCH_DUE_BYTES = 40 * 1024
# How long a claim holds past its upload time before another command may claim.
CLAIM_MS = 30_000
# A scheduled flusher's sleep before it uploads (ms), in its environment (``spawn``).
DELAY_ENV = "_ICONIQ_FLUSH_DELAY_MS"
# The delivery state ``schedule`` reads, kept in ``<spool>.due``.
KEYS = ("next_attempt_ms", "flush_at_ms", "last_attempt_ms")
SUFFIX = ".due"
FILE_MODE = 0o600
# A writer that is not a command waits this long for the state's lock.
UPDATE_WAIT_S = 5.0


def interval_ms() -> int:
    """The delivery interval in ms (``ICONIQ_TELEMETRY_INTERVAL`` seconds, 0..3600)."""
    raw = os.environ.get(INTERVAL_ENV, "").strip()
    try:
        seconds = float(raw) if raw else DEFAULT_INTERVAL_S
    except ValueError:
        seconds = DEFAULT_INTERVAL_S
    if seconds != seconds:  # NaN
        seconds = DEFAULT_INTERVAL_S
    return int(min(max(seconds, 0.0), MAX_INTERVAL_S) * 1000)


def schedule(now: int, waiting: int, state: dict[str, int], interval: int) -> int | None:
    """When the next upload should happen (ms since the epoch), or None: start nothing.

    ``waiting`` is the inbox's size in bytes; ``state`` holds the ``KEYS`` (0 when
    unset). ``claim`` stores the answer as ``flush_at_ms`` under the state's lock and
    the command starts a flusher for that time.
    """
    flush_at = state.get("flush_at_ms", 0)
    # A claim further ahead than any interval comes from a clock that went back: stale.
    if flush_at and now < flush_at + CLAIM_MS and flush_at <= now + MAX_INTERVAL_S * 1000:
        return None  # a flusher is running or scheduled
    if now < state.get("next_attempt_ms", 0):
        return None  # a back-off holds
    if waiting >= BATCH_DUE_BYTES:
        return now
    last = state.get("last_attempt_ms", 0)
    if last > now:  # a clock that went back: do not wait for the future
        return now
    return max(now, last + interval)


def state_path(spool_path: Path | str) -> str:
    return f"{spool_path}{SUFFIX}"


def parse(data: bytes) -> dict[str, int]:
    """The ``KEYS`` set in a state file's bytes (anything else in it is ignored)."""
    state: dict[str, int] = {}
    for line in data.decode("ascii", "replace").splitlines():
        key, _, value = line.partition(" ")
        if key in KEYS:
            try:
                state[key] = int(value)
            except ValueError:
                continue
    return state


def _format(state: dict[str, int]) -> bytes:
    return "".join(f"{k} {state[k]}\n" for k in KEYS if state.get(k)).encode()


def read(spool_path: Path | str) -> dict[str, int]:
    """The delivery state now (empty when there is none), read without the lock."""
    try:
        with open(state_path(spool_path), "rb") as f:
            return parse(f.read(4096))
    except OSError:
        return {}


def exists(spool_path: Path | str) -> bool:
    return os.path.exists(state_path(spool_path))


def _change(
    spool_path: Path | str, wait_s: float, change: Callable[[dict[str, int]], bool]
) -> bool:
    """Read the state under its exclusive lock, let ``change`` edit it, write it back
    when ``change`` says so; False when the lock stayed taken for ``wait_s``."""
    name = state_path(spool_path)
    fd = os.open(name, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
    try:
        try:
            import fcntl  # noqa: F401 - only to know whether there is flock
        except ImportError:  # no flock: a race costs at most one flusher more (its lock)
            pass
        else:
            if not flock_until(fd, exclusive=True, deadline=time.monotonic() + wait_s):
                return False
        state = parse(os.read(fd, 4096))
        if change(state):
            data = _format(state)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, data)
            os.ftruncate(fd, len(data))
        return True
    finally:
        os.close(fd)


def claim(
    spool_path: Path | str, now: int, waiting: int, interval: int, wait_s: float
) -> int | None:
    """A command's question after it recorded an event: in how many ms the flusher it
    starts should upload (0: at once), or None: start none (``schedule``). The answer
    is claimed (``flush_at_ms``) before the lock is let go, so one command starts it."""
    answer: list[int] = []

    def decide(state: dict[str, int]) -> bool:
        at = schedule(now, waiting, state, interval)
        if at is None:
            return False
        state["flush_at_ms"] = at
        answer.append(at - now)
        return True

    _change(spool_path, wait_s, decide)
    return answer[0] if answer else None


def update(spool_path: Path | str, **values: int | None) -> None:
    """Set (an int) or clear (None, 0) delivery state keys, waiting ``UPDATE_WAIT_S``
    at most for the lock (then left as it was: the next run sets it again)."""

    def put(state: dict[str, int]) -> bool:
        for key, value in values.items():
            if value:
                state[key] = int(value)
            else:
                state.pop(key, None)
        return True

    _change(spool_path, UPDATE_WAIT_S, put)


def end_claim(spool_path: Path | str, now: int) -> None:
    """Let the next command claim an upload, unless the claim is a later upload
    another command scheduled."""

    def clear(state: dict[str, int]) -> bool:
        if state.get("flush_at_ms", 0) <= now:
            state.pop("flush_at_ms", None)
            return True
        return False

    _change(spool_path, UPDATE_WAIT_S, clear)
