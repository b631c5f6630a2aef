"""What ``iconiq telemetry`` does to the spool: show, flush, purge, export, upload.

Each function is one operation for one CLI command; they raise
``iconiq.errors`` exceptions (one line each) for the user to see. Each one heals
a damaged spool it meets (``spool.healing``) and carries on: none of them ends
in a database error.
"""

from __future__ import annotations

import gzip
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from iconiq import errors, paths
from iconiq.telemetry import decision, flush
from iconiq.telemetry.ids import uuid4
from iconiq.telemetry.inbox import dropped_path
from iconiq.telemetry.spool import (
    Spool,
    exists,
    healing,
    healing_iter,
    remove_files,
)

FOREGROUND_LIMIT_S = 900.0


@contextmanager
def _locked_spool(wait: float, *, or_anyway: bool = False) -> Iterator[Path | None]:
    """The spool's path with the flusher lock held (None when there is no spool).

    A flusher still holding the lock after ``wait`` seconds is an error, unless
    ``or_anyway``: then the caller goes on without the lock.
    """
    from iconiq.telemetry.spawn import acquire_lock

    path = paths.telemetry_db_path()
    if not exists(path):
        yield None
        return
    lock = acquire_lock(path, timeout=wait)
    if lock is None and not or_anyway:
        raise errors.IconiqError("a telemetry flush is running; try again in a minute")
    try:
        yield path
    finally:
        if lock is not None:
            lock.release()


def _refuse_when_off(what: str) -> None:
    """Opt-out wins over every command: no network when telemetry is off (exit 2)."""
    now = decision.decide()
    if not now.enabled:
        raise errors.InvalidInput(f"telemetry is off (decided by: {now.source}); {what}")


def _endpoint() -> str:
    url = decision.endpoint()
    problem = decision.endpoint_problem(url)
    if problem:
        raise errors.InvalidInput(f"{problem}: {url}")
    return url


def pending_count() -> int:
    path = paths.telemetry_db_path()
    if not exists(path):
        return 0
    return healing(path, lambda spool: spool.pending()[0])


def queued_bodies() -> Iterator[str]:
    """The queued events, oldest first, exactly as they will be sent (after healing a
    damaged spool met half-way, those not yet shown)."""
    path = paths.telemetry_db_path()
    if not exists(path):
        return
    shown: set[str] = set()
    for queued in healing_iter(path, lambda spool: spool.iter_all()):
        if queued.event_id not in shown:
            shown.add(queued.event_id)
            yield queued.body


def _deliver_now(spool: Spool, url: str, progress: Callable[[int], None] | None) -> flush.Result:
    """Send what ``spool`` holds in the foreground, within ``FOREGROUND_LIMIT_S``."""
    from iconiq.telemetry import transport

    with transport.client() as http:
        deadline = time.monotonic() + FOREGROUND_LIMIT_S
        return flush.deliver(spool, http, url, deadline=deadline, progress=progress)


def flush_now(progress: Callable[[int], None] | None = None) -> flush.Result:
    """Upload everything queued, in the foreground (waits for a running flusher first)."""
    _refuse_when_off("nothing is queued or sent")
    url = _endpoint()

    def deliver(spool: Spool) -> flush.Result:
        result = _deliver_now(spool, url, progress)
        flush.record(spool, result)
        return result

    with _locked_spool(wait=30.0) as path:
        if path is None:
            return flush.Result()
        result = healing(path, deliver)
    if result.delivered:
        from iconiq.telemetry.flusher import follow_up

        follow_up(path)  # what commands recorded meanwhile, left to this flush
    return result


def flush_background() -> None:
    from iconiq.telemetry.spawn import spawn_flusher

    _refuse_when_off("nothing is queued or sent")
    path = paths.telemetry_db_path()
    if exists(path):
        spawn_flusher(path)


