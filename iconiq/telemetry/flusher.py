"""The detached flusher: ``python -m iconiq.telemetry.flusher <spool path>``.

Started by a command (``iconiq.telemetry.spawn``) or by ``iconiq telemetry
flush --background``. It takes the spool's exclusive lock (an ``flock`` that
the kernel drops when the process dies, so a kill -9 never leaves it stuck),
uploads what is queued, records the outcome and the next attempt time in the
spool, and exits. A watchdog thread ends it after ``HARD_LIMIT_S`` whatever it
is doing: it never lingers, never loops while offline.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

HARD_LIMIT_S = 120.0
# New batches and retries stop this long before the hard limit.
SOFT_MARGIN_S = 20.0


def _watchdog(limit: float) -> None:
    timer = threading.Timer(limit, os._exit, args=(3,))
    timer.daemon = True
    timer.start()


def acquire_lock(spool_path: Path, timeout: float) -> object | None:
    """The flusher lock of this spool, or None when another process holds it."""
    from filelock import FileLock, Timeout

    from iconiq.telemetry.spawn import lock_path

    lock = FileLock(
        lock_path(spool_path),
        timeout=timeout,
        mode=0o600,
        preserve_lock_file=True,
        fallback_to_soft=False,
        thread_local=False,
    )
    try:
        lock.acquire()
    except Timeout:
        return None
    return lock


def run(spool_path: Path, *, limit: float = HARD_LIMIT_S) -> int:
    """Flush once; the exit code is 0 when everything queued was delivered."""
    from iconiq.telemetry import decision, flush, transport
    from iconiq.telemetry.spool import Spool, healing, now_ms

    deadline = time.monotonic() + max(1.0, limit - SOFT_MARGIN_S)
    if not decision.decide().enabled or not spool_path.exists():
        return 0
    lock = acquire_lock(spool_path, timeout=0.5)
    if lock is None:
        return 0

    def flush_once(spool: Spool) -> flush.Result:
        spool.set(flusher_pid=os.getpid(), flusher_started_ms=now_ms())
        base_url = decision.endpoint()
        problem = decision.endpoint_problem(base_url)
        if problem:
            result = flush.Result(error=problem)
        else:
            with transport.client() as http:
                result = flush.deliver(
                    spool,
                    http,
                    base_url,
                    deadline=deadline,
                    still_wanted=lambda: decision.decide().enabled,
                )
        flush.record(spool, result)
        spool.set(flusher_pid=None)
        return result

    result = healing(spool_path, flush_once)  # a damaged spool is healed, then flushed
    return 0 if result.delivered else 1


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        return 2
    _watchdog(HARD_LIMIT_S)
    try:
        return run(Path(args[0]))
    except Exception:  # noqa: BLE001 - detached: nobody to tell; the spool keeps the events
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
