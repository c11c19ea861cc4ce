"""Request quotas per API key per UTC calendar day, ISO week (from Monday) and month.

Counting is in memory, so it is exact within a process and costs no I/O per request. Each
process stores its own cumulative count of a key's period in its own document of the
`quota_usage` collection (`shared.storeops.WriterCounters`: "<key>|<period>:<start>|<writer>"),
so no two processes ever update one document (FerretDB's updates are not atomic) and a total
is the sum of every writer's document. The first request of a key in a period reads the stored
counts; `sync()` (run by Metering's flush loop) stores this process's counts and reads the
others': across processes a quota can be overshot by at most what the others admitted since
their last sync (one flush interval).

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

from pymongo import IndexModel
from pymongo.errors import PyMongoError

from services.gateway.limits.policy import QuotaState
from shared.storeops import WriterCounters

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
    mine: int = 0  # this process's cumulative count (exact, in memory)
    others: int = 0  # the other writers' stored counts at the last read
    stored: int = 0  # the part of `mine` already stored

    @property
    def used(self) -> int:
        return self.mine + self.others


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
        writer: str | None = None,
    ) -> None:
        self._store = WriterCounters(collection, writer=writer) if collection is not None else None
        self.now = now
        self._max = max_keys * 3  # up to three periods per key
        self._counters: OrderedDict[str, _Counter] = OrderedDict()
        self._orphans: dict[str, _Counter] = {}  # evicted with counts still to store
        self._sync_lock = asyncio.Lock()

    def indexes(self) -> dict[str, list[IndexModel]]:
        """For `Store.ensure_indexes`: finished periods expire 40 days after their end; totals
        are read by key."""
        if self._store is None:
            return {}
        return {
            self._store.collection.name: [
                IndexModel([("expires_at", 1)], expireAfterSeconds=0),
                IndexModel([("key", 1)]),
            ]
        }

    async def _counter(self, key_id: str, period: str, now: datetime) -> _Counter:
        start, _ = period_bounds(period, now)
        doc_id = f"{key_id}|{period}:{start.date().isoformat()}"
        counter = self._counters.get(doc_id)
        if counter is not None:
            self._counters.move_to_end(doc_id)
            return counter
        counter = self._orphans.pop(doc_id, None) or await self._load(doc_id, key_id, period, now)
        loaded = self._counters.get(doc_id)  # another request may have loaded it meanwhile
        if loaded is not None:
            return loaded
        self._counters[doc_id] = counter
        while len(self._counters) > self._max:
            evicted_id, evicted = self._counters.popitem(last=False)
            if evicted.mine != evicted.stored:
                self._orphans[evicted_id] = evicted
        return counter

    async def _load(self, doc_id: str, key_id: str, period: str, now: datetime) -> _Counter:
        start, end = period_bounds(period, now)
        counter = _Counter(key_id, period, start, end)
        if self._store is None:
            return counter
        try:
            count = (await self._store.counts([doc_id]))[doc_id]
        except PyMongoError:  # count from zero here; the next sync reads the others' counts
            log.warning("quota of %s could not be read", key_id, exc_info=True)
            return counter
        counter.mine = counter.stored = count.mine  # this process stored it before evicting it
        counter.others = count.others
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
            c.mine += 1
            reservation.counters.append(c)
            reservation.states.append(QuotaState(c.period, limit, c.used, c.start, c.end))
        return reservation

    def refund(self, reservation: Reservation) -> None:
        for counter in reservation.counters:
            counter.mine -= 1
        reservation.counters.clear()

    async def sync(self) -> None:
        """Store this process's counts and learn the counts other processes stored."""
        async with self._sync_lock:
            orphans, self._orphans = self._orphans, {}
            if self._store is not None:
                try:
                    await self._push({**orphans, **self._counters})
                except BaseException:
                    self._orphans.update(orphans)  # stored at the next sync
                    raise
                counts = await self._store.counts(self._counters)
                for doc_id, count in counts.items():
                    if (counter := self._counters.get(doc_id)) is not None:
                        counter.others = count.others
            now = self.now()
            finished = [i for i, c in self._counters.items() if c.end <= now and c.mine == c.stored]
            for doc_id in finished:
                del self._counters[doc_id]

    async def _push(self, counters: Mapping[str, _Counter]) -> None:
        assert self._store is not None
        changed = {doc_id: c.mine for doc_id, c in counters.items() if c.mine != c.stored}
        await self._store.store(
            {
                doc_id: {
                    "count": count,
                    "key_id": counters[doc_id].key_id,
                    "period": counters[doc_id].period,
                    "start": counters[doc_id].start,
                    "expires_at": counters[doc_id].end + _KEEP_AFTER_END,
                }
                for doc_id, count in changed.items()
            }
        )
        for doc_id, count in changed.items():
            counters[doc_id].stored = count
