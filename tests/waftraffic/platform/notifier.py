"""The notifier's routes: the WebSocket upgrade, publishing, jobs, Web Push subscriptions (the
browsers' push services and the push double's http://127.0.0.1 endpoint) and the push page."""

from __future__ import annotations

import base64
import random
import uuid
from urllib.parse import urlencode

from services.gateway.waf.view import RequestView
from tests.waftraffic.common import (
    ACCEPT_HTML,
    TEXTS,
    USER_AGENTS,
    cookies,
    iso,
    jwt,
    token,
)
from tests.waftraffic.platform.requests import HOST, ZONES, app_headers, get, json_request, user_id
from tests.waftraffic.urls import PUSH_ENDPOINTS, fill


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
    user = user_id(rng)
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
        return json_request(rng, "POST", "/notifier/publish", document)
    if kind == 1:
        return json_request(
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
        return json_request(rng, "POST", "/notifier/webpush/subscriptions", subscription)
    if kind == 3:
        query = urlencode({"endpoint": fill(rng, rng.choice(PUSH_ENDPOINTS))})
        headers = app_headers(rng)
        return RequestView("DELETE", f"/notifier/webpush/subscriptions?{query}", tuple(headers))
    if kind == 4:
        return RequestView(
            "DELETE",
            f"/notifier/webpush/subscriptions/{rng.randbytes(16).hex()}",
            tuple(app_headers(rng)),
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
        return get(rng, page, ACCEPT_HTML if page.endswith("/") else "*/*")
    return get(rng, target)
