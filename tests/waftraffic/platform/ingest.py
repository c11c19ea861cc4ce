"""The tracking ingest's routes: pixels, click redirects, event batches (and their CORS
preflight), the live campaign page."""

from __future__ import annotations

import random
import uuid
from urllib.parse import urlencode

from services.gateway.waf.view import RequestView
from tests.waftraffic.common import (
    ACCEPT_HTML,
    USER_AGENTS,
    browser_headers,
    iso,
    jwt,
    token,
)
from tests.waftraffic.platform.requests import HOST, get, json_request

PROGRAMS = ("spring", "launch_2024", "summer-sale", "acme.q3")


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
    return get(rng, f"/t/r?{query}", ACCEPT_HTML)


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
    return json_request(rng, "POST", "/t/events", {"events": events})


def tracking_live(rng: random.Random) -> RequestView:
    program = rng.choice(PROGRAMS)
    target = rng.choice(
        (f"/t/live/{program}?token={jwt(rng)}", "/t/live/live.js", f"/t/live/{program}/info")
    )
    return get(rng, target, ACCEPT_HTML) if "info" not in target else get(rng, target)
