"""A realistic benign traffic mix for the WAF's false-positive measure, generated (seeded).

Browser navigations with real-world User-Agent strings, Accept headers, analytics, consent and
session cookies and Referers with query strings; API calls with JSON bodies full of what
people type (O'Brien, "select a seat", "1 or 2 tickets", "drop me a line", markdown, URLs,
emails, prices, base64 and JWT-looking tokens, UUIDs, ISO dates); form posts; search
queries; multipart uploads of small images; GraphQL; XML; real JPEG, PNG, WebP, GIF and AVIF
files PUT raw or uploaded in forms (tests/waftraffic/images.py); JSON bodies carrying
webhook, push, redirect and image URLs, public and local; OIDC steps; numeric queries;
tracking pixels (tests/waftraffic/urls.py). Nothing here is tuned to the rules: it is what a
ticketing site and its API see. The platform's own routes have their traffic in
tests/waftraffic/platform/, replayed with each route's policy.
"""

from __future__ import annotations

import base64
import json
import random
import uuid
from collections.abc import Callable
from urllib.parse import quote, urlencode

from services.gateway.waf.policy import DEFAULT_CONTENT_TYPES, Policy
from services.gateway.waf.view import RequestView
from tests.waftraffic.common import (
    ACCEPT_HTML,
    MARKDOWN,
    NAMES,
    SEARCHES,
    TEXTS,
    USER_AGENTS,
    api_headers,
    browser_headers,
    iso,
    jwt,
    token,
)
from tests.waftraffic.images import multipart_image, raw_upload
from tests.waftraffic.urls import numeric_query, oidc, tracking, url_json

PATHS = (
    "/", "/events", "/events/2024/summer-fest", "/tickets/zone-a/checkout", "/account/orders",
    "/waitingroom/page/zone-a", "/static/app.4f9c2b.js", "/static/styles.css", "/favicon.ico",
    "/images/banner@2x.png", "/help/faq", "/api/v1/events/7f3c/seats", "/robots.txt",
    "/.well-known/apple-app-site-association", "/search",
)  # fmt: skip
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


def _json_document(rng: random.Random) -> dict[str, object]:
    return {
        "id": str(uuid.UUID(int=rng.getrandbits(128))),
        "name": rng.choice(NAMES),
        "email": f"{rng.choice(('joe', 'ana.maria', 'o.brien', 'info+tickets'))}@example.com",
        "phone": f"+44 20 {rng.randrange(1000, 9999)} {rng.randrange(1000, 9999)}",
        "note": rng.choice(TEXTS + MARKDOWN),
        "quantity": rng.randrange(1, 6),
        "price": {"amount": rng.randrange(500, 25000) / 100, "currency": "EUR"},
        "seats": [f"{rng.choice('ABCDEFG')}{rng.randrange(1, 40)}" for _ in range(2)],
        "when": iso(rng),
        "website": f"https://example.com/u/{quote(rng.choice(NAMES))}?ref=app&x=1",
        "avatar": base64.b64encode(rng.randbytes(48)).decode(),
        "token": jwt(rng),
        "tags": rng.sample(["vip", "early-bird", "student", "accessible", "group"], 2),
        "address": {"line1": "12 O'Connell St.", "city": "Dublin", "zip": "D01 F5P2"},
        "consent": rng.random() < 0.5,
    }


def _navigation(rng: random.Random) -> RequestView:
    path = rng.choice(PATHS)
    if path == "/search":
        path += "?" + urlencode({"q": rng.choice(SEARCHES), "page": rng.randrange(1, 5)})
    elif rng.random() < 0.4:
        path += "?" + urlencode(
            {"utm_source": "newsletter", "utm_campaign": "summer_24", "ref": token(rng, 6)}
        )
    accept = ACCEPT_HTML if "." not in path else "image/avif,image/webp,*/*"
    return RequestView("GET", path, tuple(browser_headers(rng, accept)))


def _api_get(rng: random.Random) -> RequestView:
    query = urlencode(
        {
            "from": iso(rng),
            "limit": rng.choice((10, 20, 50)),
            "sort": rng.choice(("id", "-created_at", "name,price", "date desc")),
            "q": rng.choice(SEARCHES + TEXTS[:10]),
            "fields": "id,name,price",
            "cursor": token(rng, 18),
        }
    )
    target = f"/api/v1/events/{uuid.UUID(int=rng.getrandbits(128))}/seats?{query}"
    return RequestView("GET", target, tuple(api_headers(rng, None)))


def _api_json(rng: random.Random) -> RequestView:
    body = json.dumps(_json_document(rng), ensure_ascii=rng.random() < 0.5).encode()
    method = rng.choice(("POST", "PUT", "PATCH"))
    headers = [*api_headers(rng, "application/json"), ("Content-Length", str(len(body)))]
    return RequestView(method, f"/api/v1/orders/{rng.randrange(10**6)}", tuple(headers), body)


