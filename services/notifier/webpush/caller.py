"""Who is calling the subscription API: the gateway's identity headers, or a user JWT.

`X-Surge-User-Id` is believed only from a trusted proxy (NOTIFIER_TRUSTED_PROXIES, the gateway),
because the gateway strips any client-sent `X-Surge-*` header; from anywhere else the request
must carry `Authorization: Bearer <user JWT>`, verified here.
"""

from __future__ import annotations

from aiohttp import web

from shared.http.problems import Problem
from shared.security import JwtVerifier, TokenError, bearer_token
from shared.security.networks import Network, is_trusted

USER_HEADER = "X-Surge-User-Id"
KIND_HEADER = "X-Surge-Identity-Kind"
MAX_USER_ID = 128


def _unauthorized(detail: str) -> Problem:
    return Problem(401, detail, headers={"WWW-Authenticate": 'Bearer realm="notifier"'})


async def caller(
    request: web.Request, trusted: tuple[Network, ...], verifier: JwtVerifier | None
) -> str:
    """The user id of the caller; 401 problem+json when there is none."""
    if is_trusted(request.remote, trusted):
        user = request.headers.get(USER_HEADER, "").strip()
        if request.headers.get(KIND_HEADER) == "jwt" and 0 < len(user) <= MAX_USER_ID:
            return user
    authorization = request.headers.get("Authorization")
    if authorization is None:
        raise _unauthorized("a user token is required (Authorization: Bearer <JWT>)")
    if verifier is None:
        raise _unauthorized("user tokens cannot be verified here (no AUTH_JWT_SECRET/JWKS)")
    try:
        claims = await verifier.verify(bearer_token(authorization))
    except TokenError as exc:
        raise _unauthorized(f"token {exc.reason}") from None
    subject = claims.get("sub")
    if not isinstance(subject, str) or not 0 < len(subject) <= MAX_USER_ID:
        raise _unauthorized("token has no usable sub")
    return subject
