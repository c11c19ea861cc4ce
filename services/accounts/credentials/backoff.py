"""Per-account exponential back-off against password guessing and credential stuffing.

Failures are counted per sign-in identifier's blind index, whether an account exists or not, so
the back-off itself does not reveal which addresses are registered. After
ACCOUNTS_BACKOFF_FREE_FAILURES failures, the next attempt must wait base * 2^(extra failures)
seconds (capped), counted from the last failure; a success resets the count. The count is one
document per identifier, updated with `$set` under a per-key lock in this process: replicas
racing on one identifier can lose an increment (FerretDB updates are not atomic), which only
delays the back-off by one attempt; per-IP limits at the gateway bound the total rate.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime

from pymongo import ASCENDING, IndexModel

from shared.storeops import Collection


class Backoff:
    def __init__(
        self,
        collection: Collection,
        *,
        free: int,
        base: float,
        cap: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.coll = collection
        self.free, self.base, self.cap = free, base, cap
        self.clock = clock
        self._locks: dict[str, asyncio.Lock] = {}

    @staticmethod
    def indexes() -> dict[str, list[IndexModel]]:
        return {
            "signin_failures": [IndexModel([("at_date", ASCENDING)], expireAfterSeconds=86_400)]
        }

    def _delay(self, failures: int) -> float:
        extra = failures - self.free
        return 0.0 if extra < 0 else min(self.cap, self.base * 2**extra)

    async def wait_seconds(self, key: str) -> float:
        """How long until `key` may try again (0: now)."""
        doc = await self.coll.find_one({"_id": key})
        if doc is None:
            return 0.0
        ready = float(doc["last"]) + self._delay(int(doc["count"]) - 1)
        return max(0.0, ready - self.clock())

    async def failed(self, key: str) -> None:
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            doc = await self.coll.find_one({"_id": key})
            now = self.clock()
            count = int(doc["count"]) + 1 if doc else 1
            await self.coll.update_one(
                {"_id": key},
                {
                    "$set": {
                        "count": count,
                        "last": now,
                        "at_date": datetime.fromtimestamp(now, UTC),
                    }
                },
                upsert=True,
            )
        if not lock.locked():
            self._locks.pop(key, None)

    async def succeeded(self, key: str) -> None:
        await self.coll.delete_one({"_id": key})
