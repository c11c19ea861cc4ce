"""Which client address the gateway believes."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import make_mocked_request

from services.gateway.dataplane.clientip import resolve
from shared.security.networks import parse_networks

pytestmark = pytest.mark.unit


def request(peer: str, xff: str | None = None, proto: str | None = None):  # type: ignore[no-untyped-def]
    headers = {}
    if xff is not None:
        headers["X-Forwarded-For"] = xff
    if proto is not None:
        headers["X-Forwarded-Proto"] = proto

    class Transport:
        def get_extra_info(self, name: str, default: object = None) -> object:
            return (peer, 1234) if name == "peername" else default

    return make_mocked_request("GET", "/", headers=headers, transport=Transport())


def test_untrusted_peer_forwarded_headers_are_ignored() -> None:
    info = resolve(request("198.51.100.9", "1.2.3.4", "https"), parse_networks("10.0.0.0/8"))
    assert info.address == "198.51.100.9"
    assert info.proto == "http"
    assert info.forwarded_for == "198.51.100.9"


def test_trusted_chain_is_walked_to_the_first_untrusted_hop() -> None:
    trusted = parse_networks("10.0.0.0/8, 192.168.0.0/16")
    info = resolve(request("10.0.0.1", "6.6.6.6, 203.0.113.5, 192.168.1.1", "https"), trusted)
    assert info.address == "203.0.113.5"  # 6.6.6.6 could have been forged by 203.0.113.5
    assert info.proto == "https"
    assert info.forwarded_for == "6.6.6.6, 203.0.113.5, 192.168.1.1, 10.0.0.1"


def test_ipv4_mapped_peer_is_matched_against_ipv4_networks() -> None:
    info = resolve(request("::ffff:10.1.2.3", "203.0.113.5"), parse_networks("10.0.0.0/8"))
    assert info.address == "203.0.113.5"


def test_invalid_cidr_fails_loudly() -> None:
    with pytest.raises(ValueError, match="does not appear"):
        parse_networks("10.0.0.0/33")
