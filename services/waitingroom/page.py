"""The waiting room page at /waitingroom/page/ (through the gateway, open to anonymous GETs).

`GET /waitingroom/page/?zone=<id>&return=<path>` renders the page; static/page.js gets the
visitor's access token from their accounts session (`POST /accounts/api/session/token`), or
sends a visitor without a session to the sign-in page and back, then joins, listens on the
notifier's WebSocket and updates the page by push. A client without JavaScript that sends
`Authorization: Bearer <user JWT>` (verified by the gateway, which tells us who it is) gets its
status rendered in the page: visiting it joins (or keeps the place, renewing it when half of
position_ttl has passed), a `<noscript>` meta refresh reloads it every 10 s, and once admitted
the response sets the `surge_access_<zone>` cookie and links to the return path. Tokens never
travel in the URL.
"""

from __future__ import annotations

import html
import secrets
from pathlib import Path
from string import Template
from typing import Any

from aiohttp import web

from services.waitingroom.keys import CONTEXT, Context
from services.waitingroom.visitors import view
from shared.events.contracts import waitingroom as ops
from shared.http.identity import Caller, caller_of
from shared.http.problems import Problem
from shared.security.access_tokens import cookie_name

STATIC = Path(__file__).with_name("static")
TEMPLATE = Template((STATIC / "page.html").read_text(encoding="utf-8"))
SCRIPT = (STATIC / "page.js").read_bytes()
HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; "
    "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
}
routes = web.RouteTableDef()


def safe_return(value: str | None) -> str:
    """A same-site path to go back to (never another origin: no `//host` or `\\`)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


async def _status(ctx: Context, zone_id: str, caller: Caller) -> dict[str, Any] | None:
    """The signed-in visitor's status, joining (or renewing) as a no-JS visit would; None for
    anyone else."""
    user, zone = caller.subject, ctx.room.zones.get(zone_id)
    if caller.kind != "jwt" or not user or zone is None:
        return None
    place = zone.places.get(user)
    if place is None or place.state == "left":
        tier = zone.config.tier_for(caller.claims.get(zone.config.tier_claim))
        await ctx.zlog.submit(
            zone_id, ops.Join(user=user, tier=tier, jti=secrets.token_urlsafe(18))
        )
    elif place.state == "waiting" and ctx.clock() > place.last_seen + zone.config.position_ttl / 2:
        await ctx.zlog.submit(zone_id, ops.Renew(user=user))
    place = zone.places.get(user)
    return None if place is None else view(ctx, zone, place)


def _describe(status: dict[str, Any] | None) -> str:
    if status is None:
        return "Sign in to join the line."
    state = str(status["state"])
    if state in ("waiting", "prequeue"):
        eta = status.get("eta_seconds")
        wait = f", about {round(eta / 60) or 1} min" if isinstance(eta, int | float) else ""
        return (
            f"You are number {status.get('position')} in line ({status.get('ahead')} ahead{wait})."
        )
    return {
        "admitted": "It's your turn.",
        "completed": "You are done: thank you.",
        "expired": "Your place or your turn has expired.",
        "sold_out": "Sold out.",
        "closed": "The waiting room is closed.",
    }.get(state, state)


@routes.get("/waitingroom/page/")
async def page(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    zone_id = request.query.get("zone", "")
    zone = ctx.room.zones.get(zone_id)
    if zone is None:
        raise Problem(404, f"no zone {zone_id[:64]!r}")
    back = safe_return(request.query.get("return"))
    status = await _status(ctx, zone_id, caller_of(request))
    admitted = status is not None and status["state"] == "admitted"
    values = {
        "zone": html.escape(zone_id),
        "name": html.escape(zone.config.name or zone_id),
        "return": html.escape(back),
        "status": html.escape(_describe(status)),
        "continue": f'<a href="{html.escape(back)}">Continue</a>' if admitted else "",
    }
    response = web.Response(
        text=TEMPLATE.substitute(values), content_type="text/html", headers=HEADERS
    )
    if admitted and status is not None:
        response.set_cookie(
            cookie_name(zone_id),
            status["access_token"],
            path="/",
            max_age=max(1, int(status["expires_at"] - ctx.clock())),
            samesite="Lax",
            httponly=True,
        )
    return response


@routes.get("/waitingroom/page/page.js")
async def script(_: web.Request) -> web.Response:
    return web.Response(
        body=SCRIPT,
        content_type="text/javascript",
        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
    )
