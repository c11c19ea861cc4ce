"""The accounts pages: sign-up, sign-in, email verification and the account page (profile,
sessions, second factor), plain HTML with one script, no CDN.

Every page takes `?return=<path>`: where to go once signed in, a same-site path only
(returnpath.py). The platform's other pages (waiting room, push) send a visitor without a session
here and are sent back.
"""

from __future__ import annotations

import html
from pathlib import Path
from string import Template
from urllib.parse import quote

from aiohttp import web

from services.accounts.returnpath import safe_return

STATIC = Path(__file__).with_name("static")
LAYOUT = Template((STATIC / "layout.html").read_text(encoding="utf-8"))
BODIES = {
    name: (STATIC / f"{name}.html").read_text(encoding="utf-8")
    for name in ("signin", "signup", "verify", "account")
}
TITLES = {
    "signin": "Sign in",
    "signup": "Create your account",
    "verify": "Confirm your email",
    "account": "Your account",
}
ASSETS = {
    "accounts.js": ("text/javascript", (STATIC / "accounts.js").read_bytes()),
    "accounts.css": ("text/css", (STATIC / "accounts.css").read_bytes()),
}
HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
}
routes = web.RouteTableDef()


def render(page: str, request: web.Request) -> web.Response:
    back = safe_return(request.query.get("return"))
    text = LAYOUT.substitute(
        title=TITLES[page],
        page=page,
        back=html.escape(back, quote=True),
        body=BODIES[page].replace("$encoded_back", html.escape(quote(back, safe=""), quote=True)),
    )
    return web.Response(text=text, content_type="text/html", headers=HEADERS)


@routes.get("/accounts/signin")
async def signin(request: web.Request) -> web.Response:
    return render("signin", request)


@routes.get("/accounts/signup")
async def signup(request: web.Request) -> web.Response:
    return render("signup", request)


@routes.get("/accounts/verify")
async def verify(request: web.Request) -> web.Response:
    return render("verify", request)


@routes.get("/accounts/account")
async def account(request: web.Request) -> web.Response:
    return render("account", request)


@routes.get("/accounts/")
async def home(_: web.Request) -> web.Response:
    raise web.HTTPFound("/accounts/account")


@routes.get("/accounts/static/{name}")
async def asset(request: web.Request) -> web.Response:
    found = ASSETS.get(request.match_info["name"])
    if found is None:
        raise web.HTTPNotFound()
    kind, data = found
    headers = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
    return web.Response(body=data, content_type=kind, headers=headers)
