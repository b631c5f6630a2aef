"""The detached flusher: ``python -m iconiq.telemetry.flusher <spool path>``.

Started by a command (``iconiq.telemetry.spawn``) or by ``iconiq telemetry
flush --background``. It takes the spool's exclusive lock (``spawn.acquire_lock``:
an ``flock`` that the kernel drops when the process dies, so a kill -9 never
leaves it stuck),
takes in what commands appended to the inbox, uploads what is queued, records
the outcome in the spool and the next attempt time beside it (``iconiq.telemetry.due``),
and exits. A watchdog thread ends it after ``HARD_LIMIT_S`` whatever it
is doing: it never lingers, never loops while offline.

A command that records an event when no upload is due yet starts a *scheduled*
flusher: the same program, told by ``DELAY_ENV`` (milliseconds, in its
environment, never on its command line) to sleep until the upload is due. It
sleeps before importing anything for the upload, holding no lock, so
``iconiq telemetry flush`` is never kept waiting by it (see ``iconiq.telemetry.due``).

Each run adds itself to the spool's ``flusher_runs`` and its own CPU time (user
+ system, start-up included, up to that write) to ``flusher_cpu_ms``, shown by
``iconiq telemetry status``.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from iconiq.telemetry.spool import Spool

HARD_LIMIT_S = 120.0
# New batches and retries stop this long before the hard limit.
SOFT_MARGIN_S = 20.0
MAX_DELAY_S = 3600.0


def _watchdog(limit: float) -> None:
    timer = threading.Timer(limit, os._exit, args=(3,))
    timer.daemon = True
    timer.start()


def cpu_ms() -> int:
    """CPU time (user + system) this process used so far, in milliseconds."""
    times = os.times()
    return int((times.user + times.system) * 1000)


def _delay_s() -> float:
    from iconiq.telemetry.due import DELAY_ENV

    try:
        delay = float(os.environ.get(DELAY_ENV, "0")) / 1000
    except ValueError:
        return 0.0
    return min(max(0.0, delay), MAX_DELAY_S)


def run(spool_path: Path, *, limit: float = HARD_LIMIT_S) -> int:
    """Flush once; the exit code is 0 when everything queued was delivered."""
    from iconiq.telemetry import decision, flush, transport
    from iconiq.telemetry.spawn import acquire_lock
    from iconiq.telemetry.spool import Spool, exists, healing

    deadline = time.monotonic() + max(1.0, limit - SOFT_MARGIN_S)
    if not decision.decide().enabled or not exists(spool_path):
        return 0
    lock = acquire_lock(spool_path, timeout=0.5)
    if lock is None:  # another flusher is at work: it uploads what is queued
        with Spool(spool_path) as spool:
            _count_run(spool)
        return 0

    def flush_once(spool: Spool) -> flush.Result:
        base_url = decision.endpoint()
        problem = decision.endpoint_problem(base_url)
        if problem:
            result = flush.Result(error=problem)
            flush.record(spool, result)
        else:
            with transport.client() as http:
                for last_pass in (False, True):
                    result = flush.deliver(
                        spool,
                        http,
                        base_url,
                        deadline=deadline,
                        still_wanted=lambda: decision.decide().enabled,
                    )
                    flush.record(spool, result)
                    _end_claim(spool)
                    # An event appended while this run was finishing saw its claim and
                    # started nothing: take it now (later ones make their own claim).
                    if last_pass or not result.delivered:
                        break
                    spool.take_inbox()
                    if not spool.pending()[0]:
                        break
        _count_run(spool)
        return result

    try:
        result = healing(spool_path, flush_once)  # a damaged spool is healed, then flushed
    finally:
        lock.release()
    if result.delivered:
        follow_up(spool_path)
    return 0 if result.delivered else 1


def follow_up(spool_path: Path) -> None:
    """After an upload, with the flusher lock let go: events a command appended while it
    was finishing, which the command left to it (it saw a flusher at work and started
    none), get the next upload claimed for them as a command would claim it
    (``iconiq.telemetry.due``). A command that comes later sees no flusher and starts
    its own; so no event waits past the interval once the endpoint answers."""
    from iconiq.telemetry import due, inbox
    from iconiq.telemetry.spawn import spawn_flusher
    from iconiq.telemetry.spool import now_ms

    waiting = inbox.size(spool_path)
    if not waiting:
        return
    now = now_ms()
    claimed = due.read(spool_path).get("flush_at_ms", 0)
    if 0 < claimed <= now:  # an upload at once, claimed by a command after this run's end
        spawn_flusher(spool_path)
        return
    delay = due.claim(spool_path, now, waiting, due.interval_ms(), 1.0)
    if delay is not None:
        spawn_flusher(spool_path, delay_ms=delay)


def _end_claim(spool: Spool) -> None:
    """Let the next command claim an upload (``iconiq.telemetry.due``), unless the claim
    is a later upload another command scheduled."""
    from iconiq.telemetry import due
    from iconiq.telemetry.spool import now_ms

    due.end_claim(spool.path, now_ms())


def _count_run(spool: Spool) -> None:
    """Add this run and its CPU time (start-up included) to the spool's totals."""
    _end_claim(spool)
    spool.bump("flusher_runs")
    spool.bump("flusher_cpu_ms", cpu_ms())


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        return 2
    delay = _delay_s()
    if delay:
        time.sleep(delay)  # a scheduled upload: nothing imported, no lock held
    _watchdog(HARD_LIMIT_S)
    try:
        return run(Path(args[0]))
    except Exception:  # noqa: BLE001 - detached: nobody to tell; the spool keeps the events
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
