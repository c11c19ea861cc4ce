"""Who is calling: the one place the avatars service decides it (switch to
`shared.http.identity.caller_of` when the identity contract lands on main).

Behind the gateway, `X-Surge-Identity-Kind: jwt` and `X-Surge-User-Id` carry the verified
subject; they are believed only from AVATARS_TRUSTED_PROXIES (the gateway strips any a client
sends). Called directly, the player shows `Authorization: Bearer <jwt>`.
"""

from __future__ import annotations

import re

from aiohttp import web

from shared.http.problems import Problem
from shared.security import JwtVerifier, TokenError, bearer_token
from shared.security.networks import Network, is_trusted


async def user_of(
    request: web.Request, trusted: tuple[Network, ...], verifier: JwtVerifier | None
) -> str:
    """The signed-in player's id, or a 401 problem."""
    user = request.headers.get("X-Surge-User-Id")
    kind = request.headers.get("X-Surge-Identity-Kind")
    if user and kind == "jwt" and is_trusted(request.remote, trusted):
        return _checked(user)
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
    return _checked(subject)


# The notifier's channel alphabet: the id names `user:<id>` and appears in media paths.
USER_ID = re.compile(r"^[A-Za-z0-9._@|=+-]{1,128}$")


def _checked(user: str) -> str:
    if not USER_ID.fullmatch(user):
        raise Problem(400, "the user id must be 1-128 of A-Z a-z 0-9 . _ @ | = + -")
    return user
