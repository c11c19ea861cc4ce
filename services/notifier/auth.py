"""Who is on the socket: the user JWT, from `Sec-WebSocket-Protocol` or the first message.

Tokens never travel in the URL (URLs end up in access logs and browser history). Browsers
cannot set an Authorization header on a WebSocket, so a client offers two subprotocols,
`surge.v1` and `bearer.<token>`; the server selects `surge.v1`, so the token is never echoed
back. Otherwise the first message must be `{"type": "auth", "token": ...}`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.typing import Subprotocol

from services.notifier.protocol import BEARER_PREFIX, SUBPROTOCOL, Code
from shared.security import JwtVerifier, TokenError
from shared.security.networks import Network, is_trusted


@dataclass(frozen=True)
class Principal:
    subject: str
    claims: dict[str, Any]
    expires_at: float | None


class AuthError(Exception):
    def __init__(self, code: Code, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


def select_subprotocol(
    _conn: ServerConnection, offered: Sequence[Subprotocol]
) -> Subprotocol | None:
    return Subprotocol(SUBPROTOCOL) if SUBPROTOCOL in offered else None


def offered_token(conn: ServerConnection) -> str | None:
    """The `bearer.<token>` subprotocol the client offered, if any."""
    request = conn.request
    if request is None:
        return None
    for header in request.headers.get_all("Sec-WebSocket-Protocol"):
        for item in header.split(","):
            item = item.strip()
            if item.startswith(BEARER_PREFIX) and len(item) > len(BEARER_PREFIX):
                return item[len(BEARER_PREFIX) :]
    return None


async def authenticate(verifier: JwtVerifier, token: str) -> Principal:
    try:
        claims = await verifier.verify(token)
    except TokenError as exc:
        reason = exc.reason
        code = Code.TOKEN_EXPIRED if reason == "expired" else Code.UNAUTHORIZED
        raise AuthError(code, f"token {reason}") from None
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject or len(subject) > 128:
        raise AuthError(Code.UNAUTHORIZED, "token has no usable sub")
    exp = claims.get("exp")
    return Principal(subject, claims, float(exp) if isinstance(exp, int | float) else None)


def client_ip(conn: ServerConnection, trusted: tuple[Network, ...]) -> str:
    """The peer address, or the last untrusted hop of X-Forwarded-For when the peer is a
    trusted proxy (the gateway), walking the list right to left as each proxy appended it."""
    peer = conn.remote_address[0] if conn.remote_address else "unknown"
    request = conn.request
    if request is None or not is_trusted(peer, trusted):
        return str(peer)
    hops = [
        hop.strip()
        for header in request.headers.get_all("X-Forwarded-For")
        for hop in header.split(",")
    ]
    for hop in reversed(hops):
        if not is_trusted(hop, trusted):
            return hop if _is_ip(hop) else str(peer)
    return str(peer)


def _is_ip(address: str) -> bool:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return False
    return True
