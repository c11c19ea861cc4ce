"""Requests that carry URLs and numbers: what webhooks, push subscriptions, OAuth/OIDC flows,
image APIs, tracking pixels and paginated or ranged APIs send.

URLs here point at public services, at developers' own machines (`http://localhost:3000`,
`http://127.0.0.1:9999`: webhook tunnels, push doubles, RFC 8252 native-app redirects) and at
private networks, as they do in real traffic. Numbers are byte counts, ranges, ids,
timestamps in seconds and milliseconds, prices and coordinates.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import uuid
from urllib.parse import urlencode

from services.gateway.waf.view import RequestView
from tests.waftraffic.common import (
    ACCEPT_HTML,
    NAMES,
    TEXTS,
    api_headers,
    browser_headers,
    jwt,
    token,
)

PUSH_ENDPOINTS = (
    "https://fcm.googleapis.com/fcm/send/{t}:APA91b{t}",
    "https://updates.push.services.mozilla.com/wpush/v2/gAAAAABl{t}",
    "https://web.push.apple.com/Q{t}",
    "https://wns2-par02p.notify.windows.com/w/?token=BQYAAAB{t}%2b{t}%3d",
    "http://127.0.0.1:9999/push/{t}",
    "http://localhost:8082/push/{t}",
)
WEBHOOKS = (
    "https://hooks.slack.com/services/T0{n}/B0{n}/{t}",
    "https://discord.com/api/webhooks/{n}/{t}",
    "https://api.example-crm.com/v2/hooks/incoming?key={t}&source=surge",
    "https://webhook.site/{u}",
    "https://example.ngrok-free.app/webhooks/orders",
    "http://localhost:3000/api/webhooks/stripe",
    "http://127.0.0.1:8000/hooks/{u}",
    "http://10.0.3.12:8080/events",
    "http://192.168.1.20/notify",
    "http://host.docker.internal:4000/webhook",
    "https://ops.internal.example.com:8443/alerts?team=tickets",
)
REDIRECT_URIS = (
    "https://app.example.com/oauth/callback",
    "https://tickets.example.com/auth/callback?next=%2Faccount%2Forders",
    "com.example.tickets:/oauth2redirect",
    "http://127.0.0.1:{port}/callback",  # RFC 8252: native apps listen on the loopback
    "http://localhost:3000/api/auth/callback/surge",
    "https://oauth.pstmn.io/v1/callback",
)
IMAGE_URLS = (
    "https://cdn.example.com/u/{n}/avatar.png?v={n}",
    "https://images.unsplash.com/photo-{n}-{u}?ixlib=rb-4.0.3&auto=format&fit=crop&w=1470&q=80",
    "https://lh3.googleusercontent.com/a/{t}=s96-c",
    "https://pbs.twimg.com/profile_images/{n}/{t}_400x400.jpg",
    "https://secure.gravatar.com/avatar/{h}?s=200&d=identicon",
    "https://example-bucket.s3.eu-west-1.amazonaws.com/uploads/{u}.webp",
)


def fill(rng: random.Random, template: str) -> str:
    return template.format(
        t=token(rng, rng.choice((12, 24, 48))),
        n=rng.randrange(10**6, 10**10),
        u=uuid.UUID(int=rng.getrandbits(128)),
        h=rng.randbytes(16).hex(),
        port=rng.randrange(49152, 65535),
    )


def _json(rng: random.Random, method: str, target: str, document: object) -> RequestView:
    body = json.dumps(document).encode()
    headers = [*api_headers(rng, "application/json"), ("Content-Length", str(len(body)))]
    return RequestView(method, target, tuple(headers), body)


def url_json(rng: random.Random) -> RequestView:
    """A JSON body whose values are URLs: a webhook, a push subscription, an OAuth client,
    a profile with image URLs, a link to preview."""
    kind = rng.randrange(5)
    if kind == 0:
        return _json(
            rng,
            "POST",
            "/api/v1/webhooks",
            {
                "url": fill(rng, rng.choice(WEBHOOKS)),
                "events": rng.sample(["order.created", "order.refunded", "ticket.scanned"], 2),
                "secret": token(rng, 32),
                "active": True,
                "description": rng.choice(TEXTS),
            },
        )
    if kind == 1:
        return _json(
            rng,
            "POST",
            "/notifier/webpush/subscriptions",
            {
                "endpoint": fill(rng, rng.choice(PUSH_ENDPOINTS)),
                "expirationTime": rng.choice(
                    (None, rng.randrange(1_700_000_000_000, 1_800_000_000_000))
                ),
                "keys": {"p256dh": token(rng, 65), "auth": token(rng, 16)},
            },
        )
    if kind == 2:
        uris = [fill(rng, uri) for uri in rng.sample(REDIRECT_URIS, 2)]
        return _json(
            rng,
            "POST",
            "/oauth/register",
            {
                "client_name": f"{rng.choice(NAMES)}'s ticket scanner",
                "redirect_uris": uris,
                "post_logout_redirect_uris": [uris[0]],
                "logo_uri": fill(rng, rng.choice(IMAGE_URLS)),
                "grant_types": ["authorization_code", "refresh_token"],
                "token_endpoint_auth_method": rng.choice(("none", "client_secret_basic")),
            },
        )
    if kind == 3:
        return _json(
            rng,
            rng.choice(("PUT", "PATCH")),
            f"/api/v1/users/{uuid.UUID(int=rng.getrandbits(128))}/profile",
            {
                "display_name": rng.choice(NAMES),
                "avatar_url": fill(rng, rng.choice(IMAGE_URLS)),
                "banner": {"url": fill(rng, rng.choice(IMAGE_URLS)), "width": 1500},
                "links": [f"https://github.com/{token(rng, 6)}", "https://example.com/~me"],
                "callback_url": fill(rng, rng.choice(WEBHOOKS)),
            },
        )
    return _json(
        rng,
        "POST",
        "/api/v1/link-previews",
        {"url": rng.choice((
            "https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=42s",
            f"https://open.spotify.com/track/{token(rng, 16)}?si={token(rng, 8)}",
            f"https://maps.google.com/?q={rng.uniform(-90, 90):.6f},{rng.uniform(-180, 180):.6f}",
            "https://en.wikipedia.org/wiki/Hamilton_(musical)",
        ))},
    )  # fmt: skip


def pkce(rng: random.Random) -> tuple[str, str]:
    """A PKCE code verifier and its S256 challenge."""
    verifier = token(rng, 48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).decode().rstrip("=")


def oidc(rng: random.Random) -> RequestView:
    """A step of an OpenID Connect authorization-code flow with PKCE, as a browser or a
    relying party sends it."""
    redirect = fill(rng, rng.choice(REDIRECT_URIS))
    client = rng.choice(("surge-web", "tickets-ios", str(uuid.UUID(int=rng.getrandbits(128)))))
    verifier, challenge = pkce(rng)
    step = rng.randrange(5)
    if step == 0:
        query = urlencode(
            {
                "response_type": "code",
                "client_id": client,
                "redirect_uri": redirect,
                "scope": rng.choice(("openid profile email", "openid offline_access")),
                "state": token(rng, 16),
                "nonce": token(rng, 16),
                "code_challenge": challenge,
                "code_challenge_method": "S256",
                **rng.choice(({}, {"prompt": "login"}, {"login_hint": "ana.maria@example.com"})),
                "ui_locales": rng.choice(("en", "de-DE en", "pt-BR")),
            }
        )
        headers = browser_headers(rng, ACCEPT_HTML)
        return RequestView("GET", f"/authorize?{query}", tuple(headers))
    if step == 1:
        query = urlencode(
            {
                "code": token(rng, 32),
                "state": token(rng, 16),
                "session_state": f"{uuid.UUID(int=rng.getrandbits(128))}.{token(rng, 8)}",
                "iss": "https://accounts.example.com/realms/surge",
            }
        )
        headers = browser_headers(rng, ACCEPT_HTML)
        return RequestView("GET", f"/auth/callback?{query}", tuple(headers))
    if step == 2:
        fields = {
            "grant_type": "authorization_code",
            "code": token(rng, 32),
            "redirect_uri": redirect,
            "code_verifier": verifier,
            "client_id": client,
        }
        if rng.random() < 0.4:
            fields = {"grant_type": "refresh_token", "refresh_token": jwt(rng), "client_id": client}
        body = urlencode(fields).encode()
        headers = [
            *api_headers(rng, "application/x-www-form-urlencoded"),
            ("Content-Length", str(len(body))),
        ]
        return RequestView("POST", "/oauth/token", tuple(headers), body)
    if step == 3:
        query = urlencode(
            {
                "id_token_hint": jwt(rng),
                "post_logout_redirect_uri": redirect,
                "state": token(rng, 12),
            }
        )
        return RequestView("GET", f"/logout?{query}", tuple(browser_headers(rng, ACCEPT_HTML)))
    target = rng.choice(
        ("/.well-known/openid-configuration", "/.well-known/jwks.json", "/userinfo")
    )
    return RequestView("GET", target, tuple(api_headers(rng, None)))


def numeric_query(rng: random.Random) -> RequestView:
    """GETs whose arguments are numbers: offsets, byte counts and ranges, ids, timestamps,
    prices, coordinates, dimensions."""
    start = rng.randrange(0, 1 << 30)
    candidates = {
        "offset": rng.randrange(0, 10**5),
        "limit": rng.choice((10, 50, 100, 1000)),
        "bytes": rng.choice((1024, 65536, 1 << 20, 67108864, 1073741824, 2147483648)),
        "range": f"{start}-{start + rng.randrange(1, 1 << 24)}",
        "id": rng.randrange(10**7, 10**10),
        "order_id": rng.randrange(10**9, 10**12),
        "since": rng.randrange(1_600_000_000, 1_800_000_000),
        "ts": rng.randrange(1_600_000_000_000, 1_800_000_000_000),
        "price_min": f"{rng.randrange(0, 100)}.{rng.randrange(100):02d}",
        "price_max": rng.randrange(100, 100000) / 100,
        "lat": f"{rng.uniform(-90, 90):.6f}",
        "lon": f"{rng.uniform(-180, 180):.6f}",
        "width": rng.choice((320, 1280, 1920, 3840)),
        "height": rng.choice((240, 720, 1080, 2160)),
        "version": rng.randrange(1, 2**31),
        "phone": f"+1{rng.randrange(2000000000, 9999999999)}",
        "isbn": f"978{rng.randrange(10**9, 10**10)}",
        "ean": rng.randrange(10**12, 10**13),
        "gtin": f"0{rng.randrange(10**12, 10**13)}",
        "page": rng.randrange(1, 500),
        "duration": rng.choice((30, 3600, 86400, 604800)),
        "seed": rng.getrandbits(32),
        "hex": f"0x{rng.getrandbits(32):08x}",
    }
    chosen = dict(rng.sample(sorted(candidates.items()), rng.randrange(2, 7)))
    path = rng.choice(
        (
            f"/api/v1/files/{uuid.UUID(int=rng.getrandbits(128))}",
            "/api/v1/orders",
            f"/api/v1/events/{rng.randrange(10**6)}/seats",
            "/bulk/download",
            "/api/v1/search",
        )
    )
    headers = api_headers(rng, None)
    if rng.random() < 0.3:
        headers.append(("Range", f"bytes={start}-{start + rng.randrange(1, 1 << 20)}"))
    return RequestView("GET", f"{path}?{urlencode(chosen)}", tuple(headers))


def tracking(rng: random.Random) -> RequestView:
    """A tracking pixel, a click redirect or an analytics beacon, as a browser loads it."""
    page = (
        f"https://shop.example/products/{rng.randrange(10**5)}?color=red&size=M&"
        f"utm_source=newsletter&utm_campaign=spring_{rng.randrange(2020, 2030)}"
    )
    now_ms = rng.randrange(1_700_000_000_000, 1_800_000_000_000)
    kind = rng.randrange(3)
    if kind == 0:
        query = urlencode(
            {
                "program": rng.choice(("spring-sale", "launch_2024", "summer")),
                "event": rng.choice(("view", "add_to_cart", "purchase")),
                "type": rng.choice(("impression", "conversion", "click")),
                "u": page,
                "r": rng.choice(("https://www.google.com/", "https://t.co/Ab12Cd34", "")),
                "order_id": f"o-{rng.randrange(10**6)}",
                "value": rng.randrange(100, 100000) / 100,
                "currency": "EUR",
                "sw": 1920,
                "sh": 1080,
                "tz": rng.choice((-60, 0, 300, 330)),
                "cb": now_ms,
            }
        )
        target = f"/t/p.gif?{query}"
    elif kind == 1:
        query = urlencode({"program": "spring-sale", "to": page, "creative": rng.randrange(10**6)})
        target = f"/t/r?{query}"
    else:
        query = urlencode(
            {
                "v": 2,
                "tid": f"G-{token(rng, 8).upper()}",
                "cid": f"{rng.randrange(10**9)}.{now_ms // 1000}",
                "dl": page,
                "dt": rng.choice(TEXTS[:8]),
                "en": "page_view",
                "_p": now_ms,
                "sr": "1920x1080",
                "ul": "en-us",
            }
        )
        target = f"/g/collect?{query}"
    headers = browser_headers(rng, "image/avif,image/webp,image/apng,image/*,*/*;q=0.8")
    headers.append(("Referer", page))
    return RequestView("GET", target, tuple(headers))
