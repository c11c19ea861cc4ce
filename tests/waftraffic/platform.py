"""The platform's own traffic, route by route of services/gateway/routes.yaml.

What browsers, apps and services send to each route, from the services' handlers and OpenAPI
documents (docs/*-openapi.json) and protocol notes: the notifier's WebSocket upgrade, publish,
jobs and Web Push subscriptions (with the push double's http://127.0.0.1 endpoint as well as
the browsers' push services); the waiting room's joins, polls and page; the shop's tickets;
tracking pixels, click redirects, event batches and the live page; avatar uploads (real JPEG,
PNG, WebP and GIF bytes to the signed URL) and published media. `ROUTE_TRAFFIC` maps each
route id to a generator; tests/unit/gateway/test_waf_platform_routes.py replays them through
the WAF with each route's own policy and fails on a route that has none.
"""

from __future__ import annotations

import base64
import json
import random
import uuid
from collections.abc import Callable
from urllib.parse import urlencode

from services.gateway.waf.view import RequestView
from tests.waftraffic.common import (
    ACCEPT_HTML,
    TEXTS,
    USER_AGENTS,
    browser_headers,
    cookies,
    iso,
    jwt,
    token,
)
from tests.waftraffic.images import FORMATS, image
from tests.waftraffic.urls import PUSH_ENDPOINTS, fill

Traffic = Callable[[random.Random], RequestView]
ZONES = ("zone-a", "taylor-2025-london", "cup_final", "launch.eu")
PROGRAMS = ("spring", "launch_2024", "summer-sale", "acme.q3")
HOST = ("Host", "surge.example.com")


def _user(rng: random.Random) -> str:
    return rng.choice((str(uuid.UUID(int=rng.getrandbits(128))), f"p{rng.randrange(10**6)}"))


def _app_headers(
    rng: random.Random, content_type: str | None = None, body: bytes = b""
) -> list[tuple[str, str]]:
    """A browser's fetch() or an app's HTTP client, signed in with a JWT."""
    headers = [
        HOST,
        ("User-Agent", rng.choice(USER_AGENTS)),
        ("Accept", rng.choice(("application/json", "application/json, text/plain, */*", "*/*"))),
        ("Accept-Language", rng.choice(("en-US,en;q=0.9", "de-DE,de;q=0.9,en;q=0.8"))),
        ("Authorization", f"Bearer {jwt(rng)}"),
    ]
    if rng.random() < 0.5:
        headers += [("Origin", "https://surge.example.com"), ("Sec-Fetch-Mode", "cors")]
        headers.append(("Referer", "https://surge.example.com/avatars/"))
    if rng.random() < 0.3:
        headers.append(("traceparent", f"00-{rng.randbytes(16).hex()}-{rng.randbytes(8).hex()}-01"))
    if content_type is not None:
        headers += [("Content-Type", content_type), ("Content-Length", str(len(body)))]
    return headers


def _json(rng: random.Random, method: str, target: str, document: object) -> RequestView:
    body = json.dumps(document).encode()
    return RequestView(method, target, tuple(_app_headers(rng, "application/json", body)), body)


def _get(rng: random.Random, target: str, accept: str | None = None) -> RequestView:
    headers = [HOST, *browser_headers(rng, accept)[1:]] if accept is not None else _app_headers(rng)
    return RequestView("GET", target, tuple(headers))


def notifier_ws(rng: random.Random) -> RequestView:
    """The WebSocket upgrade (the JWT in the first message or as a `bearer.` subprotocol)."""
    protocols = rng.choice(("surge.v1", f"surge.v1, bearer.{jwt(rng)}"))
    headers = [
        HOST,
        ("User-Agent", rng.choice(USER_AGENTS)),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", base64.b64encode(rng.randbytes(16)).decode()),
        ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Protocol", protocols),
        ("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits"),
        ("Origin", "https://surge.example.com"),
    ]
    if rng.random() < 0.5:
        headers.append(("Cookie", cookies(rng)))
    return RequestView("GET", "/ws", tuple(headers))


