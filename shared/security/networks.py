"""Trusted proxy networks: which peers may say where a client connects from (X-Forwarded-For;
who the client is travels signed instead, shared/http/identity.py). Every service parses the
same comma-separated setting (`*_TRUSTED_PROXIES`) and checks a peer the same way, so the rule
lives here once.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str) -> tuple[Network, ...]:
    """`"10.0.0.0/8, ::1"` -> networks (host bits ignored); ValueError on a malformed item."""
    return tuple(
        ipaddress.ip_network(item.strip(), strict=False) for item in text.split(",") if item.strip()
    )


def is_trusted(address: str | None, networks: Sequence[Network]) -> bool:
    """Whether `address` (a peer or a forwarded hop) lies in `networks`; False if it is no IP."""
    ip = _parsed(address or "")
    return ip is not None and any(ip in network for network in networks)


@functools.lru_cache(maxsize=4096)
def _parsed(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    # Asked on every request, mostly for the same few peers (the gateway, a load balancer):
    # parsing the text each time was a visible share of a service's request handling.
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    # A dual-stack socket reports an IPv4 peer as ::ffff:a.b.c.d; match it against IPv4 ranges.
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def client_address(
    peer: str | None, forwarded_for: Sequence[str], networks: Sequence[Network]
) -> str:
    """The client behind a chain of trusted proxies: the peer itself unless it is trusted,
    else the nearest X-Forwarded-For hop (walking right to left) that is not trusted."""
    address = peer or ""
    if not networks or not is_trusted(address, networks):
        return address
    hops = [hop.strip() for value in forwarded_for for hop in value.split(",") if hop.strip()]
    for hop in reversed(hops):
        if _parsed(hop) is None:
            return address  # a malformed hop: believe nothing beyond it
        address = hop
        if not is_trusted(hop, networks):
            break
    return address
