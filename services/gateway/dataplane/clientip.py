"""Who the client is, as far as the network tells: X-Forwarded-* believed only from trusted proxies.

The gateway resolves the client address once per request (`resolve`) and stores it on the
request; the WAF, the limiter and the forwarded headers all read that one value. A request from
an untrusted peer has its X-Forwarded-For ignored, so a client cannot pick the address that the
WAF blocks or the IP bucket counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aiohttp import web

from shared.security.networks import Network, is_trusted


@dataclass(frozen=True, slots=True)
class ClientInfo:
    address: str
    proto: str
    forwarded_for: str  # the X-Forwarded-For value to send upstream


CLIENT = web.RequestKey("client", ClientInfo)


def resolve(request: web.BaseRequest, trusted: Sequence[Network]) -> ClientInfo:
    peer = request.remote or "unknown"
    proto = "https" if request.secure else "http"
    if not trusted or not is_trusted(peer, trusted):
        return ClientInfo(address=peer, proto=proto, forwarded_for=peer)
    chain = [
        hop.strip()
        for value in request.headers.getall("X-Forwarded-For", [])
        for hop in value.split(",")
        if hop.strip()
    ]
    address = peer
    # Walk from the nearest hop outwards; the first address we do not trust is the client.
    for hop in reversed(chain):
        address = hop
        if not is_trusted(hop, trusted):
            break
    forwarded_proto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    if forwarded_proto in ("http", "https"):
        proto = forwarded_proto
    return ClientInfo(address=address, proto=proto, forwarded_for=", ".join([*chain, peer]))


def client_info(request: web.BaseRequest) -> ClientInfo:
    info = request.get(CLIENT)
    if isinstance(info, ClientInfo):
        return info
    peer = request.remote or "unknown"
    return ClientInfo(peer, "https" if request.secure else "http", peer)
