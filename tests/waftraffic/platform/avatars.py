"""The avatar routes: creating an upload, its state, the signed-URL PUT of real image bytes,
the page and published media."""

from __future__ import annotations

import random
from urllib.parse import urlencode

from services.gateway.waf.view import RequestView
from tests.waftraffic.common import (
    ACCEPT_HTML,
    USER_AGENTS,
    jwt,
    token,
)
from tests.waftraffic.images import FORMATS, image
from tests.waftraffic.platform.requests import HOST, app_headers, get, json_request, user_id


def avatars_upload(rng: random.Random) -> RequestView:
    if rng.random() < 0.3:
        headers = [*app_headers(rng), ("Content-Length", "0")]
        return RequestView(
            "POST", f"/avatars/uploads/{rng.randbytes(16).hex()}/complete", tuple(headers)
        )
    document = {"content_type": rng.choice(("image/jpeg", "image/png", "image/webp", "image/gif"))}
    return json_request(rng, "POST", "/avatars/uploads", document)


def avatars_api(rng: random.Random) -> RequestView:
    return get(rng, f"/avatars/uploads/{rng.randbytes(16).hex()}")


def avatars_me(rng: random.Random) -> RequestView:
    return get(rng, "/avatars/me")


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
    return get(rng, page + query, ACCEPT_HTML if page.endswith("/") else "*/*")


def media(rng: random.Random) -> RequestView:
    size = rng.choice(("64x64", "128x128", "256x256", "512x512"))
    fmt = rng.choice(("webp", "avif", "jpeg", "png"))
    target = f"/media/avatars/{user_id(rng)}/{rng.randbytes(8).hex()}/{size}.{fmt}"
    view = get(rng, target, "image/avif,image/webp,image/apng,image/*,*/*;q=0.8")
    if rng.random() < 0.2:
        return RequestView("HEAD", target, view.headers)
    if rng.random() < 0.2:
        etag = f'"{rng.randbytes(8).hex()}"'
        return RequestView("GET", target, (*view.headers, ("If-None-Match", etag)))
    return view
