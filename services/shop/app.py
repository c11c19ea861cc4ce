"""The sample shop (port SHOP_PORT): a ticket page and a purchase that consumes the access token.

The gateway guards `/tickets/{zone}/` with the waiting room (`protected_zone: "{zone}"`), so a
request that reaches the shop carries a valid access token (cookie `surge_access_<zone>`,
`X-Access-Token` or `Authorization: Bearer`). A purchase calls the waiting room's `complete`
API on its own port, inside the network, signed as the shop: the token then counts against the
zone's capacity and cannot be used again. The visitor is the signed-in user the gateway names
when there is one, else the token's subject (the waiting room checks that they match).
"""

from __future__ import annotations

import html
from typing import Any

import aiohttp
import jwt
from aiohttp import web

from services.shop.settings import ShopSettings
from shared.http.app import create_app
from shared.http.identity import caller_of, service_identity
from shared.http.keys import HTTP_CLIENT
from shared.http.problems import Problem
from shared.security.access_tokens import ACCESS_HEADER, cookie_name

SETTINGS = web.AppKey("shop_settings", ShopSettings)
WAITINGROOM = "waitingroom"  # the waiting room's service name: the audience of our calls
routes = web.RouteTableDef()


async def init_app(settings: ShopSettings | None = None) -> web.Application:
    settings = settings or ShopSettings()
    app = create_app("shop", settings, http_client=True)
    app[SETTINGS] = settings
    app.router.add_routes(routes)
    return app


def _token(request: web.Request, zone: str) -> str:
    authorization = request.headers.get("Authorization", "")
    bearer = authorization[7:].strip() if authorization.lower().startswith("bearer ") else ""
    token = request.headers.get(ACCESS_HEADER) or bearer or request.cookies.get(cookie_name(zone))
    if not token:
        raise Problem(403, "no access token: enter through the waiting room")
    return token


def _subject(request: web.Request, token: str) -> str:
    caller = caller_of(request)
    if caller.kind == "jwt" and caller.subject:
        return caller.subject
    try:  # the gateway verified the signature; the waiting room verifies it again on complete
        sub = jwt.decode(token, options={"verify_signature": False}).get("sub")
    except jwt.PyJWTError:
        sub = None
    if not isinstance(sub, str):
        raise Problem(403, "the access token names no visitor")
    return sub


def _page(title: str, body: str) -> web.Response:
    text = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title></head><body><main>{body}</main></body></html>"
    )
    return web.Response(text=text, content_type="text/html", headers={"Cache-Control": "no-store"})


@routes.get("/tickets/{zone}/")
async def tickets(request: web.Request) -> web.Response:
    zone = request.match_info["zone"]
    who = _subject(request, _token(request, zone))
    z, w = html.escape(zone), html.escape(who)
    return _page(
        f"Tickets: {zone}",
        f"<h1 id='shop-title'>Tickets for {z}</h1><p>Welcome, <b id='visitor'>{w}</b>: "
        "you are inside the protected zone.</p>"
        f"<form method='post' action='/tickets/{z}/purchase'>"
        "<button id='buy' type='submit'>Buy a ticket</button></form>",
    )


@routes.post("/tickets/{zone}/purchase")
async def purchase(request: web.Request) -> web.Response:
    zone = request.match_info["zone"]
    token = _token(request, zone)
    ask = {"token": token, "user": _subject(request, token)}
    url = f"{request.app[SETTINGS].waitingroom_url.rstrip('/')}/waitingroom/zones/{zone}/complete"
    headers = service_identity(request.app, WAITINGROOM)
    try:
        async with request.app[HTTP_CLIENT].post(
            url, json=ask, headers=headers, timeout=aiohttp.ClientTimeout(total=10)
        ) as resp:
            status, body = resp.status, await resp.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError):
        raise Problem(
            503, "the waiting room cannot be reached", headers={"Retry-After": "2"}
        ) from None
    if status != 200:
        answer: dict[str, Any] = body if isinstance(body, dict) else {}
        raise Problem(status, str(answer.get("detail", "purchase refused")), extra=_reason(answer))
    if "text/html" in request.headers.get("Accept", ""):
        response = _page(
            "Purchased", f"<h1 id='done'>Purchased: a ticket for {html.escape(zone)}</h1>"
        )
    else:
        response = web.json_response({"zone": zone, "purchased": True, "jti": body.get("jti")})
    response.del_cookie(cookie_name(zone), path="/")
    return response


def _reason(answer: dict[str, Any]) -> dict[str, Any]:
    return {"reason": answer["reason"]} if isinstance(answer.get("reason"), str) else {}
