"""JWT verification: HS256 claims checks, algorithm confusion, and JWKS caching/rotation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
from pydantic import SecretStr

from shared.security import (
    JwtVerifier,
    TokenError,
    bearer_token,
    constant_time_equals,
    generate_secret,
    issue_hs256,
)
from shared.settings import PlatformSettings

pytestmark = pytest.mark.unit

SECRET = "s3cret-for-tests-that-is-long-enough-for-hs256"
ISS = "https://auth.surge.test"
AUD = "surge-api"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs_sign_raw(payload: dict[str, Any], key: bytes, alg: str = "HS256") -> str:
    """Sign by hand: PyJWT itself refuses the weak or confused keys these tests need."""
    head = _b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    body = _b64(json.dumps(payload).encode())
    sig = hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64(sig)}"


def claims(**extra: Any) -> dict[str, Any]:
    return {"sub": "user-1", "iss": ISS, "aud": AUD, **extra}


async def reason_of(verifier: JwtVerifier, token: str, **kw: Any) -> str:
    with pytest.raises(TokenError) as info:
        await verifier.verify(token, **kw)
    return info.value.reason


@pytest.fixture
def hs() -> JwtVerifier:
    return JwtVerifier(secret=SecretStr(SECRET), issuer=ISS, audience=AUD, leeway=30)


async def test_hs256_valid_token_returns_claims(hs: JwtVerifier) -> None:
    token = issue_hs256(claims(role="admin"), SECRET, ttl=60)
    got = await hs.verify(token)
    assert got["sub"] == "user-1"
    assert got["role"] == "admin"
    assert got["exp"] - got["iat"] == 60


async def test_hs256_time_claims_with_leeway(hs: JwtVerifier) -> None:
    now = time.time()
    expired = issue_hs256(claims(), SECRET, ttl=-100, now=now)
    assert await reason_of(hs, expired) == "expired"
    within_leeway = issue_hs256(claims(), SECRET, ttl=-10, now=now)
    assert (await hs.verify(within_leeway))["sub"] == "user-1"
    future = issue_hs256(claims(nbf=int(now) + 300), SECRET, ttl=600, now=now)
    assert await reason_of(hs, future) == "not_yet_valid"
    no_exp = hs_sign_raw(claims(), SECRET.encode())
    assert await reason_of(hs, no_exp) == "missing_claim"


async def test_hs256_issuer_audience_signature(hs: JwtVerifier) -> None:
    assert await reason_of(hs, issue_hs256(claims(iss="https://evil"), SECRET)) == "bad_issuer"
    no_iss = {k: v for k, v in claims().items() if k != "iss"}
    assert await reason_of(hs, issue_hs256(no_iss, SECRET)) == "bad_issuer"
    assert await reason_of(hs, issue_hs256(claims(aud="other"), SECRET)) == "bad_audience"
    other_aud = issue_hs256(claims(aud="other"), SECRET)
    assert (await hs.verify(other_aud, audience="other"))["aud"] == "other"
    forged = issue_hs256(claims(), "another-secret-that-is-also-long-enough-xx")
    assert await reason_of(hs, forged) == "bad_signature"
    head, _body, sig = issue_hs256(claims(), SECRET).split(".")
    tampered = f"{head}.{_b64(json.dumps(claims(sub='admin')).encode())}.{sig}"
    assert await reason_of(hs, tampered) == "bad_signature"


async def test_malformed_missing_and_none_algorithm(hs: JwtVerifier) -> None:
    assert await reason_of(hs, "") == "missing"
    assert await reason_of(hs, "not-a-jwt") == "malformed"
    unsigned = jwt.encode(claims(exp=int(time.time()) + 60), "", algorithm="none")
    assert await reason_of(hs, unsigned) == "bad_algorithm"
    with pytest.raises(ValueError, match="none"):
        JwtVerifier(secret=SECRET, algorithms=["HS256", "none"])
    with pytest.raises(ValueError, match="secret"):
        JwtVerifier()


async def test_weak_secret_refused() -> None:
    weak = "short"
    verifier = JwtVerifier(secret=weak)
    token = hs_sign_raw(claims(exp=int(time.time()) + 60), weak.encode())
    assert await reason_of(verifier, token) == "weak_key"
    with pytest.raises(jwt.InvalidKeyError):
        issue_hs256(claims(), weak)


def test_bearer_and_secret_helpers() -> None:
    assert bearer_token("Bearer abc.def.ghi") == "abc.def.ghi"
    for header, reason in [(None, "missing"), ("Basic xyz", "malformed"), ("Bearer ", "malformed")]:
        with pytest.raises(TokenError) as info:
            bearer_token(header)
        assert info.value.reason == reason
    assert constant_time_equals("token-1", SecretStr("token-1"))
    assert constant_time_equals(b"token-1", "token-1")
    assert not constant_time_equals("token-1", "token-2")
    assert not constant_time_equals(None, None)
    assert not constant_time_equals("", "")
    first, second = generate_secret(), generate_secret()
    assert first != second
    assert len(first) >= 43


def test_from_settings_reads_platform() -> None:
    platform = PlatformSettings(auth_jwt_secret=SecretStr(SECRET), auth_issuer=ISS)
    verifier = JwtVerifier.from_settings(platform)
    assert verifier.issuer == ISS
    assert SECRET not in repr(platform)
