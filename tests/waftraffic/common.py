"""What every kind of realistic request shares: user agents, languages, what people type,
tokens, cookies and the headers browsers and API clients send."""

from __future__ import annotations

import base64
import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.2 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:115.0) Gecko/20100101 Firefox/115.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.6099.144 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/119.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91",
    "Mozilla/5.0 (Macintosh; U; Intel Mac OS X 10_10_1 rv:5.0; id-ID) AppleWebKit/534.28.2 "
    "(KHTML, like Gecko) Version/4.0 Safari/534.28.2",
    "Mozilla/5.0 (Linux; U; Android 4.4.2; tr-tr; GT-I9505 Build/KOT49H) AppleWebKit/534.30 "
    "(KHTML, like Gecko) Version/4.0 Mobile Safari/534.30",
    "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (Windows NT 6.1; WOW64; Trident/7.0; rv:11.0) like Gecko",
    "Mozilla/5.0 (Linux; Android 13; SM-S908B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36",
    "SurgeTickets/4.2.1 (iPhone; iOS 17.2; Scale/3.00)",
    "okhttp/4.12.0",
    "python-requests/2.31.0",
    "curl/8.5.0",
    "PostmanRuntime/7.36.0",
    "axios/1.6.2",
    "Dart/3.2 (dart:io)",
    "Go-http-client/2.0",
    "Apache-HttpClient/4.5.14 (Java/17.0.9)",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
)
ACCEPT_HTML = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
    "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
)
ACCEPTS = (ACCEPT_HTML, "application/json", "application/json, text/plain, */*", "*/*")
LANGUAGES = (
    "en-US,en;q=0.9",
    "en-GB,en;q=0.9,fr;q=0.8",
    "de-DE,de;q=0.9,en-US;q=0.8,en;q=0.7",
    "pt-BR,pt;q=0.9,en-US;q=0.8,en;q=0.7",
    "id-ID,id;q=0.9",
    "tr-TR,tr;q=0.9,en-US;q=0.8",
    "nl-NL,nl;q=0.9,en;q=0.8",
    "ja,en-US;q=0.9,en;q=0.8",
    "zh-CN,zh;q=0.9",
    "es-419,es;q=0.9",
)
NAMES = (
    "O'Brien", "D'Angelo", "Zoë Saldaña", "José Álvarez", "李雷", "Anne-Marie", "Ng", "O'Neil",
    "Renée", "Björk Guðmundsdóttir", "Mary-Kate", "Jean d'Arc", "Dr. Smith Jr.", "Ólafur",
    "Müller", "van der Berg", "Nguyễn Văn A", "Siobhán", "MacDonald", "St. John",
)  # fmt: skip
TEXTS = (
    "select a seat", "1 or 2 tickets", "drop me a line", "Can't wait -- see you at 8pm!",
    "Is the venue wheelchair accessible? My dad uses a chair.",
    "We'd like 2 or 3 seats together, aisle if possible; thanks!",
    "Please update my email; the old one (bob@example.com) is gone.",
    "Price was $49.99 + fees = $57.40 -- is that right?",
    "Union Square entrance or the side door?", "Order #1234 — refund please",
    "I tried 3 times & it still says 'sold out'", "5 > 3 and 2 < 4, obviously",
    "50% off? Really?!", "Meet @ gate B; bring ID", "Rock 'n' roll all night",
    "She said \"see you there\" and left.", "C'est la vie :)", "Tickets for 2 adults + 1 child",
    "Where do I drop off the kids' bags?", "Any vegan food? 🌱", "Row 12, seats 4-7 please",
    "Can I transfer my ticket to my brother's account?", "Will the show end before 11 pm?",
    "Delete my account please", "Show me events from last week",
    "The app crashed when I tapped 'Pay' -- iOS 17.2", "Is the 7:30 show sold out?",
    "Selected seats: A1, A2; total: 2", "From 1 to 5 stars: 5", "and/or",
    "Drop-off point: 12 rue de l'Église", "Where's the nearest parking (P1 or P2)?",
    "Update: the order went through!", "I'll take whatever's left",
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit.",
)  # fmt: skip
MARKDOWN = (
    "## Review\n\n**Great** show! See [the venue](https://example.com/venue?id=42).\n\n"
    "- sound: 5/5\n- seats: 4/5\n",
    "Thanks! Use the `promo` code at checkout.\n\n> quoted text\n\n1. first\n2. second",
    "*Note:* doors open at 19:00; bring a printed ticket or the QR code (see ![qr](qr.png)).",
)
SEARCHES = (
    "taylor swift tickets", "concerts near me this weekend", "rock & roll hall of fame",
    "c++ conference 2024", "\"hamilton\" london", "why is row 1 or 2 better", "50% off shows",
    "o'brien comedy tour", "kids shows under $20", "jazz -festival", "where's the venue?",
    "best seats at the o2", "how to select a seat", "refund policy", "ticket transfer",
    "new year's eve party", "musicals (matinee)", "football: arsenal vs chelsea",
)  # fmt: skip