def notifier(rng: random.Random) -> RequestView:
    user = _user(rng)
    kind = rng.randrange(8)
    if kind == 0:  # a service publishing, with a Web Push fallback
        document = {
            "channel": rng.choice((f"user:{user}", f"zone:{rng.choice(ZONES)}", "broadcast")),
            "event": rng.choice(("admitted", "avatar.published", "order.paid")),
            "data": {
                "position": rng.randrange(10**5),
                "eta_seconds": rng.randrange(3600),
                "message": rng.choice(TEXTS),
                "at": iso(rng),
            },
            "webpush": {
                "mode": "offline",
                "title": "You're in!",
                "body": rng.choice(TEXTS),
                "url": f"https://surge.example.com/tickets/{rng.choice(ZONES)}/",
                "ttl_seconds": 3600,
                "urgency": "high",
                "topic": "admission",
            },
        }
        return _json(rng, "POST", "/notifier/publish", document)
    if kind == 1:
        return _json(
            rng,
            "POST",
            "/notifier/jobs",
            {"kind": "digest", "params": {"text": " ".join(rng.sample(TEXTS, 6))}},
        )
    if kind == 2:
        subscription = {
            "endpoint": fill(rng, rng.choice(PUSH_ENDPOINTS)),
            "expirationTime": None,
            "keys": {"p256dh": token(rng, 65), "auth": token(rng, 16)},
        }
        return _json(rng, "POST", "/notifier/webpush/subscriptions", subscription)
    if kind == 3:
        query = urlencode({"endpoint": fill(rng, rng.choice(PUSH_ENDPOINTS))})
        headers = _app_headers(rng)
        return RequestView("DELETE", f"/notifier/webpush/subscriptions?{query}", tuple(headers))
    if kind == 4:
        return RequestView(
            "DELETE",
            f"/notifier/webpush/subscriptions/{rng.randbytes(16).hex()}",
            tuple(_app_headers(rng)),
        )
    target = rng.choice(
        (
            "/notifier/webpush/vapid-public-key",
            "/notifier/webpush/subscriptions",
            f"/notifier/jobs/{uuid.UUID(int=rng.getrandbits(128))}",
            f"/notifier/presence/{user}",
        )
    )
    if kind == 7:
        page = rng.choice(("/notifier/push/", "/notifier/push/push.js", "/notifier/push/sw.js"))
        return _get(rng, page, ACCEPT_HTML if page.endswith("/") else "*/*")
    return _get(rng, target)


def waitingroom(rng: random.Random) -> RequestView:
    zone = rng.choice(ZONES)
    action = rng.choice(("join", "renew", "leave", "status", "info", "complete"))
    if action == "complete":
        return _json(rng, "POST", f"/waitingroom/zones/{zone}/complete", {"token": jwt(rng)})
    if action in ("join", "renew", "leave"):  # bodiless POSTs, as fetch() sends them
        headers = [*_app_headers(rng), ("Content-Length", "0")]
        return RequestView("POST", f"/waitingroom/zones/{zone}/{action}", tuple(headers))
    suffix = "/status" if action == "status" else ""
    return _get(rng, f"/waitingroom/zones/{zone}{suffix}")


def waitingroom_jwks(rng: random.Random) -> RequestView:
    return RequestView(
        "GET",
        "/waitingroom/.well-known/jwks.json",
        (
            HOST,
            ("User-Agent", rng.choice(("Go-http-client/2.0", "python-httpx/0.27.0"))),
            ("Accept", "application/json"),
        ),
    )


def waitingroom_page(rng: random.Random) -> RequestView:
    zone = rng.choice(ZONES)
    if rng.random() < 0.3:
        return _get(rng, "/waitingroom/page/page.js", "*/*")
    query = {"zone": zone, "return": f"/tickets/{zone}/?seat=A{rng.randrange(1, 40)}"}
    if rng.random() < 0.5:
        query["token"] = jwt(rng)
    return _get(rng, f"/waitingroom/page/?{urlencode(query)}", ACCEPT_HTML)


