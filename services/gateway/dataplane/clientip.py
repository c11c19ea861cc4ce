"""Who the client is, as far as the network tells: X-Forwarded-* believed only from trusted proxies.

The plane resolves the client address once per request, when its head is parsed; the WAF, the
limiter and the forwarded headers all read that one value (`Request.client`). A request from an
untrusted peer has its X-Forwarded-For ignored, so a client cannot pick the address that the WAF
blocks or the IP bucket counts.
"""

from __future__ import annotations

from collections.abc import Sequence

from services.gateway.request import ClientInfo
from shared.security.networks import Network, is_trusted

__all__ = ["ClientInfo", "resolve"]


def resolve(
    peer: str,
    raw_headers: Sequence[tuple[bytes, bytes]],
    trusted: Sequence[Network],
    *,
    secure: bool = False,
) -> ClientInfo:
    proto = "https" if secure else "http"
    if not trusted or not is_trusted(peer, trusted):
        return ClientInfo(address=peer, proto=proto, forwarded_for=peer)
    chain: list[str] = []
    forwarded_proto = ""
    for name, value in raw_headers:
        lowered = name.lower()
        if lowered == b"x-forwarded-for":
            chain.extend(hop.strip() for hop in value.decode("latin-1").split(",") if hop.strip())
        elif lowered == b"x-forwarded-proto" and not forwarded_proto:
            forwarded_proto = value.decode("latin-1").split(",")[0].strip().lower()
    address = peer
    # Walk from the nearest hop outwards; the first address we do not trust is the client.
    for hop in reversed(chain):
        address = hop
        if not is_trusted(hop, trusted):
            break
    if forwarded_proto in ("http", "https"):
        proto = forwarded_proto
    return ClientInfo(address=address, proto=proto, forwarded_for=", ".join([*chain, peer]))