def token(rng: random.Random, size: int) -> str:
    return base64.urlsafe_b64encode(rng.randbytes(size)).decode().rstrip("=")


def jwt(rng: random.Random) -> str:
    header = base64.urlsafe_b64encode(b'{"alg":"RS256","typ":"JWT"}').decode().rstrip("=")
    claims = {"sub": str(uuid.UUID(int=rng.getrandbits(128))), "exp": rng.randrange(10**9)}
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"{header}.{payload}.{token(rng, 64)}"


def cookies(rng: random.Random) -> str:
    now = rng.randrange(1_700_000_000, 1_710_000_000)
    cookies = [
        f"_ga=GA1.1.{rng.randrange(10**9)}.{now}",
        f"_ga_{token(rng, 7).upper()}=GS1.1.{now}.3.1.{now + 60}.0.0.0",
        f"_gid=GA1.2.{rng.randrange(10**9)}.{now}",
        f"_fbp=fb.1.{now}123.{rng.randrange(10**9)}",
        f"sid={token(rng, 24)}",
        f"connect.sid=s%3A{token(rng, 24)}.{token(rng, 32)}",
        "CookieConsent={stamp:%27" + token(rng, 30) + "%27%2Cnecessary:true%2Cpreferences:"
        "false%2Cstatistics:true%2Cmarketing:false%2Cmethod:%27explicit%27%2Cver:1%2Cutc:"
        f"{now}000%2Cregion:%27de%27}}",
        "OptanonConsent=isGDPRApplied=true&datestamp=Mon+Jan+08+2024+10%3A12%3A01+GMT%2B0100"
        "&version=202310.1.0&groups=C0001%3A1%2CC0002%3A0%2CC0003%3A1&AwaitingReconsent=false",
        f"csrftoken={token(rng, 32)}",
        "theme=dark",
        "lang=en-GB",
        f"cart=%5B%7B%22id%22%3A{rng.randrange(999)}%2C%22qty%22%3A2%7D%5D",
        f"__stripe_mid={uuid.UUID(int=rng.getrandbits(128))}",
        f"PHPSESSID={token(rng, 20).lower()}",
        f"JSESSIONID={token(rng, 16).upper()}",
    ]
    return "; ".join(rng.sample(cookies, rng.randrange(1, 8)))


def browser_headers(rng: random.Random, accept: str) -> list[tuple[str, str]]:
    headers = [
        ("Host", "tickets.example.com"),
        ("User-Agent", rng.choice(USER_AGENTS)),
        ("Accept", accept),
        ("Accept-Language", rng.choice(LANGUAGES)),
        ("Accept-Encoding", "gzip, deflate, br"),
    ]
    if rng.random() < 0.7:
        headers.append(("Cookie", cookies(rng)))
    if rng.random() < 0.6:
        query = urlencode({"q": rng.choice(SEARCHES), "utm_source": "newsletter", "p": 2})
        referer = rng.choice(
            (
                f"https://www.google.com/search?{query}",
                f"https://tickets.example.com/events?{query}",
                "https://t.co/Ab12Cd34",
                "https://www.facebook.com/",
            )
        )
        headers.append(("Referer", referer))
    if rng.random() < 0.5:
        headers += [
            ("sec-ch-ua", '"Not_A Brand";v="8", "Chromium";v="120", "Google Chrome";v="120"'),
            ("sec-ch-ua-mobile", "?0"),
            ("sec-ch-ua-platform", '"Windows"'),
            ("Sec-Fetch-Dest", "document"),
            ("Sec-Fetch-Mode", "navigate"),
            ("Sec-Fetch-Site", "same-origin"),
            ("Upgrade-Insecure-Requests", "1"),
        ]
    if rng.random() < 0.2:
        headers.append(("If-None-Match", f'W/"{token(rng, 12)}"'))
    if rng.random() < 0.2:
        headers.append(("X-Requested-With", "XMLHttpRequest"))
    return headers


def api_headers(rng: random.Random, content_type: str | None) -> list[tuple[str, str]]:
    headers = [
        ("Host", "api.example.com"),
        ("User-Agent", rng.choice(USER_AGENTS)),
        ("Accept", "application/json"),
        ("Authorization", f"Bearer {jwt(rng)}"),
        ("X-Request-ID", str(uuid.UUID(int=rng.getrandbits(128)))),
    ]
    if content_type:
        headers.append(("Content-Type", content_type))
    if rng.random() < 0.3:
        headers.append(("traceparent", f"00-{rng.randbytes(16).hex()}-{rng.randbytes(8).hex()}-01"))
    if rng.random() < 0.2:
        headers.append(("X-Client-Version", f"{rng.randrange(1, 9)}.{rng.randrange(20)}.0"))
    return headers


def iso(rng: random.Random) -> str:
    moment = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(10**8))
    return moment.isoformat().replace("+00:00", "Z")
