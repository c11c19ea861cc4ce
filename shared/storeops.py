"""Store operations that stay exact when several processes race, on MongoDB and on FerretDB.

FerretDB 1.x runs `update` and `findAndModify` as read, apply, write by `_id` with no
isolation: two `$inc` can lose one, two `find_one_and_update` claims can both win. An insert
with a deterministic `_id` is atomic on both servers (the unique `_id` index refuses the second),
so everything that must be exact is built on it:

- `claim(collection, _id, doc)`: exactly one caller wins (single-use tokens, job and workflow
  step claims, refresh-token rotation, idempotency marks).
- `insert_or_get(collection, doc)`: the first writer's document, for values generated once and
  shared (signing keys).
- `WriterCounters`: counters written by many processes, each process the only writer of its own
  documents (`<key>|<writer>`, the cumulative count `$set`, so a retried write cannot count
  twice) and totals summed on read.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, DuplicateKeyError

Collection = AsyncCollection[dict[str, Any]]
_DUPLICATE_KEY = 11000


def writer_id() -> str:
    """Unique to this process run: host, pid and a random part (pids are reused)."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


async def claim(
    collection: Collection, claim_id: str, doc: Mapping[str, Any] | None = None
) -> bool:
    """Insert `{_id: claim_id, **doc}`; True for the one caller whose insert won."""
    try:
        await collection.insert_one({**(doc or {}), "_id": claim_id})
    except DuplicateKeyError:
        return False
    return True


async def insert_or_get(collection: Collection, doc: Mapping[str, Any]) -> dict[str, Any]:
    """Store `doc` unless a document with its `_id` exists; return the stored one."""
    await claim(collection, doc["_id"], doc)
    stored = await collection.find_one({"_id": doc["_id"]})
    if stored is None:  # deleted between the two calls: nothing sensible to return
        raise LookupError(f"document {doc['_id']!r} vanished while being read back")
    return stored


async def insert_many_new(collection: Collection, docs: Iterable[Mapping[str, Any]]) -> int:
    """Unordered bulk insert that skips documents whose `_id` is already stored (a redelivered
    batch inserts nothing twice); returns how many were new."""
    batch = [dict(doc) for doc in docs]
    if not batch:
        return 0
    try:
        result = await collection.insert_many(batch, ordered=False)
    except BulkWriteError as error:
        errors = error.details.get("writeErrors", [])
        if any(e.get("code") != _DUPLICATE_KEY for e in errors):
            raise
        return int(error.details.get("nInserted", len(batch) - len(errors)))
    return len(result.inserted_ids)


@dataclass(frozen=True)
class Count:
    mine: int  # what this writer stored
    others: int  # what every other writer stored

    @property
    def total(self) -> int:
        return self.mine + self.others


class WriterCounters:
    """Counters shared by processes without a read-modify-write race.

    Each process keeps its cumulative counts per key in memory and stores them in its own
    document (`_id` = "<key>|<writer>", with a `key` field) with `$set`, so a write retried
    after a timeout cannot count twice; `counts` sums every writer's document of a key. Other
    fields (an expiry date for a TTL index, labels to query by) are stored beside the counts.
    """

    def __init__(self, collection: Collection, *, writer: str | None = None) -> None:
        self.collection = collection
        self.writer = writer or writer_id()

    def doc_id(self, key: str) -> str:
        return f"{key}|{self.writer}"

    async def store(self, docs: Mapping[str, Mapping[str, Any]]) -> None:
        """Set this writer's document of each key to its fields (cumulative counts, labels),
        in one unordered bulk write."""
        if not docs:
            return
        await self.collection.bulk_write(
            [
                UpdateOne({"_id": self.doc_id(key)}, {"$set": {**fields, "key": key}}, upsert=True)
                for key, fields in docs.items()
            ],
            ordered=False,
        )

    async def counts(self, keys: Iterable[str], field: str = "count") -> dict[str, Count]:
        """Each key's stored `field`: this writer's and the sum of every other writer's."""
        wanted = sorted(set(keys))
        mine = dict.fromkeys(wanted, 0)
        others = dict.fromkeys(wanted, 0)
        if wanted:
            query = {"key": {"$in": wanted}}
            async for doc in self.collection.find(query, projection={"key": 1, field: 1}):
                side = mine if doc["_id"] == self.doc_id(doc["key"]) else others
                side[doc["key"]] += int(doc.get(field, 0))
        return {key: Count(mine[key], others[key]) for key in wanted}

    async def documents(self, query: Mapping[str, Any], limit: int) -> list[dict[str, Any]]:
        """Every writer's documents matching `query` (to sum by other fields)."""
        return await self.collection.find(dict(query)).to_list(limit)
