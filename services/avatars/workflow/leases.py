"""Who runs a step: a lease per (upload, state), built on `shared.storeops.claim` because
FerretDB's updates are not atomic (two `find_one_and_update` claims can both win).

A lease is the document `<upload>:<state>#<generation>` inserted with its owner and time.
The owner renews it (`$set` of its own document) while it works. A lease older than
`lease_seconds` belongs to a worker that stopped (killed, hung, partitioned away): the next
worker takes over by claiming the next generation, which exactly one can win.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from shared.storeops import claim, writer_id

MAX_GENERATIONS = 1000


class Leases:
    def __init__(
        self,
        collection: AsyncCollection[dict[str, Any]],
        lease_seconds: float,
        *,
        owner: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.collection, self.lease = collection, timedelta(seconds=lease_seconds)
        self.owner, self.clock = owner or writer_id(), clock
        self._held: dict[str, str] = {}  # lease key -> the document id this process holds

    async def acquire(self, key: str) -> bool:
        """True when this process holds the lease of `key` (it may already have held it)."""
        now = self.clock()
        for generation in range(MAX_GENERATIONS):
            lease_id = f"{key}#{generation}"
            if await claim(self.collection, lease_id, {"owner": self.owner, "at": now}):
                self._held[key] = lease_id
                return True
            held = await self.collection.find_one({"_id": lease_id})
            if held is None:
                continue  # expired and swept: try the next generation
            if held["owner"] == self.owner:
                self._held[key] = lease_id
                return True
            at = held["at"] if held["at"].tzinfo else held["at"].replace(tzinfo=UTC)
            if now - at < self.lease:
                return False  # a live worker is on it
        return False

    async def renew(self, key: str) -> None:
        lease_id = self._held.get(key)
        if lease_id is not None:
            await self.collection.update_one({"_id": lease_id}, {"$set": {"at": self.clock()}})

    def release(self, key: str) -> None:
        """Forget the lease locally; its document stays (the state moved on, nobody asks)."""
        self._held.pop(key, None)
