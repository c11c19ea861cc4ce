"""The accounts routes: sign-up and sign-in with the passwords people and password managers
choose, verification, refresh and sign-out, the account API (profile, password, sessions,
TOTP), the OpenID Connect endpoints (authorize with PKCE and loopback redirect URIs, token,
userinfo, discovery) and the pages with their `return` paths."""

from __future__ import annotations

import random
import string
import uuid
from urllib.parse import urlencode

from services.gateway.waf.view import RequestView
from tests.waftraffic.common import ACCEPT_HTML, NAMES, api_headers, browser_headers, token
from tests.waftraffic.platform.requests import (
    HOST,
    ZONES,
    Traffic,
    app_headers,
    get,
    json_request,
)
from tests.waftraffic.urls import REDIRECT_URIS, fill, pkce

_SYMBOLS = (
    "!@#$%^&*",
    "!@#$%^&*()-_=+[]{};:,.<>/?~",
    "-_.!*",
    "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
)
_HUMAN = (
    "correct horse battery staple",
    "Summer2024!",
    "Tr0ub4dor&3",
    "ilovemydog123",
    "P@ssw0rd!",
    "my cat's name is Tom",
    "Qwerty!2345",
    "<3 my kids 4ever",
    "1234567890ab",
    "O'Brien#1963",
)
_EMAILS = ("ana.maria@example.com", "o'brien@example.ie", "info+tickets@example.com", "li@例え.jp")
_RETURNS = (
    "/tickets/{zone}/",
    "/waitingroom/page/?zone={zone}&return=%2Ftickets%2F{zone}%2F",
    "/avatars/",
    "/accounts/account",
)


def password(rng: random.Random) -> str:
    """What people and password managers (1Password, Bitwarden: 12 to 40 characters, symbols
    from their sets) choose."""
    if rng.random() < 0.3:
        return rng.choice(_HUMAN)
    alphabet = string.ascii_letters + string.digits + rng.choice(_SYMBOLS)
    return "".join(rng.choice(alphabet) for _ in range(rng.choice((12, 16, 20, 24, 32, 40))))


def _return(rng: random.Random) -> str:
    return rng.choice(_RETURNS).format(zone=rng.choice(ZONES))


def _profile(rng: random.Random) -> dict[str, object]:
    name = rng.choice(NAMES)
    return {
        "name": name,
        "given_name": name.split()[0],
        "nickname": rng.choice(("ana", "J-Lo", "d'artagnan", "xX_gamer_Xx")),
        "birthdate": f"{rng.randrange(1940, 2010)}-{rng.randrange(1, 13):02d}-"
        f"{rng.randrange(1, 29):02d}",
        "locale": rng.choice(("en-GB", "de-DE", "pt-BR", "ja-JP")),
        "zoneinfo": rng.choice(("Europe/Berlin", "America/Sao_Paulo", "Asia/Tokyo")),
        "address": {
            "street_address": rng.choice(("12 O'Connell St.", "Rua da Consolação, 1024 - apto 5")),
            "locality": rng.choice(("Dublin", "São Paulo", "Köln")),
            "postal_code": rng.choice(("D01 F5P2", "01302-000", "50667")),
            "country": rng.choice(("IE", "BR", "DE")),
        },
    }


def accounts_api(rng: random.Random) -> RequestView:
    step = rng.randrange(9)
    if step == 0:
        return json_request(
            rng, "PATCH", "/accounts/api/me", {"profile": _profile(rng), "phone": "+49 221 1234567"}
        )
    if step == 1:
        document = {"current_password": password(rng), "new_password": password(rng)}
        return json_request(rng, "POST", "/accounts/api/me/password", document)
    if step == 2:
        return json_request(
            rng, "POST", "/accounts/api/token/refresh", {"refresh_token": token(rng, 48)}
        )
    if step == 3:
        return json_request(rng, "POST", "/accounts/api/verify", {"token": token(rng, 32)})
    if step == 4:
        document = {"email": rng.choice(_EMAILS), "return": _return(rng)}
        return json_request(rng, "POST", "/accounts/api/verify/resend", document)
    if step == 5:
        code = rng.choice((f"{rng.randrange(10**6):06d}", f"{token(rng, 4)}-{token(rng, 4)}"))
        return json_request(rng, "POST", "/accounts/api/me/totp/confirm", {"code": code})
    if step == 6:
        path = rng.choice(("/accounts/api/me", "/accounts/api/me/totp"))
        return json_request(rng, "DELETE", path, {"password": password(rng)})
    if step == 7:
        headers = [
            *app_headers(rng),
            ("Cookie", f"surge_session={token(rng, 32)}"),
            ("Content-Length", "0"),
        ]
        path = rng.choice(("/accounts/api/session/token", "/accounts/api/me/totp"))
        return RequestView("POST", path, tuple(headers))
    return get(rng, rng.choice(("/accounts/api/me", "/accounts/api/me/sessions")))


