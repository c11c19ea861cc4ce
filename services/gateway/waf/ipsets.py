"""IP sets (CIDR lists, IPv4 and IPv6) and the allow/deny decision built on them.

As with AWS WAF IP sets: a non-empty allow list admits only its members, and the deny list wins
over the allow list. IPv4-mapped IPv6 addresses (::ffff:192.0.2.1, what a dual-stack socket
reports for an IPv4 client) are matched as the IPv4 address they carry.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from enum import StrEnum

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_ip(text: str) -> IpAddress | None:
    """The address in `text`, or None when it is not one (an IPv6 zone id is ignored)."""
    try:
        address = ipaddress.ip_address(text.strip().split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def parse_cidrs(text: str, *, setting: str) -> tuple[IpNetwork, ...]:
    """A comma-separated CIDR list; a bare address means a single host. Fails fast on typos."""
    networks: list[IpNetwork] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError as exc:
            raise ValueError(f"{setting}: {item!r} is not an IP address or CIDR block") from exc
    return tuple(networks)


class IpSet:
    def __init__(self, networks: Iterable[IpNetwork]) -> None:
        self.networks = tuple(networks)

    def __bool__(self) -> bool:
        return bool(self.networks)

    def __contains__(self, address: IpAddress) -> bool:
        return any(
            address.version == network.version and address in network for network in self.networks
        )


class Access(StrEnum):
    ALLOWED = "allowed"
    DENIED = "denied"  # on the deny list
    NOT_ALLOWED = "not_allowed"  # an allow list exists and the address is not on it


class IpAccess:
    def __init__(self, allow: IpSet, deny: IpSet) -> None:
        self.allow = allow
        self.deny = deny

    @classmethod
    def from_settings(cls, allow_cidrs: str, deny_cidrs: str) -> IpAccess:
        return cls(
            IpSet(parse_cidrs(allow_cidrs, setting="GATEWAY_WAF_ALLOW_CIDRS")),
            IpSet(parse_cidrs(deny_cidrs, setting="GATEWAY_WAF_DENY_CIDRS")),
        )

    def check(self, address: IpAddress | None) -> Access:
        """An unparseable client address is only admitted when no allow list is configured."""
        if address is None:
            return Access.NOT_ALLOWED if self.allow else Access.ALLOWED
        if address in self.deny:
            return Access.DENIED
        if self.allow and address not in self.allow:
            return Access.NOT_ALLOWED
        return Access.ALLOWED
