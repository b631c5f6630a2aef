"""Waiting for an ``flock`` until a deadline: the one loop every telemetry lock uses.

The inbox (shared by appenders, exclusive for a reader), the delivery state, the
flusher's lock and the healer's lock are all ``flock``s on a file descriptor:
the kernel drops one when its process dies, so a kill -9 never leaves a lock
behind. ``flock`` itself waits forever or not at all; this polls a
non-blocking one until the deadline. POSIX only (``fcntl``); standard library
only: it is on every command's recording path.
"""

from __future__ import annotations

import time


def flock_until(fd: int, *, exclusive: bool, deadline: float, poll: float = 0.002) -> bool:
    """Take an exclusive (or shared) ``flock`` on ``fd``, waiting until ``deadline``
    (``time.monotonic()``) at most; False when another process held it all along."""
    import fcntl

    mode = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB
    while True:
        try:
            fcntl.flock(fd, mode)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(poll)
