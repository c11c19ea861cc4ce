"""The notifier's part of the right to erasure: on `accounts.deleted` it drops what it keeps
about that subject, its browsers' Web Push subscriptions (endpoints and keys). Deleting is
idempotent, so a redelivered event changes nothing; sockets a deleted user still holds end when
their token expires (the accounts service issues no new one)."""

from __future__ import annotations

import logging
from typing import Any

from shared.bus.base import Record
from shared.events.contracts.accounts import AccountDeleted
from shared.events.envelope import CloudEvent
from shared.store import Store

log = logging.getLogger("services.notifier.erasure")


class Erasure:
    def __init__(self, store: Store) -> None:
        self.subscriptions = store.db["webpush_subscriptions"]

    async def handle(self, event: CloudEvent[Any], _record: Record) -> None:
        if not isinstance(event.data, AccountDeleted):
            return
        result = await self.subscriptions.delete_many({"user": event.data.account_id})
        log.info(
            "account deleted: %d push subscriptions dropped",
            result.deleted_count,
            extra={"event": "account_deleted", "subject": event.data.account_id},
        )
