"""The avatar page at /avatars/ (through the gateway, open to anonymous GETs): static HTML, its
script and its service worker (scope /avatars/, for Web Push notifications)."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from shared.http.pushworker import SERVICE_WORKER

STATIC = Path(__file__).resolve().parent.parent / "static"
PAGE = (STATIC / "page.html").read_bytes()
SCRIPT = (STATIC / "page.js").read_bytes()
WORKER = SERVICE_WORKER
SCRIPT_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
PAGE_HEADERS = {
    **SCRIPT_HEADERS,
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; img-src 'self' blob:; "
    "style-src 'self' 'unsafe-inline'; connect-src 'self' ws: wss: https: http:; "
    "frame-ancestors 'none'",
}
routes = web.RouteTableDef()


@routes.get("/avatars")
async def redirect(request: web.Request) -> web.Response:
    raise web.HTTPPermanentRedirect("/avatars/")


@routes.get("/avatars/")
async def page(request: web.Request) -> web.Response:
    return web.Response(body=PAGE, content_type="text/html", charset="utf-8", headers=PAGE_HEADERS)


@routes.get("/avatars/page.js")
async def script(request: web.Request) -> web.Response:
    return web.Response(
        body=SCRIPT, content_type="text/javascript", charset="utf-8", headers=SCRIPT_HEADERS
    )


@routes.get("/avatars/sw.js")
async def worker(request: web.Request) -> web.Response:
    headers = {**SCRIPT_HEADERS, "Service-Worker-Allowed": "/avatars/"}
    return web.Response(
        body=WORKER, content_type="text/javascript", charset="utf-8", headers=headers
    )
