"""The OpenID Connect issuer: discovery, JWKS rotation (tokens under the old key verify until
they expire), authorization code + PKCE, refresh rotation for clients, userinfo by scope."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from shared.security import JwtVerifier, TokenError
from tests.accounts_support import ADMIN, Service, running_accounts, url_of
from tests.clock import ManualClock

pytestmark = pytest.mark.integration
REDIRECT = "http://127.0.0.1:9999/callback"


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


async def application(svc: Service, *, public: bool = True) -> dict[str, Any]:
    await svc.call(
        "POST", "/accounts/admin/tenants", headers=ADMIN, json={"id": "acme", "name": "Acme"}
    )
    _, app = await svc.call(
        "POST",
        "/accounts/admin/tenants/acme/applications",
        headers=ADMIN,
        json={"name": "Acme web", "redirect_uris": [REDIRECT], "public": public},
        expect=201,
    )
    assert isinstance(app, dict)
    return app


async def authorize(svc: Service, client_id: str, challenge: str, **extra: str) -> Any:
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": "openid email profile",
        "state": "st-1",
        "nonce": "n-1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }
    return await svc.http.get("/accounts/authorize", params=query, allow_redirects=False)


@pytest.fixture
async def svc(tmp_path: Path) -> Any:
    # Near the real time: other verifiers (PyJWT) check iat/exp against the wall clock.
    async with running_accounts(tmp_path, clock=ManualClock(time.time())) as service:
        await service.verified_account(
            "oli@example.com", profile={"name": "Oli Vance"}, phone="+14155550199"
        )
        yield service


async def test_discovery_document(svc: Service) -> None:
    _, meta = await svc.call("GET", "/accounts/.well-known/openid-configuration", expect=200)
    base = "http://127.0.0.1:8080/accounts"
    assert meta["issuer"] == base
    assert meta["jwks_uri"] == f"{base}/.well-known/jwks.json"
    assert meta["authorization_endpoint"] == f"{base}/authorize"
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["id_token_signing_alg_values_supported"] == ["ES256"]


async def test_authorization_code_with_pkce_refresh_and_userinfo(svc: Service) -> None:
    app = await application(svc)
    verifier, challenge = pkce()
    anonymous = await authorize(svc, app["client_id"], challenge)
    assert anonymous.status == 302
    sent_to = urlsplit(anonymous.headers["Location"])
    assert sent_to.path == "/accounts/signin"
    assert parse_qs(sent_to.query)["return"][0].startswith("/accounts/authorize?response_type=code")
    await svc.signin("oli@example.com")  # the browser session cookie
    response = await authorize(svc, app["client_id"], challenge)
    assert response.status == 302, await response.text()
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    answer = parse_qs(location.query)
    assert answer["state"] == ["st-1"]
    code = answer["code"][0]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "client_id": app["client_id"],
    }
    wrong = await svc.http.post("/accounts/token", data={**form, "code_verifier": "x" * 50})
    assert wrong.status == 400
    assert (await wrong.json())["error"] == "invalid_grant", "a wrong verifier uses the code up"

    verifier, challenge = pkce()
    response = await authorize(svc, app["client_id"], challenge)
    code = parse_qs(urlsplit(response.headers["Location"]).query)["code"][0]
    form["code"] = code
    token = await svc.http.post("/accounts/token", data={**form, "code_verifier": verifier})
    assert token.status == 200, await token.text()
    tokens = await token.json()
    assert token.headers["Cache-Control"] == "no-store"
    again = await svc.http.post("/accounts/token", data={**form, "code_verifier": verifier})
    assert (await again.json())["error"] == "invalid_grant", "a code works once"

    _, jwks = await svc.call("GET", "/accounts/.well-known/jwks.json", expect=200)
    id_token = jwt.decode(tokens["id_token"], KeySet.import_key_set(jwks))
    claims = id_token.claims
    assert claims["aud"] == [app["client_id"]]
    assert (claims["nonce"], claims["email"], claims["name"]) == (
        "n-1",
        "oli@example.com",
        "Oli Vance",
    )
    assert "phone_number" not in claims, "not in the requested scope"
    access = svc.ctx.issuer.verify(tokens["access_token"])
    assert access["client_id"] == app["client_id"]
    assert access["sub"] == claims["sub"]

    _, info = await svc.call(
        "GET",
        "/accounts/userinfo",
        headers=svc.auth(tokens),
        expect=200,
    )
    assert info == {
        "sub": claims["sub"],
        "name": "Oli Vance",
        "email": "oli@example.com",
        "email_verified": True,
        "updated_at": info["updated_at"],
    }
    refresh = {"grant_type": "refresh_token", "client_id": app["client_id"]}
    rotated = await svc.http.post(
        "/accounts/token", data={**refresh, "refresh_token": tokens["refresh_token"]}
    )
    assert rotated.status == 200, await rotated.text()
    fresh = await rotated.json()
    assert fresh["refresh_token"] != tokens["refresh_token"]
    replay = await svc.http.post(
        "/accounts/token", data={**refresh, "refresh_token": tokens["refresh_token"]}
    )
    assert (await replay.json())["error"] == "invalid_grant"
    after = await svc.http.post(
        "/accounts/token", data={**refresh, "refresh_token": fresh["refresh_token"]}
    )
    assert (await after.json())["error"] == "invalid_grant", "the replay ended the family"


async def test_authorization_requests_are_checked(svc: Service) -> None:
    app = await application(svc)
    await svc.signin("oli@example.com")
    no_pkce = await svc.http.get(
        "/accounts/authorize",
        params={"response_type": "code", "client_id": app["client_id"], "redirect_uri": REDIRECT},
        allow_redirects=False,
    )
    assert no_pkce.status == 302
    assert parse_qs(urlsplit(no_pkce.headers["Location"]).query)["error"] == ["invalid_request"]
    _, challenge = pkce()
    elsewhere = await authorize(
        svc, app["client_id"], challenge, redirect_uri="https://evil.example/cb"
    )
    assert elsewhere.status == 400, "never redirected to an unregistered URI"
    unknown = await authorize(svc, "no-such-client", challenge)
    assert unknown.status == 400


async def test_confidential_clients_authenticate(svc: Service) -> None:
    app = await application(svc, public=False)
    await svc.signin("oli@example.com")
    verifier, challenge = pkce()
    response = await authorize(svc, app["client_id"], challenge)
    code = parse_qs(urlsplit(response.headers["Location"]).query)["code"][0]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
    }
    basic = base64.b64encode(f"{app['client_id']}:wrong".encode()).decode()
    refused = await svc.http.post(
        "/accounts/token", data=form, headers={"Authorization": f"Basic {basic}"}
    )
    assert refused.status == 401
    response = await authorize(svc, app["client_id"], challenge)
    form["code"] = parse_qs(urlsplit(response.headers["Location"]).query)["code"][0]
    basic = base64.b64encode(f"{app['client_id']}:{app['client_secret']}".encode()).decode()
    ok = await svc.http.post(
        "/accounts/token", data=form, headers={"Authorization": f"Basic {basic}"}
    )
    assert ok.status == 200, await ok.text()


async def test_jwks_rotation_keeps_old_tokens_valid_until_they_expire(svc: Service) -> None:
    old = await svc.signin("oli@example.com")
    old_kid = svc.ctx.signing.current.kid
    _, rotated = await svc.call(
        "POST", "/accounts/admin/keys/signing/rotate", headers=ADMIN, expect=201
    )
    assert rotated["current"] != old_kid
    new = await svc.signin("oli@example.com")
    jwks_url = url_of(svc.http) + "/accounts/.well-known/jwks.json"
    verifier = JwtVerifier(jwks_url=jwks_url, algorithms=("ES256",), audience="surge")
    try:
        assert (await verifier.verify(old["access_token"]))["sub"] == old["account_id"]
        assert (await verifier.verify(new["access_token"]))["sub"] == new["account_id"]
    finally:
        await verifier.close()
    _, jwks = await svc.call("GET", "/accounts/.well-known/jwks.json", expect=200)
    assert {k["kid"] for k in jwks["keys"]} == {old_kid, rotated["current"]}
    svc.clock.advance(600 + 61)  # every token of the old key has expired
    _, jwks = await svc.call("GET", "/accounts/.well-known/jwks.json", expect=200)
    assert [k["kid"] for k in jwks["keys"]] == [rotated["current"]]
    fresh = JwtVerifier(jwks_url=jwks_url, algorithms=("ES256",))
    try:
        with pytest.raises(TokenError) as refused:
            await fresh.verify(old["access_token"])
        assert refused.value.reason == "unknown_key"
    finally:
        await fresh.close()


async def test_signing_keys_rotate_on_schedule(tmp_path: Path) -> None:
    async with running_accounts(tmp_path, signing_key_rotation_seconds=3600) as svc:
        first = svc.ctx.signing.current.kid
        svc.clock.advance(3601)
        await svc.ctx.signing.refresh()
        assert svc.ctx.signing.current.kid != first
        assert first in {k.kid for k in svc.ctx.signing.published()}
