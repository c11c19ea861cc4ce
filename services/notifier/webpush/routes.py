"""HTTP routes of Web Push: the VAPID public key, the caller's subscriptions, and the page.

GET    /notifier/webpush/vapid-public-key          {"publicKey": <base64url point>}
POST   /notifier/webpush/subscriptions             PushSubscription JSON -> 201/200
GET    /notifier/webpush/subscriptions             {"subscriptions": [...]}
DELETE /notifier/webpush/subscriptions?endpoint=   204, or 404 when not the caller's
DELETE /notifier/webpush/subscriptions/{id}        204, or 404 when not the caller's
GET    /notifier/push/ (push.html), /notifier/push/push.js, /notifier/push/sw.js (worker)
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web
from pydantic import ValidationError

from services.notifier.webpush.subscriptions import SubscriptionIn
from shared.http.identity import user_id
from shared.http.problems import Problem, field_errors
from shared.http.pushworker import SERVICE_WORKER

if TYPE_CHECKING:
    from services.notifier.webpush.service import WebPush

STATIC = Path(__file__).resolve().parent.parent / "static"
MAX_SUBSCRIPTION_BYTES = 8192
NO_CACHE = {"Cache-Control": "no-cache"}
PAGE_HEADERS = {
    **NO_CACHE,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; "
    "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
}
SCRIPT_HEADERS = {**NO_CACHE, "X-Content-Type-Options": "nosniff"}
SW_HEADERS = {**SCRIPT_HEADERS, "Service-Worker-Allowed": "/notifier/push/"}


routes = web.RouteTableDef()
page = (STATIC / "push.html").read_bytes()
script = (STATIC / "push.js").read_bytes()
worker = SERVICE_WORKER


def instance(request: web.Request) -> WebPush:
    """The app's started WebPush. The routes are added before the app starts and the instance
    is made during startup, so it is looked up per request: under WEBPUSH, or else wherever
    the app keeps it (one scan of a few keys)."""
    from services.notifier.webpush.service import WEBPUSH, WebPush

    found = request.app.get(WEBPUSH)
    if found is None:
        found = next((v for v in request.app.values() if isinstance(v, WebPush)), None)
    if found is None or not found.started:
        raise Problem(503, "Web Push is not running on this notifier")
    return found


@routes.get("/notifier/webpush/vapid-public-key")
async def vapid_public_key(request: web.Request) -> web.Response:
    return web.json_response(
        {"publicKey": instance(request).vapid.public_key}, headers={"Cache-Control": "max-age=300"}
    )


@routes.post("/notifier/webpush/subscriptions")
async def subscribe(request: web.Request) -> web.Response:
    push = instance(request)
    user = user_id(request)
    raw = await request.read()
    if len(raw) > MAX_SUBSCRIPTION_BYTES:
        raise Problem(413, f"a subscription is at most {MAX_SUBSCRIPTION_BYTES} bytes")
    try:
        sub = SubscriptionIn.model_validate_json(raw, context=push.rules)
    except ValidationError as exc:
        errors = field_errors(exc, root="body")
        fields = ", ".join(e["field"] for e in errors)
        raise Problem(
            400, f"invalid push subscription: {fields}", extra={"errors": errors}
        ) from None
    view, created = await push.subscriptions.save(user, sub)
    push.metrics.saved.inc()
    location = {"Location": f"/notifier/webpush/subscriptions/{view['id']}"}
    return web.json_response(view, status=201 if created else 200, headers=location)


@routes.get("/notifier/webpush/subscriptions")
async def listing(request: web.Request) -> web.Response:
    push = instance(request)
    user = user_id(request)
    return web.json_response({"subscriptions": await push.subscriptions.listing(user)})


@routes.delete("/notifier/webpush/subscriptions")
async def delete_by_endpoint(request: web.Request) -> web.Response:
    push = instance(request)
    user = user_id(request)
    endpoint = request.query.get("endpoint")
    if not endpoint:
        raise Problem(400, "the endpoint query parameter is required")
    return await _deleted(push, await push.subscriptions.delete(user, endpoint=endpoint))


@routes.delete("/notifier/webpush/subscriptions/{id}")
async def delete_by_id(request: web.Request) -> web.Response:
    push = instance(request)
    user = user_id(request)
    return await _deleted(push, await push.subscriptions.delete(user, sid=request.match_info["id"]))


async def _deleted(push: WebPush, found: bool) -> web.Response:
    if not found:  # another user's subscription looks exactly like a missing one
        raise Problem(404, "no such subscription")
    push.metrics.deleted.inc()
    return web.Response(status=204)


@routes.get("/notifier/push")
async def page_redirect(request: web.Request) -> web.Response:
    raise web.HTTPPermanentRedirect("/notifier/push/")


@routes.get("/notifier/push/")
@routes.get("/notifier/push/push.html")
async def push_page(request: web.Request) -> web.Response:
    return web.Response(body=page, content_type="text/html", charset="utf-8", headers=PAGE_HEADERS)


@routes.get("/notifier/push/push.js")
async def page_script(request: web.Request) -> web.Response:
    return web.Response(
        body=script, content_type="text/javascript", charset="utf-8", headers=SCRIPT_HEADERS
    )


@routes.get("/notifier/push/sw.js")
async def service_worker(request: web.Request) -> web.Response:
    return web.Response(
        body=worker, content_type="text/javascript", charset="utf-8", headers=SW_HEADERS
    )
