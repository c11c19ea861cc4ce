"""The perceptual-hash blocklist: an operator bans an image; it and its near-duplicates
(pHash within AVATARS_BLOCKLIST_MAX_DISTANCE bits) are rejected.

Entries live in `avatar_blocklist` (`_id` = the hash). The list is small and read whole: every
check reloads it when older than `cache_seconds`, and this process's own changes apply at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from services.avatars.imaging.phash import distance

MAX_ENTRIES = 100_000


class Blocklist:
    def __init__(
        self,
        collection: AsyncCollection[dict[str, Any]],
        max_distance: int,
        *,
        cache_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.collection, self.max_distance = collection, max_distance
        self._cache_seconds, self._clock = cache_seconds, clock
        self._hashes: dict[str, str] = {}
        self._loaded_at: float | None = None

    async def _entries(self) -> dict[str, str]:
        now = self._clock()
        if self._loaded_at is None or now - self._loaded_at >= self._cache_seconds:
            docs = await self.collection.find({}, projection={"reason": 1}).to_list(MAX_ENTRIES)
            self._hashes = {d["_id"]: str(d.get("reason", "")) for d in docs}
            self._loaded_at = now
        return self._hashes

    async def match(self, phash: str) -> tuple[str, int] | None:
        """The closest banned hash within the distance, and how far it is."""
        best: tuple[str, int] | None = None
        for banned in await self._entries():
            d = distance(phash, banned)
            if d <= self.max_distance and (best is None or d < best[1]):
                best = (banned, d)
        return best

    async def add(self, phash: str, reason: str, by: str, upload_id: str | None) -> dict[str, Any]:
        doc = {
            "_id": phash,
            "reason": reason,
            "by": by,
            "upload_id": upload_id,
            "at": datetime.now(UTC),
        }
        await self.collection.replace_one({"_id": phash}, doc, upsert=True)
        self._hashes[phash] = reason
        return doc

    async def remove(self, phash: str) -> bool:
        self._hashes.pop(phash, None)
        result = await self.collection.delete_one({"_id": phash})
        return result.deleted_count == 1

    async def listing(self) -> list[dict[str, Any]]:
        return await self.collection.find({}).sort("at", -1).to_list(MAX_ENTRIES)
