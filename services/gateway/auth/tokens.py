"""Waiting-room access tokens as a credential: recognised by their issuer before any check.

The signature is verified by the gatekeeper (zones.py) against the waiting room's keys; the
authenticator only needs to know that a bearer token is one, so it does not verify it as a user
JWT and refuse it.
"""

from __future__ import annotations

import jwt

from shared.security.access_tokens import ISSUER


def is_access_token(token: str) -> bool:
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return False
    return isinstance(claims, dict) and claims.get("iss") == ISSUER
