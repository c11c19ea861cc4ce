"""The live campaign page, `/t/live/<program>` (through the gateway, open to GETs).

The page itself is static; everything it shows needs the advertiser's user JWT: `GET
/t/live/<program>/info` answers only a signed-in user (the gateway verified the token and
forwards its claims in the signed identity) whose INGEST_ADVERTISER_CLAIM claim (default
`advertisers`: a list, or a space-separated string) names the program's advertiser. The page
then listens on the notifier's WebSocket (`/ws`, the same token) to the channel
`campaign:<advertiser>.<program>`, where the live consumer pushes the figures every second;
the notifier lets the token subscribe when its `channels` claim grants that channel (for
instance `campaign:<advertiser>.*`). Nothing is polled.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from pathlib import Path
from string import Template
from typing import Any

from aiohttp import web

from services.ingest.collect.lookup import program_for
from services.ingest.collect.sink import UnavailableError
from services.ingest.collect.validate import valid_id
from services.ingest.consume.live import EVENT, channel_of
from services.ingest.keys import CONTEXT
from shared.http.identity import caller_of
from shared.http.problems import Problem

STATIC = Path(__file__).with_name("static")
TEMPLATE = Template((STATIC / "live.html").read_text(encoding="utf-8"))
SCRIPT = (STATIC / "live.js").read_bytes()
HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; "
    "connect-src 'self' ws: wss:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
}
routes = web.RouteTableDef()


def advertisers_of(claims: Mapping[str, Any], claim: str) -> set[str]:
    raw = claims.get(claim)
    if isinstance(raw, str):
        return set(raw.split())
    if isinstance(raw, list):
        return {item for item in raw if isinstance(item, str)}
    return set()


@routes.get("/t/live/live.js")
async def script(_: web.Request) -> web.Response:
    return web.Response(
        body=SCRIPT,
        content_type="text/javascript",
        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
    )


@routes.get("/t/live/{program}")
async def page(request: web.Request) -> web.Response:
    program = request.match_info["program"]
    if not valid_id(program):
        raise Problem(404, "no such program")
    text = TEMPLATE.substitute(program=html.escape(program))
    return web.Response(text=text, content_type="text/html", headers=HEADERS)


@routes.get("/t/live/{program}/info")
async def info(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    caller = caller_of(request)
    if caller.kind != "jwt":
        raise Problem(
            401,
            "the live page needs the advertiser's user JWT (Authorization: Bearer)",
            headers={"WWW-Authenticate": 'Bearer realm="surge"'},
        )
    pid = request.match_info["program"]
    try:
        program = await program_for(ctx, pid)
    except UnavailableError:
        raise Problem(503, "programs cannot be read now", headers={"Retry-After": "2"}) from None
    allowed = advertisers_of(caller.claims, ctx.settings.advertiser_claim)
    if program is None or program.advertiser not in allowed:
        # The same answer for "no such program" and "not yours": ids are not disclosed.
        raise Problem(
            403,
            f"your token's `{ctx.settings.advertiser_claim}` claim does not "
            "name this program's advertiser",
        )
    return web.json_response(
        {
            "program": program.id,
            "name": program.name or program.id,
            "advertiser": program.advertiser,
            "channel": channel_of(program.advertiser, program.id),
            "event": EVENT,
            "interval_seconds": ctx.settings.live_interval_seconds,
        },
        headers={"Cache-Control": "no-store"},
    )
