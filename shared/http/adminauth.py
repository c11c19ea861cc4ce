"""Bearer secrets for operator and service APIs, compared in constant time.

Admin APIs take `Authorization: Bearer <ADMIN_TOKEN>`; a service API may take its own token.
Without a configured secret the API is switched off (503) rather than open.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from pydantic import SecretStr

from shared.http.keys import SETTINGS
from shared.http.problems import Problem
from shared.security import TokenError, bearer_token, constant_time_equals


def check_bearer_secret(
    request: web.Request,
    expected: SecretStr | None,
    *,
    unset: str,
    refused: str,
    challenge: str = "Bearer",
) -> None:
    """Raise a 503 problem (`unset`) without a secret, a 401 (`refused`) unless it was sent."""
    if expected is None:
        raise Problem(503, unset)
    try:
        token = bearer_token(request.headers.get("Authorization"))
    except TokenError:
        token = ""
    if not constant_time_equals(token, expected):
        raise Problem(401, refused, headers={"WWW-Authenticate": challenge})


def check_admin_token(request: web.Request) -> None:
    """Raise a 503/401 problem unless the request carries the admin token."""
    check_bearer_secret(
        request,
        request.app[SETTINGS].platform.admin_token,
        unset="the admin API is disabled: ADMIN_TOKEN is not set",
        refused="admin calls need `Authorization: Bearer <ADMIN_TOKEN>`",
        challenge='Bearer realm="surge-admin"',
    )


def admin_paths(prefix: str) -> Middleware:
    """Middleware requiring the admin token on every path under `prefix` (an operator API
    served on a service's public port, which the gateway does not route)."""

    @web.middleware
    async def require_admin(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(prefix):
            check_admin_token(request)
        return await handler(request)

    return require_admin
