"""Turning telemetry on and off.

``iconiq config --telemetry true|false`` and ``iconiq telemetry enable|disable``
land here, as does the first-run question's "no". Turning it off purges
everything telemetry keeps on this machine (``manage.purge(files=True)``);
turning it back on starts a new install id. What state telemetry is in is
``iconiq.telemetry.status``.
"""

from __future__ import annotations

from iconiq import paths, settings
from iconiq.telemetry.decision import decide


def set_enabled(value: str) -> str:
    """``iconiq config --telemetry true|false``: a message saying what that did
    (InvalidInput, one line, for anything else)."""
    return enable() if settings.parse_value("telemetry.enabled", value) else disable()


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
    from iconiq.telemetry import manage

    settings.set_value("telemetry.enabled", False)
    purged = manage.purge(files=True)
    extra = f" and {purged} queued events deleted" if purged else ""
    return f"Telemetry is off{extra}. Nothing will be recorded or sent."


def _forget_install_id() -> None:
    from iconiq.telemetry.spool import exists, healing

    path = paths.telemetry_db_path()
    if exists(path):
        healing(path, lambda spool: spool.set(install_id=None))
