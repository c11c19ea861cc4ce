"""IP allow/deny lists: CIDR blocks, IPv4 and IPv6, deny wins, allow list means only those."""

from __future__ import annotations

import pytest

from services.gateway.waf.ipsets import Access, IpAccess, parse_ip

pytestmark = pytest.mark.unit


def check(address: str, *, allow: str = "", deny: str = "") -> Access:
    return IpAccess.from_settings(allow, deny).check(parse_ip(address))


def test_no_lists_admit_everyone() -> None:
    assert check("203.0.113.9") is Access.ALLOWED
    assert check("2001:db8::1") is Access.ALLOWED


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("10.1.2.3", Access.ALLOWED),
        ("10.255.0.1", Access.ALLOWED),
        ("11.0.0.1", Access.NOT_ALLOWED),
        ("2001:db8:aa::5", Access.ALLOWED),
        ("2001:db9::5", Access.NOT_ALLOWED),
        ("::ffff:10.0.0.7", Access.ALLOWED),  # IPv4-mapped IPv6 is the IPv4 address
        ("192.0.2.10", Access.ALLOWED),  # a bare address is a /32
        ("192.0.2.11", Access.NOT_ALLOWED),
    ],
)
def test_a_non_empty_allow_list_admits_only_its_members(address: str, expected: Access) -> None:
    assert check(address, allow="10.0.0.0/8, 2001:db8::/32,192.0.2.10") is expected


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("198.51.100.7", Access.DENIED),
        ("198.51.101.7", Access.ALLOWED),
        ("2001:db8:bad::1", Access.DENIED),
        ("2001:db8:600d::1", Access.ALLOWED),
    ],
)
def test_the_deny_list_refuses_its_members(address: str, expected: Access) -> None:
    assert check(address, deny="198.51.100.0/24,2001:db8:bad::/48") is expected


def test_deny_wins_over_allow() -> None:
    assert check("10.0.0.5", allow="10.0.0.0/8", deny="10.0.0.5") is Access.DENIED
    assert check("2001:db8::5", allow="2001:db8::/32", deny="2001:db8::/64") is Access.DENIED
    assert check("10.0.0.6", allow="10.0.0.0/8", deny="10.0.0.5") is Access.ALLOWED


def test_an_ipv4_block_never_matches_an_ipv6_address() -> None:
    assert check("::1", deny="0.0.0.0/0") is Access.ALLOWED
    assert check("127.0.0.1", deny="::/0") is Access.ALLOWED


def test_an_unparseable_client_address_is_refused_only_under_an_allow_list() -> None:
    assert IpAccess.from_settings("", "").check(None) is Access.ALLOWED
    assert IpAccess.from_settings("10.0.0.0/8", "").check(None) is Access.NOT_ALLOWED


def test_a_malformed_cidr_fails_fast_naming_the_variable() -> None:
    with pytest.raises(ValueError, match=r"GATEWAY_WAF_DENY_CIDRS: '10\.0\.0\.0/33'"):
        IpAccess.from_settings("", "10.0.0.0/33")
    with pytest.raises(ValueError, match="GATEWAY_WAF_ALLOW_CIDRS"):
        IpAccess.from_settings("not-an-ip", "")


def test_parse_ip_ignores_zone_ids_and_rejects_garbage() -> None:
    assert str(parse_ip("fe80::1%eth0")) == "fe80::1"
    assert parse_ip("unknown") is None
