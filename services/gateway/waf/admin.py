"""Admin API for the WAF (mounted on the admin app, behind ADMIN_TOKEN).

GET    /admin/waf/blocks        blocked client addresses with until + reason
POST   /admin/waf/blocks        block an address by hand: {"ip", "seconds", "reason"}
DELETE /admin/waf/blocks/{ip}   lift a block (204; 404 when the address is not blocked)
GET    /admin/waf/rules         rule ids, descriptions, targets, mode and hit counts
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.gateway.components import COMPONENTS
from services.gateway.waf.ipsets import parse_ip
from shared.http.problems import Problem

routes = web.RouteTableDef()

_MAX_MANUAL_BLOCK_SECONDS = 30 * 24 * 3600


class ManualBlock(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ip: str
    seconds: float = Field(gt=0, le=_MAX_MANUAL_BLOCK_SECONDS)
    reason: str = Field(default="blocked by an operator", max_length=200)


def _address(text: str) -> str:
    parsed = parse_ip(text)
    if parsed is None:
        raise Problem(400, f"{text[:100]!r} is not an IPv4 or IPv6 address")
    return str(parsed)


@routes.get("/admin/waf/blocks")
async def list_blocks(request: web.Request) -> web.Response:
    waf = request.app[COMPONENTS].waf
    now = datetime.now(UTC)
    blocks = [
        {
            "ip": block.key,
            "until": (now + timedelta(seconds=waf.rate.remaining(block))).isoformat(),
            "remaining_seconds": round(waf.rate.remaining(block), 3),
            "reason": block.reason,
        }
        for block in waf.blocks()
    ]
    return web.json_response({"blocks": blocks})


@routes.post("/admin/waf/blocks")
async def add_block(request: web.Request) -> web.Response:
    waf = request.app[COMPONENTS].waf
    try:
        order = ManualBlock.model_validate_json(await request.read())
    except ValidationError as exc:
        raise Problem(400, f"invalid block: {exc.errors(include_url=False)}") from None
    block = waf.block_address(_address(order.ip), order.seconds, order.reason)
    until = datetime.now(UTC) + timedelta(seconds=waf.rate.remaining(block))
    body = {"ip": block.key, "until": until.isoformat(), "reason": block.reason}
    return web.json_response(body, status=201)


@routes.delete("/admin/waf/blocks/{ip}")
async def remove_block(request: web.Request) -> web.Response:
    waf = request.app[COMPONENTS].waf
    address = _address(request.match_info["ip"])
    if not waf.unblock_address(address):
        raise Problem(404, f"{address} is not blocked")
    return web.Response(status=204)


@routes.get("/admin/waf/rules")
async def list_rules(request: web.Request) -> web.Response:
    waf = request.app[COMPONENTS].waf
    return web.json_response({"rules": waf.rule_summaries()})
