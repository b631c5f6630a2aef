"""Country from a client address, offline; the address is used here and forgotten.

The client address is the socket peer, unless that peer is a trusted proxy:
then ``X-Forwarded-For`` is read right to left, skipping trusted hops. The
lookup uses geoip2fast's bundled database (IPv4 and IPv6, no download).
Loopback, private and unknown addresses give no country.
"""

from __future__ import annotations

import ipaddress
import re
import threading
from typing import Any

from iconiq.server.config import Network

_COUNTRY = re.compile(r"^[A-Z]{2}$")
_lock = threading.Lock()
_reader: Any = None


def _geo() -> Any:
    global _reader
    with _lock:
        if _reader is None:
            from geoip2fast import GeoIP2Fast

            _reader = GeoIP2Fast(geoip2fast_data_file="geoip2fast-ipv6.dat.gz", verbose=False)
        return _reader


def warm() -> None:
    """Load the country database now (it takes a moment) rather than on the first event."""
    _geo()


def _trusted(
    addr: ipaddress.IPv4Address | ipaddress.IPv6Address, proxies: tuple[Network, ...]
) -> bool:
    return any(addr in net for net in proxies)


def _parse(raw: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    raw = raw.strip().strip('"')
    if raw.startswith("[") and "]" in raw:
        raw = raw[1 : raw.index("]")]
    elif raw.count(":") == 1:
        raw = raw.split(":", 1)[0]  # IPv4 with a port
    try:
        addr = ipaddress.ip_address(raw)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def client_address(
    peer: str | None, forwarded_for: str | None, proxies: tuple[Network, ...]
) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address a request came from, believing X-Forwarded-For only from trusted proxies."""
    addr = _parse(peer) if peer else None
    if addr is None or not forwarded_for or not _trusted(addr, proxies):
        return addr
    for hop in reversed(forwarded_for.split(",")):
        hop_addr = _parse(hop)
        if hop_addr is None:
            return addr
        addr = hop_addr
        if not _trusted(addr, proxies):
            return addr
    return addr


def _lookup(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    if not addr.is_global:
        return None
    result = _geo().lookup(str(addr))
    code = getattr(result, "country_code", None)
    if getattr(result, "is_private", False) or not isinstance(code, str):
        return None
    return code if _COUNTRY.match(code) and code not in {"ZZ", "XX"} else None


def country_of(addr: ipaddress.IPv4Address | ipaddress.IPv6Address | None) -> str | None:
    """ISO 3166 alpha-2 code, or None (loopback, private, unknown)."""
    if addr is None:
        return None
    try:
        return _lookup(addr)
    except Exception:  # noqa: BLE001 - a country is a nicety; never fail an upload for it
        return None
