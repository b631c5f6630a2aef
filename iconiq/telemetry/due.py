"""When a command starts a flusher: the delivery rule, in one place.

A flusher run costs the machine far more CPU than recording an event (a Python
start-up, the upload), so commands do not start one each. After appending its
event, a command asks ``schedule`` (inside the append's transaction) and:

* starts nothing while a back-off holds (``next_attempt_ms``, set after a
  failed upload) or while another flusher is claimed (``flush_at_ms``, running
  or scheduled, for at most ``CLAIM_MS`` past its time);
* otherwise claims the next upload and starts a flusher that uploads

  - at once when ``BATCH_DUE`` events or more are pending, or when the last
    flusher started ``interval`` seconds ago or more (so the first event after
    a quiet spell arrives within seconds);
  - else when that interval is over: a *scheduled* flusher that sleeps until
    then, holding no lock (``iconiq.telemetry.flusher``).

So once the endpoint is reachable no event waits longer than the interval
(``ICONIQ_TELEMETRY_INTERVAL`` seconds, default 60, 0 = upload after every
command), and a busy session starts about one flusher per interval.
``iconiq telemetry flush`` uploads at once, whatever this rule says.
Standard library only: this runs on every command's recording path.
"""

from __future__ import annotations

import os

INTERVAL_ENV = "ICONIQ_TELEMETRY_INTERVAL"
DEFAULT_INTERVAL_S = 60
MAX_INTERVAL_S = 3600
BATCH_DUE = 100
# How long a claim holds past its upload time before another command may claim.
CLAIM_MS = 30_000
# A scheduled flusher's sleep before it uploads (ms), in its environment (``spawn``).
DELAY_ENV = "_ICONIQ_FLUSH_DELAY_MS"
# State keys read by ``schedule`` (the spool hands their values over).
KEYS = ("next_attempt_ms", "flush_at_ms", "last_attempt_ms")


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


def schedule(now: int, pending: int, state: dict[str, int], interval: int) -> int | None:
    """When the next upload should happen (ms since the epoch), or None: start nothing.

    ``state`` holds the ``KEYS`` (0 when unset); the caller stores the answer as
    ``flush_at_ms`` in the same transaction and starts a flusher for that time.
    """
    flush_at = state.get("flush_at_ms", 0)
    # A claim further ahead than any interval comes from a clock that went back: stale.
    if flush_at and now < flush_at + CLAIM_MS and flush_at <= now + MAX_INTERVAL_S * 1000:
        return None  # a flusher is running or scheduled
    if now < state.get("next_attempt_ms", 0):
        return None  # a back-off holds
    if pending >= BATCH_DUE:
        return now
    last = state.get("last_attempt_ms", 0)
    if last > now:  # a clock that went back: do not wait for the future
        return now
    return max(now, last + interval)
