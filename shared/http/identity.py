"""Who is calling a service: one contract for every service, verified before any handler runs.

    from shared.http.identity import Caller, caller_of, require_user
    caller = caller_of(request)    # the verified Caller (anonymous: the gateway saw no credential)
    user = require_user(request)   # 401 problem+json unless a signed-in user (kind "jwt")

The gateway authenticates the client (JWT, API key) and sends the upstream a short-lived signed
assertion of the result in `X-Surge-Identity` (shared/security/identity.py), for that upstream
only (`aud`). `create_app` verifies it on every request and answers 401 problem+json without a
valid one, whoever sent the request and from wherever: a service trusts no network position.
Exempt: /healthz, /readyz, /metrics and the path prefixes a service names (operator APIs that
authenticate with ADMIN_TOKEN).

A service calling another signs as itself (kind "service"):
`session.post(url, headers=service_identity(app, "waitingroom"))`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from aiohttp import web

from shared.http.problems import PROBLEM_TYPE_BASE, Problem
from shared.security.errors import TokenError
from shared.security.identity import (
    ANONYMOUS,
    Caller,
    CallerKind,
    IdentityKeys,
    IdentitySigner,
    IdentityVerifier,
)
from shared.settings import PlatformSettings

__all__ = [
    "ANONYMOUS",
    "CALLER",
    "IDENTITIES",
    "IDENTITY_HEADER",
    "IDENTITY_PREFIX",
    "Caller",
    "CallerKind",
    "Identities",
    "caller_of",
    "require_service",
    "require_user",
    "service_identity",
    "user_id",
]

IDENTITY_HEADER = "X-Surge-Identity"
# Every header with this prefix is the platform's own: the gateway drops any a client sends.
IDENTITY_PREFIX = "x-surge-"
OPS_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
UNAUTHORIZED = PROBLEM_TYPE_BASE + "unauthorized"
FORBIDDEN = PROBLEM_TYPE_BASE + "forbidden"
CALLER = web.RequestKey("caller", Caller)


class Identities:
    """One service's side of the contract: it verifies what is sent to it (audience = its
    name) and signs what it sends to others (issuer = its name)."""

    def __init__(
        self,
        platform: PlatformSettings,
        service: str,
        *,
        exempt: Sequence[str] = (),
        verify_requests: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        keys = IdentityKeys.parse(platform.identity_keys)
        self.service = service
        self.verifier = IdentityVerifier(keys, service, clock=clock)
        self.signer = IdentitySigner(keys, service, ttl=platform.identity_ttl_seconds, clock=clock)
        self.verify_requests = verify_requests
        self.exempt = tuple(exempt)
        self._itself = Caller(kind="service", subject=service)

    def admit(self, request: web.Request) -> None:
        """Attach the verified caller to the request; raise a 401 problem without one."""
        path = request.path
        if path in OPS_PATHS or path.startswith(self.exempt):
            return
        try:
            request[CALLER] = self.verifier.verify(request.headers.get(IDENTITY_HEADER))
        except TokenError as exc:
            raise refusal(exc.reason) from None

    def assertion(self, caller: Caller, audience: str) -> dict[str, str]:
        """The header that tells `audience` who is calling (the gateway, for each upstream)."""
        return {IDENTITY_HEADER: self.signer.sign(caller, audience)}

    def as_service(self, audience: str) -> dict[str, str]:
        """The header of this service calling `audience` itself."""
        return {IDENTITY_HEADER: self.signer.sign(self._itself, audience)}


IDENTITIES = web.AppKey("identities", Identities)


def refusal(reason: str) -> Problem:
    return Problem(
        401,
        "this service answers requests that come through the gateway (or a platform service) "
        f"with a valid signed identity in {IDENTITY_HEADER}: {reason}",
        title="Unverified caller",
        type_=UNAUTHORIZED,
        headers={"WWW-Authenticate": f'SurgeIdentity error="invalid_token", reason="{reason}"'},
        extra={"reason": f"identity_{reason}"},
    )


def caller_of(request: web.Request) -> Caller:
    """The verified caller of this request (anonymous on exempt paths)."""
    caller: Caller = request.get(CALLER, ANONYMOUS)
    return caller


def require_user(request: web.Request) -> Caller:
    """The signed-in user calling; 401 problem+json for anyone else."""
    caller = caller_of(request)
    if caller.kind != "jwt" or not caller.subject:
        raise Problem(
            401,
            "a signed-in user is required: send `Authorization: Bearer <user JWT>`",
            type_=UNAUTHORIZED,
            headers={"WWW-Authenticate": 'Bearer realm="surge"'},
            extra={"reason": "user_required"},
        )
    return caller


def user_id(request: web.Request) -> str:
    """The id (JWT `sub`) of the signed-in user calling; 401 problem+json for anyone else."""
    subject = require_user(request).subject
    assert subject is not None  # require_user refuses a user without one
    return subject


def require_service(request: web.Request) -> Caller:
    """The platform service calling; 403 problem+json for anyone else."""
    caller = caller_of(request)
    if caller.kind != "service":
        raise Problem(
            403,
            "only platform services may call this API",
            type_=FORBIDDEN,
            extra={"reason": "service_required"},
        )
    return caller


def service_identity(app: web.Application, audience: str) -> dict[str, str]:
    """Headers for a call from this service to `audience` (another service's name)."""
    return app[IDENTITIES].as_service(audience)
