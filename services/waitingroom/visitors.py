"""The visitors' API: join, status, renew, leave (under /waitingroom/zones/{zone}/)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from services.waitingroom.keys import CONTEXT, PROBLEMS, Context
from services.waitingroom.places import Place
from services.waitingroom.positions import eta_seconds, position
from services.waitingroom.state import ZoneState
from shared.events.contracts import waitingroom as ops
from shared.http.identity import require_user
from shared.http.problems import Problem

routes = web.RouteTableDef()


@dataclass(frozen=True)
class Visitor:
    user: str
    tier_hint: object  # the zone's tier claim of the user's token, if it has one
    roles: frozenset[str] = frozenset()


def visitor(request: web.Request, tier_claim: str) -> Visitor:
    """The signed-in user calling (401 problem+json for anyone else)."""
    caller = require_user(request)
    user = caller.subject or ""
    if not 0 < len(user) <= 128 or any(c.isspace() or not c.isprintable() for c in user):
        raise Problem(400, "the user id must be 1-128 printable characters without spaces")
    return Visitor(user, caller.claims.get(tier_claim), caller.roles)


def _who(request: web.Request) -> tuple[Context, ZoneState, Visitor]:
    ctx = request.app[CONTEXT]
    zone = ctx.zone(request.match_info["zone"])
    return ctx, zone, visitor(request, zone.config.tier_claim)


def _tier(zone: ZoneState, who: Visitor) -> str:
    tiers = zone.config.tiers
    if isinstance(who.tier_hint, str) and who.tier_hint in tiers:
        return who.tier_hint
    return next((tier for tier in tiers if tier in who.roles), tiers[-1])


def view(ctx: Context, zone: ZoneState, place: Place) -> dict[str, Any]:
    now = ctx.clock()
    state: str = place.state
    if state == "waiting":
        state = "closed" if zone.closed else "sold_out" if zone.sold_out else "waiting"
        state = "prequeue" if state == "waiting" and not zone.opened else state
    elif state == "admitted" and (place.expires_at or 0) <= now:
        state = "expired"
    body: dict[str, Any] = {"zone": zone.config.id, "state": state, "queue_number": place.number}
    if place.state == "waiting":
        pos = position(zone, place)
        ahead = None if pos is None else pos - 1
        eta = eta_seconds(zone, ahead, now) if ahead is not None else None
        body.update(position=pos, ahead=ahead, eta_seconds=eta, tier=place.tier)
        body["renew_before"] = place.last_seen + zone.config.position_ttl
    if state == "admitted":
        body.update(
            access_token=ctx.tokens.issue(zone.config.id, place), expires_at=place.expires_at
        )
    return body


def _place(zone: ZoneState, who: Visitor) -> Place:
    place = zone.places.get(who.user)
    if place is None or place.state == "left":
        raise Problem(
            404, "you have no place in this zone; join first", type_=PROBLEMS + "no-place"
        )
    return place


@routes.post("/waitingroom/zones/{zone}/join")
async def join(request: web.Request) -> web.Response:
    ctx, zone, who = _who(request)
    op = ops.Join(user=who.user, tier=_tier(zone, who), jti=secrets.token_urlsafe(18))
    outcome, _ = await ctx.zlog.submit(zone.config.id, op)
    if not outcome.ok:
        raise Problem(
            409, f"the zone is {outcome.reason}", type_=PROBLEMS + outcome.reason.replace("_", "-")
        )
    status = 200 if outcome.reason == "same_place" else 201
    return web.json_response(view(ctx, zone, _place(zone, who)), status=status)


@routes.get("/waitingroom/zones/{zone}/status")
async def status(request: web.Request) -> web.Response:
    ctx, zone, who = _who(request)
    return web.json_response(view(ctx, zone, _place(zone, who)))


@routes.post("/waitingroom/zones/{zone}/renew")
async def renew(request: web.Request) -> web.Response:
    ctx, zone, who = _who(request)
    _place(zone, who)
    await ctx.zlog.submit(zone.config.id, ops.Renew(user=who.user))
    return web.json_response(view(ctx, zone, _place(zone, who)))


@routes.post("/waitingroom/zones/{zone}/leave")
async def leave(request: web.Request) -> web.Response:
    ctx, zone, who = _who(request)
    outcome, _ = await ctx.zlog.submit(zone.config.id, ops.Leave(user=who.user))
    if not outcome.ok:
        raise Problem(404, "you have no place in this zone", type_=PROBLEMS + "no-place")
    return web.Response(status=204)


@routes.get("/waitingroom/zones/{zone}")
async def zone_info(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    zone = ctx.zone(request.match_info["zone"])
    config = zone.config
    return web.json_response(
        {
            "id": config.id,
            "name": config.name,
            "status": zone.status,
            "queue_length": len(zone.line),
            "opens_at": config.opens_at.isoformat() if config.opens_at else None,
            "closes_at": config.closes_at.isoformat() if config.closes_at else None,
        }
    )
