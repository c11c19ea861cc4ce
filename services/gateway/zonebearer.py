"""`Authorization: Bearer <access token>` on zone-protected routes.

The authenticator verifies every bearer token as a user JWT, so a waiting-room access token
there would be refused (401) before the gatekeeper sees it. On a route with `protected_zone`,
a bearer token issued by the waiting room (its unverified `iss`; the gatekeeper verifies the
signature) is set aside for the gatekeeper and authentication runs on the other headers. A
caller with both a user JWT and an access token sends the latter in `X-Access-Token`.
"""

from __future__ import annotations

from typing import cast

import jwt
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from services.gateway.auth import Authenticator, credentials
from services.gateway.identity import Identity
from services.gateway.routetable import Route
from services.gateway.zones import REQUEST_TOKEN
from shared.security.access_tokens import ISSUER


def is_access_token(token: str) -> bool:
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return False
    return isinstance(claims, dict) and claims.get("iss") == ISSUER


class _Headers:
    """What the authenticator reads of a request: its headers only."""

    def __init__(self, headers: CIMultiDictProxy[str]) -> None:
        self.headers = headers


class ZoneAuthenticator(Authenticator):
    async def authenticate(self, request: web.BaseRequest, route: Route) -> Identity:
        if route.protected_zone is None:
            return await super().authenticate(request, route)
        bearer, _ = credentials(request.headers)
        if not bearer or not is_access_token(bearer):
            return await super().authenticate(request, route)
        request[REQUEST_TOKEN] = bearer
        headers = CIMultiDict(request.headers)
        del headers["Authorization"]
        rest = cast(web.BaseRequest, _Headers(CIMultiDictProxy(headers)))
        return await super().authenticate(rest, route)
