"""JWT verification: HS256 with a shared secret, RS256/ES256 through a JWKS URL.

Algorithm confusion is ruled out by construction: HMAC algorithms are only ever checked against
the configured secret and asymmetric ones only against keys from the JWKS URL, so a token cannot
make us use a public key as an HMAC secret, and "none" is never in the allow-list.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping
from datetime import timedelta
from typing import Any

import aiohttp
import jwt

from shared.security.errors import TokenError
from shared.security.jwks import Jwk, JwksCache
from shared.security.secrets import SecretLike, secret_bytes
from shared.settings import PlatformSettings

Claims = dict[str, Any]

HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}
)
DEFAULT_ALGORITHMS = ("HS256", "RS256", "ES256")

# Short HMAC secrets and small RSA keys are refused, not merely warned about.
_JWT = jwt.PyJWT(options={"enforce_minimum_key_length": True})

_REASONS: tuple[tuple[type[Exception], str], ...] = (
    (jwt.ExpiredSignatureError, "expired"),
    (jwt.ImmatureSignatureError, "not_yet_valid"),
    (jwt.InvalidIssuerError, "bad_issuer"),
    (jwt.InvalidAudienceError, "bad_audience"),
    (jwt.InvalidSignatureError, "bad_signature"),
    (jwt.InvalidAlgorithmError, "bad_algorithm"),
    (jwt.InvalidKeyError, "weak_key"),
    (jwt.DecodeError, "malformed"),
    (jwt.InvalidIssuedAtError, "malformed"),
)


def _reason(exc: jwt.PyJWTError) -> str:
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return {"iss": "bad_issuer", "aud": "bad_audience"}.get(exc.claim, "missing_claim")
    return next((reason for kind, reason in _REASONS if isinstance(exc, kind)), "invalid")


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer <token>` header (TokenError when absent)."""
    if not authorization:
        raise TokenError("missing")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise TokenError("malformed")
    return token.strip()


class JwtVerifier:
    """Verifies bearer tokens. Configure from `PlatformSettings` (AUTH_JWT_SECRET, AUTH_JWKS_URL,
    AUTH_ISSUER, AUTH_AUDIENCE, AUTH_LEEWAY_SECONDS), from keywords, or both (keywords win).
    """

    def __init__(
        self,
        platform: PlatformSettings | None = None,
        *,
        secret: SecretLike | None = None,
        jwks_url: str | None = None,
        jwks: JwksCache | None = None,
        session: aiohttp.ClientSession | None = None,
        issuer: str | None = None,
        audience: str | Collection[str] | None = None,
        leeway: float | None = None,
        algorithms: Collection[str] = DEFAULT_ALGORITHMS,
        required_claims: Collection[str] = ("exp",),
    ) -> None:
        if platform is not None:
            secret = secret if secret is not None else platform.auth_jwt_secret
            jwks_url = jwks_url or platform.auth_jwks_url
            issuer = issuer or platform.auth_issuer
            audience = audience or platform.auth_audience
            leeway = leeway if leeway is not None else platform.auth_leeway_seconds
        if jwks is None and jwks_url:
            jwks = JwksCache(jwks_url, session=session)
        if secret is None and jwks is None:
            raise ValueError("JwtVerifier needs a secret, a JWKS URL, or both")
        allowed = set(algorithms)
        unknown = allowed - HMAC_ALGORITHMS - ASYMMETRIC_ALGORITHMS
        if unknown:  # "none" included
            raise ValueError(f"algorithms not allowed: {sorted(unknown)}")
        self._secret = secret_bytes(secret) if secret is not None else None
        self._hmac = allowed & HMAC_ALGORITHMS if self._secret else set()
        self._asymmetric = allowed & ASYMMETRIC_ALGORITHMS if jwks is not None else set()
        self.jwks = jwks
        self.issuer = issuer
        self.audience = audience
        self.leeway = 30.0 if leeway is None else leeway
        self.required_claims = list(required_claims)
        self._keys: dict[tuple[str, str], Any] = {}

    @classmethod
    def from_settings(cls, platform: PlatformSettings, **overrides: Any) -> JwtVerifier:
        return cls(platform, **overrides)

    async def verify(self, token: str | None, *, audience: str | None = None) -> Claims:
        """Claims of a valid token; raises TokenError(reason) for anything else."""
        if not token:
            raise TokenError("missing")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise TokenError("malformed") from exc
        alg, kid = header.get("alg"), header.get("kid")
        if not isinstance(alg, str) or (kid is not None and not isinstance(kid, str)):
            raise TokenError("malformed")
        if alg in self._hmac:
            key: Any = self._secret
        elif alg in self._asymmetric and self.jwks is not None:
            key = self._public_key(await self.jwks.get(kid), alg)
        else:
            raise TokenError("bad_algorithm")
        wanted = audience if audience is not None else self.audience
        try:
            claims: Claims = _JWT.decode(
                token,
                key,
                algorithms=[alg],
                audience=wanted,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": self.required_claims, "verify_aud": wanted is not None},
            )
        except jwt.PyJWTError as exc:
            raise TokenError(_reason(exc)) from exc
        return claims

    def _public_key(self, jwk: Jwk, alg: str) -> Any:
        if jwk.get("alg") not in (None, alg):
            raise TokenError("bad_algorithm")  # the key is published for another algorithm
        cache_key = (str(jwk.get("kid")) + str(jwk.get("n") or jwk.get("x")), alg)
        if cache_key not in self._keys:
            try:
                self._keys[cache_key] = jwt.PyJWK(jwk, alg).key
            except jwt.PyJWTError as exc:  # e.g. an EC key offered for RS256
                raise TokenError("bad_key") from exc
        return self._keys[cache_key]

    async def close(self) -> None:
        if self.jwks is not None:
            await self.jwks.close()


def issue_hs256(
    claims: Mapping[str, Any],
    secret: SecretLike,
    ttl: float | timedelta = 300.0,
    *,
    now: float | None = None,
    headers: dict[str, Any] | None = None,
) -> str:
    """Sign an HS256 token (tests and the local stack); adds iat and exp unless given."""
    issued = time.time() if now is None else now
    seconds = ttl.total_seconds() if isinstance(ttl, timedelta) else ttl
    payload = dict(claims)
    payload.setdefault("iat", int(issued))
    payload.setdefault("exp", int(issued + seconds))
    return _JWT.encode(payload, secret_bytes(secret), algorithm="HS256", headers=headers)


__all__ = ["Claims", "JwtVerifier", "TokenError", "bearer_token", "issue_hs256"]