def tickets(rng: random.Random) -> RequestView:
    zone = rng.choice(ZONES)
    headers = [HOST, *browser_headers(rng, ACCEPT_HTML)[1:]]
    headers = [h for h in headers if h[0] != "Cookie"]
    headers.append(("Cookie", f"surge_access_{zone}={jwt(rng)}; {cookies(rng)}"))
    if rng.random() < 0.5:
        return RequestView("GET", f"/tickets/{zone}/", tuple(headers))
    headers += [
        ("Origin", "https://surge.example.com"),
        ("Content-Length", "0"),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ]
    return RequestView("POST", f"/tickets/{zone}/purchase", tuple(headers), b"")


def tracking_pixel(rng: random.Random) -> RequestView:
    page = f"https://shop.example/p/{rng.randrange(10**5)}?utm_source=ads&gclid={token(rng, 24)}"
    query = {
        "program": rng.choice(PROGRAMS),
        "type": rng.choice(("impression", "view", "conversion")),
        "u": page,
        "order_id": f"o-{rng.randrange(10**7)}",
        "value": rng.randrange(100, 10**6) / 100,
        "items": rng.randrange(1, 9),
        "ts": rng.randrange(1_700_000_000_000, 1_800_000_000_000),
        "cb": rng.randrange(10**9, 10**10),
    }
    if rng.random() < 0.3:
        query["click_id"] = str(uuid.UUID(int=rng.getrandbits(128)))
    chosen = dict(rng.sample(sorted(query.items()), rng.randrange(2, len(query) + 1)))
    chosen["program"] = query["program"]
    headers = [HOST, *browser_headers(rng, "image/avif,image/webp,image/*,*/*;q=0.8")[1:]]
    headers.append(("Referer", page))
    if rng.random() < 0.2:
        headers.append(("Sec-GPC", "1"))
    return RequestView("GET", f"/t/p.gif?{urlencode(chosen)}", tuple(headers))


def tracking_redirect(rng: random.Random) -> RequestView:
    to = f"https://shop.example/landing/{rng.randrange(10**4)}?utm_campaign=spring&ref=ad{rng.randrange(99)}"
    query = urlencode({"program": rng.choice(PROGRAMS), "to": to, "creative": rng.randrange(10**6)})
    return _get(rng, f"/t/r?{query}", ACCEPT_HTML)


def tracking_batch(rng: random.Random) -> RequestView:
    if rng.random() < 0.15:  # the browser's CORS preflight for the batch POST
        headers = (
            HOST,
            ("Origin", "https://shop.example"),
            ("User-Agent", rng.choice(USER_AGENTS)),
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "authorization,content-type"),
        )
        return RequestView("OPTIONS", "/t/events", headers)
    events = [
        {
            "id": f"c-{rng.randrange(10**9)}",
            "program": rng.choice(PROGRAMS),
            "type": rng.choice(("conversion", "add_to_cart", "signup", "level_up")),
            "params": {
                "order_id": f"o-{rng.randrange(10**6)}",
                "value": rng.randrange(10**6) / 100,
                "currency": "EUR",
                "page": f"https://shop.example/cart?step={rng.randrange(4)}",
                "coupon": rng.choice(("SPRING-10", "", None)),
                "first": rng.random() < 0.5,
                "bytes": rng.choice((67108864, 4294967296, 1048576)),
            },
            "time": iso(rng),
            "anonymous_id": str(uuid.UUID(int=rng.getrandbits(128))),
            "context": {
                "user_agent": rng.choice(USER_AGENTS),
                "ip": rng.choice(("203.0.113.7", "198.51.100.23", "2001:db8::42", "10.1.2.3")),
            },
        }
        for _ in range(rng.randrange(1, 20))
    ]
    return _json(rng, "POST", "/t/events", {"events": events})


