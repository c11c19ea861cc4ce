"""Trusted proxy networks, shared by every service that believes forwarded identity."""

from __future__ import annotations

import pytest

from shared.security.networks import is_trusted, parse_networks

pytestmark = pytest.mark.unit


def test_parses_a_comma_separated_list_ignoring_blanks_and_host_bits() -> None:
    networks = parse_networks(" 10.1.2.3/8, ,::1 ")
    assert [str(n) for n in networks] == ["10.0.0.0/8", "::1/128"]
    assert parse_networks("") == ()
    with pytest.raises(ValueError, match="33"):
        parse_networks("10.0.0.0/33")


def test_trusts_only_addresses_inside_the_networks() -> None:
    networks = parse_networks("10.0.0.0/8, ::1")
    assert is_trusted("10.9.8.7", networks)
    assert is_trusted("::ffff:10.9.8.7", networks)  # IPv4 peer on a dual-stack socket
    assert is_trusted("::1", networks)
    assert not is_trusted("192.168.1.1", networks)
    assert not is_trusted("unknown", networks)
    assert not is_trusted(None, networks)
    assert not is_trusted("10.9.8.7", ())
