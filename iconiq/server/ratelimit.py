"""Per-client-address limits with ``limits``; storage shared via Redis if configured.

- ``LimitStore``: one ``limits`` storage (``ICONIQ_RATE_LIMIT_STORAGE``), the keyed
  hash that turns an address into a limiter key, and the store's health. An outage
  is logged once when it starts and once when it ends, never per request.
- ``RateLimiter``: the ingest limit (``ICONIQ_RATE_LIMIT``). Fails open: while the
  store is down, uploads are served unlimited (telemetry must not be lost because
  Redis is), and ``/healthz`` says ``"rate_limit": "unavailable"``.
- ``AuthBrake``: failed credentials (``ICONIQ_AUTH_FAILURE_LIMIT``). Fails closed:
  while the store is down a credential attempt is answered 503 rather than checked
  without a brake. A burst of failures from one address is logged once, when it
  reaches the limit, with the key's hash, never the address or the token.

The limiter key is a keyed hash of the address, so even a shared Redis never
holds a client address in clear.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import math
import os
import threading
import time

from limits import RateLimitItem, parse, parse_many, storage, strategies
from limits.errors import StorageError

from iconiq.errors import InvalidInput

log = logging.getLogger("iconiq.server.ratelimit")

Address = ipaddress.IPv4Address | ipaddress.IPv6Address | None

# A shared store that does not answer within this many seconds counts as down;
# once down, requests do not wait on it again for PROBE_INTERVAL seconds.
STORE_TIMEOUT = 1.0
PROBE_INTERVAL = 5.0


class StoreUnavailable(Exception):
    """The limit store cannot be reached (a fail-closed caller answers 503)."""


class LimitStore:
    """A ``limits`` storage, address keys, and the store's health (logged per outage)."""

    def __init__(self, storage_uri: str, salt: str = "iconiq-rate-limit") -> None:
        options: dict[str, float | str | bool] = {}
        if storage_uri.startswith(("redis://", "rediss://", "redis+unix://")):
            options = {"socket_timeout": STORE_TIMEOUT, "socket_connect_timeout": STORE_TIMEOUT}
        try:
            self.storage = storage.storage_from_string(storage_uri, wrap_exceptions=True, **options)
        except Exception as exc:  # noqa: BLE001 - a bad setting is one line for the operator
            raise InvalidInput(f"rate limit storage setting: {exc}") from exc
        self.shared = not storage_uri.startswith("memory://")
        # Keys are per-process-salted only when the storage is per-process.
        self._salt = (salt if self.shared else os.urandom(16).hex()).encode()
        self._down = False
        self._failed_at = 0.0
        self._lock = threading.Lock()

    def key(self, addr: Address) -> str:
        if addr is None:
            return "unknown"
        if isinstance(addr, ipaddress.IPv6Address):
            # One client usually owns a whole /64.
            addr = ipaddress.ip_network(f"{addr}/64", strict=False).network_address
        return hmac.new(self._salt, addr.packed, hashlib.sha256).hexdigest()[:32]

    def down(self, exc: BaseException) -> None:
        """Record a failed store call; logs only when an outage starts."""
        with self._lock:
            first, self._down = not self._down, True
            self._failed_at = time.monotonic()
        if first:
            log.warning(
                "rate limiter unavailable (%s): uploads are not limited and failed-credential"
                " attempts are refused until the store answers again",
                type(exc.__cause__ or exc).__name__,
            )

    def up(self) -> None:
        """Record a successful store call; logs only when an outage ends."""
        if self._down:
            with self._lock:
                was, self._down = self._down, False
            if was:
                log.warning("rate limiter store reachable again")

    def resting(self) -> bool:
        """True shortly after a failure: callers skip the store instead of waiting on it."""
        return self._down and time.monotonic() - self._failed_at < PROBE_INTERVAL

    def healthy(self) -> bool:
        """Ping the store (for /healthz)."""
        try:
            ok = bool(self.storage.check())
        except Exception as exc:  # noqa: BLE001 - any failure means "down"
            self.down(exc)
            return False
        if ok:
            self.up()
        else:
            self.down(StorageError(ConnectionError("no answer")))
        return ok


def _parse(limit: str, setting: str) -> list[RateLimitItem]:
    try:
        return parse_many(limit)
    except ValueError as exc:
        raise InvalidInput(f"{setting}: cannot parse {limit!r}") from exc


def _wait(limiter: strategies.RateLimiter, item: RateLimitItem, key: str, ns: str) -> float:
    stats = limiter.get_window_stats(item, ns, key)
    return float(math.ceil(max(stats.reset_time - time.time(), 1.0)))


class RateLimiter:
    """``check(addr)`` → None when allowed, else the seconds to wait (for Retry-After)."""

    def __init__(self, limit: str, store: LimitStore | str) -> None:
        self.items = _parse(limit, "ICONIQ_RATE_LIMIT")
        self.store = store if isinstance(store, LimitStore) else LimitStore(store)
        self.limiter = strategies.MovingWindowRateLimiter(self.store.storage)

    def check(self, addr: Address) -> float | None:
        if self.store.resting():
            return None
        key = self.store.key(addr)
        wait: float | None = None
        try:
            for item in self.items:
                if not self.limiter.hit(item, "iconiq", key):
                    wait = max(wait or 0.0, _wait(self.limiter, item, key, "iconiq"))
        except StorageError as exc:  # fail open: serve rather than lose telemetry
            self.store.down(exc)
            return None
        self.store.up()
        return wait


class AuthBrake:
    """Failed credentials per address: ``blocked`` before checking one, ``failed`` after."""

    NAMESPACE = "iconiq-auth"

    def __init__(self, limit: str, store: LimitStore) -> None:
        self.items = _parse(limit, "ICONIQ_AUTH_FAILURE_LIMIT")
        self.store = store
        self.limiter = strategies.MovingWindowRateLimiter(store.storage)
        # One log line per address per burst: at most once per the longest window.
        longest = max(item.get_expiry() for item in self.items)
        self._log_once = parse(f"1 per {longest} seconds")

    def blocked(self, addr: Address) -> float | None:
        """Seconds to wait when ``addr`` used up its failures, else None.

        Raises StoreUnavailable when the store is down (fail closed).
        """
        if self.store.resting():
            raise StoreUnavailable
        key = self.store.key(addr)
        wait: float | None = None
        try:
            for item in self.items:
                if not self.limiter.test(item, self.NAMESPACE, key):
                    wait = max(wait or 0.0, _wait(self.limiter, item, key, self.NAMESPACE))
        except StorageError as exc:
            self.store.down(exc)
            raise StoreUnavailable from exc
        self.store.up()
        return wait

    def failed(self, addr: Address) -> None:
        """Count one failed credential; log once when the address reaches the limit."""
        key = self.store.key(addr)
        try:
            full = None
            for item in self.items:
                self.limiter.hit(item, self.NAMESPACE, key)
                if self.limiter.get_window_stats(item, self.NAMESPACE, key).remaining == 0:
                    full = item
            if full is not None and self.limiter.hit(self._log_once, self.NAMESPACE + "-log", key):
                log.warning(
                    "failed credentials: client %s reached %s; further attempts get 429",
                    key[:12],
                    full,
                )
        except StorageError as exc:
            self.store.down(exc)
