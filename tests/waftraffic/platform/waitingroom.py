"""The waiting room's routes (joins, polls, completion, the JWKS, the page) and the shop's
tickets behind it."""

from __future__ import annotations

import random
from urllib.parse import urlencode

from services.gateway.waf.view import RequestView
from tests.waftraffic.common import (
    ACCEPT_HTML,
    browser_headers,
    cookies,
    jwt,
)
from tests.waftraffic.platform.requests import HOST, ZONES, app_headers, get, json_request


def waitingroom(rng: random.Random) -> RequestView:
    zone = rng.choice(ZONES)
    action = rng.choice(("join", "renew", "leave", "status", "info", "complete"))
    if action == "complete":
        return json_request(rng, "POST", f"/waitingroom/zones/{zone}/complete", {"token": jwt(rng)})
    if action in ("join", "renew", "leave"):  # bodiless POSTs, as fetch() sends them
        headers = [*app_headers(rng), ("Content-Length", "0")]
        return RequestView("POST", f"/waitingroom/zones/{zone}/{action}", tuple(headers))
    suffix = "/status" if action == "status" else ""
    return get(rng, f"/waitingroom/zones/{zone}{suffix}")


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
        return get(rng, "/waitingroom/page/page.js", "*/*")
    query = {"zone": zone, "return": f"/tickets/{zone}/?seat=A{rng.randrange(1, 40)}"}
    if rng.random() < 0.5:
        query["token"] = jwt(rng)
    return get(rng, f"/waitingroom/page/?{urlencode(query)}", ACCEPT_HTML)


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