def accounts_signin(rng: random.Random) -> RequestView:
    document: dict[str, object] = {"email": rng.choice(_EMAILS), "password": password(rng)}
    if rng.random() < 0.2:
        document["otp"] = f"{rng.randrange(10**6):06d}"
    return json_request(rng, "POST", "/accounts/api/signin", document)


def accounts_signup(rng: random.Random) -> RequestView:
    document = {
        "email": rng.choice(_EMAILS),
        "password": password(rng),
        "profile": _profile(rng),
        "return": _return(rng),
    }
    return json_request(rng, "POST", "/accounts/api/signup", document)


def accounts_oidc(rng: random.Random) -> RequestView:
    path = rng.choice(("openid-configuration", "jwks.json"))
    headers = (HOST, ("User-Agent", "Go-http-client/2.0"), ("Accept", "application/json"))
    return RequestView("GET", f"/accounts/.well-known/{path}", headers)


def authorize_query(rng: random.Random) -> str:
    return urlencode(
        {
            "response_type": "code",
            "client_id": rng.choice(
                ("surge-web", "tickets-ios", str(uuid.UUID(int=rng.getrandbits(128))))
            ),
            "redirect_uri": fill(rng, rng.choice(REDIRECT_URIS)),
            "scope": rng.choice(("openid profile email", "openid offline_access profile")),
            "state": token(rng, 16),
            "nonce": token(rng, 16),
            "code_challenge": pkce(rng)[1],
            "code_challenge_method": "S256",
            **rng.choice(({}, {"prompt": "login"}, {"prompt": "none"})),
        }
    )


def accounts_authorize(rng: random.Random) -> RequestView:
    headers = [HOST, *browser_headers(rng, ACCEPT_HTML)[1:]]
    if rng.random() < 0.5:
        headers.append(("Cookie", f"surge_session={token(rng, 32)}"))
    return RequestView("GET", f"/accounts/authorize?{authorize_query(rng)}", tuple(headers))


def accounts_token(rng: random.Random) -> RequestView:
    if rng.random() < 0.6:
        fields = {
            "grant_type": "authorization_code",
            "code": token(rng, 32),
            "redirect_uri": fill(rng, rng.choice(REDIRECT_URIS)),
            "code_verifier": pkce(rng)[0],
            "client_id": "surge-web",
        }
    else:
        fields = {
            "grant_type": "refresh_token",
            "refresh_token": token(rng, 48),
            "client_id": "surge-web",
        }
    body = urlencode(fields).encode()
    headers = [
        HOST,
        *api_headers(rng, "application/x-www-form-urlencoded")[1:],
        ("Content-Length", str(len(body))),
        ("Origin", "https://app.example.com"),
    ]
    return RequestView("POST", "/accounts/token", tuple(headers), body)


def accounts_userinfo(rng: random.Random) -> RequestView:
    view = get(rng, "/accounts/userinfo")
    if rng.random() < 0.3:
        return RequestView("POST", view.target, (*view.headers, ("Content-Length", "0")))
    return view


def accounts_page(name: str) -> Traffic:
    def page(rng: random.Random) -> RequestView:
        query = {"return": _return(rng)}
        if name == "signin" and rng.random() < 0.4:  # back to an authorization request
            query = {"return": f"/accounts/authorize?{authorize_query(rng)}"}
        if name == "verify":
            query["token"] = token(rng, 32)
        return get(rng, f"/accounts/{name}?{urlencode(query)}", ACCEPT_HTML)

    return page


def accounts_static(rng: random.Random) -> RequestView:
    name = rng.choice(("accounts.css", "accounts.js"))
    return get(rng, f"/accounts/static/{name}", "text/css,*/*;q=0.1")
