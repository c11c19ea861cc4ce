"""JWKS verification: RS256/ES256 keys from a live endpoint, caching, rotation, rate limiting."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import jwt
import pytest
from aiohttp import test_utils, web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from shared.security import JwksCache, JwtVerifier
from shared.settings import PlatformSettings
from tests.unit.test_jwt import AUD, ISS, SECRET, claims, hs_sign_raw, reason_of

pytestmark = pytest.mark.unit


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Issuer:
    """A fake identity provider: private keys by kid, and the JWKS it serves."""

    keys: dict[str, Any] = field(default_factory=dict)
    hits: int = 0
    fail: bool = False

    def add_rsa(self, kid: str) -> None:
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def add_ec(self, kid: str) -> None:
        self.keys[kid] = ec.generate_private_key(ec.SECP256R1())

    def jwks(self) -> dict[str, Any]:
        out = []
        for kid, key in self.keys.items():
            algo = RSAAlgorithm if isinstance(key, rsa.RSAPrivateKey) else ECAlgorithm
            jwk = algo.to_jwk(key.public_key(), as_dict=True)
            out.append({**jwk, "kid": kid, "use": "sig"})
        return {"keys": out}

    def sign(self, kid: str, alg: str, **extra: Any) -> str:
        payload = claims(exp=int(time.time()) + 60, **extra)
        return jwt.encode(payload, self.keys[kid], algorithm=alg, headers={"kid": kid})

    async def handle(self, request: web.Request) -> web.Response:
        self.hits += 1
        if self.fail:
            return web.Response(status=500)
        return web.json_response(self.jwks())


@pytest.fixture
async def idp() -> AsyncIterator[tuple[Issuer, str]]:
    issuer = Issuer()
    issuer.add_rsa("rsa-1")
    issuer.add_ec("ec-1")
    app = web.Application()
    app.router.add_get("/.well-known/jwks.json", issuer.handle)
    server = test_utils.TestServer(app)
    await server.start_server()
    try:
        yield issuer, str(server.make_url("/.well-known/jwks.json"))
    finally:
        await server.close()


@pytest.fixture
async def verifier(idp: tuple[Issuer, str]) -> AsyncIterator[tuple[JwtVerifier, Clock]]:
    clock = Clock()
    cache = JwksCache(idp[1], ttl=300, min_refetch_interval=30, clock=clock)
    v = JwtVerifier(jwks=cache, issuer=ISS, audience=AUD)
    try:
        yield v, clock
    finally:
        await v.close()


async def test_jwks_rs256_and_es256_cached(
    idp: tuple[Issuer, str], verifier: tuple[JwtVerifier, Clock]
) -> None:
    issuer, _ = idp
    v, clock = verifier
    for _ in range(3):
        assert (await v.verify(issuer.sign("rsa-1", "RS256")))["sub"] == "user-1"
        assert (await v.verify(issuer.sign("ec-1", "ES256")))["sub"] == "user-1"
    assert issuer.hits == 1
    clock.now += 301  # TTL over: one refetch
    await v.verify(issuer.sign("rsa-1", "RS256"))
    assert issuer.hits == 2


async def test_jwks_rotation_and_unknown_kid_rate_limited(
    idp: tuple[Issuer, str], verifier: tuple[JwtVerifier, Clock]
) -> None:
    issuer, _ = idp
    v, clock = verifier
    await v.verify(issuer.sign("rsa-1", "RS256"))
    assert issuer.hits == 1
    # forged key ids: the first miss may not refetch (just fetched), later ones are rate-limited
    stranger = Issuer()
    stranger.add_rsa("forged")
    for _ in range(5):
        assert await reason_of(v, stranger.sign("forged", "RS256")) == "unknown_key"
    assert issuer.hits == 1
    # the provider rotates to a new key; after the rate-limit window one refetch finds it
    issuer.add_rsa("rsa-2")
    clock.now += 31
    assert (await v.verify(issuer.sign("rsa-2", "RS256")))["sub"] == "user-1"
    assert issuer.hits == 2
    assert await reason_of(v, stranger.sign("forged", "RS256")) == "unknown_key"
    assert issuer.hits == 2


async def test_jwks_refuses_algorithm_confusion(
    idp: tuple[Issuer, str], verifier: tuple[JwtVerifier, Clock]
) -> None:
    issuer, _ = idp
    v, _ = verifier
    public_pem = (
        issuer.keys["rsa-1"]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    confused = hs_sign_raw(claims(exp=int(time.time()) + 60), public_pem)
    assert await reason_of(v, confused) == "bad_algorithm"  # no secret: HS* never allowed
    both = JwtVerifier(secret=SECRET, jwks=v.jwks, issuer=ISS, audience=AUD)
    assert await reason_of(both, confused) == "bad_signature"  # HS* only uses the secret
    # RSA signature presented under the EC key's id
    token = jwt.encode(
        claims(exp=int(time.time()) + 60), issuer.keys["rsa-1"], "RS256", headers={"kid": "ec-1"}
    )
    assert await reason_of(v, token) == "bad_key"


async def test_jwks_unavailable(idp: tuple[Issuer, str]) -> None:
    issuer, url = idp
    issuer.fail = True
    v = JwtVerifier(jwks_url=url)
    try:
        assert await reason_of(v, issuer.sign("rsa-1", "RS256")) == "jwks_unavailable"
    finally:
        await v.close()


async def test_verifier_from_platform_with_shared_session(idp: tuple[Issuer, str]) -> None:
    issuer, url = idp
    platform = PlatformSettings(auth_jwks_url=url, auth_issuer=ISS, auth_audience=AUD)
    async with aiohttp.ClientSession() as session:
        v = JwtVerifier(platform, session=session)
        assert (await v.verify(issuer.sign("ec-1", "ES256")))["sub"] == "user-1"
        assert await reason_of(v, issuer.sign("ec-1", "ES256", aud="x")) == "bad_audience"
        await v.close()
        assert not session.closed  # the caller's session stays the caller's
