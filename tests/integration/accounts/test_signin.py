"""Sign-up, verification, sign-in, refresh rotation with reuse detection, sign-out, the browser
session, and the refusals: weak passwords, unverified addresses, bad bodies, forged tokens."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from services.accounts.tokens.sessions import COOKIE
from shared.events.contracts.accounts import ACCOUNT_CHANGED
from tests.accounts_support import PASSWORD, Service, running_accounts

pytestmark = pytest.mark.integration


@pytest.fixture
async def svc(tmp_path: Path) -> Any:
    async with running_accounts(tmp_path) as service:
        yield service


async def test_sign_up_verify_sign_in_and_read_the_profile(svc: Service) -> None:
    await svc.signup("Ann.Smith@Example.COM", profile={"name": "Ann Smith"}, phone="+4915112345678")
    _, refused = await svc.call(
        "POST",
        "/accounts/api/signin",
        json={"email": "ann.smith@example.com", "password": PASSWORD},
        expect=403,
    )
    assert refused["type"].endswith("email-not-verified")
    token = svc.mail.token_for("ann.smith@example.com")
    await svc.call("POST", "/accounts/api/verify", json={"token": token}, expect=200)
    again = await svc.call("POST", "/accounts/api/verify", json={"token": token}, expect=400)
    assert again[1]["type"].endswith("link-invalid"), "the link works once"
    tokens = await svc.signin("ANN.SMITH@example.com")
    claims = svc.ctx.issuer.verify(tokens["access_token"])
    assert claims["sub"] == tokens["account_id"]
    assert claims["iss"] == "http://127.0.0.1:8080/accounts"
    assert claims["aud"] == "surge"
    assert claims["channels"] == ["zone:*"]
    assert claims["exp"] - claims["iat"] == 600
    _, me = await svc.call("GET", "/accounts/api/me", headers=svc.auth(tokens), expect=200)
    assert (me["email"], me["phone"], me["email_verified"]) == (
        "ann.smith@example.com",
        "+4915112345678",
        True,
    )
    assert me["profile"] == {"name": "Ann Smith"}
    changes = [r for r in svc.bus.records(ACCOUNT_CHANGED.topic)]
    assert len(changes) == 2, "created, verified"


async def test_refresh_rotates_and_a_replayed_token_ends_the_family(svc: Service) -> None:
    await svc.verified_account("bo@example.com")
    first = await svc.signin("bo@example.com")
    _, second = await svc.call(
        "POST",
        "/accounts/api/token/refresh",
        json={"refresh_token": first["refresh_token"]},
        expect=200,
    )
    assert second["refresh_token"] != first["refresh_token"]
    assert second["session_id"] == first["session_id"]
    # The first token again: a thief or a replay. Refused, and the whole session ends...
    _, reused = await svc.call(
        "POST",
        "/accounts/api/token/refresh",
        json={"refresh_token": first["refresh_token"]},
        expect=401,
    )
    assert reused["reason"] == "reused"
    # ...so the legitimate newest token is refused too.
    _, ended = await svc.call(
        "POST",
        "/accounts/api/token/refresh",
        json={"refresh_token": second["refresh_token"]},
        expect=401,
    )
    assert ended["reason"] in ("reused", "ended")
    forged = second["refresh_token"][:-4] + "abcd"
    _, bad = await svc.call(
        "POST", "/accounts/api/token/refresh", json={"refresh_token": forged}, expect=401
    )
    assert bad["reason"] == "invalid"


async def test_refresh_tokens_expire_when_idle(svc: Service) -> None:
    await svc.verified_account("idle@example.com")
    tokens = await svc.signin("idle@example.com")
    svc.clock.advance(svc.ctx.settings.refresh_token_ttl_seconds + 1)
    _, expired = await svc.call(
        "POST",
        "/accounts/api/token/refresh",
        json={"refresh_token": tokens["refresh_token"]},
        expect=401,
    )
    assert expired["reason"] == "expired"


async def test_sign_out_ends_the_session_and_its_cookie(svc: Service) -> None:
    await svc.verified_account("cy@example.com")
    response = await svc.http.post(
        "/accounts/api/signin", json={"email": "cy@example.com", "password": PASSWORD}
    )
    tokens = await response.json()
    cookie = response.cookies[COOKIE]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"
    assert cookie["path"] == "/accounts/"
    _, minted = await svc.call("POST", "/accounts/api/session/token", expect=200)
    assert svc.ctx.issuer.verify(minted["access_token"])["sid"] == tokens["session_id"]
    await svc.call("POST", "/accounts/api/signout", expect=204)
    await svc.call("POST", "/accounts/api/session/token", expect=401)
    _, refused = await svc.call(
        "POST",
        "/accounts/api/token/refresh",
        json={"refresh_token": tokens["refresh_token"]},
        expect=401,
    )
    assert refused["reason"] == "ended"


async def test_sign_out_by_refresh_token_and_by_access_token(svc: Service) -> None:
    await svc.verified_account("dee@example.com")
    one, two = await svc.signin("dee@example.com"), await svc.signin("dee@example.com")
    svc.http.session.cookie_jar.clear()
    await svc.call(
        "POST", "/accounts/api/signout", json={"refresh_token": one["refresh_token"]}, expect=204
    )
    await svc.call("POST", "/accounts/api/signout", headers=svc.auth(two), expect=204)
    for tokens in (one, two):
        await svc.call(
            "POST",
            "/accounts/api/token/refresh",
            json={"refresh_token": tokens["refresh_token"]},
            expect=401,
        )


async def test_weak_passwords_and_bad_identifiers_are_refused(svc: Service) -> None:
    for password in ("short", "password1234", "qwertyuiop12"):
        status, problem = await svc.call(
            "POST", "/accounts/api/signup", json={"email": "e@example.com", "password": password}
        )
        assert status == 400, password
        assert problem["type"].endswith("weak-password")
    status, problem = await svc.call(
        "POST", "/accounts/api/signup", json={"email": "not-an-address", "password": PASSWORD}
    )
    assert (status, problem["type"].rsplit("-", 1)[-1]) == (400, "identifier")
    status, _ = await svc.call(
        "POST",
        "/accounts/api/signup",
        json={"email": "p@example.com", "password": PASSWORD, "phone": "+1 555"},
    )
    assert status == 400


async def test_malformed_oversized_and_forged_requests_get_problems(svc: Service) -> None:
    for raw in (b"{", b"[]", b'{"email": 1}', b'{"email": "a@b.c", "password": "x", "x": 1}'):
        response = await svc.http.post("/accounts/api/signin", data=raw)
        assert response.status == 400, raw
        assert response.content_type == "application/problem+json"
    huge = await svc.http.post("/accounts/api/signup", data=b"x" * 70_000)
    assert huge.status == 413
    for header in ("Bearer nope", "Bearer a.b.c", "Basic x"):
        status, problem = await svc.call(
            "GET", "/accounts/api/me", headers={"Authorization": header}
        )
        assert status == 401
        assert "WWW-Authenticate" in (await svc.http.get("/accounts/api/me")).headers
    await svc.verified_account("eve@example.com")
    tokens = await svc.signin("eve@example.com")
    svc.clock.advance(601)
    status, problem = await svc.call("GET", "/accounts/api/me", headers=svc.auth(tokens))
    assert (status, problem["reason"]) == (401, "expired")


async def test_profile_update_reseals_with_a_fresh_data_key(svc: Service) -> None:
    await svc.verified_account("fay@example.com")
    tokens = await svc.signin("fay@example.com")
    before = await svc.ctx.accounts.get(tokens["account_id"])
    _, me = await svc.call(
        "PATCH",
        "/accounts/api/me",
        headers=svc.auth(tokens),
        json={"profile": {"given_name": "Fay", "birthdate": "1990-04-01"}},
        expect=200,
    )
    assert me["profile"] == {"given_name": "Fay", "birthdate": "1990-04-01"}
    after = await svc.ctx.accounts.get(tokens["account_id"])
    assert before is not None
    assert after is not None
    assert before.sealed is not None
    assert after.sealed is not None
    assert after.sealed.dek != before.sealed.dek, "a fresh data key per write"
    assert after.rev == before.rev + 1
    status, _ = await svc.call(
        "PATCH", "/accounts/api/me", headers=svc.auth(tokens), json={"profile": {"x": 1}}
    )
    assert status == 400


async def test_password_change_ends_the_other_sessions(svc: Service) -> None:
    await svc.verified_account("gus@example.com")
    mine, other = await svc.signin("gus@example.com"), await svc.signin("gus@example.com")
    new = "marble-falcon-orchard-77"
    await svc.call(
        "POST",
        "/accounts/api/me/password",
        headers=svc.auth(mine),
        json={"current_password": PASSWORD, "new_password": new},
        expect=204,
    )
    await svc.call(
        "POST",
        "/accounts/api/token/refresh",
        json={"refresh_token": other["refresh_token"]},
        expect=401,
    )
    await svc.call(
        "POST",
        "/accounts/api/token/refresh",
        json={"refresh_token": mine["refresh_token"]},
        expect=200,
    )
    await svc.signin("gus@example.com", new)
    _, sessions = await svc.call("GET", "/accounts/api/me/sessions", headers=svc.auth(mine))
    assert len(sessions["sessions"]) == 2
    assert [s["current"] for s in sessions["sessions"]].count(True) == 1
