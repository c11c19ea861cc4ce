from __future__ import annotations

import asyncio
from collections.abc import Collection

import pytest

from shared.bus.base import CommitFailedError, TopicPartition
from shared.bus.memory import MemoryBus
from tests.bus_support import parcel, parcel_spec

pytestmark = pytest.mark.unit

SPEC = parcel_spec("parcels")


async def test_one_key_always_lands_on_one_partition_in_publish_order() -> None:
    bus = MemoryBus(partitions=4)
    deliveries = [await bus.publish(SPEC, parcel(SPEC, n, key="same")) for n in range(5)]
    assert {d.partition for d in deliveries} == {deliveries[0].partition}
    assert [d.offset for d in deliveries] == [0, 1, 2, 3, 4]
    spread = {(await bus.publish(SPEC, parcel(SPEC, n))).partition for n in range(40)}
    assert len(spread) > 1


async def test_published_records_carry_the_ce_headers_and_key() -> None:
    bus = MemoryBus()
    event = parcel(SPEC, 1)
    delivery = await bus.publish(SPEC, event)
    (record,) = bus.records("parcels")
    assert (record.partition, record.offset) == (delivery.partition, delivery.offset)
    assert record.key == b"p1"
    assert record.header("ce_id") == event.id.encode()


async def test_members_of_a_group_split_the_partitions_and_see_each_record_once() -> None:
    bus = MemoryBus(partitions=4)
    for n in range(20):
        await bus.publish(SPEC, parcel(SPEC, n))
    first, second = bus.source(["parcels"], "g"), bus.source(["parcels"], "g")
    await first.start()
    await second.start()
    seen = [*await first.fetch(10, 100), *await second.fetch(10, 100)]
    assert sorted(r.value for r in seen) == sorted(r.value for r in bus.records("parcels"))
    assert set(first.lag()).isdisjoint(second.lag())
    assert len(first.lag()) == len(second.lag()) == 2


async def test_after_a_member_stops_the_group_resumes_from_the_last_commit() -> None:
    bus = MemoryBus(partitions=1)
    for n in range(5):
        await bus.publish(SPEC, parcel(SPEC, n))
    first = bus.source(["parcels"], "g")
    await first.start()
    fetched = await first.fetch(10, 100)
    assert [r.offset for r in fetched] == [0, 1, 2, 3, 4]
    await first.commit({("parcels", 0): 2})  # handled two, then "crashed"
    await first.stop()
    second = bus.source(["parcels"], "g")
    await second.start()
    assert [r.offset for r in await second.fetch(10, 100)] == [2, 3, 4]
    assert bus.committed("g") == {("parcels", 0): 2}
    other_group = bus.source(["parcels"], "other")
    await other_group.start()
    assert len(await other_group.fetch(10, 100)) == 5


async def test_a_join_awaits_the_revoke_hook_of_current_members() -> None:
    bus = MemoryBus(partitions=2)
    revoked: list[set[TopicPartition]] = []

    async def on_revoke(partitions: Collection[TopicPartition]) -> None:
        revoked.append(set(partitions))

    first = bus.source(["parcels"], "g", on_revoke=on_revoke)
    await first.start()
    assert revoked == []
    await bus.source(["parcels"], "g").start()
    assert revoked == [{("parcels", 0), ("parcels", 1)}]
    assert set(first.lag()) == {("parcels", 0)}


async def test_commit_for_a_partition_no_longer_owned_fails() -> None:
    bus = MemoryBus(partitions=2)
    first = bus.source(["parcels"], "g")
    await first.start()
    await bus.source(["parcels"], "g").start()
    with pytest.raises(CommitFailedError):
        await first.commit({("parcels", 1): 1})


async def test_fetch_returns_empty_after_its_timeout_and_wakes_on_publish() -> None:
    bus = MemoryBus(partitions=1)
    source = bus.source(["parcels"], "g")
    await source.start()
    assert await source.fetch(5, 10) == []
    waiting = asyncio.create_task(source.fetch(5_000, 10))
    await asyncio.sleep(0)
    await bus.publish(SPEC, parcel(SPEC, 1))
    assert [r.offset for r in await asyncio.wait_for(waiting, 2)] == [0]


async def test_seek_and_lag() -> None:
    bus = MemoryBus(partitions=1)
    for n in range(3):
        await bus.publish(SPEC, parcel(SPEC, n))
    source = bus.source(["parcels"], "g")
    await source.start()
    assert source.lag() == {("parcels", 0): 3}
    await source.fetch(10, 100)
    assert source.lag() == {("parcels", 0): 0}
    await source.seek("parcels", 0, 1)
    assert [r.offset for r in await source.fetch(10, 100)] == [1, 2]


async def test_ping_follows_start_and_stop() -> None:
    bus = MemoryBus()
    assert not await bus.ping()
    await bus.start()
    assert await bus.ping()
    await bus.stop()
    assert not await bus.ping()
