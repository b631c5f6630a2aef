"""Turning telemetry on and off, and saying what state it is in.

``iconiq config --telemetry true|false`` and ``--show-telemetry`` land here, as
do ``iconiq telemetry enable|disable|status``. Turning it off purges the local
spool; turning it back on starts a new install id.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from typing import Any

from iconiq import paths, settings
from iconiq.telemetry.decision import decide, endpoint, endpoint_problem


def _iso(ms: int | None) -> str | None:
    if not ms:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat(timespec="seconds")


def set_enabled_from_cli(value: str) -> None:
    """``iconiq config --telemetry true|false`` (InvalidInput, one line, for anything else)."""
    if settings.parse_value("telemetry.enabled", value):
        print(enable())
    else:
        print(disable())


def enable() -> str:
    """Turn telemetry on in the config file; a message saying what that did."""
    was_on = decide().enabled
    settings.set_value("telemetry.enabled", True)
    if not was_on:
        _forget_install_id()
    now = decide()
    if not now.enabled:
        return f"Telemetry is on in the config file, but {now.source} keeps it off."
    return "Telemetry is on. Thank you! See what is sent with: iconiq telemetry show"


def disable() -> str:
    """Turn telemetry off in the config file and purge the local spool."""
    settings.set_value("telemetry.enabled", False)
    purged = purge_local_files()
    extra = f" and {purged} queued events deleted" if purged else ""
    return f"Telemetry is off{extra}. Nothing will be recorded or sent."


def purge_local_files() -> int:
    """Delete the spool files (after letting a running flusher stop); events deleted."""
    from iconiq.telemetry.flusher import acquire_lock
    from iconiq.telemetry.salvage import remove_corrupt_copies
    from iconiq.telemetry.spool import Spool, dropped_path, remove_files

    path = paths.telemetry_db_path()
    if not path.exists():
        return 0
    count = 0
    lock = acquire_lock(path, timeout=3.0)
    try:
        try:
            with Spool(path) as spool:
                count = spool.pending()[0]
        except Exception:  # noqa: BLE001 - an unreadable spool is deleted all the same
            count = 0
        remove_files(path)
        remove_corrupt_copies(path)
        dropped_path(path).unlink(missing_ok=True)
    finally:
        if lock is not None:
            lock.release()  # type: ignore[attr-defined]
    return count


def _forget_install_id() -> None:
    from iconiq.telemetry.spool import healing

    path = paths.telemetry_db_path()
    if path.exists():
        healing(path, lambda spool: spool.set(install_id=None))


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


def _state(enabled: bool, source: str) -> str:
    """``awaiting_notice`` when on by default but the first-run notice was not shown yet."""
    if not enabled:
        return OFF
    if source == "default":
        from iconiq.telemetry.hooks import notice_marker

        if not notice_marker().exists():
            return AWAITING_NOTICE
    return ON


def _counters(spool: Any) -> dict[str, int]:
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


def status() -> dict[str, Any]:
    """The stable ``iconiq telemetry status --json`` object (keys are only ever added)."""
    from iconiq.telemetry.spawn import flusher_running
    from iconiq.telemetry.spool import Spool, dropped_counts, healing, now_ms

    decision = decide()
    url = endpoint()
    path = paths.telemetry_db_path()
    out: dict[str, Any] = {
        "enabled": decision.enabled,
        "decided_by": decision.source,
        "state": _state(decision.enabled, decision.source),
        "endpoint": url,
        "endpoint_problem": endpoint_problem(url),
        "spool": str(path),
        "spool_error": None,
        "install_id": None,
        "pending": 0,
        "pending_bytes": 0,
        "uploaded": 0,
        "dropped": 0,
        "rejected": 0,
        "dropped_locked": 0,
        "dropped_corrupt": 0,
        "record_errors": 0,
        "oldest_pending_age_s": None,
        "last_upload": None,
        "last_error": None,
        "last_error_at": None,
        "last_rejection": None,
        "next_attempt": None,
        "flusher_running": False,
        "next_upload": None,
        "flusher_runs": 0,
        "flusher_cpu_s": 0.0,
        "counters": {},
    }
    out["dropped_locked"], out["record_errors"] = dropped_counts(path)
    if not path.exists():
        return out

    def read(spool: Spool) -> None:
        pending, size = spool.pending()
        oldest = spool.oldest_ms()
        age = None if oldest is None else max(0, (now_ms() - oldest) // 1000)
        next_ms = spool.get_int("next_attempt_ms")
        out.update(
            install_id=spool.get("install_id"),
            pending=pending,
            pending_bytes=size,
            uploaded=spool.get_int("uploaded"),
            dropped=spool.get_int("dropped"),
            rejected=spool.get_int("rejected"),
            dropped_corrupt=spool.get_int("dropped_corrupt"),
            # Older releases counted recording failures in the spool, not the side file.
            record_errors=out["record_errors"] + spool.get_int("record_errors"),
            oldest_pending_age_s=age,
            last_upload=_iso(spool.get_int("last_upload_ms")),
            last_error=spool.get("last_error"),
            last_error_at=_iso(spool.get_int("last_error_ms")),
            last_rejection=spool.get("last_rejection"),
            next_attempt=_iso(next_ms) if next_ms > now_ms() else None,
            next_upload=_iso(spool.get_int("flush_at_ms")),
            flusher_runs=spool.get_int("flusher_runs"),
            flusher_cpu_s=round(spool.get_int("flusher_cpu_ms") / 1000, 3),
            counters=_counters(spool),
        )

    try:
        healing(path, read)  # a damaged spool is healed, then read
        out["flusher_running"] = flusher_running(path)
    except Exception as exc:  # noqa: BLE001 - status reports a broken spool, it does not crash
        out["spool_error"] = f"{type(exc).__name__}: {exc}"
    return out


def describe(info: dict[str, Any]) -> list[tuple[str, str]]:
    """``status`` as (label, text) rows for people (plain text: render it literally)."""
    decided = f"decided by: {info['decided_by']}"
    if info["state"] == AWAITING_NOTICE:
        state = (
            f"on once the first-run notice is answered ({decided}; nothing is recorded until then)"
        )
    else:
        state = f"{info['state']} ({decided})"
    rows = [("Telemetry", state)]
    endpoint_text = info["endpoint"]
    if info["endpoint_problem"]:
        endpoint_text += f"  [refused: {info['endpoint_problem']}]"
    rows.append(("Endpoint", endpoint_text))
    rows.append(("Spool", info["spool"]))
    if info["spool_error"]:
        rows.append(("Spool error", info["spool_error"]))
    age = info["oldest_pending_age_s"]
    pending = f"{info['pending']} events ({info['pending_bytes']} bytes)"
    if age is not None:
        pending += f", oldest {_age(age)} old"
    rows += [
        ("Pending", pending),
        ("Uploaded", str(info["uploaded"])),
        ("Dropped (spool full)", str(info["dropped"])),
        ("Rejected by server", _rejected(info)),
        (
            "Lost before upload",
            f"{info['dropped_locked']} (spool locked), {info['dropped_corrupt']} (spool damaged),"
            f" {info['record_errors']} (recording errors)",
        ),
    ]
    shown = ("uploaded", "dropped", "rejected", "dropped_corrupt", "record_errors", "flusher_runs")
    for key, count in info["counters"].items():
        if count and key not in shown:
            rows.append((_COUNTER_LABELS.get(key, key.replace("_", " ").capitalize()), str(count)))
    rows += [
        ("Last upload", info["last_upload"] or "never"),
        (
            "Last error",
            f"{info['last_error']} at {info['last_error_at']}" if info["last_error"] else "none",
        ),
        ("Next attempt", info["next_attempt"] or "after the next command"),
        ("Flusher running", "yes" if info["flusher_running"] else "no"),
        ("Delivery cost", _cost(info)),
    ]
    if info["next_upload"]:
        rows.insert(-2, ("Next upload", f"scheduled for {info['next_upload']}"))
    return rows


def _cost(info: dict[str, Any]) -> str:
    """What uploading cost this machine, as the flushers recorded it themselves."""
    runs, cpu = info["flusher_runs"], info["flusher_cpu_s"]
    if not runs:
        return "no flusher has run yet"
    plural = "s" if runs != 1 else ""
    each = cpu * 1000 / runs
    return f"{runs} flusher run{plural}, {cpu:.2f} s of CPU in all ({each:.0f} ms a run)"


def _rejected(info: dict[str, Any]) -> str:
    if info["rejected"] and info["last_rejection"]:
        return f"{info['rejected']} (last reason: {info['last_rejection']})"
    return str(info["rejected"])


def _age(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def plain_lines(rows: list[tuple[str, str]]) -> list[str]:
    """The rows as aligned plain lines: no markup, no escape codes, one row a line."""
    width = max(len(label) for label, _ in rows)
    return [f"{label.ljust(width)}  {text}" for label, text in rows]


def print_status() -> None:
    """``iconiq config --show-telemetry``: whether telemetry is on, why, and its queue."""
    for line in plain_lines(describe(status())):
        print(line)
    if os.environ.get("ICONIQ_TELEMETRY_DEBUG"):
        print("Debug: each event is printed to stderr as it is recorded.")