def _form(rng: random.Random) -> RequestView:
    fields = rng.choice(
        (
            {"username": rng.choice(NAMES), "password": "P@ss'w0rd!#2024", "remember": "on"},
            {"name": rng.choice(NAMES), "email": "me@example.com", "message": rng.choice(TEXTS)},
            {"q": rng.choice(SEARCHES), "category": "music & arts", "min_price": "10"},
            {"csrf": token(rng, 32), "seat": "A12", "note": rng.choice(TEXTS)},
        )
    )
    body = urlencode(fields).encode()
    headers = [
        *browser_headers(rng, ACCEPT_HTML),
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Content-Length", str(len(body))),
        ("Origin", "https://tickets.example.com"),
    ]
    return RequestView("POST", rng.choice(("/login", "/contact", "/search")), tuple(headers), body)


def _upload(rng: random.Random) -> RequestView:
    boundary = f"----WebKitFormBoundary{token(rng, 12)}"
    filename = rng.choice(("IMG_2024-01-05.jpg", "photo (1).png", "résumé.pdf", "avatar.png"))
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="caption"\r\n\r\n'
        f"{rng.choice(TEXTS)}\r\n".encode(),
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: image/png\r\n\r\n".encode()
        + PNG
        + rng.randbytes(rng.randrange(200, 2000))
        + b"\r\n",
        f"--{boundary}--\r\n".encode(),
    ]
    body = b"".join(parts)
    headers = [
        *browser_headers(rng, "application/json"),
        ("Content-Type", f"multipart/form-data; boundary={boundary}"),
        ("Content-Length", str(len(body))),
    ]
    return RequestView("POST", "/api/v1/me/avatar", tuple(headers), body)


def _graphql(rng: random.Random) -> RequestView:
    query = rng.choice(
        (
            "query Event($id: ID!) { event(id: $id) { id name venue { name city } "
            "seats(first: 20, after: $cursor) { edges { node { id row number price } } } } }",
            "mutation Book($input: BookingInput!) { book(input: $input) { id status total } }",
            "{ me { id name orders(last: 5) { id createdAt items { name quantity } } } }",
        )
    )
    variables: dict[str, object] = {
        "id": str(uuid.UUID(int=rng.getrandbits(128))),
        "cursor": token(rng, 12),
    }
    if "Book" in query:
        variables = {"input": {"seats": ["A1", "A2"], "note": rng.choice(TEXTS)}}
    body = json.dumps({"query": query, "variables": variables}).encode()
    headers = [*api_headers(rng, "application/json"), ("Content-Length", str(len(body)))]
    return RequestView("POST", "/graphql", tuple(headers), body)


def _xml(rng: random.Random) -> RequestView:
    note = rng.choice(TEXTS).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
        f'<soap:Body><Order id="{rng.randrange(10**6)}"><Customer>{rng.choice(NAMES)}'
        f'</Customer><Note>{note}</Note><Total currency="EUR">{rng.randrange(10, 500)}.00'
        "</Total></Order></soap:Body></soap:Envelope>"
    ).encode()
    headers = [*api_headers(rng, "text/xml; charset=utf-8"), ("Content-Length", str(len(body)))]
    return RequestView("POST", "/api/v1/partner/orders", tuple(headers), body)


_KINDS: tuple[tuple[Callable[[random.Random], RequestView], int], ...] = (
    (_navigation, 28),
    (_api_get, 16),
    (_api_json, 16),
    (_form, 6),
    (_upload, 4),
    (_graphql, 5),
    (_xml, 4),
    (raw_upload, 4),
    (multipart_image, 3),
    (url_json, 6),
    (oidc, 4),
    (numeric_query, 4),
    (tracking, 4),
)
# The site's upload routes take images (as the platform's avatars-blobs does: `image/*`).
BENIGN_POLICY = Policy(content_types=DEFAULT_CONTENT_TYPES | {"image/*"})


def benign_mix(count: int = 4000, seed: int = 2024) -> list[tuple[str, RequestView]]:
    """(kind, request) pairs; the kind is the generator's name (`raw_upload`, `oidc`...)."""
    rng = random.Random(seed)
    makers = [maker for maker, weight in _KINDS for _ in range(weight)]
    mix = []
    for _ in range(count):
        maker = rng.choice(makers)
        mix.append((maker.__name__.lstrip("_"), maker(rng)))
    return mix


def benign_requests(count: int = 4000, seed: int = 2024) -> list[RequestView]:
    return [view for _, view in benign_mix(count, seed)]


def typical_requests(count: int = 1000, seed: int = 7) -> list[RequestView]:
    """The throughput goal's typical requests, half and half: a GET with a few headers and a
    session cookie, and a small JSON POST; ids, cookies and notes vary from one to the next."""
    rng = random.Random(seed)
    user_agent = USER_AGENTS[0]
    views = []
    for index in range(count):
        headers = [("Host", "api.example.com"), ("User-Agent", user_agent)]
        headers.append(("Accept", "application/json"))
        if index % 2 == 0:
            headers.append(("Cookie", f"sid={token(rng, 24)}; theme=dark"))
            target = f"/api/v1/events/{rng.randrange(10**6)}?page={rng.randrange(1, 9)}"
            views.append(RequestView("GET", target, tuple(headers)))
            continue
        document: dict[str, object] = {
            "seat": f"{rng.choice('ABCDEF')}{rng.randrange(1, 40)}",
            "quantity": rng.randrange(1, 5),
            "note": rng.choice(TEXTS),
        }
        body = json.dumps(document).encode()
        headers += [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        views.append(RequestView("POST", "/api/v1/orders", tuple(headers), body))
    return views
