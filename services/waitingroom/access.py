"""Access tokens in use: `complete` consumes one, `verify` answers other services, and the
JWKS lets the gateway verify signatures offline.

Refusals are problem+json with a stable `reason`: forged or malformed (401 bad_signature /
malformed), expired (401 expired), another zone (403 other_zone), another user (403
other_user), already used (409 replayed), no longer live (401 revoked: left, lapsed, reset).
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from services.waitingroom.keys import CONTEXT, PROBLEMS, Context
from services.waitingroom.visitors import visitor
from shared.events.contracts import waitingroom as ops
from shared.http.identity import caller_of, require_service
from shared.http.problems import Problem
from shared.security import TokenError

routes = web.RouteTableDef()
STATUS = {"other_zone": 403, "other_user": 403, "replayed": 409, "sold_out": 409}
DETAIL = {
    "bad_signature": "the access token is not signed by this waiting room",
    "malformed": "the access token is not a valid JWT",
    "expired": "the access token has expired",
    "other_zone": "the access token is for another zone",
    "other_user": "the access token belongs to another visitor",
    "replayed": "the access token was already used",
    "revoked": "the access token is no longer valid (place left, lapsed or zone reset)",
    "missing": "no access token given",
    "sold_out": "the zone is sold out",
}


def refuse(reason: str) -> Problem:
    return Problem(
        STATUS.get(reason, 401),
        DETAIL.get(reason, reason),
        title="Access token refused",
        type_=PROBLEMS + "token-" + reason.replace("_", "-"),
        extra={"reason": reason},
    )


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.read() or b"{}")
    except ValueError:
        raise Problem(400, "the body must be JSON") from None
    if not isinstance(body, dict):
        raise Problem(400, "the body must be a JSON object")
    return body


def check(ctx: Context, token: object, zone_id: str, user: str | None) -> dict[str, Any]:
    """Claims of a live token for `zone_id` (and `user` when given); raises the refusal."""
    if not isinstance(token, str) or not token:
        raise refuse("missing")
    zone = ctx.zone(zone_id)
    try:
        claims = ctx.tokens.decode(token, zone_id)
    except TokenError as exc:
        raise refuse(exc.reason) from None
    if user is not None and claims["sub"] != user:
        raise refuse("other_user")
    place = zone.sessions.get(claims["jti"])
    if place is None or place.user != claims["sub"]:
        mine = zone.places.get(claims["sub"])
        used = mine is not None and mine.jti == claims["jti"] and mine.state == "completed"
        raise refuse("replayed" if used else "revoked")
    return claims


@routes.post("/waitingroom/zones/{zone}/complete")
async def complete(request: web.Request) -> web.Response:
    """The visitor completes with their own token; a platform service (the shop) completes a
    visitor's token for them, naming the visitor in `user` or letting the token name them."""
    ctx = request.app[CONTEXT]
    zone_id = request.match_info["zone"]
    zone = ctx.zone(zone_id)
    body = await _body(request)
    user = body.get("user")
    if caller_of(request).kind != "service":
        user = visitor(request, zone.config.tier_claim).user
    elif user is not None and not isinstance(user, str):
        raise Problem(400, "`user` must be a string")
    claims = check(ctx, body.get("token"), zone_id, user)
    op = ops.Complete(user=claims["sub"], jti=claims["jti"])
    outcome, _ = await ctx.zlog.submit(zone_id, op)
    if not outcome.ok:  # lost a race with expiry or a second complete: the log decided
        raise refuse({"unknown_token": "revoked"}.get(outcome.reason, outcome.reason))
    return web.json_response({"zone": zone_id, "state": "completed", "jti": claims["jti"]})


@routes.post("/waitingroom/verify")
async def verify(request: web.Request) -> web.Response:
    require_service(request)  # the gateway asks; no client route leads here
    ctx = request.app[CONTEXT]
    body = await _body(request)
    zone_id, user = body.get("zone"), body.get("user")
    if not isinstance(zone_id, str) or (user is not None and not isinstance(user, str)):
        raise Problem(400, "give `token` and `zone` (and optionally `user`) as strings")
    if body.get("token") is None and user is not None:  # no token: is this user exempt?
        exempt = user in ctx.zone(zone_id).config.exempt
        return web.json_response({"valid": False, "zone": zone_id, "sub": user, "exempt": exempt})
    claims = check(ctx, body.get("token"), zone_id, user)
    return web.json_response(
        {
            "valid": True,
            "zone": zone_id,
            "sub": claims["sub"],
            "jti": claims["jti"],
            "exp": claims["exp"],
            "exempt": bool(claims.get("exempt", False)),
        }
    )


@routes.get("/waitingroom/.well-known/jwks.json")
async def jwks(request: web.Request) -> web.Response:
    return web.json_response(
        request.app[CONTEXT].tokens.jwks(), headers={"Cache-Control": "public, max-age=300"}
    )
