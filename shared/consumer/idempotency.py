"""Processed-event memory so a redelivered event is handled once.

Kafka delivers at least once: after a crash or a rebalance, records handled but not yet
committed come again. The guard stores one document per handled event,
`{"_id": "<group>:<event id>", "seen_at": <UTC datetime>}`, and MongoDB's TTL monitor drops
it after `ttl_seconds` (set the TTL longer than any redelivery window: topic retention).
`seen` also checks the age itself, because the TTL monitor only runs once a minute and the
in-process stand-in has none.

With the in-process stand-in (`for_store` on a store that is not durable) the ids live in a
dict instead: the stand-in is per process and lost on restart anyway, and it scans every
document on each lookup, which made a busy consumer quadratic.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeAlias

from pymongo import IndexModel
from pymongo.asynchronous.collection import AsyncCollection

if TYPE_CHECKING:
    from mongomock_motor import AsyncMongoMockCollection

    from shared.store import Store

    GuardCollection: TypeAlias = AsyncCollection[Any] | AsyncMongoMockCollection[Any]
else:
    GuardCollection: TypeAlias = Any


class IdempotencyGuard:
    def __init__(self, collection: GuardCollection | None, ttl_seconds: float) -> None:
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be > 0")
        self.collection = collection
        self.ttl_seconds = ttl_seconds
        self._memory: dict[str, datetime] = {}

    @classmethod
    def for_store(cls, store: Store, collection: str, ttl_seconds: float) -> IdempotencyGuard:
        return cls(store.db[collection] if store.durable else None, ttl_seconds)

    def index_models(self) -> list[IndexModel]:
        """The TTL index, for `store.ensure_indexes({name: guard.index_models()})`."""
        ttl = max(1, int(self.ttl_seconds))
        return [IndexModel([("seen_at", 1)], expireAfterSeconds=ttl, name="seen_at_ttl")]

    async def ensure_indexes(self) -> None:
        if self.collection is not None:
            await self.collection.create_indexes(self.index_models())

    async def seen(self, event_id: str, *, now: datetime | None = None) -> bool:
        oldest = (now or datetime.now(UTC)) - timedelta(seconds=self.ttl_seconds)
        if self.collection is None:
            at = self._memory.get(event_id)
            return at is not None and at > oldest
        found = await self.collection.find_one(
            {"_id": event_id, "seen_at": {"$gt": oldest}}, projection={"_id": 1}
        )
        return found is not None

    async def mark(self, event_id: str, *, now: datetime | None = None) -> None:
        if self.collection is None:
            self._remember(event_id, now or datetime.now(UTC))
            return
        await self.collection.update_one(
            {"_id": event_id}, {"$set": {"seen_at": now or datetime.now(UTC)}}, upsert=True
        )

    def _remember(self, event_id: str, now: datetime) -> None:
        self._memory[event_id] = now
        if len(self._memory) > _PRUNE_AT:  # expire old ids in bulk, like the TTL monitor
            oldest = now - timedelta(seconds=self.ttl_seconds)
            self._memory = {k: at for k, at in self._memory.items() if at > oldest}


_PRUNE_AT = 100_000
