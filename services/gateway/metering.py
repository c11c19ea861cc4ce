"""Usage metering per API key and route: counted in memory, flushed every `flush_seconds`.

A flush `$inc`-upserts one document per key, route and UTC day into the `usage` collection
(`_id` = "<key>|<route>|<day>"), publishes the same deltas as `gateway.usage.v1` events, and
syncs the quota counters. A failed store write puts the counts back for the next flush; a
failed publish is logged (the store stays the source of truth). `stop()` flushes once more.
Requests without an API key are not metered (nobody to bill).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter as Tally
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter
from pymongo import IndexModel

from services.gateway.identity import Identity
from services.gateway.quotas import Quotas
from services.gateway.routetable import Route
from shared.bus.base import Bus
from shared.events.contracts.gateway import USAGE_REPORTED, UsageReported

log = logging.getLogger("gateway.metering")
FIELDS = ("requests", "throttled", "quota_used")
MAX_USAGE_ROWS = 5000

_Slot = tuple[str, str, date]  # key id, route id, UTC day


@dataclass(frozen=True)
class UsageRow:
    key_id: str
    route_id: str
    day: date
    requests: int
    throttled: int
    quota_used: int


class Metering:
    def __init__(
        self,
        collection: Any,
        bus: Bus | None,
        *,
        flush_seconds: float = 10.0,
        registry: CollectorRegistry | None = None,
        quotas: Quotas | None = None,
        source: str = "gateway",
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._collection = collection
        self._bus = bus
        self._flush_seconds = flush_seconds
        self._quotas = quotas
        self._source = source
        self._now = now
        self._pending: dict[_Slot, Tally[str]] = {}
        self._since = now()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        registry = registry if registry is not None else CollectorRegistry()
        self.flush_failures = Counter(
            "gateway_metering_flush_failures", "Usage flushes that failed.", registry=registry
        )

    def indexes(self) -> dict[str, list[IndexModel]]:
        """For `Store.ensure_indexes` (usage by key over a range of days)."""
        return {self._collection.name: [IndexModel([("key_id", 1), ("day", 1)])]}

    def record(
        self, identity: Identity, route: Route, status: int, *, throttled: bool = False
    ) -> None:
        """Count one finished request (called by the proxy for every answer, 429s included)."""
        if identity.key_id is None:
            return
        slot = (identity.key_id, route.id, self._now().date())
        tally = self._pending.get(slot)
        if tally is None:
            tally = self._pending[slot] = Tally()
        tally["requests"] += 1
        if throttled:
            tally["throttled"] += 1
        else:
            tally["quota_used"] += 1

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="gateway-metering")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            await self.flush()
        except Exception:  # shutting down: report, do not block the rest of the cleanup
            log.exception("final usage flush failed")

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._flush_seconds)
            try:
                await self.flush()
            except Exception:  # keep metering; the counts were kept for the next flush
                log.exception("usage flush failed")

    async def flush(self) -> int:
        """Write and publish what was counted since the last flush; returns the slots written."""
        async with self._lock:
            pending, self._pending = self._pending, {}
            started, self._since = self._since, self._now()
            if pending:
                await self._write(pending)
                await self._publish(pending, started, self._since)
            if self._quotas is not None:
                await self._quotas.sync()
            return len(pending)

    async def _write(self, pending: dict[_Slot, Tally[str]]) -> None:
        # One upsert per slot (not bulk_write: the stand-in store cannot run pymongo's
        # UpdateOne); a failure puts that slot and the unwritten ones back for the next flush.
        slots = list(pending.items())
        for done, (slot, tally) in enumerate(slots):
            key_id, route_id, day = slot
            try:
                await self._collection.update_one(
                    {"_id": f"{key_id}|{route_id}|{day.isoformat()}"},
                    {
                        "$inc": {f: tally[f] for f in FIELDS},
                        "$setOnInsert": {
                            "key_id": key_id,
                            "route_id": route_id,
                            "day": day.isoformat(),
                        },
                    },
                    upsert=True,
                )
            except Exception:
                self.flush_failures.inc()
                for unwritten, counts in slots[done:]:
                    self._pending.setdefault(unwritten, Tally()).update(counts)
                raise

    async def _publish(
        self, pending: dict[_Slot, Tally[str]], start: datetime, end: datetime
    ) -> None:
        if self._bus is None:
            return
        for (key_id, route_id, day), tally in pending.items():
            usage = UsageReported(
                key_id=key_id,
                route_id=route_id,
                day=day,
                requests=tally["requests"],
                throttled=tally["throttled"],
                quota_used=tally["quota_used"],
                interval_start=start,
                interval_end=end,
            )
            try:
                await self._bus.publish(
                    USAGE_REPORTED, USAGE_REPORTED.new(usage, source=self._source, subject=key_id)
                )
            except Exception:
                log.warning("could not publish usage of key %s", key_id, exc_info=True)

    async def usage(self, key_id: str, *, since: date, until: date) -> list[UsageRow]:
        """Stored totals plus what this process has not flushed yet, by day and route."""
        query = {"key_id": key_id, "day": {"$gte": since.isoformat(), "$lte": until.isoformat()}}
        docs = await self._collection.find(query).to_list(MAX_USAGE_ROWS)
        totals: dict[tuple[str, date], Tally[str]] = {}
        for doc in docs:
            slot = (str(doc["route_id"]), date.fromisoformat(doc["day"]))
            totals.setdefault(slot, Tally()).update({f: int(doc.get(f, 0)) for f in FIELDS})
        for (key, route_id, day), tally in self._pending.items():
            if key == key_id and since <= day <= until:
                totals.setdefault((route_id, day), Tally()).update(tally)
        return [
            UsageRow(key_id, route_id, day, *(tally[f] for f in FIELDS))
            for (route_id, day), tally in sorted(
                totals.items(), key=lambda item: (item[0][1], item[0][0])
            )
        ]
