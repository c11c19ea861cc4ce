"""Web Push through the whole notifier on a real broker: a browser-like subscriber registers
through the HTTP API, a service publishes a NotificationRequested asking for Web Push, and the
push-service double receives it, VAPID-signed, and decrypts it."""

from __future__ import annotations

import pytest

from shared.settings import PlatformSettings
from tests.notifier_support import running_notifier, service_headers, user_headers
from tests.pushservice import PushService

pytestmark = pytest.mark.integration


async def test_a_notification_request_arrives_by_web_push(kafka_env: str, unique: str) -> None:
    user = f"u-{unique}"
    # Its own consumer groups: a member left behind by an earlier test on the shared broker
    # must not hold up this test's group join.
    groups = f"notifier-{unique}"
    async with (
        PushService() as service,
        running_notifier("kafka", PlatformSettings(), consumer_group_prefix=groups) as replica,
    ):
        http = replica.http
        key = (await (await http.get("/notifier/webpush/vapid-public-key")).json())["publicKey"]
        browser = service.subscriber(server_key=key)  # subscribed with the notifier's key
        bearer = user_headers(user)
        saved = await http.post(
            "/notifier/webpush/subscriptions", json=browser.subscription(), headers=bearer
        )
        assert saved.status == 201, await saved.text()
        note = {
            "channel": f"user:{user}",
            "event": "avatar.moderated",
            "data": {"status": "approved"},
            "webpush": {"mode": "offline", "title": "Avatar approved", "url": "/profile",
                        "ttl_seconds": 600, "urgency": "low", "topic": "avatar"},
        }  # fmt: skip
        accepted = await http.post("/notifier/publish", json=note, headers=service_headers())
        assert accepted.status == 202, await accepted.text()
        await service.wait_for(1, timeout=30)  # consumer group join takes a few seconds
        got = service.received[0]
        assert got.message["title"] == "Avatar approved"
        assert got.message["data"] == {"status": "approved"}
        assert got.message["url"] == "/profile"
        assert (got.ttl, got.urgency, got.topic) == (600, "low", "avatar")
        assert service.refused == []
