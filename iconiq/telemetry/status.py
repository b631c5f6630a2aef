"""What state telemetry is in: ``read()`` computes it once, as a typed ``Status``.

``iconiq telemetry status [--json]`` and ``iconiq config --show-telemetry`` both
show it, through the one renderer in ``iconiq.cli.telemetry`` (``render_status``):
``Status.as_json()`` is the stable ``--json`` object (keys are only ever added;
docs/telemetry.md lists them), ``Status.rows()`` the same facts as (label, text)
rows for people, plain text to be printed literally.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

from iconiq import paths
from iconiq.telemetry import decision
from iconiq.telemetry.spool import Spool

# What ``state`` says (``enabled`` alone cannot tell the first two apart).
ON, AWAITING_NOTICE, OFF = "on", "awaiting_notice", "off"

# Spool state keys that are times, durations, ids or pids (``*_ms``, ``*_s``, ``*_id``,
# ``*_pid``) or text are not counters; every other integer the spool keeps is one.
_NOT_COUNTER_SUFFIXES = ("_ms", "_s", "_id", "_pid")
_NOT_COUNTERS = frozenset({"last_error", "last_rejection"})
_COUNTER_LABELS = {
    "uploaded": "Uploaded",
    "dropped": "Dropped (spool full)",
    "rejected": "Rejected by server",
    "exported": "Exported to a file",
    "record_errors": "Recording errors",
    "corrupt_spools": "Corrupt spools set aside",
    "flusher_runs": "Flusher runs",
}
# Counters that have a row of their own.
_SHOWN = frozenset(
    {"uploaded", "dropped", "rejected", "dropped_corrupt", "record_errors", "flusher_runs"}
)


@dataclass(frozen=True)
class Status:
    """Telemetry's state on this machine. Every field but ``debug`` is a key of ``--json``."""

    enabled: bool
    decided_by: str
    state: str
    endpoint: str
    endpoint_problem: str | None
    spool: str
    spool_error: str | None = None
    install_id: str | None = None
    pending: int = 0
    pending_bytes: int = 0
    uploaded: int = 0
    dropped: int = 0
    rejected: int = 0
    dropped_locked: int = 0
    dropped_inbox_full: int = 0
    dropped_corrupt: int = 0
    record_errors: int = 0
    oldest_pending_age_s: int | None = None
    last_upload: str | None = None
    last_error: str | None = None
    last_error_at: str | None = None
    last_rejection: str | None = None
    next_attempt: str | None = None
    flusher_running: bool = False
    next_upload: str | None = None
    flusher_runs: int = 0
    flusher_cpu_s: float = 0.0
    counters: dict[str, int] = field(default_factory=dict)
    # Shown to people only (ICONIQ_TELEMETRY_DEBUG): not part of the stable JSON object.
    debug: bool = False

    def as_json(self) -> dict[str, Any]:
        """The stable ``iconiq telemetry status --json`` object."""
        out = asdict(self)
        del out["debug"]
        return out

    def rows(self) -> list[tuple[str, str]]:
        """The same facts as (label, text) rows for people (plain text: render it literally)."""
        decided = f"decided by: {self.decided_by}"
        if self.state == AWAITING_NOTICE:
            state = (
                f"on once the first-run notice is answered ({decided};"
                " nothing is recorded until then)"
            )
        else:
            state = f"{self.state} ({decided})"
        endpoint = self.endpoint
        if self.endpoint_problem:
            endpoint += f"  [refused: {self.endpoint_problem}]"
        rows = [("Telemetry", state), ("Endpoint", endpoint), ("Spool", self.spool)]
        if self.spool_error:
            rows.append(("Spool error", self.spool_error))
        pending = f"{self.pending} events ({self.pending_bytes} bytes)"
        if self.oldest_pending_age_s is not None:
            pending += f", oldest {_age(self.oldest_pending_age_s)} old"
        rows += [
            ("Pending", pending),
            ("Uploaded", str(self.uploaded)),
            ("Dropped (spool full)", str(self.dropped)),
            ("Rejected by server", self._rejected()),
            (
                "Lost before upload",
                f"{self.dropped_locked} (spool locked), {self.dropped_inbox_full} (inbox full),"
                f" {self.dropped_corrupt} (spool damaged), {self.record_errors} (recording errors)",
            ),
        ]
        for key, count in self.counters.items():
            if count and key not in _SHOWN:
                label = _COUNTER_LABELS.get(key, key.replace("_", " ").capitalize())
                rows.append((label, str(count)))
        last_error = f"{self.last_error} at {self.last_error_at}" if self.last_error else "none"
        rows += [("Last upload", self.last_upload or "never"), ("Last error", last_error)]
        rows.append(("Next attempt", self.next_attempt or "after the next command"))
        if self.next_upload:
            rows.append(("Next upload", f"scheduled for {self.next_upload}"))
        rows += [
            ("Flusher running", "yes" if self.flusher_running else "no"),
            ("Delivery cost", self._cost()),
        ]
        if self.debug:
            rows.append(("Debug", "each event is printed to stderr as it is recorded"))
        return rows

    def _rejected(self) -> str:
        if self.rejected and self.last_rejection:
            return f"{self.rejected} (last reason: {self.last_rejection})"
        return str(self.rejected)

    def _cost(self) -> str:
        """What uploading cost this machine, as the flushers recorded it themselves."""
        runs, cpu = self.flusher_runs, self.flusher_cpu_s
        if not runs:
            return "no flusher has run yet"
        plural = "s" if runs != 1 else ""
        each = cpu * 1000 / runs
        return f"{runs} flusher run{plural}, {cpu:.2f} s of CPU in all ({each:.0f} ms a run)"


