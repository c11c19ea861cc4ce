"""Publishing `accounts.changed` / `accounts.deleted` without losing one (transactional outbox
without transactions).

An event is staged in the `outbox` collection before the change it announces is written, and
published (acks=all) and unstaged after. A crash in between leaves it staged: the relay
publishes staged events older than RELAY_AFTER_SECONDS (a deletion only once the account is
really deleted; a change unconditionally: "changed" only tells consumers to look, and they are
idempotent by event id). So every change that was written is announced at least once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from shared.bus.base import Bus
from shared.events.catalog import CATALOG, EventSpec
from shared.events.envelope import CloudEvent
from shared.storeops import Collection

log = logging.getLogger("services.accounts.events")
SOURCE = "accounts"
RELAY_AFTER_SECONDS = 30.0
RELAY_EVERY_SECONDS = 10.0


class Events:
    def __init__(
        self, bus: Bus, outbox: Collection, clock: Callable[[], float] = time.time
    ) -> None:
        self.bus = bus
        self.outbox = outbox
        self.clock = clock

    async def stage(self, spec: EventSpec[Any], payload: BaseModel) -> CloudEvent[Any]:
        account = getattr(payload, "account_id", None)
        event = spec.new(payload, source=SOURCE, subject=account)
        await self.outbox.insert_one(
            {
                "_id": event.id,
                "type": spec.type,
                "event": event.model_dump(mode="json"),
                "account": account,
                "at": self.clock(),
            }
        )
        return event

    async def send(self, event: CloudEvent[Any], **updates: Any) -> None:
        """Publish a staged event (with payload fields corrected by `updates`) and unstage it."""
        spec = CATALOG.get(event.type)
        if updates:
            event = event.model_copy(update={"data": event.data.model_copy(update=updates)})
        await self.bus.publish(spec, event)
        await self.outbox.delete_one({"_id": event.id})

    async def relay_once(self, is_deleted: Callable[[str], Any]) -> int:
        """Publish what crashed writers left staged; returns how many were sent."""
        sent = 0
        cutoff = self.clock() - RELAY_AFTER_SECONDS
        async for doc in self.outbox.find({"at": {"$lt": cutoff}}).limit(500):
            spec = CATALOG.get(doc["type"])
            event = CloudEvent[spec.payload].model_validate(doc["event"])  # type: ignore[name-defined]
            if spec.type.startswith("accounts.deleted") and not await is_deleted(doc["account"]):
                await self.outbox.delete_one({"_id": doc["_id"]})  # the deletion never happened
                continue
            await self.send(event)
            sent += 1
        return sent

    async def relay_forever(self, is_deleted: Callable[[str], Any]) -> None:
        while True:
            await asyncio.sleep(RELAY_EVERY_SECONDS)
            try:
                await self.relay_once(is_deleted)
            except Exception:  # the next round tries again
                log.warning("outbox relay failed", exc_info=True)
