"""Processed-event memory so a redelivered event is handled once.

Kafka delivers at least once: after a crash or a rebalance, records handled but not yet
committed come again. The guard stores one document per handled event,
`{"_id": "<group>:<event id>", "seen_at": <UTC datetime>}`, inserted (atomic on MongoDB and
FerretDB alike), and a TTL index drops it after `ttl_seconds` (set the TTL longer than any
redelivery window: topic retention). `seen` also checks the age itself, because expiry runs
only once a minute (MongoDB's TTL monitor, or the store's sweep on FerretDB).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pymongo import IndexModel
from pymongo.asynchronous.collection import AsyncCollection

from shared.storeops import claim

if TYPE_CHECKING:
    from shared.store import Store


class IdempotencyGuard:
    def __init__(self, collection: AsyncCollection[dict[str, Any]], ttl_seconds: float) -> None:
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be > 0")
        self.collection = collection
        self.ttl_seconds = ttl_seconds

    @classmethod
    def for_store(cls, store: Store, collection: str, ttl_seconds: float) -> IdempotencyGuard:
        return cls(store.db[collection], ttl_seconds)

    def index_models(self) -> list[IndexModel]:
        """The TTL index, for `store.ensure_indexes({name: guard.index_models()})`."""
        ttl = max(1, int(self.ttl_seconds))
        return [IndexModel([("seen_at", 1)], expireAfterSeconds=ttl, name="seen_at_ttl")]

    async def seen(self, event_id: str, *, now: datetime | None = None) -> bool:
        oldest = (now or datetime.now(UTC)) - timedelta(seconds=self.ttl_seconds)
        found = await self.collection.find_one({"_id": event_id}, projection={"seen_at": 1})
        return found is not None and found["seen_at"] > oldest

    async def mark(self, event_id: str, *, now: datetime | None = None) -> None:
        at = now or datetime.now(UTC)
        if not await claim(self.collection, event_id, {"seen_at": at}):
            # Marked before, and expired by age but not yet removed: start its TTL again.
            await self.collection.update_one({"_id": event_id}, {"$set": {"seen_at": at}})