def read() -> Status:
    """Telemetry's state now; a spool that cannot be read is reported, not raised."""
    from iconiq.telemetry.inbox import dropped_counts
    from iconiq.telemetry.spawn import flusher_running
    from iconiq.telemetry.spool import exists, healing

    now = decision.decide()
    url = decision.endpoint()
    path = paths.telemetry_db_path()
    locked, full, record_errors = dropped_counts(path)
    found = Status(
        enabled=now.enabled,
        decided_by=now.source,
        state=_state(now.enabled, now.source),
        endpoint=url,
        endpoint_problem=decision.endpoint_problem(url),
        spool=str(path),
        dropped_locked=locked,
        dropped_inbox_full=full,
        record_errors=record_errors,
        debug=decision.debug(),
    )
    if not exists(path):
        return found
    base = found
    try:
        found = healing(path, lambda spool: _from_spool(spool, base))  # healed, then read
        found = replace(found, flusher_running=flusher_running(path))
    except Exception as exc:  # noqa: BLE001 - status reports a broken spool, it does not crash
        found = replace(found, spool_error=f"{type(exc).__name__}: {exc}")
    return found


def _from_spool(spool: Spool, base: Status) -> Status:
    from iconiq.telemetry import due
    from iconiq.telemetry.spool import now_ms

    pending, size = spool.pending()  # the inbox taken in (``Spool`` does it on open)
    oldest = spool.oldest_ms()
    delivery = due.read(spool.path)
    next_ms = delivery.get("next_attempt_ms", 0)
    return replace(
        base,
        install_id=spool.get("install_id"),
        pending=pending,
        pending_bytes=size,
        uploaded=spool.get_int("uploaded"),
        dropped=spool.get_int("dropped"),
        rejected=spool.get_int("rejected"),
        dropped_corrupt=spool.get_int("dropped_corrupt"),
        # Older releases counted recording failures in the spool, not the side file.
        record_errors=base.record_errors + spool.get_int("record_errors"),
        oldest_pending_age_s=None if oldest is None else max(0, (now_ms() - oldest) // 1000),
        last_upload=_iso(spool.get_int("last_upload_ms")),
        last_error=spool.get("last_error"),
        last_error_at=_iso(spool.get_int("last_error_ms")),
        last_rejection=spool.get("last_rejection"),
        next_attempt=_iso(next_ms) if next_ms > now_ms() else None,
        next_upload=_iso(delivery.get("flush_at_ms", 0)),
        flusher_runs=spool.get_int("flusher_runs"),
        flusher_cpu_s=round(spool.get_int("flusher_cpu_ms") / 1000, 3),
        counters=_counters(spool),
    )


def _state(enabled: bool, source: str) -> str:
    """``awaiting_notice`` when on by default but the first-run notice was not shown yet."""
    if not enabled:
        return OFF
    if source == "default":
        from iconiq.telemetry.hooks import notice_marker

        if not notice_marker().exists():
            return AWAITING_NOTICE
    return ON


def _counters(spool: Spool) -> dict[str, int]:
    """Every counter the spool keeps (new ones show up without a change here)."""
    out: dict[str, int] = {}
    for key, value in spool.db.execute("SELECT key, value FROM state ORDER BY key"):
        if key in _NOT_COUNTERS or str(key).endswith(_NOT_COUNTER_SUFFIXES):
            continue
        try:
            out[str(key)] = int(value)
        except (TypeError, ValueError):
            continue
    return out


def _iso(ms: int | None) -> str | None:
    if not ms:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat(timespec="seconds")


def _age(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
