"""Admin APIs take `Authorization: Bearer <ADMIN_TOKEN>`, compared in constant time.

Without ADMIN_TOKEN the admin API is switched off (503) rather than open.
"""

from __future__ import annotations

from aiohttp import web

from shared.http.keys import SETTINGS
from shared.http.problems import Problem
from shared.security import constant_time_equals


def check_admin_token(request: web.Request) -> None:
    """Raise a 503/401 problem unless the request carries the admin token."""
    expected = request.app[SETTINGS].platform.admin_token
    if expected is None:
        raise Problem(503, "the admin API is disabled: ADMIN_TOKEN is not set")
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not constant_time_equals(token.strip(), expected):
        raise Problem(
            401,
            "admin calls need `Authorization: Bearer <ADMIN_TOKEN>`",
            headers={"WWW-Authenticate": 'Bearer realm="surge-admin"'},
        )
