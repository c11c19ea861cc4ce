"""Who is calling, in one place (to become `shared.http.identity.caller_of` once it lands).

Behind the gateway, its `X-Surge-Identity-Kind` / `X-Surge-User-Id` / `X-Surge-Api-Key-Id`
headers carry the verified caller; they are believed only from INGEST_TRUSTED_PROXIES. Called
directly with `Authorization: Bearer <user JWT>`, the token is verified here, and its claims
(the advertisers one, for the live page) come with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

from shared.http.problems import Problem
from shared.security import JwtVerifier, TokenError, bearer_token
from shared.security.networks import Network, is_trusted

Kind = Literal["anonymous", "jwt", "api_key"]


@dataclass(frozen=True)
class Caller:
    kind: Kind = "anonymous"
    subject: str = ""
    key_id: str = ""
    claims: dict[str, Any] = field(default_factory=dict)

    @property
    def sender(self) -> str:
        if self.kind == "api_key":
            return f"api_key:{self.key_id}"
        if self.kind == "jwt":
            return f"jwt:{self.subject}"
        return "anonymous"


ANONYMOUS = Caller()


async def caller_of(
    request: web.Request, trusted: tuple[Network, ...], verifier: JwtVerifier | None
) -> Caller:
    """A bearer JWT verified here (its claims come with it; behind the gateway too, which
    forwards the token), else the gateway's verified identity from a trusted peer (an API key
    stops at the gateway), else anonymous. A bearer token that fails is a 401, never anonymous."""
    headers = request.headers
    authorization = headers.get("Authorization")
    if authorization and authorization[:7].lower() == "bearer ":
        if verifier is None:
            raise Problem(401, "no JWT verifier is configured (AUTH_JWT_SECRET or AUTH_JWKS_URL)")
        try:
            claims = await verifier.verify(bearer_token(authorization))
        except TokenError as exc:
            challenge = f'Bearer error="invalid_token", error_description="{exc.reason}"'
            raise Problem(
                401,
                f"a valid user JWT is required ({exc.reason})",
                headers={"WWW-Authenticate": challenge},
            ) from None
        subject = claims.get("sub")
        return Caller(
            kind="jwt", subject=subject if isinstance(subject, str) else "", claims=dict(claims)
        )
    kind = headers.get("X-Surge-Identity-Kind")
    if kind in ("jwt", "api_key") and is_trusted(request.remote, trusted):
        return Caller(
            kind=kind,  # type: ignore[arg-type]
            subject=headers.get("X-Surge-User-Id", ""),
            key_id=headers.get("X-Surge-Api-Key-Id", ""),
        )
    return ANONYMOUS
