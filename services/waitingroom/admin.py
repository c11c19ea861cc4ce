"""The zones admin API under /waitingroom/admin/, on the public port behind ADMIN_TOKEN
(`Authorization: Bearer`, compared in constant time). The gateway does not route that prefix.

Every change is a command on the zone log, answered once this replica applied it.
"""

from __future__ import annotations

from aiohttp import web
from pydantic import ValidationError

from services.waitingroom.keys import CONTEXT, Context
from services.waitingroom.summary import summary
from services.waitingroom.zone import ZoneConfig
from shared.events.contracts import waitingroom as ops
from shared.http.adminauth import admin_paths
from shared.http.problems import Problem, field_errors

PREFIX = "/waitingroom/admin/"
routes = web.RouteTableDef()


require_admin = admin_paths(PREFIX)


async def _config(request: web.Request, zone_id: str | None) -> ZoneConfig:
    try:
        raw = await request.json()
        if zone_id is not None and isinstance(raw, dict):
            raw.setdefault("id", zone_id)
        config = ZoneConfig.model_validate(raw)
    except ValueError as exc:
        fields = field_errors(exc) if isinstance(exc, ValidationError) else []
        raise Problem(422, "invalid zone configuration", extra={"errors": fields}) from None
    if zone_id is not None and config.id != zone_id:
        raise Problem(422, "the body's id does not match the path")
    return config


def _describe(ctx: Context, zone_id: str) -> dict[str, object]:
    zone = ctx.zone(zone_id)
    return {"config": zone.config.model_dump(mode="json"), "summary": summary(zone, ctx.clock())}


async def _configure(ctx: Context, config: ZoneConfig) -> str:
    op = ops.Configure(config=config.model_dump(mode="json"))
    outcome, _ = await ctx.zlog.submit(config.id, op)
    if not outcome.ok:
        detail = (
            "capacity/max_active below what is already in use"
            if outcome.reason == "below_current_use"
            else outcome.reason
        )
        raise Problem(409, detail, extra={"reason": outcome.reason})
    return outcome.reason


@routes.post("/waitingroom/admin/zones")
async def create(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    config = await _config(request, None)
    if config.id in ctx.room.zones:
        raise Problem(409, f"zone {config.id!r} exists; PUT to update it")
    await _configure(ctx, config)
    return web.json_response(_describe(ctx, config.id), status=201)


@routes.put("/waitingroom/admin/zones/{zone}")
async def update(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    zone_id = request.match_info["zone"]
    created = await _configure(ctx, await _config(request, zone_id)) == "created"
    return web.json_response(_describe(ctx, zone_id), status=201 if created else 200)


@routes.get("/waitingroom/admin/zones")
async def list_zones(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    return web.json_response({"zones": [_describe(ctx, zid) for zid in sorted(ctx.room.zones)]})


@routes.get("/waitingroom/admin/zones/{zone}")
async def get_zone(request: web.Request) -> web.Response:
    return web.json_response(_describe(request.app[CONTEXT], request.match_info["zone"]))


@routes.get("/waitingroom/admin/zones/{zone}/summary")
async def get_summary(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    return web.json_response(summary(ctx.zone(request.match_info["zone"]), ctx.clock()))


@routes.post("/waitingroom/admin/zones/{zone}/{action:pause|resume|close|reset}")
async def control(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    zone_id = request.match_info["zone"]
    ctx.zone(zone_id)
    action = request.match_info["action"]
    await ctx.zlog.submit(zone_id, ops.Control(action=action))  # type: ignore[arg-type]
    return web.json_response(_describe(ctx, zone_id))


@routes.post("/waitingroom/admin/zones/{zone}/admit")
async def admit(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    zone_id = request.match_info["zone"]
    ctx.zone(zone_id)
    try:
        n = int((await request.json()).get("n", 0))
        op = ops.AdmitByHand(n=n)
    except (ValueError, TypeError, AttributeError):
        raise Problem(422, "give `n`, the number to admit (1-100000)") from None
    await ctx.zlog.submit(zone_id, op)
    return web.json_response(_describe(ctx, zone_id), status=202)
