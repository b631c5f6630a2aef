"""Whether telemetry is on, which setting decided it, and where events go.

Precedence (shared/design.md): environment opt-out (``DO_NOT_TRACK``, then
``ICONIQ_TELEMETRY_DISABLED``) > config file (``telemetry.enabled``) > default
(on, once the first-run notice was shown). Standard library only.
"""

from __future__ import annotations

import os

DEFAULT_ENDPOINT = "https://api.iconiq-analytics.com"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})

ENV_OPT_OUTS = ("DO_NOT_TRACK", "ICONIQ_TELEMETRY_DISABLED")


class Decision:
    """On or off, and the setting that decided (a plain class: kept cheap to import)."""

    __slots__ = ("enabled", "source")

    def __init__(self, enabled: bool, source: str) -> None:
        self.enabled = enabled
        # DO_NOT_TRACK, ICONIQ_TELEMETRY_DISABLED, config file, config file unreadable, default
        self.source = source

    def __repr__(self) -> str:
        return f"Decision(enabled={self.enabled}, source={self.source!r})"


def _is_set(value: str | None) -> bool:
    """A switch variable is on: set, and neither empty nor ``0``."""
    return value is not None and value.strip() not in ("", "0")


def decide() -> Decision:
    for name in ENV_OPT_OUTS:
        if _is_set(os.environ.get(name)):
            return Decision(False, name)
    try:
        from iconiq import paths

        if not os.path.exists(paths.config_path_str()):  # the common case: no TOML parser
            return Decision(True, "default")
        from iconiq import settings

        value = settings.get("telemetry.enabled")
    except Exception:  # noqa: BLE001 - an unreadable config file means: stay quiet
        return Decision(False, "config file unreadable")
    if isinstance(value, bool):
        return Decision(value, "config file")
    if isinstance(value, str) and value.strip().lower() in ("false", "0", "no", "off"):
        return Decision(False, "config file")
    return Decision(True, "default")


def debug() -> bool:
    """``ICONIQ_TELEMETRY_DEBUG`` is set (not empty, not ``0``): each event is printed to
    stderr as it is recorded."""
    return _is_set(os.environ.get("ICONIQ_TELEMETRY_DEBUG"))


def endpoint() -> str:
    """The collection server's base URL (env > config file > default), without a trailing /."""
    value = os.environ.get("ICONIQ_TELEMETRY_ENDPOINT", "").strip()
    if not value:
        try:
            from iconiq import settings

            configured = settings.get("telemetry.endpoint")
        except Exception:  # noqa: BLE001
            configured = None
        value = configured.strip() if isinstance(configured, str) else ""
    return (value or DEFAULT_ENDPOINT).rstrip("/")


def endpoint_problem(url: str) -> str | None:
    """Why events must not be sent to ``url`` (None when it is fine).

    ``https`` is required; plain ``http`` only to a loopback address.
    """
    from urllib.parse import urlsplit  # not on the recording path, which never needs it

    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
    except ValueError:
        return "endpoint is not a valid URL"
    if parts.scheme == "https" and host:
        return None
    if parts.scheme == "http" and host in LOOPBACK_HOSTS:
        return None
    if parts.scheme == "http":
        return "endpoint uses http:// to a non-loopback host (https is required)"
    return "endpoint must be an https:// URL"
