"""Who the visitor is: the gateway's identity headers from a trusted peer, else a user JWT.

Behind the gateway, `X-Surge-Identity-Kind: jwt` and `X-Surge-User-Id` carry the verified
subject (the gateway strips any X-Surge-* a client sends); those headers are believed only from
WAITINGROOM_TRUSTED_PROXIES. Called directly, the visitor shows `Authorization: Bearer <jwt>`.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from shared.http.problems import Problem
from shared.security import JwtVerifier, TokenError, bearer_token
from shared.security.networks import Network, is_trusted

USER_HEADER = "X-Surge-User-Id"
KIND_HEADER = "X-Surge-Identity-Kind"
ROLES_HEADER = "X-Surge-Roles"


@dataclass(frozen=True)
class Visitor:
    user: str
    tier_hint: object  # the tier claim (or one of the roles the gateway forwarded)
    roles: frozenset[str] = frozenset()


async def visitor(
    request: web.Request,
    trusted: tuple[Network, ...],
    verifier: JwtVerifier | None,
    tier_claim: str = "tier",
) -> Visitor:
    user = request.headers.get(USER_HEADER)
    if user and request.headers.get(KIND_HEADER) == "jwt" and is_trusted(request.remote, trusted):
        forwarded = frozenset(request.headers.get(ROLES_HEADER, "").split())
        return Visitor(_checked(user), None, forwarded)
    if verifier is None:
        raise Problem(401, "a user JWT is required (no verifier configured: AUTH_JWT_SECRET)")
    try:
        claims = await verifier.verify(bearer_token(request.headers.get("Authorization")))
    except TokenError as exc:
        challenge = f'Bearer error="invalid_token", error_description="{exc.reason}"'
        raise Problem(
            401,
            f"a valid user JWT is required ({exc.reason})",
            headers={"WWW-Authenticate": challenge},
        ) from None
    subject = claims.get("sub")
    if not isinstance(subject, str):
        raise Problem(401, "the user JWT has no subject")
    raw_roles = claims.get("roles")
    roles: frozenset[str] = frozenset()
    if isinstance(raw_roles, list):
        roles = frozenset(r for r in raw_roles if isinstance(r, str))
    return Visitor(_checked(subject), claims.get(tier_claim), roles)


def _checked(user: str) -> str:
    if not 0 < len(user) <= 128 or any(c.isspace() or not c.isprintable() for c in user):
        raise Problem(400, "the user id must be 1-128 printable characters without spaces")
    return user
