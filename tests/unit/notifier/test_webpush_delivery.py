"""Web Push delivery against the local push service: decrypted payload and headers, pruning,
retries honouring Retry-After (time driven by an injected sleep), the concurrency bound."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from services.notifier.settings import NotifierSettings
from services.notifier.webpush import WebPush
from services.notifier.webpush.subscriptions import SubscriptionIn
from shared.events.contracts.notifier import WebPushRequest
from shared.settings import PlatformSettings
from shared.store import open_store
from tests.pushservice import PushService, Subscriber

pytestmark = pytest.mark.unit

ALWAYS = WebPushRequest(mode="always", title="Avatar ready", body="Looks great", url="/me")


@dataclass
class Rig:
    push: WebPush
    service: PushService
    registry: CollectorRegistry
    sleeps: list[float] = field(default_factory=list)

    async def subscribe(self, user: str) -> Subscriber:
        sub = self.service.subscriber(server_key=self.push.vapid.public_key)
        parsed = SubscriptionIn.model_validate(sub.subscription(), context=self.push.rules)
        await self.push.subscriptions.save(user, parsed)
        return sub

    def count(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0


@asynccontextmanager
async def rig(**fields: Any) -> AsyncIterator[Rig]:
    config = NotifierSettings(platform=PlatformSettings(), **fields)
    store = await open_store(config.platform, service="webpush-test")
    registry = CollectorRegistry()
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:  # records the wait instead of waiting
        sleeps.append(seconds)
        await asyncio.sleep(0)

    try:
        async with PushService() as service, aiohttp.ClientSession() as session:
            push = WebPush(config, store, session, registry, sleep=sleep)
            await push.start()
            try:
                yield Rig(push, service, registry, sleeps)
            finally:
                await push.stop()
    finally:
        await store.close()


def payload(**data: Any) -> dict[str, Any]:
    return {"channel": "user:u1", "event": "avatar.moderated", "data": data}


async def test_delivered_encrypted_with_vapid_ttl_urgency_and_topic() -> None:
    request = WebPushRequest(
        mode="always", title="Your turn", body="Enter now", url="/room", ttl_seconds=120,
        urgency="high", topic="admission",
    )  # fmt: skip
    async with rig() as r:
        mine = [await r.subscribe("u1"), await r.subscribe("u1")]
        await r.subscribe("someone-else")
        assert await r.push.notify_user("u1", payload(position=3), request) == 2
        await r.push.drain()
        assert r.service.refused == []
        assert sorted(got.subscriber for got in r.service.received) == sorted(s.id for s in mine)
        got = r.service.received[0]
        assert got.message == {
            "title": "Your turn", "body": "Enter now", "url": "/room",
            "event": "avatar.moderated", "channel": "user:u1", "data": {"position": 3},
        }  # fmt: skip
        assert (got.ttl, got.urgency, got.topic) == (120, "high", "admission")
        assert got.claims["aud"] == r.service.origin
        assert got.claims["sub"] == "mailto:webpush@surge.invalid"
        delivered = r.count("notifier_webpush_deliveries_total", outcome="delivered", status="201")
        assert delivered == 2


async def test_no_topic_header_without_a_topic_and_never_sends_nothing() -> None:
    async with rig() as r:
        await r.subscribe("u1")
        assert (
            await r.push.notify_user("u1", payload(), ALWAYS.model_copy(update={"mode": "never"}))
            == 0
        )
        assert await r.push.notify_user("u1", payload(), ALWAYS) == 1
        await r.push.drain()
        assert r.service.received[0].topic is None
        assert (r.service.received[0].ttl, r.service.received[0].urgency) == (3600, "normal")


async def test_oversized_data_is_dropped_with_a_flag() -> None:
    async with rig() as r:
        await r.subscribe("u1")
        await r.push.notify_user("u1", payload(blob="x" * 10_000), ALWAYS)
        await r.push.drain()
        message = r.service.received[0].message
        assert message["truncated"] is True
        assert message["data"] == {}
        assert message["title"] == "Avatar ready"


@pytest.mark.parametrize("status", [404, 410])
async def test_gone_subscription_is_pruned(status: int) -> None:
    async with rig() as r:
        dead, alive = await r.subscribe("u1"), await r.subscribe("u1")
        r.service.script(dead.id, (status, {}))
        await r.push.notify_user("u1", payload(), ALWAYS)
        await r.push.drain()
        left = await r.push.subscriptions.listing("u1")
        assert [s["endpoint"] for s in left] == [alive.endpoint]
        assert r.service.attempts[dead.id] == 1
        assert r.count("notifier_webpush_subscriptions_pruned_total", reason="gone") == 1
        assert r.count("notifier_webpush_deliveries_total", outcome="gone", status=str(status)) == 1


async def test_429_with_retry_after_is_retried_then_delivered() -> None:
    async with rig() as r:
        sub = await r.subscribe("u1")
        r.service.script(sub.id, (429, {"Retry-After": "7"}), (503, {}))
        await r.push.notify_user("u1", payload(), ALWAYS)
        await r.push.drain()
        assert r.service.attempts[sub.id] == 3
        assert [got.subscriber for got in r.service.received] == [sub.id]
        assert r.sleeps[0] == 7.0  # Retry-After honoured exactly
        assert 0.25 <= r.sleeps[1] <= 1.0  # then backoff: between half and all of 0.5 * 2
        assert r.count("notifier_webpush_retries_total", status="429") == 1
        assert r.count("notifier_webpush_retries_total", status="503") == 1


async def test_server_errors_exhaust_the_attempts_and_count_a_failure() -> None:
    async with rig(webpush_max_attempts=3) as r:
        sub = await r.subscribe("u1")
        r.service.script(sub.id, *[(500, {})] * 5)
        await r.push.notify_user("u1", payload(), ALWAYS)
        await r.push.drain()
        assert r.service.attempts[sub.id] == 3
        assert r.service.received == []
        assert len(r.sleeps) == 2
        assert r.sleeps[1] >= r.sleeps[0] / 2  # the ceiling doubles each time
        assert r.count("notifier_webpush_deliveries_total", outcome="failed", status="500") == 1
        assert len(await r.push.subscriptions.listing("u1")) == 1  # failures do not prune


@pytest.mark.parametrize(
    ("status", "headers", "outcome"),
    [(400, {}, "rejected"), (403, {}, "rejected"), (413, {}, "rejected"),
     (429, {"Retry-After": "3600"}, "throttled")],  # waiting an hour is not worth it
)  # fmt: skip
async def test_no_retry_for_client_errors_or_long_retry_after(
    status: int, headers: dict[str, str], outcome: str
) -> None:
    async with rig(webpush_max_retry_after_seconds=60) as r:
        sub = await r.subscribe("u1")
        r.service.script(sub.id, (status, headers))
        await r.push.notify_user("u1", payload(), ALWAYS)
        await r.push.drain()
        assert r.service.attempts[sub.id] == 1
        assert r.sleeps == []
        assert (
            r.count("notifier_webpush_deliveries_total", outcome=outcome, status=str(status)) == 1
        )
        assert len(await r.push.subscriptions.listing("u1")) == 1


async def test_sends_run_concurrently_within_the_bound() -> None:
    async with rig(webpush_concurrency=2) as r:
        subs = [await r.subscribe("u1") for _ in range(6)]
        r.service.batch = 2  # each request waits until a second one is in flight
        assert await r.push.notify_user("u1", payload(), ALWAYS) == 6
        await r.service.wait_for(6)
        await r.push.drain()
        assert r.service.max_in_flight == 2
        assert {got.subscriber for got in r.service.received} == {s.id for s in subs}


async def test_expired_subscriptions_are_pruned_not_sent() -> None:
    async with rig() as r:
        sub = r.service.subscriber()
        body = {**sub.subscription(), "expirationTime": 1000}  # 1970
        await r.push.subscriptions.save(
            "u1", SubscriptionIn.model_validate(body, context=r.push.rules)
        )
        assert await r.push.notify_user("u1", payload(), ALWAYS) == 0
        assert await r.push.subscriptions.listing("u1") == []
        assert r.count("notifier_webpush_subscriptions_pruned_total", reason="expired") == 1
