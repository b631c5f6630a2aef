"""Per-client-address rate limiting with ``limits``; storage shared via Redis if configured.

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
import time

from limits import parse_many, storage, strategies

from iconiq.errors import InvalidInput

log = logging.getLogger("iconiq.server.ratelimit")


class RateLimiter:
    """``check(addr)`` → None when allowed, else the seconds to wait (for Retry-After)."""

    def __init__(self, limit: str, storage_uri: str) -> None:
        try:
            self.items = parse_many(limit)
            self.storage = storage.storage_from_string(storage_uri)
        except Exception as exc:  # noqa: BLE001 - a bad setting is one line for the operator
            raise InvalidInput(f"rate limit setting: {exc}") from exc
        self.limiter = strategies.MovingWindowRateLimiter(self.storage)
        # Keys are per-process-salted only when the storage is per-process.
        shared = not storage_uri.startswith("memory://")
        salt = os.environ.get("ICONIQ_RATE_LIMIT_SALT", "iconiq-rate-limit") if shared else None
        self._salt = (salt or os.urandom(16).hex()).encode()

    def _key(self, addr: ipaddress.IPv4Address | ipaddress.IPv6Address | None) -> str:
        if addr is None:
            return "unknown"
        if isinstance(addr, ipaddress.IPv6Address):
            # One client usually owns a whole /64.
            addr = ipaddress.ip_network(f"{addr}/64", strict=False).network_address
        return hmac.new(self._salt, addr.packed, hashlib.sha256).hexdigest()[:32]

    def check(self, addr: ipaddress.IPv4Address | ipaddress.IPv6Address | None) -> float | None:
        key = self._key(addr)
        wait: float | None = None
        try:
            for item in self.items:
                if not self.limiter.hit(item, "iconiq", key):
                    stats = self.limiter.get_window_stats(item, "iconiq", key)
                    wait = max(wait or 0.0, stats.reset_time - time.time(), 1.0)
        except Exception as exc:  # noqa: BLE001 - limiter storage down: serve rather than fail
            log.warning("rate limiter unavailable: %s", type(exc).__name__)
            return None
        return None if wait is None else float(math.ceil(wait))
