"""Gatekeeping for routes with `protected_zone`: a valid waiting-room access token or no entry.

The token (ES256, `iss=surge-waitingroom`, `aud=<zone>`) comes from `Authorization: Bearer`
(a credential source of its own: auth/tokens.py), the `surge_access_<zone>` cookie the waiting
room page sets, or `X-Access-Token`, and is verified OFFLINE against the waiting room's JWKS:
no call per request.
Replay is not detected here (a completed token stays valid until `exp`); the upstream's
`complete` call is where a token is consumed, and refused the second time.

Exempt callers pass without a token: a JWT claim `waitingroom_exempt` (true, or a list of zone
ids), or the zone's `exempt` list, asked from the waiting room's verify API only when an
authenticated caller has no valid token (answers cached for EXEMPT_CACHE_SECONDS).

Refusals: a browser (Accept: text/html) is redirected (302) to the waiting room page with the
zone and the path to come back to; an API client gets 403 problem+json with `join_url`.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter
from yarl import URL

from services.gateway.auth.identity import Identity
from services.gateway.auth.tokens import is_access_token
from services.gateway.request import Request
from services.gateway.routing.table import Route
from shared.cache import TtlCache
from shared.http.problems import PROBLEM_TYPE_BASE, Problem
from shared.security import JwksCache, JwtVerifier, TokenError
from shared.security.access_tokens import ACCESS_HEADER, COOKIE_PREFIX, ISSUER

log = logging.getLogger("gateway.zones")

WAITINGROOM = "waitingroom"  # the waiting room's service name: the audience of our calls
EXEMPT_CLAIM = "waitingroom_exempt"
PAGE = "/waitingroom/page/"
ZONE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
ACCESS_REQUIRED = PROBLEM_TYPE_BASE + "waitingroom-access-required"
CACHE_SECONDS = 30.0  # verified tokens, like the authenticator's cache (bounded by exp)
EXEMPT_CACHE_SECONDS = 30.0
CACHE_SIZE = 10_000


def zone_of(route: Route, path: str) -> str | None:
    """The zone a request to `route` needs: the literal one, or the segment after the prefix."""
    if route.protected_zone != "{zone}":
        return route.protected_zone
    segment = path[len(route.prefix.rstrip("/")) :].lstrip("/").split("/", 1)[0]
    return segment if ZONE_ID.match(segment) else None


def verify_url(jwks_url: str) -> str:
    """The waiting room's verify API next to its JWKS (.../waitingroom/verify)."""
    return str(URL(jwks_url).join(URL("../verify")))


class Gatekeeper:
    def __init__(
        self,
        jwks_url: str,
        *,
        session: aiohttp.ClientSession,
        identity: Callable[[], dict[str, str]],
        registry: CollectorRegistry | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`identity`: the gateway's signed identity for the waiting room (its JWKS and verify
        API, like every service API, need one)."""
        self._session = session
        self._identity = identity
        self._verify_url = verify_url(jwks_url)
        self._verifier = JwtVerifier(
            jwks=JwksCache(jwks_url, session=session, headers=identity),
            issuer=ISSUER,
            algorithms=("ES256",),
            required_claims=("exp", "sub", "jti", "aud"),
            leeway=5.0,
        )
        self._clock = clock
        self._tokens = TtlCache[tuple[str, str], dict[str, Any]](
            max_size=CACHE_SIZE, ttl=CACHE_SECONDS, clock=clock
        )
        self._exempt = TtlCache[tuple[str, str], bool](
            max_size=CACHE_SIZE, ttl=EXEMPT_CACHE_SECONDS, clock=clock
        )
        self.checks = Counter(
            "gateway_zone_checks",
            "Requests to protected zones, by outcome.",
            ["outcome"],
            registry=registry if registry is not None else CollectorRegistry(),
        )

    async def guard(self, request: Request, route: Route, identity: Identity) -> None:
        """Return when the caller may enter the route's zone; raise the refusal otherwise."""
        zone = zone_of(route, request.path)
        if zone is None:
            raise Problem(404, "no zone in the path of a zone-protected route")
        subject = identity.subject if identity.kind == "jwt" else None
        if _claims_exempt(identity, zone):
            self.checks.labels("exempt").inc()
            return
        token = _presented(request, zone)
        reason = "missing"
        if token:
            try:
                claims = await self._verify(token, zone)
            except TokenError as exc:
                reason = {"bad_audience": "other_zone"}.get(exc.reason, exc.reason)
            else:
                if subject is None or claims.get("sub") == subject:
                    self.checks.labels("admitted").inc()
                    return
                reason = "other_user"
        if subject is not None and await self._listed_exempt(zone, subject):
            self.checks.labels("exempt").inc()
            return
        self.checks.labels(reason).inc()
        raise _refusal(request, zone, reason)

    async def _verify(self, token: str, zone: str) -> dict[str, Any]:
        cached = self._tokens.get((token, zone))
        if cached is not None:
            return cached
        claims = await self._verifier.verify(token, audience=zone)
        self._tokens.put((token, zone), claims, until=float(claims["exp"]))
        return claims

    async def _listed_exempt(self, zone: str, user: str) -> bool:
        cached = self._exempt.get((zone, user))
        if cached is not None:
            return cached
        try:
            timeout = aiohttp.ClientTimeout(total=2)
            body = {"zone": zone, "user": user}
            async with self._session.post(
                self._verify_url, json=body, timeout=timeout, headers=self._identity()
            ) as resp:
                answer = await resp.json() if resp.status == 200 else {}
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.warning("waiting room verify API unreachable: %s", exc)
            return False  # fail closed, and ask again next time
        exempt = answer.get("exempt") is True
        self._exempt.put((zone, user), exempt)
        return exempt

    async def close(self) -> None:
        await self._verifier.close()


def _claims_exempt(identity: Identity, zone: str) -> bool:
    claim = identity.claims.get(EXEMPT_CLAIM) if identity.kind == "jwt" else None
    return claim is True or (isinstance(claim, list) and zone in claim)


def _presented(request: Request, zone: str) -> str | None:
    authorization = request.headers.get("Authorization", "")
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() == "bearer" and is_access_token(value.strip()):
        return value.strip()
    return request.headers.get(ACCESS_HEADER) or request.cookies.get(COOKIE_PREFIX + zone)


def _refusal(request: Request, zone: str, reason: str) -> web.HTTPException:
    page = PAGE + "?" + urlencode({"zone": zone, "return": request.path_qs})
    if reason == "jwks_unavailable":
        return Problem(
            503, "access tokens cannot be checked right now", headers={"Retry-After": "2"}
        )
    if "text/html" in request.headers.get("Accept", ""):
        return web.HTTPFound(page, headers={"Cache-Control": "no-store"})
    return Problem(
        403,
        f"zone {zone!r} is protected by a waiting room: join it and present the access token "
        f"(Authorization: Bearer, {ACCESS_HEADER} or the {COOKIE_PREFIX}{zone} cookie)",
        title="Waiting room access required",
        type_=ACCESS_REQUIRED,
        extra={
            "zone": zone,
            "reason": reason,
            "join_url": f"/waitingroom/zones/{zone}/join",
            "page_url": page,
        },
    )
