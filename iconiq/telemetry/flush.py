"""Upload the spool: batches of at most 500 events, retried, split, deleted on the outcome.

``deliver`` is the one loop used by the detached flusher, by ``iconiq telemetry
flush`` and (with an in-memory spool holding the file's events) by ``iconiq
telemetry upload``; ``http`` is any ``sender.Sender`` (the standard one is
``transport.client()``).
An event leaves the spool only in the transaction that follows a 2xx whose body
is the server's outcome covering it (``transport.parse_outcome``), so a crash at
any point re-sends at worst (the server dedupes on ``event_id``) and never
loses. Only the server's per-event verdict (``rejected``) drops an event: a 413
splits a batch, but a 413 for one event (a proxy's tiny body limit, not a bad
event) or an answer that is not the outcome stops the run and keeps everything.
``record`` persists the outcome: last upload, last error (cleared by the next
answer that stored events), and the next time a command may start a flusher
(capped exponential backoff with jitter, at least what ``Retry-After`` asked).

``retrying`` is the one retry policy for a single request (exponential backoff
with jitter, at least ``Retry-After``, bounded in attempts and by a deadline),
used for batches here and for ``purge --remote``'s erasure request. It is
written out rather than taken from tenacity: importing tenacity costs the
detached flusher about 30-45 ms of CPU, a third of its whole budget
(docs/telemetry.md, "What it costs").
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from iconiq.telemetry import due, transport
from iconiq.telemetry.schema import MAX_BATCH_BYTES, MAX_BATCH_EVENTS
from iconiq.telemetry.sender import Sender
from iconiq.telemetry.spool import Queued, Spool, now_ms

T = TypeVar("T")

BACKOFF_MIN_S = 30.0
BACKOFF_MAX_S = 3600.0
# Leave room for the envelope around the events.
_BATCH_BYTES = MAX_BATCH_BYTES - 4096


class Result:
    """The outcome of one flush (a plain class: ``dataclasses`` costs ~9 ms to import)."""

    __slots__ = ("uploaded", "duplicates", "rejected", "error", "retry_after", "first_rejection")

    def __init__(
        self,
        uploaded: int = 0,
        duplicates: int = 0,
        rejected: int = 0,
        error: str | None = None,
        retry_after: float | None = None,
        first_rejection: str | None = None,
    ) -> None:
        self.uploaded = uploaded  # left the spool under a 2xx (accepted + duplicates)
        self.duplicates = duplicates
        self.rejected = rejected
        self.error = error
        self.retry_after = retry_after
        self.first_rejection = first_rejection  # the server's message for one rejected event

    @property
    def delivered(self) -> bool:
        return self.error is None

    def __repr__(self) -> str:
        return (
            f"Result(uploaded={self.uploaded}, duplicates={self.duplicates},"
            f" rejected={self.rejected}, error={self.error!r})"
        )


def backoff_s(attempt: int, cap: float, rng: random.Random | None = None) -> float:
    """Wait before retry number ``attempt`` (1, 2, ...): 0.5 s doubling, capped, + 0-0.5 s."""
    return min(cap, 0.5 * 2.0 ** (attempt - 1)) + (rng or random).uniform(0, 0.5)


def retrying(
    call: Callable[[], T],
    *,
    attempts: int,
    deadline: float,
    sleep: Callable[[float], None] = time.sleep,
    cap: float = 30.0,
) -> T:
    """``call()``, retried on ``transport.Retryable`` at most ``attempts`` times in all,
    waiting ``backoff_s`` or what ``Retry-After`` asked (the longer), never past
    ``deadline`` (monotonic); the last error is raised."""
    attempt = 1
    while True:
        try:
            return call()
        except transport.Retryable as exc:
            if attempt >= attempts:
                raise
            wait = max(backoff_s(attempt, cap), exc.retry_after or 0.0)
            if time.monotonic() + wait >= deadline:
                raise
            sleep(wait)
            attempt += 1


class _Sender:
    def __init__(
        self,
        http: Sender,
        base_url: str,
        deadline: float,
        attempts: int,
        sleep: Callable[[float], None],
    ) -> None:
        self.http = http
        self.base_url = base_url
        self.deadline = deadline
        self.attempts = attempts
        self.sleep = sleep

    def send(self, bodies: list[str]) -> transport.Outcome:
        return retrying(
            lambda: transport.post_batch(self.http, self.base_url, bodies),
            attempts=self.attempts,
            deadline=self.deadline,
            sleep=self.sleep,
        )


def chunks(events: list[Queued]) -> list[list[Queued]]:
    """Split into batches of at most 500 events and ~1 MiB of JSON."""
    out: list[list[Queued]] = []
    current: list[Queued] = []
    size = 0
    for q in events:
        if current and (len(current) >= MAX_BATCH_EVENTS or size + len(q.body) + 1 > _BATCH_BYTES):
            out.append(current)
            current, size = [], 0
        current.append(q)
        size += len(q.body) + 1
    if current:
        out.append(current)
    return out


def deliver(
    spool: Spool,
    http: Sender,
    base_url: str,
    *,
    deadline: float,
    attempts: int = 4,
    sleep: Callable[[float], None] = time.sleep,
    progress: Callable[[int], None] | None = None,
    still_wanted: Callable[[], bool] | None = None,
) -> Result:
    """Send everything queued (oldest first) until done, an error, or ``deadline`` (monotonic)."""
    sender = _Sender(http, base_url, deadline, attempts, sleep)
    result = Result()
    while True:
        if time.monotonic() >= deadline:
            result.error = "time limit reached"
            return result
        if still_wanted is not None and not still_wanted():
            result.error = "telemetry was turned off"
            return result
        batch = spool.batch(MAX_BATCH_EVENTS)
        if not batch:
            return result
        try:
            for chunk in chunks(batch):
                _send_splitting(spool, sender, chunk, result, progress)
        except transport.SendError as exc:
            result.error = exc.reason
            result.retry_after = exc.retry_after
            return result


def _send_splitting(
    spool: Spool,
    sender: _Sender,
    chunk: list[Queued],
    result: Result,
    progress: Callable[[int], None] | None,
) -> None:
    try:
        outcome = sender.send([q.body for q in chunk])
    except transport.TooLarge:
        if len(chunk) == 1:  # a body limit below one event: misconfigured, keep it
            raise
        middle = len(chunk) // 2
        _send_splitting(spool, sender, chunk[:middle], result, progress)
        _send_splitting(spool, sender, chunk[middle:], result, progress)
        return
    rejected = len(outcome.rejected)
    spool.delete([q.seq for q in chunk], rejected=rejected, uploaded=len(chunk) - rejected)
    result.uploaded += len(chunk) - rejected
    result.duplicates += outcome.duplicates
    result.rejected += rejected
    result.first_rejection = result.first_rejection or outcome.first_rejection
    if progress:
        progress(len(chunk))


def record(spool: Spool, result: Result, *, rng: random.Random | None = None) -> None:
    """Persist the outcome of a flush (in the spool) and when the next one may start
    (beside it, where commands read it: ``iconiq.telemetry.due``)."""
    now = now_ms()
    values: dict[str, object] = {}
    next_attempt = 0
    if result.uploaded or result.rejected:
        values["last_upload_ms"] = now
    if result.first_rejection:
        values["last_rejection"] = result.first_rejection
    if result.delivered:
        values.update(backoff_s=0)
        if result.uploaded or result.rejected:  # the server answered: the last error is over
            values.update(last_error=None, last_error_ms=None)
    else:
        previous = float(spool.get("backoff_s") or 0.0)
        backoff = min(BACKOFF_MAX_S, max(BACKOFF_MIN_S, previous * 2))
        jittered = backoff * (0.8 + 0.4 * (rng or random).random())
        wait = max(jittered, result.retry_after or 0.0)
        next_attempt = now + int(wait * 1000)
        values.update(backoff_s=round(backoff, 3), last_error=result.error, last_error_ms=now)
    spool.set(**values)
    if str(spool.path) != ":memory:":
        due.update(spool.path, last_attempt_ms=now, next_attempt_ms=next_attempt)
