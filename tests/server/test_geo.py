"""Client address resolution (trusted proxies) and the offline country lookup."""

from __future__ import annotations

import ipaddress

from iconiq.server.config import parse_networks
from iconiq.server.geo import client_address, country_of

PROXIES = parse_networks("127.0.0.1/32, 10.0.0.0/8")


def test_peer_is_used_when_not_a_trusted_proxy() -> None:
    assert str(client_address("81.2.69.142", "8.8.8.8", PROXIES)) == "81.2.69.142"


def test_forwarded_for_is_walked_right_to_left_over_trusted_hops() -> None:
    addr = client_address("127.0.0.1", "1.1.1.1, 81.2.69.142, 10.1.2.3", PROXIES)
    assert str(addr) == "81.2.69.142"


def test_garbage_forwarded_for_falls_back_to_the_last_good_hop() -> None:
    assert str(client_address("127.0.0.1", "nonsense", PROXIES)) == "127.0.0.1"


def test_ipv4_with_port_and_bracketed_ipv6() -> None:
    assert str(client_address("127.0.0.1", "81.2.69.142:5555", PROXIES)) == "81.2.69.142"
    assert str(client_address("127.0.0.1", "[2a00:1450:4009::1]:443", PROXIES)) == (
        "2a00:1450:4009::1"
    )


def test_countries() -> None:
    assert country_of(ipaddress.ip_address("81.2.69.142")) == "GB"
    assert country_of(ipaddress.ip_address("8.8.8.8")) == "US"
    for private in ("127.0.0.1", "10.0.0.1", "192.168.1.1", "::1", "fd00::1", "203.0.113.9"):
        assert country_of(ipaddress.ip_address(private)) is None
    assert country_of(None) is None
