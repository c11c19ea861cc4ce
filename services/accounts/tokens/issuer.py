"""Access tokens: ES256 JWTs signed with the current signing key (joserfc).

Claims: `iss`, `aud`, `sub` (the account UUID), `iat`, `exp`, `jti`, `sid` (the session),
`scope`, `roles`, `channels` (notifier channel patterns), `amr`, `auth_time`, and for tokens
issued to an OIDC client its `client_id`.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Sequence
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError

from services.accounts.tokens.signing import SigningKeys
from shared.security import TokenError

DEFAULT_SCOPE = "openid profile email"


class Issuer:
    def __init__(
        self,
        keys: SigningKeys,
        *,
        issuer: str,
        audience: str,
        ttl: float,
        channels: Sequence[str],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.ttl = ttl
        self.channels = list(channels)
        self.clock = clock

    def sign(self, claims: dict[str, Any]) -> str:
        key = self.keys.current
        return jwt.encode({"alg": "ES256", "kid": key.kid, "typ": "JWT"}, claims, key.key)

    def access_token(
        self,
        subject: str,
        *,
        sid: str,
        scope: str,
        roles: Sequence[str] = (),
        amr: Sequence[str] = ("pwd",),
        auth_time: float | None = None,
        client_id: str | None = None,
    ) -> tuple[str, int]:
        """The token and its lifetime in seconds."""
        now = int(self.clock())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "iat": now,
            "exp": now + int(self.ttl),
            "jti": secrets.token_urlsafe(12),
            "sid": sid,
            "scope": scope,
            "roles": list(roles),
            "channels": self.channels,
            "amr": list(amr),
            "auth_time": int(auth_time or now),
        }
        if client_id is not None:
            claims["client_id"] = client_id
        return self.sign(claims), int(self.ttl)

    def verify(self, token: str) -> dict[str, Any]:
        """Claims of one of our own valid access tokens; TokenError(reason) otherwise."""
        try:
            header = jws.extract_compact(token.encode()).protected
        except (JoseError, ValueError):
            raise TokenError("malformed") from None
        key = self.keys.by_kid(str(header.get("kid")))
        if key is None or header.get("alg") != "ES256":
            raise TokenError("unknown_key")
        try:
            claims = dict(jwt.decode(token, key.key, algorithms=["ES256"]).claims)
        except (JoseError, ValueError):
            raise TokenError("bad_signature") from None
        if claims.get("iss") != self.issuer or claims.get("aud") != self.audience:
            raise TokenError("bad_issuer")
        exp = claims.get("exp")
        if not isinstance(exp, int) or exp <= self.clock():
            raise TokenError("expired")
        if not isinstance(claims.get("sub"), str):
            raise TokenError("missing_claim")
        return claims
