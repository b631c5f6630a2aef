"""Server settings, read once from the environment (and CLI options) into one frozen object.

ICONIQ_DATABASE_URL          sqlite:///path/to.db (default: iconiq.db in the data dir)
                             or postgresql://user@host/db
ICONIQ_ADMIN_TOKEN           bearer token for the dashboard and metrics API (serve makes a
                             random one when unset); at least 16 characters off loopback
ICONIQ_ALLOWED_HOSTS         comma-separated Host names the dashboard and metrics answer to,
                             beside the address the request came in on (and localhost)
ICONIQ_AUTH_FAILURE_LIMIT    failed credentials per client address, ``limits`` notation
                             (default "10/minute;50/hour"); then 429
ICONIQ_SESSION_HOURS         lifetime of a dashboard sign-in (default 12)
ICONIQ_RETENTION_DAYS        events older than this are deleted (default 730)
ICONIQ_PURGE_INTERVAL        seconds between retention runs in the server (default 3600; 0 off)
ICONIQ_FOLD_INTERVAL         seconds between folds of pending rollup rows (default 5; 0 off)
ICONIQ_RATE_LIMIT            per client address, ``limits`` notation (default
                             "120/minute"; "off" disables)
ICONIQ_RATE_LIMIT_STORAGE    ``limits`` storage URI (default memory://; redis://... to share)
ICONIQ_RATE_LIMIT_SALT       key hashing addresses into shared limiter keys (same on every instance)
ICONIQ_TRUSTED_PROXIES       comma-separated CIDRs whose X-Forwarded-For is believed
ICONIQ_DB_POOL_SIZE          PostgreSQL pool size (default 10)
ICONIQ_TOP_VALUES            breakdowns, menus and per-value tables show this many values
                             plus "(other)" (default 25, at most 200)

Connection limits of ``serve`` (iconiq/server/limits.py; docs/server.md, "Running it on
the internet"):

ICONIQ_MAX_CONNECTIONS       open connections per process; beyond, requests get 503 (1000)
ICONIQ_MAX_HEADER_BYTES      request line and headers together; beyond, 431 (16384)
ICONIQ_HEADER_TIMEOUT        seconds to receive a request's headers (10)
ICONIQ_BODY_TIMEOUT          seconds to receive a request's whole body (60)
ICONIQ_BODY_IDLE_TIMEOUT     longest pause inside a body, seconds (10)
ICONIQ_UPLOAD_MEMORY         MiB of request bodies a process holds while they arrive;
                             beyond, the stalest upload is dropped with 408 (64)
ICONIQ_KEEP_ALIVE_TIMEOUT    seconds an idle keep-alive connection stays open (5)

ICONIQ_DEBUG                 any value: an unexpected error of a command shows its traceback
                             (``show_tracebacks``; read apart, as settings may be what failed)

This module is the only reader of the environment in ``iconiq/server/``
(tests/server/test_cli.py checks it): everything else is handed a ServerSettings.
``serve --workers N`` hands its settings to the worker processes by pickling them
(``app.WorkerApp``), never by writing environment variables.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field, replace
from typing import Any

from iconiq import paths
from iconiq.errors import InvalidInput
from iconiq.server.calendar import DAY_MS

DEFAULT_RETENTION_DAYS = 730
DEFAULT_AUTH_FAILURE_LIMIT = "10/minute;50/hour"
MIN_REMOTE_TOKEN = 16
DEFAULT_TOP_VALUES = 25
MAX_TOP_VALUES = 200

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def show_tracebacks() -> bool:
    """``ICONIQ_DEBUG`` is set: an unexpected error shows its traceback, not one line."""
    return bool(os.environ.get("ICONIQ_DEBUG"))


def default_database_url() -> str:
    return f"sqlite:///{paths.data_dir() / 'iconiq-server.db'}"


def parse_networks(raw: str) -> tuple[Network, ...]:
    """Parse comma-separated CIDRs (or single addresses); InvalidInput on a bad one."""
    out: list[Network] = []
    for part in raw.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            out.append(ipaddress.ip_network(part, strict=False))
        except ValueError as exc:
            raise InvalidInput(
                f"ICONIQ_TRUSTED_PROXIES: {part!r} is not an address or CIDR"
            ) from exc
    return tuple(out)


def parse_hosts(raw: str) -> tuple[str, ...]:
    """Comma-separated host names (no scheme, no path), lower-cased."""
    out: list[str] = []
    for part in raw.split(","):
        name = part.strip().lower().rstrip(".")
        if not name:
            continue
        if any(c in name for c in "/ @?#") or len(name) > 253:
            raise InvalidInput(f"ICONIQ_ALLOWED_HOSTS: {part.strip()[:60]!r} is not a host name")
        out.append(name)
    return tuple(out)


def _limit_env(name: str, default: str) -> str:
    raw = os.environ.get(name, "").strip() or default
    from limits import parse_many

    try:
        parse_many(raw)
    except ValueError as exc:
        raise InvalidInput(f"{name}: cannot parse {raw!r}") from exc
    return raw


def _int_env(name: str, default: int, minimum: int = 0, maximum: int | None = None) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise InvalidInput(f"{name} must be an integer, not {raw!r}") from exc
    if value < minimum:
        raise InvalidInput(f"{name} must be at least {minimum}")
    if maximum is not None and value > maximum:
        raise InvalidInput(f"{name} must be at most {maximum}")
    return value


@dataclass(frozen=True)
class ServerSettings:
    database_url: str = field(default_factory=default_database_url)
    admin_token: str | None = None
    retention_days: int = DEFAULT_RETENTION_DAYS
    purge_interval: float = 3600.0
    fold_interval: float = 5.0
    rate_limit: str | None = "120/minute"
    rate_limit_storage: str = "memory://"
    rate_limit_salt: str = "iconiq-rate-limit"
    trusted_proxies: tuple[Network, ...] = ()
    pool_size: int = 10
    host: str = "127.0.0.1"
    allowed_hosts: tuple[str, ...] = ()
    auth_failure_limit: str = DEFAULT_AUTH_FAILURE_LIMIT
    session_hours: int = 12
    top_values: int = DEFAULT_TOP_VALUES
    max_connections: int = 1000
    max_header_bytes: int = 16 * 1024
    header_timeout: int = 10
    body_timeout: int = 60
    body_idle_timeout: int = 10
    upload_memory_mib: int = 64
    keep_alive_timeout: int = 5

    @property
    def retention_ms(self) -> int:
        return self.retention_days * DAY_MS

    def with_(self, **changes: Any) -> ServerSettings:
        """A copy with some fields changed (None values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    @classmethod
    def from_env(cls) -> ServerSettings:
        env = os.environ
        rate = env.get("ICONIQ_RATE_LIMIT", "").strip() or "120/minute"
        if rate.lower() in {"off", "0", "none", "false"}:
            rate_limit: str | None = None
        else:
            from limits import parse_many

            try:
                parse_many(rate)
            except ValueError as exc:
                raise InvalidInput(f"ICONIQ_RATE_LIMIT: cannot parse {rate!r}") from exc
            rate_limit = rate
        return cls(
            database_url=env.get("ICONIQ_DATABASE_URL", "").strip() or default_database_url(),
            admin_token=env.get("ICONIQ_ADMIN_TOKEN", "").strip() or None,
            retention_days=_int_env("ICONIQ_RETENTION_DAYS", DEFAULT_RETENTION_DAYS, 1),
            purge_interval=float(_int_env("ICONIQ_PURGE_INTERVAL", 3600)),
            fold_interval=float(_int_env("ICONIQ_FOLD_INTERVAL", 5)),
            rate_limit=rate_limit,
            rate_limit_storage=env.get("ICONIQ_RATE_LIMIT_STORAGE", "").strip() or "memory://",
            rate_limit_salt=env.get("ICONIQ_RATE_LIMIT_SALT", "").strip() or "iconiq-rate-limit",
            trusted_proxies=parse_networks(env.get("ICONIQ_TRUSTED_PROXIES", "")),
            pool_size=_int_env("ICONIQ_DB_POOL_SIZE", 10, 1),
            allowed_hosts=parse_hosts(env.get("ICONIQ_ALLOWED_HOSTS", "")),
            auth_failure_limit=_limit_env("ICONIQ_AUTH_FAILURE_LIMIT", DEFAULT_AUTH_FAILURE_LIMIT),
            session_hours=_int_env("ICONIQ_SESSION_HOURS", 12, 1),
            top_values=_int_env("ICONIQ_TOP_VALUES", DEFAULT_TOP_VALUES, 1, MAX_TOP_VALUES),
            max_connections=_int_env("ICONIQ_MAX_CONNECTIONS", 1000, 2),
            max_header_bytes=_int_env("ICONIQ_MAX_HEADER_BYTES", 16 * 1024, 1024),
            header_timeout=_int_env("ICONIQ_HEADER_TIMEOUT", 10, 1),
            body_timeout=_int_env("ICONIQ_BODY_TIMEOUT", 60, 1),
            body_idle_timeout=_int_env("ICONIQ_BODY_IDLE_TIMEOUT", 10, 1),
            upload_memory_mib=_int_env("ICONIQ_UPLOAD_MEMORY", 64, 2),
            keep_alive_timeout=_int_env("ICONIQ_KEEP_ALIVE_TIMEOUT", 5, 1),
        )
