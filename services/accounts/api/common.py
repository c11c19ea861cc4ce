"""What every accounts handler needs: its context, the JSON body as a model, the client's
address, who is calling, and the refusals that must look the same whatever the cause."""

from __future__ import annotations

from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from services.accounts.keys import CONTEXT, PROBLEMS, Context
from shared.http.identity import require_user
from shared.http.problems import Problem, field_errors
from shared.security import TokenError, bearer_token
from shared.security.networks import is_trusted

M = TypeVar("M", bound=BaseModel)
MAX_BODY = 64 * 1024
# One refusal for a wrong password, an unknown email and a deleted account: same status, same
# body, and (see hashing.py) the same work.
BAD_CREDENTIALS = "the email address or the password is incorrect"


def context(request: web.Request) -> Context:
    return request.app[CONTEXT]


async def body(request: web.Request, model: type[M]) -> M:
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise Problem(413, f"a request body is at most {MAX_BODY} bytes")
    try:
        return model.model_validate_json(raw or b"null")
    except ValidationError as exc:
        errors = field_errors(exc, root="body")
        fields = ", ".join(sorted({e["field"] for e in errors}))
        raise Problem(400, f"invalid request: {fields}", extra={"errors": errors}) from None


def client_ip(request: web.Request) -> str:
    """The caller's address: the last hop a trusted proxy (the gateway) saw, else the peer."""
    ctx = context(request)
    peer = request.remote or ""
    if not is_trusted(peer, ctx.trusted):
        return peer
    hops = [h.strip() for v in request.headers.getall("X-Forwarded-For", []) for h in v.split(",")]
    for hop in reversed(hops):
        if hop and not is_trusted(hop, ctx.trusted):
            return hop
    return peer


def caller(request: web.Request) -> dict[str, Any]:
    """Who is calling: the signed-in user the gateway vouches for (shared.http.identity), whose
    bearer token must also be one of ours, valid, and for that same user: account operations
    take no token from another issuer the platform may accept. Its claims, or 401."""
    user = require_user(request)
    try:
        claims = context(request).issuer.verify(bearer_token(request.headers.get("Authorization")))
        if claims["sub"] != user.subject:
            raise TokenError("other_user")
        return claims
    except TokenError as exc:
        challenge = (
            f'Bearer realm="accounts", error="invalid_token", error_description="{exc.reason}"'
        )
        raise Problem(
            401,
            f"a valid access token is required ({exc.reason})",
            headers={"WWW-Authenticate": challenge},
            extra={"reason": exc.reason},
        ) from None


def bad_credentials() -> Problem:
    return Problem(401, BAD_CREDENTIALS, title="Sign-in failed", type_=PROBLEMS + "bad-credentials")


def no_store(response: web.StreamResponse) -> web.StreamResponse:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response
