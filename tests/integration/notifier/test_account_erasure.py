"""Crypto-shredding reaches the notifier: the accounts service erases an account and publishes
`accounts.deleted` on the real broker; the notifier's consumer drops that subject's Web Push
subscriptions, and a redelivered event changes nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from shared.events.contracts.accounts import ACCOUNT_DELETED, AccountDeleted
from shared.http.app import kafka_bus
from shared.http.consumers import CONSUMERS
from shared.http.keys import STORE
from shared.settings import PlatformSettings
from tests.accounts_support import PASSWORD, running_accounts
from tests.notifier_support import running_notifier, user_headers
from tests.pushservice import PushService

pytestmark = pytest.mark.integration


async def test_accounts_deleted_drops_the_subjects_push_subscriptions(
    kafka_env: str, unique: str, tmp_path: Path
) -> None:
    groups = f"notifier-{unique}"
    async with (
        PushService() as push,
        running_accounts(tmp_path, bus=kafka_bus) as accounts,
        running_notifier("kafka", PlatformSettings(), consumer_group_prefix=groups) as notifier,
    ):
        email = f"zed.{unique}@example.com"
        await accounts.verified_account(email)
        tokens = await accounts.signin(email)
        subject, other = tokens["account_id"], f"someone-{unique}"
        http = notifier.http
        key = (await (await http.get("/notifier/webpush/vapid-public-key")).json())["publicKey"]
        for user in (subject, subject, other):
            browser = push.subscriber(server_key=key)
            saved = await http.post(
                "/notifier/webpush/subscriptions",
                json=browser.subscription(),
                headers=user_headers(user),
            )
            assert saved.status == 201, await saved.text()
        stored = notifier.app[STORE].db["webpush_subscriptions"]
        assert await stored.count_documents({"user": subject}) == 2

        await accounts.call(
            "DELETE",
            "/accounts/api/me",
            headers=accounts.auth(tokens),
            json={"password": PASSWORD},
            expect=204,
        )
        async with asyncio.timeout(45):  # the consumer group's first join takes a few seconds
            while await stored.count_documents({"user": subject}):
                await asyncio.sleep(0.1)
        assert await stored.count_documents({"user": other}) == 1, "only that subject's"
        # Another deletion of the same subject (a replay): nothing changes, nothing fails.
        again = ACCOUNT_DELETED.new(AccountDeleted(account_id=subject), source="accounts")
        await accounts.ctx.events.bus.publish(ACCOUNT_DELETED, again)
        consumer = next(c for c in notifier.app[CONSUMERS] if c.group_id.endswith("-accounts"))
        async with asyncio.timeout(30):
            while consumer.stats().processed < 2:
                await asyncio.sleep(0.1)
        assert consumer.stats().dead_lettered == 0
        assert await stored.count_documents({"user": other}) == 1
