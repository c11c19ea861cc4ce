"""Usage metering per API key and route: counted in memory, flushed every `flush_seconds`.

Each process keeps cumulative counts per key, route and UTC day and a flush stores them in its
own document of the `usage` collection (`shared.storeops.WriterCounters`:
"<key>|<route>|<day>|<writer>", one unordered bulk write), so processes never update the same
document and a retried flush cannot count twice; a day's usage is the sum of every writer's
document. A flush also publishes what was counted since the last one as `gateway.usage.v1`
events and syncs the quota counters. A failed store write leaves the counts for the next
flush; a failed publish is logged (the store stays the source of truth). `stop()` flushes once
more. Requests without an API key are not metered (nobody to bill).
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

from services.gateway.auth.identity import Identity
from services.gateway.limits.quotas import Quotas
from services.gateway.routing.table import Route
from shared.bus.base import Bus
from shared.events.contracts.gateway import USAGE_REPORTED, UsageReported
from shared.storeops import WriterCounters

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
        writer: str | None = None,
    ) -> None:
        self._collection = collection
        self._store = WriterCounters(collection, writer=writer)
        self._bus = bus
        self._flush_seconds = flush_seconds
        self._quotas = quotas
        self._source = source
        self._now = now
        self._totals: dict[_Slot, Tally[str]] = {}  # cumulative, this process
        self._stored: dict[_Slot, Tally[str]] = {}  # the part of it stored
        self._reported: dict[_Slot, Tally[str]] = {}  # the part of it published
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
        tally = self._totals.get(slot)
        if tally is None:
            tally = self._totals[slot] = Tally()
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
        """Store and publish what was counted since the last flush; returns the slots written."""
        async with self._lock:
            changed = {
                slot: Tally(tally)
                for slot, tally in self._totals.items()
                if tally != self._stored.get(slot)
            }
            started, self._since = self._since, self._now()
            if changed:
                await self._write(changed)
                self._stored.update(changed)
                await self._publish(self._deltas(changed), started, self._since)
            self._forget_finished_days()
            if self._quotas is not None:
                await self._quotas.sync()
            return len(changed)

    async def _write(self, changed: dict[_Slot, Tally[str]]) -> None:
        try:
            await self._store.store(
                {
                    _slot_id(slot): {
                        **{f: tally[f] for f in FIELDS},
                        "key_id": slot[0],
                        "route_id": slot[1],
                        "day": slot[2].isoformat(),
                    }
                    for slot, tally in changed.items()
                }
            )
        except Exception:
            self.flush_failures.inc()
            raise

    def _deltas(self, changed: dict[_Slot, Tally[str]]) -> dict[_Slot, Tally[str]]:
        deltas = {}
        for slot, tally in changed.items():
            delta = Tally(tally)
            delta.subtract(self._reported.get(slot, Tally()))
            self._reported[slot] = tally
            deltas[slot] = delta
        return deltas

    def _forget_finished_days(self) -> None:
        today = self._now().date()
        for slot in [
            s for s, t in self._totals.items() if s[2] < today and t == self._stored.get(s)
        ]:
            del self._totals[slot]
            self._stored.pop(slot, None)
            self._reported.pop(slot, None)

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
        """Every writer's stored counts plus what this process has not stored yet, by day and
        route."""
        query = {"key_id": key_id, "day": {"$gte": since.isoformat(), "$lte": until.isoformat()}}
        docs = await self._store.documents(query, MAX_USAGE_ROWS)
        totals: dict[tuple[str, date], Tally[str]] = {}
        for doc in docs:
            slot = (str(doc["route_id"]), date.fromisoformat(doc["day"]))
            totals.setdefault(slot, Tally()).update({f: int(doc.get(f, 0)) for f in FIELDS})
        for (key, route_id, day), tally in self._totals.items():
            if key == key_id and since <= day <= until:
                unstored = Tally(tally)
                unstored.subtract(self._stored.get((key, route_id, day), Tally()))
                totals.setdefault((route_id, day), Tally()).update(unstored)
        return [
            UsageRow(key_id, route_id, day, *(tally[f] for f in FIELDS))
            for (route_id, day), tally in sorted(
                totals.items(), key=lambda item: (item[0][1], item[0][0])
            )
        ]


def _slot_id(slot: _Slot) -> str:
    key_id, route_id, day = slot
    return f"{key_id}|{route_id}|{day.isoformat()}"
