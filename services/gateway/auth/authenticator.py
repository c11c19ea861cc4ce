"""Authentication and authorization per route: policies none / jwt / api_key / jwt_or_api_key.

Credentials: a JWT in `Authorization: Bearer <token>`; an API key in `X-API-Key` or
`Authorization: ApiKey <key>`. Every credential presented is verified, whatever the policy:
an invalid one is a 401 even on a `none` route, and a valid one identifies the caller there
too (so its key's plan applies). With both a JWT and a key, the JWT says who the caller is
(subject, scopes, roles) and the key adds its id and usage plan.

Authorization: every scope in `Route.scopes` is required; `Route.roles` needs any one of them
(RBAC "one of these roles"). Missing ones are a 403 naming them. Failures answer 401 with an
RFC 6750 `WWW-Authenticate` challenge carrying the reason code, never the credential.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter
from pymongo.errors import PyMongoError

from services.gateway.auth.apikeys import ApiKey, ApiKeyStore
from services.gateway.auth.identity import ANONYMOUS, Identity
from services.gateway.auth.tokens import is_access_token
from services.gateway.request import Request
from services.gateway.routing.table import AuthPolicy, Route
from shared.cache import TtlCache
from shared.http.problems import PROBLEM_TYPE_BASE, Problem
from shared.security import JwtVerifier, TokenError

REALM = "surge"
API_KEY_HEADER = "X-API-Key"
UNAUTHORIZED = PROBLEM_TYPE_BASE + "unauthorized"
FORBIDDEN = PROBLEM_TYPE_BASE + "forbidden"
# Verified tokens are remembered by their exact text, so a client sending the same bearer token
# on every request pays for the signature check once per TOKEN_CACHE_SECONDS, not per request.
# An entry never outlives the token's `exp`; after it lapses the token is verified again in
# full. The cost: a token whose signing key is withdrawn from the JWKS stays accepted for at
# most TOKEN_CACHE_SECONDS. Refused tokens are never cached.
TOKEN_CACHE_SECONDS = 30.0
TOKEN_CACHE_SIZE = 10_000


def _words(value: Any) -> frozenset[str]:
    """A claim holding names: a space-separated string or a list of strings."""
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list | tuple):
        return frozenset(item for item in value if isinstance(item, str) and item)
    return frozenset()


def credentials(
    headers: Mapping[str, str], route: Route | None = None
) -> tuple[str | None, str | None]:
    """(bearer token, API key) as presented; other Authorization schemes are ignored.

    On a route with `protected_zone`, a bearer token the waiting room issued is that zone's
    access token (zones.py reads it), not a user credential: it is left out here, so a visitor
    holding only an access token is anonymous rather than refused."""
    bearer: str | None = None
    key = headers.get(API_KEY_HEADER)
    authorization = headers.get("Authorization")
    if authorization:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() == "bearer":
            bearer = value.strip()
            if route is not None and route.protected_zone is not None and is_access_token(bearer):
                bearer = None
        elif scheme.lower() == "apikey" and key is None:
            key = value.strip()
    return bearer, (key.strip() if key is not None else None)


def identify(claims: Mapping[str, Any] | None, key: ApiKey | None) -> Identity:
    if claims is not None:
        subject = claims.get("sub")
        return Identity(
            kind="jwt",
            subject=subject if isinstance(subject, str) else None,
            scopes=_words(claims.get("scope", claims.get("scp"))),
            roles=_words(claims.get("roles")),
            key_id=key.id if key else None,
            plan_id=key.plan_id if key else None,
            claims=dict(claims),
        )
    if key is not None:
        return Identity(
            kind="api_key",
            scopes=frozenset(key.scopes),
            roles=frozenset(key.roles),
            key_id=key.id,
            plan_id=key.plan_id,
        )
    return ANONYMOUS


class Authenticator:
    def __init__(
        self,
        settings: object = None,  # uniform constructor; the JWT settings live in the verifier
        *,
        verifier: JwtVerifier | None,
        api_keys: ApiKeyStore,
        registry: CollectorRegistry | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._verifier = verifier
        self._api_keys = api_keys
        self._clock = wall_clock
        self._tokens = TtlCache[str, Identity](
            max_size=TOKEN_CACHE_SIZE, ttl=TOKEN_CACHE_SECONDS, clock=wall_clock
        )
        registry = registry if registry is not None else CollectorRegistry()
        self.failures = Counter(
            "gateway_auth_failures",
            "Requests refused with 401/403, by reason.",
            ["reason"],
            registry=registry,
        )

    async def authenticate(self, request: Request, route: Route) -> Identity:
        """The caller's identity, or Problem 401/403 when the route's policy is not met."""
        bearer, presented = credentials(request.headers, route)
        key: ApiKey | None = None
        if presented is not None:
            try:
                key = await self._api_keys.authenticate(presented)
            except PyMongoError:
                self.failures.labels("key_store_unavailable").inc()
                raise Problem(
                    503, "API keys cannot be checked right now.", headers={"Retry-After": "1"}
                ) from None
            if key is None:
                raise self._unauthorized("invalid_key", "ApiKey", route)
        if bearer is None:
            identity = identify(None, key)
        else:
            verified = await self._verify(bearer, route)  # the token's identity, keyless
            identity = verified if key is None else identify(verified.claims, key)
        policy = route.auth
        if (
            (policy is AuthPolicy.JWT and identity.kind != "jwt")
            or (policy is AuthPolicy.API_KEY and identity.key_id is None)
            or (policy is AuthPolicy.JWT_OR_API_KEY and identity.anonymous)
            or ((route.scopes or route.roles) and identity.anonymous)
        ):
            raise self._unauthorized("missing", None, route)
        self._authorize(route, identity)
        return identity

    async def _verify(self, token: str, route: Route) -> Identity:
        """The identity a valid token carries (no API key); cached with the verification, so a
        repeated token also skips building it (and, via Identity.headers, its headers)."""
        if self._verifier is None:
            raise self._unauthorized("jwt_not_configured", "Bearer", route)
        cached = self._tokens.get(token)
        if cached is not None:
            return cached
        try:
            claims = await self._verifier.verify(token or None)
        except TokenError as exc:
            raise self._unauthorized(exc.reason, "Bearer", route) from None
        identity = identify(claims, None)
        self._remember(token, identity)
        return identity

    def _remember(self, token: str, identity: Identity) -> None:
        expires = identity.claims.get("exp")
        if not token or not isinstance(expires, int | float) or isinstance(expires, bool):
            return  # no expiry to bound the entry by: verify such tokens every time
        self._tokens.put(token, identity, until=float(expires))

    def _authorize(self, route: Route, identity: Identity) -> None:
        missing = sorted(set(route.scopes) - identity.scopes)
        if missing:
            self.failures.labels("insufficient_scope").inc()
            challenge = (
                f'Bearer realm="{REALM}", error="insufficient_scope", scope="{" ".join(missing)}"'
            )
            raise Problem(
                403,
                f"Missing required scope(s): {', '.join(missing)}.",
                type_=FORBIDDEN,
                headers={"WWW-Authenticate": challenge},
                extra={"missing_scopes": missing},
            )
        if route.roles and not identity.roles & set(route.roles):
            self.failures.labels("missing_role").inc()
            raise Problem(
                403,
                f"Requires one of the roles: {', '.join(sorted(route.roles))}.",
                type_=FORBIDDEN,
                extra={"required_roles": sorted(route.roles)},
            )

    def _unauthorized(self, reason: str, scheme: str | None, route: Route) -> Problem:
        self.failures.labels(reason).inc()
        if scheme is None:  # no credential at all: RFC 6750 3.1, no error code
            schemes = ["ApiKey"] if route.auth is AuthPolicy.API_KEY else ["Bearer"]
            if route.auth is AuthPolicy.JWT_OR_API_KEY:
                schemes.append("ApiKey")
            challenge = ", ".join(f'{s} realm="{REALM}"' for s in schemes)
            detail = "Authentication required: send a bearer token or an API key."
        else:
            challenge = (
                f'{scheme} realm="{REALM}", error="invalid_token", error_description="{reason}"'
            )
            what = "API key" if scheme == "ApiKey" else "bearer token"
            detail = f"The {what} was refused ({reason})."
        return Problem(
            401,
            detail,
            type_=UNAUTHORIZED,
            headers={"WWW-Authenticate": challenge},
            extra={"reason": reason},
        )
