"""JWT verification (HS256 secret or JWKS), constant-time comparison."""

from shared.security.errors import TokenError
from shared.security.jwks import JwksCache
from shared.security.jwt import Claims, JwtVerifier, bearer_token, issue_hs256
from shared.security.secrets import constant_time_equals, generate_secret

__all__ = [
    "Claims",
    "JwksCache",
    "JwtVerifier",
    "TokenError",
    "bearer_token",
    "constant_time_equals",
    "generate_secret",
    "issue_hs256",
]
