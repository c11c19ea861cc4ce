"""Quotas per UTC day / ISO week / month: limits, rollover at the boundary, persistence."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest

from services.gateway.limits.quotas import QuotaExceededError, Quotas, period_bounds
from shared.store import Store
from tests.unit.gateway.g2_support import WallClock, utc

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("period", "now", "start", "end"),
    [
        ("day", utc(2024, 5, 1, 23, 59, 59), utc(2024, 5, 1), utc(2024, 5, 2)),
        ("week", utc(2024, 5, 1, 12), utc(2024, 4, 29), utc(2024, 5, 6)),  # Wed -> Mon
        ("week", utc(2024, 4, 29), utc(2024, 4, 29), utc(2024, 5, 6)),
        ("month", utc(2024, 2, 29, 8), utc(2024, 2, 1), utc(2024, 3, 1)),
        ("month", utc(2024, 12, 31, 23), utc(2024, 12, 1), utc(2025, 1, 1)),
    ],
)
def test_periods_are_utc_calendar_periods(
    period: str, now: datetime, start: datetime, end: datetime
) -> None:
    assert period_bounds(period, now) == (start, end)


async def test_the_day_quota_refuses_until_midnight_then_resets() -> None:
    wall = WallClock(utc(2024, 5, 1, 23, 0))
    quotas = Quotas(now=wall)
    for _ in range(3):
        await quotas.reserve("k", {"day": 3})
    with pytest.raises(QuotaExceededError) as caught:
        await quotas.reserve("k", {"day": 3})
    assert caught.value.retry_after == 3600
    assert caught.value.state.period == "day"
    wall.advance(hours=1)  # 2024-05-02T00:00Z
    reservation = await quotas.reserve("k", {"day": 3})
    assert [state.used for state in reservation.states] == [1]


async def test_the_week_quota_survives_the_day_boundary_and_resets_on_monday() -> None:
    wall = WallClock(utc(2024, 5, 4, 23, 59))  # a Saturday
    quotas = Quotas(now=wall)
    limits = {"day": 10, "week": 2}
    await quotas.reserve("k", limits)
    wall.advance(minutes=1)  # Sunday: a new day, the same week
    await quotas.reserve("k", limits)
    with pytest.raises(QuotaExceededError) as caught:
        await quotas.reserve("k", limits)
    assert caught.value.state.period == "week"
    assert caught.value.retry_after == 24 * 3600
    wall.advance(days=1)  # Monday
    await quotas.reserve("k", limits)


async def test_a_refused_reservation_counts_nothing_and_a_refund_gives_back() -> None:
    quotas = Quotas(now=WallClock(utc(2024, 5, 1, 12)))
    limits = {"day": 5, "month": 1}
    reservation = await quotas.reserve("k", limits)
    with pytest.raises(QuotaExceededError):
        await quotas.reserve("k", limits)  # the month says no: the day must not count it
    assert [s.used for s in await quotas.current("k", limits)] == [1, 1]
    quotas.refund(reservation)
    assert [s.used for s in await quotas.current("k", limits)] == [0, 0]
    await quotas.reserve("other", limits)  # keys are independent


async def stored_total(store: Store, period_doc: str) -> int:
    docs = await store.db["quota_usage"].find({"key": period_doc}).to_list(100)
    return sum(int(doc["count"]) for doc in docs)


async def test_counts_persist_and_are_shared_by_processes_at_each_sync(store: Store) -> None:
    wall = WallClock(utc(2024, 5, 1, 12))
    one = Quotas(store.db["quota_usage"], now=wall, writer="one")
    two = Quotas(store.db["quota_usage"], now=wall, writer="two")
    # (No TTL index here: the sweep would expire these 2024 documents at once.)
    assert list(one.indexes()) == ["quota_usage"]
    for _ in range(3):
        await one.reserve("k", {"day": 5})
    await one.sync()
    doc = await store.db["quota_usage"].find_one({"_id": "k|day:2024-05-01|one"})
    assert doc is not None
    assert doc["count"] == 3
    assert doc["key_id"] == "k"
    assert await stored_total(store, "k|day:2024-05-01") == 3

    await two.reserve("k", {"day": 5})  # loads 3 from the store, counts a 4th
    await two.sync()
    await one.reserve("k", {"day": 5})  # one still believes 3 + 1
    await one.sync()  # ...and learns the other's count here
    assert [s.used for s in await one.current("k", {"day": 5})] == [5]
    with pytest.raises(QuotaExceededError):
        await one.reserve("k", {"day": 5})
    await one.sync()
    assert await stored_total(store, "k|day:2024-05-01") == 5
    restarted = Quotas(store.db["quota_usage"], now=wall, writer="three")
    with pytest.raises(QuotaExceededError):  # a new process reads every writer's count
        await restarted.reserve("k", {"day": 5})


async def test_two_processes_syncing_at_once_store_an_exact_total(store: Store) -> None:
    wall = WallClock(utc(2024, 5, 1, 12))
    one = Quotas(store.db["quota_usage"], now=wall, writer="one")
    two = Quotas(store.db["quota_usage"], now=wall, writer="two")
    for _ in range(40):
        await one.reserve("k", {"day": 1000})
        await two.reserve("k", {"day": 1000})
        await asyncio.gather(one.sync(), two.sync())  # syncs race on every round
    assert await stored_total(store, "k|day:2024-05-01") == 80
    await one.sync()  # a view is at most one sync behind the other process
    assert [s.used for s in await one.current("k", {"day": 1000})] == [80]


async def test_finished_periods_are_dropped_and_evicted_counts_still_persist(
    store: Store,
) -> None:
    wall = WallClock(utc(2024, 5, 1, 12))
    quotas = Quotas(store.db["quota_usage"], now=wall, max_keys=1, writer="w")  # 3 counters
    for key in ("a", "b", "c", "d"):
        await quotas.reserve(key, {"day": 5})
    assert len(quotas._counters) == 3
    await quotas.sync()
    stored = {doc["_id"]: doc["count"] for doc in await store.db["quota_usage"].find().to_list(10)}
    assert stored == {f"{key}|day:2024-05-01|w": 1 for key in "abcd"}
    wall.advance(days=1)
    await quotas.sync()
    assert len(quotas._counters) == 0
