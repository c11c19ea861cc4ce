"""Programs in MongoDB (`ingest_programs`, `_id` = program id: every read is by `_id`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from shared.events.contracts.ingest import Program, ProgramSpec

COLLECTION = "ingest_programs"
Clock = Callable[[], float]


class ProgramStore:
    def __init__(self, collection: AsyncCollection[dict[str, Any]], clock: Clock = time.time):
        self.collection, self.clock = collection, clock

    async def get(self, program_id: str) -> Program | None:
        doc = await self.collection.find_one({"_id": program_id})
        return None if doc is None else _program(doc)

    async def put(self, program_id: str, spec: ProgramSpec) -> tuple[Program, bool]:
        """Create or replace; (the stored program, whether it was created). The version grows
        with every change, also when clocks of two replicas disagree."""
        previous = await self.collection.find_one({"_id": program_id}, projection={"version": 1})
        now = self.clock()
        version = max(int(now * 1e9), int(previous["version"]) + 1 if previous else 1)
        program = Program(**spec.model_dump(), id=program_id, version=version, updated_at=_utc(now))
        doc = program.model_dump(mode="python", exclude={"id"})
        await self.collection.replace_one({"_id": program_id}, doc, upsert=True)
        return program, previous is None

    async def delete(self, program_id: str) -> int | None:
        """The deletion's version (newer than any stored one), None when there was none."""
        previous = await self.collection.find_one_and_delete({"_id": program_id})
        if previous is None:
            return None
        return max(int(self.clock() * 1e9), int(previous["version"]) + 1)

    async def list(self, advertiser: str | None, limit: int) -> list[Program]:
        query = {"advertiser": advertiser} if advertiser else {}
        cursor = self.collection.find(query).sort("_id", 1).limit(limit)
        return [_program(doc) async for doc in cursor]


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _program(doc: dict[str, Any]) -> Program:
    fields = {k: v for k, v in doc.items() if k != "_id"}
    return Program.model_validate({**fields, "id": doc["_id"]})
