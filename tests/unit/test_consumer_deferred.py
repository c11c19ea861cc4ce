"""Deferred publish acknowledgements: a record counts as done (idempotency mark, commit) only
once every publish its handler deferred is acknowledged; a failed acknowledgement sends the
partition back to that record."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka.errors import KafkaTimeoutError

from shared.bus.base import Delivery, Record
from shared.bus.memory import MemoryBus
from shared.consumer import EventConsumer, IdempotencyGuard, RetryPolicy
from shared.consumer.deferred import publish_deferred
from shared.events.catalog import EventSpec
from shared.events.envelope import CloudEvent
from shared.store import Store
from tests.bus_support import FakeSleep, Parcel, catalog_with, parcel, parcel_spec

pytestmark = pytest.mark.unit

SPEC = parcel_spec("parcels")
COPY = parcel_spec("copies")
CATALOG = catalog_with(SPEC)  # only `parcels` is consumed


class HeldAcks(MemoryBus):
    """`enqueue` writes the record at once but holds its acknowledgement for the test."""

    def __init__(self) -> None:
        super().__init__(partitions=1)
        self.acks: list[asyncio.Future[Delivery]] = []
        self.enqueued = asyncio.Condition()

    async def enqueue(
        self, spec: EventSpec[Any], event: CloudEvent[Any]
    ) -> asyncio.Future[Delivery]:
        await self.publish(spec, event)
        ack: asyncio.Future[Delivery] = asyncio.get_running_loop().create_future()
        async with self.enqueued:
            self.acks.append(ack)
            self.enqueued.notify_all()
        return ack

    async def wait_enqueued(self, count: int) -> None:
        async with asyncio.timeout(5), self.enqueued:
            await self.enqueued.wait_for(lambda: len(self.acks) >= count)


@pytest.fixture
async def bus() -> AsyncIterator[HeldAcks]:
    held = HeldAcks()
    await held.start()
    yield held
    await held.stop()


class Copier:
    """Republishes each parcel with deferred acknowledgement; parcels named `plain-*` are
    handled without publishing anything."""

    def __init__(self, bus: MemoryBus) -> None:
        self.bus = bus
        self.seen: list[str] = []

    async def __call__(self, event: CloudEvent[Any], record: Record) -> None:
        self.seen.append(event.data.parcel_id)
        if not event.data.parcel_id.startswith("plain"):
            copy = COPY.new(Parcel(parcel_id=event.data.parcel_id, weight_grams=1), source="t")
            await publish_deferred(self.bus, COPY, copy)


def consumer(bus: MemoryBus, handler: Any, **options: Any) -> EventConsumer:
    return EventConsumer(
        bus,
        topics=["parcels"],
        group_id="g",
        handler=handler,
        catalog=CATALOG,
        retry=RetryPolicy(max_attempts=3, base_delay=0.1, max_delay=1.0),
        sleep=FakeSleep(),
        **options,
    )


async def publish(bus: MemoryBus, *names: str) -> None:
    for n, name in enumerate(names):
        await bus.publish(SPEC, parcel(SPEC, n, key=name))


async def wait_until(condition: Any) -> None:
    async with asyncio.timeout(5):
        while not condition():
            await asyncio.sleep(0)


async def test_nothing_is_committed_or_marked_before_the_acknowledgements(
    bus: HeldAcks, store: Store
) -> None:
    await publish(bus, "a", "b", "plain-c")
    guard = IdempotencyGuard.for_store(store, "processed", ttl_seconds=3600)
    copier = Copier(bus)
    runner = consumer(bus, copier, guard=guard)
    await runner.start()
    await bus.wait_enqueued(2)
    await wait_until(lambda: len(copier.seen) == 3)
    # the plain one, which deferred nothing, is done once its idempotency mark is stored
    await wait_until(lambda: runner.stats().processed == 1)
    # All three handled, two acknowledgements out: the batch is not done.
    assert bus.committed("g") == {}
    assert runner.stats().processed == 1
    first, second = bus.acks
    first.set_result(Delivery("copies", 0, 0))
    second.set_result(Delivery("copies", 0, 1))
    await wait_until(lambda: bus.committed("g") == {("parcels", 0): 3})
    await runner.stop()
    assert runner.stats().processed == 3
    ids = [r.header("ce_id") for r in bus.records("parcels")]
    assert all([await guard.seen(f"g:{i.decode()}") for i in ids if i is not None])
    assert [r.key for r in bus.records("copies")] == [b"a", b"b"]  # in handling order


async def test_a_failed_acknowledgement_sends_the_partition_back_to_that_record(
    bus: HeldAcks, store: Store
) -> None:
    await publish(bus, "a", "b", "c", "plain-d")
    guard = IdempotencyGuard.for_store(store, "processed", ttl_seconds=3600)
    copier = Copier(bus)
    runner = consumer(bus, copier, guard=guard)
    await runner.start()
    await bus.wait_enqueued(3)
    a, b, c = bus.acks
    a.set_result(Delivery("copies", 0, 0))
    b.set_exception(KafkaTimeoutError("no acknowledgement"))
    c.set_result(Delivery("copies", 0, 2))
    # a is finished; b failed, so b and everything after it comes again (c's copy twice:
    # at least once, never lost).
    await bus.wait_enqueued(5)
    assert bus.committed("g") == {("parcels", 0): 1}
    for ack in bus.acks[3:]:
        ack.set_result(Delivery("copies", 0, 9))
    await wait_until(lambda: bus.committed("g") == {("parcels", 0): 4})
    await runner.stop()
    assert copier.seen == ["a", "b", "c", "plain-d", "b", "c"]  # plain-d marked: not again
    assert [r.key for r in bus.records("copies")] == [b"a", b"b", b"c", b"b", b"c"]
    assert runner.stats().processed == 4


async def test_stop_waits_for_the_acknowledgements_then_commits(bus: HeldAcks) -> None:
    await publish(bus, "a")
    runner = consumer(bus, Copier(bus))
    await runner.start()
    await bus.wait_enqueued(1)
    stopping = asyncio.create_task(runner.stop())
    await asyncio.sleep(0)
    assert not stopping.done()
    bus.acks[0].set_result(Delivery("copies", 0, 0))
    await asyncio.wait_for(stopping, 5)
    assert bus.committed("g") == {("parcels", 0): 1}


async def test_outside_a_consumer_it_is_a_plain_publish() -> None:
    bus = MemoryBus()
    await bus.start()
    await publish_deferred(bus, COPY, COPY.new(Parcel(parcel_id="x", weight_grams=1), source="t"))
    assert [r.key for r in bus.records("copies")] == [b"x"]