def tracking_live(rng: random.Random) -> RequestView:
    program = rng.choice(PROGRAMS)
    target = rng.choice(
        (f"/t/live/{program}?token={jwt(rng)}", "/t/live/live.js", f"/t/live/{program}/info")
    )
    return _get(rng, target, ACCEPT_HTML) if "info" not in target else _get(rng, target)


def avatars_upload(rng: random.Random) -> RequestView:
    if rng.random() < 0.3:
        headers = [*_app_headers(rng), ("Content-Length", "0")]
        return RequestView(
            "POST", f"/avatars/uploads/{rng.randbytes(16).hex()}/complete", tuple(headers)
        )
    document = {"content_type": rng.choice(("image/jpeg", "image/png", "image/webp", "image/gif"))}
    return _json(rng, "POST", "/avatars/uploads", document)


def avatars_api(rng: random.Random) -> RequestView:
    return _get(rng, f"/avatars/uploads/{rng.randbytes(16).hex()}")


def avatars_me(rng: random.Random) -> RequestView:
    return _get(rng, "/avatars/me")


def avatars_blobs(rng: random.Random) -> RequestView:
    """The signed-URL PUT of the image bytes, as the avatar page's XMLHttpRequest sends it."""
    fmt = rng.choice(("jpeg", "png", "webp", "gif"))
    data = image(fmt, rng.randrange(2), rng.randrange(2))
    query = urlencode(
        {"expires": rng.randrange(1_700_000_000, 1_800_000_000), "sig": token(rng, 32)}
    )
    headers = [
        HOST,
        ("User-Agent", rng.choice(USER_AGENTS)),
        ("Accept", "*/*"),
        ("Origin", "https://surge.example.com"),
        ("Referer", "https://surge.example.com/avatars/"),
        ("Content-Type", FORMATS[fmt][0]),
        ("Content-Length", str(len(data))),
    ]
    return RequestView(
        "PUT", f"/avatars/blobs/{rng.randbytes(16).hex()}?{query}", tuple(headers), data
    )


def avatars_page(rng: random.Random) -> RequestView:
    page = rng.choice(("/avatars/", "/avatars/page.js", "/avatars/sw.js"))
    query = f"?token={jwt(rng)}" if page == "/avatars/" and rng.random() < 0.3 else ""
    return _get(rng, page + query, ACCEPT_HTML if page.endswith("/") else "*/*")


def media(rng: random.Random) -> RequestView:
    size = rng.choice(("64x64", "128x128", "256x256", "512x512"))
    fmt = rng.choice(("webp", "avif", "jpeg", "png"))
    target = f"/media/avatars/{_user(rng)}/{rng.randbytes(8).hex()}/{size}.{fmt}"
    view = _get(rng, target, "image/avif,image/webp,image/apng,image/*,*/*;q=0.8")
    if rng.random() < 0.2:
        return RequestView("HEAD", target, view.headers)
    if rng.random() < 0.2:
        etag = f'"{rng.randbytes(8).hex()}"'
        return RequestView("GET", target, (*view.headers, ("If-None-Match", etag)))
    return view


ROUTE_TRAFFIC: dict[str, Traffic] = {
    "notifier-ws": notifier_ws,
    "notifier": notifier,
    "waitingroom": waitingroom,
    "waitingroom-jwks": waitingroom_jwks,
    "waitingroom-page": waitingroom_page,
    "tickets": tickets,
    "tracking-pixel": tracking_pixel,
    "tracking-redirect": tracking_redirect,
    "tracking-batch": tracking_batch,
    "tracking-live": tracking_live,
    "avatars-upload": avatars_upload,
    "avatars-api": avatars_api,
    "avatars-me": avatars_me,
    "avatars-blobs": avatars_blobs,
    "avatars-page": avatars_page,
    "media": media,
}


def platform_request(rng: random.Random) -> RequestView:
    """A request to any of the platform's routes."""
    return rng.choice(tuple(ROUTE_TRAFFIC.values()))(rng)
