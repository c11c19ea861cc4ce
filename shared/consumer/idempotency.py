"""Processed-event memory so a redelivered event is handled once.

Kafka delivers at least once: after a crash or a rebalance, records handled but not yet
committed come again. The guard stores one document per handled event,
`{"_id": "<group>:<event id>", "seen_at": <UTC datetime>}`, and MongoDB's TTL monitor drops
it after `ttl_seconds` (set the TTL longer than any redelivery window: topic retention).
`seen` also checks the age itself, because the TTL monitor only runs once a minute and the
in-process stand-in has none.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeAlias

from pymongo import IndexModel
from pymongo.asynchronous.collection import AsyncCollection

if TYPE_CHECKING:
    from mongomock_motor import AsyncMongoMockCollection

    GuardCollection: TypeAlias = AsyncCollection[Any] | AsyncMongoMockCollection[Any]
else:
    GuardCollection: TypeAlias = Any


class IdempotencyGuard:
    def __init__(self, collection: GuardCollection, ttl_seconds: float) -> None:
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be > 0")
        self.collection = collection
        self.ttl_seconds = ttl_seconds

    def index_models(self) -> list[IndexModel]:
        """The TTL index, for `store.ensure_indexes({name: guard.index_models()})`."""
        ttl = max(1, int(self.ttl_seconds))
        return [IndexModel([("seen_at", 1)], expireAfterSeconds=ttl, name="seen_at_ttl")]

    async def ensure_indexes(self) -> None:
        await self.collection.create_indexes(self.index_models())

    async def seen(self, event_id: str, *, now: datetime | None = None) -> bool:
        oldest = (now or datetime.now(UTC)) - timedelta(seconds=self.ttl_seconds)
        found = await self.collection.find_one(
            {"_id": event_id, "seen_at": {"$gt": oldest}}, projection={"_id": 1}
        )
        return found is not None

    async def mark(self, event_id: str, *, now: datetime | None = None) -> None:
        await self.collection.update_one(
            {"_id": event_id}, {"$set": {"seen_at": now or datetime.now(UTC)}}, upsert=True
        )
