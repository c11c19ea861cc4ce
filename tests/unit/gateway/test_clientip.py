"""Which client address the gateway believes."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from services.gateway.dataplane.clientip import resolve as resolve_client
from services.gateway.request import ClientInfo
from shared.security.networks import Network, parse_networks

pytestmark = pytest.mark.unit


def resolve(args: tuple[str, list[tuple[bytes, bytes]]], trusted: Sequence[Network]) -> ClientInfo:
    return resolve_client(*args, trusted)


def request(
    peer: str, xff: str | None = None, proto: str | None = None
) -> tuple[str, list[tuple[bytes, bytes]]]:
    """The peer address and the raw header lines, as the plane hands them to `resolve`."""
    headers = []
    if xff is not None:
        headers.append((b"X-Forwarded-For", xff.encode()))
    if proto is not None:
        headers.append((b"X-Forwarded-Proto", proto.encode()))
    return peer, headers


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
