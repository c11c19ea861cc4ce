"""What the platform's browsers, apps and services put around their requests: the site's
host, a signed-in fetch() or app client's headers, JSON bodies, page loads."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable

from services.gateway.waf.view import RequestView
from tests.waftraffic.common import (
    USER_AGENTS,
    browser_headers,
    jwt,
)

Traffic = Callable[[random.Random], RequestView]
ZONES = ("zone-a", "taylor-2025-london", "cup_final", "launch.eu")
HOST = ("Host", "surge.example.com")


def user_id(rng: random.Random) -> str:
    return rng.choice((str(uuid.UUID(int=rng.getrandbits(128))), f"p{rng.randrange(10**6)}"))


def app_headers(
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


def json_request(rng: random.Random, method: str, target: str, document: object) -> RequestView:
    body = json.dumps(document).encode()
    return RequestView(method, target, tuple(app_headers(rng, "application/json", body)), body)


def get(rng: random.Random, target: str, accept: str | None = None) -> RequestView:
    headers = [HOST, *browser_headers(rng, accept)[1:]] if accept is not None else app_headers(rng)
    return RequestView("GET", target, tuple(headers))