def purge(remote: bool = False, *, files: bool = False) -> int:
    """Delete the queued events (and the damaged copies set aside, which hold events
    too); how many queued events were deleted.

    ``remote``: first ask the server to erase this install's events (when it does not,
    nothing is deleted here either), then start a new install id. ``files`` (telemetry
    was just turned off): the spool's files go too, install id and counters with them,
    and a flusher still at work after 3 s does not hold it up (it stops at its next
    batch, seeing telemetry off).
    """
    with _locked_spool(wait=3.0 if files else 30.0, or_anyway=files) as path:
        if path is None:
            if remote:
                raise errors.InvalidInput("no install id here: nothing was ever recorded")
            return 0
        from iconiq.telemetry.salvage import remove_corrupt_copies

        if files:
            count = _pending_or_zero(path)
            remove_files(path)
            dropped_path(path).unlink(missing_ok=True)
        else:
            count = healing(path, lambda spool: _purge(spool, remote))
        remove_corrupt_copies(path)
        return count


def _purge(spool: Spool, remote: bool) -> int:
    if remote:
        install_id = spool.get("install_id")
        if not install_id:
            raise errors.InvalidInput("no install id here: nothing was ever recorded")
        _erase_on_server(install_id)
    count = spool.purge()
    if remote:
        spool.set(install_id=uuid4())
    return count


def _pending_or_zero(path: Path) -> int:
    try:
        with Spool(path) as spool:
            return spool.pending()[0]
    except Exception:  # noqa: BLE001 - an unreadable spool is deleted all the same
        return 0


def _erase_on_server(install_id: str) -> None:
    from iconiq.telemetry import transport

    url = _endpoint()
    try:
        with transport.client() as http:
            flush.retrying(
                lambda: transport.delete_install(http, url, install_id),
                attempts=3,
                deadline=time.monotonic() + 60.0,
                cap=5.0,
            )
    except transport.SendError as exc:
        raise errors.NetworkError(
            f"the server did not erase this install ({exc.reason}); nothing was purged"
        ) from exc


def _open_text(path: Path, mode: str, gz: bool) -> IO[str]:
    if gz:
        return gzip.open(path, mode + "t", encoding="utf-8")  # type: ignore[return-value]
    return path.open(mode, encoding="utf-8")


def export(target: Path) -> int:
    """Move every queued event to a JSONL file (gzip'd for ``.gz``); how many."""
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")

    def move(spool: Spool | None) -> int:
        queued = [] if spool is None else list(spool.iter_all())
        try:
            with _open_text(tmp, "w", target.name.endswith(".gz")) as f:
                for q in queued:
                    f.write(q.body + "\n")
            os.replace(tmp, target)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise errors.OutputError(f"cannot write {target}: {exc.strerror or exc}") from exc
        if spool is not None and queued:
            spool.delete([q.seq for q in queued], exported=len(queued))
        return len(queued)

    with _locked_spool(wait=30.0) as path:
        return move(None) if path is None else healing(path, move)


def _read_events(source: Path) -> list[str]:
    from iconiq.telemetry.event import dumps

    bodies: list[str] = []
    try:
        with _open_text(source, "r", source.name.endswith(".gz")) as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    event = json.loads(line)
                except ValueError:
                    raise errors.InvalidInput(f"{source}:{number}: not JSON") from None
                if not isinstance(event, dict) or not isinstance(event.get("event_id"), str):
                    raise errors.InvalidInput(f"{source}:{number}: not a telemetry event")
                bodies.append(dumps(event))
    except OSError as exc:
        raise errors.OutputError(f"cannot read {source}: {exc.strerror or exc}") from exc
    except (EOFError, UnicodeDecodeError) as exc:
        raise errors.InvalidInput(f"{source}: not a JSONL or JSONL.gz export ({exc})") from exc
    return bodies


def upload(source: Path, progress: Callable[[int], None] | None = None) -> tuple[int, flush.Result]:
    """Send an exported file (from an air-gapped machine); (events in file, result).

    The server stores each event at most once, so uploading a file twice is harmless.
    Refused (nothing read or sent) while telemetry is off on this machine.
    """
    _refuse_when_off(f"{source} was not sent")
    bodies = _read_events(source)
    url = _endpoint()
    with Spool(Path(":memory:")) as staging:
        for body in bodies:
            staging.append(json.loads(body)["event_id"], body, max_events=10**9, max_bytes=1 << 40)
        result = _deliver_now(staging, url, progress)
    return len(bodies), result
