"""Usage metering: counts per key and route, per-writer flushes, published events, failure
recovery, totals summed over processes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from services.gateway.auth.identity import Identity
from services.gateway.limits.metering import Metering, UsageRow
from services.gateway.limits.quotas import Quotas
from shared.bus.memory import MemoryBus
from shared.events.contracts.gateway import USAGE_REPORTED, UsageReported
from shared.store import Store
from tests.unit.gateway.g2_support import WallClock, route, utc

pytestmark = pytest.mark.unit

KEY = Identity(kind="api_key", key_id="0123456789ab", plan_id="gold")
USER_WITH_KEY = Identity(kind="jwt", subject="u1", key_id="ba9876543210", plan_id="gold")


@pytest.fixture
def wall() -> WallClock:
    return WallClock(utc(2024, 5, 1, 23, 59, 30))


@pytest.fixture
async def bus() -> AsyncIterator[MemoryBus]:
    memory = MemoryBus()
    await memory.start()
    yield memory
    await memory.stop()


def usage_docs(docs: list[dict[str, Any]]) -> dict[str, tuple[int, int, int]]:
    return {d["_id"]: (d["requests"], d["throttled"], d["quota_used"]) for d in docs}


async def test_a_flush_upserts_per_key_route_and_day_and_publishes_the_deltas(
    store: Store, bus: MemoryBus, wall: WallClock
) -> None:
    metering = Metering(store.db["usage"], bus, now=wall, writer="w1")
    for status, throttled in [(200, False), (500, False), (429, True)]:
        metering.record(KEY, route(id="orders"), status, throttled=throttled)
    metering.record(USER_WITH_KEY, route(id="orders"), 200)
    metering.record(Identity(), route(id="orders"), 200)  # anonymous: nobody to bill
    metering.record(Identity(kind="jwt", subject="u2"), route(id="orders"), 200)
    wall.advance(seconds=30)  # midnight: a new day slot
    metering.record(KEY, route(id="orders"), 200)

    assert await metering.flush() == 3
    docs = await store.db["usage"].find().to_list(10)
    assert usage_docs(docs) == {
        "0123456789ab|orders|2024-05-01|w1": (3, 1, 2),
        "0123456789ab|orders|2024-05-02|w1": (1, 0, 1),
        "ba9876543210|orders|2024-05-01|w1": (1, 0, 1),
    }
    first = next(d for d in docs if d["day"] == "2024-05-01" and d["key_id"] == KEY.key_id)
    assert (first["route_id"], first["day"]) == ("orders", "2024-05-01")

    records = bus.records(USAGE_REPORTED.topic)
    assert len(records) == 3
    reports = [UsageReported.model_validate(json.loads(r.value)) for r in records]
    by_day = {(r.key_id, r.day): r for r in reports}
    report = by_day[(KEY.key_id or "", date(2024, 5, 1))]
    assert (report.requests, report.throttled, report.quota_used) == (3, 1, 2)
    assert report.interval_end == wall.now
    assert all(r.key == r_.key_id.encode() for r, r_ in zip(records, reports, strict=True))
    assert {r.header("ce_type") for r in records} == {b"gateway.usage.v1"}

    metering.record(KEY, route(id="orders"), 200)
    assert await metering.flush() == 1  # the day's cumulative count, stored again
    doc = await store.db["usage"].find_one({"_id": "0123456789ab|orders|2024-05-02|w1"})
    assert doc is not None
    assert doc["requests"] == 2
    assert await metering.flush() == 0  # nothing new: nothing written, nothing published
    assert len(bus.records(USAGE_REPORTED.topic)) == 4


async def test_stop_flushes_and_syncs_quotas(store: Store, wall: WallClock) -> None:
    quotas = Quotas(store.db["quota_usage"], now=wall, writer="w1")
    metering = Metering(
        store.db["usage"], None, flush_seconds=3600, quotas=quotas, now=wall, writer="w1"
    )
    await metering.start()
    await quotas.reserve("0123456789ab", {"month": 10})
    metering.record(KEY, route(id="r"), 200)
    await metering.stop()
    assert await store.db["usage"].count_documents({}) == 1
    quota = await store.db["quota_usage"].find_one({"_id": "0123456789ab|month:2024-05-01|w1"})
    assert quota is not None
    assert quota["count"] == 1


class FailingOnce:
    def __init__(self, inner: Any) -> None:
        self.inner, self.failed = inner, False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def bulk_write(self, *args: Any, **kwargs: Any) -> Any:
        if not self.failed:
            self.failed = True
            raise ConnectionError("store down")
        return await self.inner.bulk_write(*args, **kwargs)


async def test_a_failed_flush_keeps_the_counts_for_the_next_one(
    store: Store, wall: WallClock
) -> None:
    registry = CollectorRegistry()
    metering = Metering(FailingOnce(store.db["usage"]), None, registry=registry, now=wall)
    metering.record(KEY, route(id="r"), 200)
    with pytest.raises(ConnectionError):
        await metering.flush()
    assert registry.get_sample_value("gateway_metering_flush_failures_total") == 1
    metering.record(KEY, route(id="r"), 200)
    assert await metering.flush() == 1
    doc = await store.db["usage"].find_one({})
    assert doc is not None
    assert doc["requests"] == 2


async def test_usage_merges_stored_totals_with_unflushed_counts(
    store: Store, wall: WallClock
) -> None:
    metering = Metering(store.db["usage"], None, now=wall)
    await store.ensure_indexes(metering.indexes())
    metering.record(KEY, route(id="a"), 200)
    await metering.flush()
    metering.record(KEY, route(id="a"), 429, throttled=True)
    metering.record(KEY, route(id="b"), 200)
    metering.record(USER_WITH_KEY, route(id="a"), 200)
    rows = await metering.usage(KEY.key_id or "", since=date(2024, 5, 1), until=date(2024, 5, 1))
    assert rows == [
        UsageRow(KEY.key_id or "", "a", date(2024, 5, 1), 2, 1, 1),
        UsageRow(KEY.key_id or "", "b", date(2024, 5, 1), 1, 0, 1),
    ]
    assert (
        await metering.usage(KEY.key_id or "", since=date(2024, 5, 2), until=date(2024, 5, 9)) == []
    )


async def test_two_processes_metering_one_key_store_exact_totals(
    store: Store, wall: WallClock
) -> None:
    one = Metering(store.db["usage"], None, now=wall, writer="one")
    two = Metering(store.db["usage"], None, now=wall, writer="two")
    for _ in range(50):
        one.record(KEY, route(id="a"), 200)
        two.record(KEY, route(id="a"), 200)
        await asyncio.gather(one.flush(), two.flush())  # flushes race on every round
    two.record(KEY, route(id="a"), 429, throttled=True)
    day = date(2024, 5, 1)
    rows = await one.usage(KEY.key_id or "", since=day, until=day)
    assert rows == [UsageRow(KEY.key_id or "", "a", day, 100, 0, 100)]  # two's 429 is unstored
    assert (await two.usage(KEY.key_id or "", since=day, until=day))[0].requests == 101
