"""VAPID (RFC 8292): the key from configuration or generated once per store, and the signed
`Authorization: vapid` header cached per push-service origin."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from services.notifier.webpush import WebPush
from services.notifier.webpush.vapid import VAPID_COLLECTION, Vapid, b64url
from shared.settings import PlatformSettings
from shared.store import Store, open_store
from tests.unit.notifier.webpush_harness import settings

pytestmark = pytest.mark.unit


@asynccontextmanager
async def parts() -> AsyncIterator[tuple[Store, aiohttp.ClientSession]]:
    """A store and session shared by several WebPush instances (like replicas on one DB)."""
    store = await open_store(PlatformSettings(), service="webpush-test")
    try:
        async with aiohttp.ClientSession() as session:
            yield store, session
    finally:
        await store.close()


async def test_generated_vapid_key_is_stored_once_and_shared() -> None:
    async with parts() as (store, session):
        config = settings()
        first = WebPush(config, store, session, CollectorRegistry())
        second = WebPush(config, store, session, CollectorRegistry())
        await asyncio.gather(first.start(), second.start())
        assert first.vapid.public_key == second.vapid.public_key
        assert await store.db[VAPID_COLLECTION].count_documents({}) == 1
        third = WebPush(config, store, session, CollectorRegistry())  # a restart
        await third.start()
        assert third.vapid.public_key == first.vapid.public_key
        for push in (first, second, third):
            await push.stop()


@pytest.mark.parametrize("form", ["pem", "raw"])
async def test_configured_vapid_key_is_used(form: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    if form == "pem":
        text = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
    else:
        text = b64url(key.private_numbers().private_value.to_bytes(32, "big"))
    async with parts() as (store, session):
        push = WebPush(
            settings(vapid_private_key=SecretStr(text)), store, session, CollectorRegistry()
        )
        await push.start()
        point = key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        assert push.vapid.public_key == b64url(point)
        assert await store.db[VAPID_COLLECTION].count_documents({}) == 0
        token = push.vapid.header("https://push.example.net/x").split("t=")[1].split(",")[0]
        claims = jwt.decode(
            token, key.public_key(), algorithms=["ES256"], audience="https://push.example.net"
        )
        assert claims["sub"] == "mailto:webpush@surge.invalid"
        assert 11.9 * 3600 < claims["exp"] - time.time() <= 12 * 3600
        await push.stop()


async def test_a_bad_configured_key_stops_the_start() -> None:
    async with parts() as (store, session):
        config = settings(vapid_private_key=SecretStr("bm90LWEta2V5"))
        push = WebPush(config, store, session, CollectorRegistry())
        with pytest.raises(ValueError, match="NOTIFIER_VAPID_PRIVATE_KEY"):
            await push.start()
        await push.stop()


def test_vapid_header_is_cached_per_audience_until_near_expiry() -> None:
    now = [1_000_000.0]
    vapid = Vapid(ec.generate_private_key(ec.SECP256R1()), "mailto:a@b.c", clock=lambda: now[0])
    first = vapid.header("https://fcm.example/a/1")
    assert vapid.header("https://fcm.example/b/2") == first  # same origin
    assert vapid.header("https://moz.example/a/1") != first
    now[0] += 10 * 3600
    assert vapid.header("https://fcm.example/a/1") == first  # 2 h left: still used
    now[0] += 1.5 * 3600
    assert vapid.header("https://fcm.example/a/1") != first  # within the last hour: renewed
