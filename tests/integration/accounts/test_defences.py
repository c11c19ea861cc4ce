"""Credential stuffing and enumeration: one refusal for every wrong combination, sign-up that
does not tell who is registered, the same work for known and unknown accounts, per-account
exponential back-off; and the second factor (TOTP, recovery codes, no replays)."""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import pyotp
import pytest

from tests.accounts_support import PASSWORD, Service, running_accounts

pytestmark = pytest.mark.integration


WRONG = "not-the-password-1"


async def wrong(svc: Service, email: str, password: str = WRONG) -> tuple[int, dict[str, Any]]:
    response = await svc.http.post(
        "/accounts/api/signin", json={"email": email, "password": password}
    )
    return response.status, await response.json()


async def test_known_and_unknown_accounts_look_and_cost_the_same(tmp_path: Path) -> None:
    # argon2 heavy enough to dominate a request (about 10-20 ms here).
    async with running_accounts(
        tmp_path, argon2_memory_kib=16_384, backoff_free_failures=100
    ) as svc:
        await svc.verified_account("known@example.com")
        known = await wrong(svc, "known@example.com")
        unknown = await wrong(svc, "nobody@example.com")
        assert known == unknown, "same status, same body"
        assert known[0] == 401
        durations: dict[str, list[float]] = {"known": [], "unknown": []}
        for _ in range(12):
            for label, email in (("known", "known@example.com"), ("unknown", "nobody@example.com")):
                started = time.perf_counter()
                await wrong(svc, email)
                durations[label].append(time.perf_counter() - started)
        ratio = statistics.median(durations["known"]) / statistics.median(durations["unknown"])
        assert 0.6 < ratio < 1.6, durations


async def test_sign_up_does_not_reveal_a_registered_address(tmp_path: Path) -> None:
    async with running_accounts(tmp_path) as svc:
        await svc.verified_account("taken@example.com")
        fresh = await svc.http.post(
            "/accounts/api/signup", json={"email": "free@example.com", "password": PASSWORD}
        )
        taken = await svc.http.post(
            "/accounts/api/signup", json={"email": "taken@example.com", "password": PASSWORD}
        )
        assert (fresh.status, await fresh.json()) == (taken.status, await taken.json())
        notice = [m for m in svc.mail.sent if m.to == "taken@example.com"][-1]
        assert "already belongs to an account" in notice.text, "only the owner learns it"
        assert notice.link is None


async def test_repeated_failures_back_off_exponentially_for_any_address(tmp_path: Path) -> None:
    async with running_accounts(tmp_path, backoff_free_failures=3, backoff_base_seconds=2) as svc:
        await svc.verified_account("hal@example.com")
        for email in ("hal@example.com", "ghost@example.com"):
            for _ in range(4):
                assert (await wrong(svc, email))[0] == 401
            status, problem = await wrong(svc, email, PASSWORD)
            assert status == 429, "even the right password waits"
            assert problem["type"].endswith("backoff")
            svc.clock.advance(2.1)
            assert (await wrong(svc, email))[0] == 401  # the fifth failure: 4 s now
            response = await svc.http.post(
                "/accounts/api/signin", json={"email": email, "password": PASSWORD}
            )
            assert response.status == 429
            assert response.headers["Retry-After"] == "4"
            svc.clock.advance(4.1)
        await svc.signin("hal@example.com")  # a success resets the count
        assert (await wrong(svc, "hal@example.com"))[0] == 401


async def test_totp_second_factor_with_single_use_codes(tmp_path: Path) -> None:
    async with running_accounts(tmp_path) as svc:
        await svc.verified_account("ivy@example.com")
        auth = svc.auth(await svc.signin("ivy@example.com"))
        _, started = await svc.call("POST", "/accounts/api/me/totp", headers=auth, expect=200)
        assert started["otpauth_uri"].startswith("otpauth://totp/Surge:ivy%40example.com?")
        totp = pyotp.TOTP(started["secret"])
        await svc.call(
            "POST",
            "/accounts/api/me/totp/confirm",
            headers=auth,
            json={"code": "000000"},
            expect=400,
        )
        _, enabled = await svc.call(
            "POST",
            "/accounts/api/me/totp/confirm",
            headers=auth,
            json={"code": totp.at(svc.clock())},
            expect=200,
        )
        codes = enabled["recovery_codes"]
        assert len(set(codes)) == 10
        status, asked = await svc.call(
            "POST", "/accounts/api/signin", json={"email": "ivy@example.com", "password": PASSWORD}
        )
        assert (status, asked["mfa_required"], asked["missing"]) == (401, True, True)
        code = totp.at(svc.clock())
        tokens = await svc.signin("ivy@example.com", otp=code)
        assert svc.ctx.issuer.verify(tokens["access_token"])["amr"] == ["pwd", "mfa", "otp"]
        status, replay = await svc.call(
            "POST",
            "/accounts/api/signin",
            json={"email": "ivy@example.com", "password": PASSWORD, "otp": code},
        )
        assert (status, replay["missing"]) == (401, False), "a code works once"
        await svc.signin("ivy@example.com", recovery_code=codes[0].upper())
        status, _ = await svc.call(
            "POST",
            "/accounts/api/signin",
            json={"email": "ivy@example.com", "password": PASSWORD, "recovery_code": codes[0]},
        )
        assert status == 401, "a recovery code works once"
        status, bad = await svc.call(
            "POST",
            "/accounts/api/signin",
            json={"email": "ivy@example.com", "password": "wrong-password-9", "otp": code},
        )
        assert bad["type"].endswith("bad-credentials"), "the password is checked first"
        await svc.call(
            "DELETE", "/accounts/api/me/totp", headers=auth, json={"password": PASSWORD}, expect=204
        )
        await svc.signin("ivy@example.com")
