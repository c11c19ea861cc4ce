"""Request quotas per API key per UTC calendar day, ISO week (from Monday) and month.

Counting is in memory, so it is exact within a process and costs no I/O per request. The
first request of a key in a period reads the persisted count (`quota_usage` collection, one
document per key and period). `sync()` (run by Metering's flush loop) adds the local
increments with `$inc` and reads back the total, which includes what other workers and
replicas added: across processes a quota can be overshot by at most what the others admitted
since their last sync (one flush interval).

Quota is consumed when a request is admitted (reserved before the token buckets are asked,
refunded when they refuse), so a refused or cancelled request never costs quota.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import IndexModel, ReturnDocument
from pymongo.errors import PyMongoError

from services.gateway.bucket import ceil_seconds

log = logging.getLogger("gateway.quotas")
_KEEP_AFTER_END = timedelta(days=40)


def utc_now() -> datetime:
    return datetime.now(UTC)


def period_bounds(period: str, now: datetime) -> tuple[datetime, datetime]:
    """[start, end) of the UTC calendar period containing `now`."""
    day = datetime(now.year, now.month, now.day, tzinfo=UTC)
    if period == "day":
        return day, day + timedelta(days=1)
    if period == "week":
        start = day - timedelta(days=day.weekday())
        return start, start + timedelta(days=7)
    if period == "month":
        start = day.replace(day=1)
        end = start.replace(year=start.year + 1, month=1) if start.month == 12 else None
        return start, end or start.replace(month=start.month + 1)
    raise ValueError(f"unknown quota period {period!r}")


@dataclass(frozen=True)
class QuotaState:
    period: str
    limit: int
    used: int
    start: datetime
    end: datetime

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    @property
    def window_seconds(self) -> int:
        return int((self.end - self.start).total_seconds())

    def reset_in(self, now: datetime) -> int:
        return max(1, ceil_seconds((self.end - now).total_seconds()))


class QuotaExceededError(Exception):
    def __init__(self, state: QuotaState, retry_after: int, states: list[QuotaState]) -> None:
        super().__init__(f"{state.period} quota of {state.limit} requests used up")
        self.state, self.retry_after, self.states = state, retry_after, states


@dataclass
class _Counter:
    key_id: str
    period: str
    start: datetime
    end: datetime
    base: int = 0  # the persisted total at the last read
    inflight: int = 0  # sent to the store, not yet acknowledged
    pending: int = 0  # counted here, not yet sent

    @property
    def used(self) -> int:
        return self.base + self.inflight + self.pending


@dataclass
class Reservation:
    counters: list[_Counter] = field(default_factory=list)
    states: list[QuotaState] = field(default_factory=list)


class Quotas:
    def __init__(
        self,
        collection: Any | None = None,
        *,
        now: Callable[[], datetime] = utc_now,
        max_keys: int = 100_000,
    ) -> None:
        self._collection = collection
        self.now = now
        self._max = max_keys * 3  # up to three periods per key
        self._counters: OrderedDict[str, _Counter] = OrderedDict()
        self._orphans: dict[str, _Counter] = {}  # evicted with increments still to persist
        self._sync_lock = asyncio.Lock()

    def indexes(self) -> dict[str, list[IndexModel]]:
        """For `Store.ensure_indexes`: finished periods expire 40 days after their end."""
        if self._collection is None:
            return {}
        return {self._collection.name: [IndexModel([("expires_at", 1)], expireAfterSeconds=0)]}

    async def _counter(self, key_id: str, period: str, now: datetime) -> _Counter:
        start, end = period_bounds(period, now)
        doc_id = f"{key_id}|{period}:{start.date().isoformat()}"
        counter = self._counters.get(doc_id)
        if counter is not None:
            self._counters.move_to_end(doc_id)
            return counter
        base = 0
        if self._collection is not None:
            try:
                doc = await self._collection.find_one({"_id": doc_id})
                base = int(doc["used"]) if doc else 0
            except PyMongoError:  # count from zero here; the next sync's $inc gives the total
                log.warning("quota of %s could not be read", key_id, exc_info=True)
        counter = self._counters.get(doc_id)  # another request may have loaded it meanwhile
        if counter is None:
            counter = self._counters[doc_id] = _Counter(key_id, period, start, end, base)
            while len(self._counters) > self._max:
                evicted_id, evicted = self._counters.popitem(last=False)
                if evicted.pending:
                    self._orphans[evicted_id] = evicted
        return counter

    async def current(self, key_id: str, limits: Mapping[str, int]) -> list[QuotaState]:
        now = self.now()
        states = []
        for period, limit in limits.items():
            c = await self._counter(key_id, period, now)
            states.append(QuotaState(period, limit, c.used, c.start, c.end))
        return states

    async def reserve(self, key_id: str, limits: Mapping[str, int]) -> Reservation:
        """Count one request against every quota, or raise QuotaExceededError counting none."""
        if not limits:
            return Reservation()
        now = self.now()
        counters = [(await self._counter(key_id, p, now), limit) for p, limit in limits.items()]
        # No await from here on: check-then-increment is atomic for this event loop.
        over = [(c, limit) for c, limit in counters if c.used + 1 > limit]
        if over:
            states = [QuotaState(c.period, lim, c.used, c.start, c.end) for c, lim in counters]
            worst = max(over, key=lambda item: item[0].end)
            blocked = QuotaState(
                worst[0].period, worst[1], worst[0].used, worst[0].start, worst[0].end
            )
            raise QuotaExceededError(blocked, blocked.reset_in(now), states)
        reservation = Reservation()
        for c, limit in counters:
            c.pending += 1
            reservation.counters.append(c)
            reservation.states.append(QuotaState(c.period, limit, c.used, c.start, c.end))
        return reservation

    def refund(self, reservation: Reservation) -> None:
        for counter in reservation.counters:
            counter.pending -= 1
        reservation.counters.clear()

    async def sync(self) -> None:
        """Persist local increments and learn the totals other processes reached."""
        async with self._sync_lock:
            orphans, self._orphans = self._orphans, {}
            for doc_id, counter in [*self._counters.items(), *orphans.items()]:
                if counter.pending and self._collection is not None:
                    await self._push(doc_id, counter)
            now = self.now()
            for doc_id in [i for i, c in self._counters.items() if c.end <= now and not c.pending]:
                del self._counters[doc_id]

    async def _push(self, doc_id: str, counter: _Counter) -> None:
        assert self._collection is not None
        sent, counter.pending = counter.pending, 0
        counter.inflight += sent
        try:
            doc = await self._collection.find_one_and_update(
                {"_id": doc_id},
                {
                    "$inc": {"used": sent},
                    "$setOnInsert": {
                        "key_id": counter.key_id,
                        "period": counter.period,
                        "start": counter.start,
                        "expires_at": counter.end + _KEEP_AFTER_END,
                    },
                },
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        except BaseException:
            counter.pending += sent  # retried at the next sync
            raise
        finally:
            counter.inflight -= sent
        # The total includes what other processes added; None only if a TTL sweep raced us.
        counter.base = int(doc["used"]) if doc else counter.base + sent
