"""The Kafka bus and consumer runtime against a real broker (Kafka).

Each test joins as few groups as it can (a join costs a rebalance) and reads dead
letters with a group-less consumer (manual assignment, no join).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from shared.bus.base import Record
from shared.bus.kafka import KafkaBus
from shared.consumer import EventConsumer, IdempotencyGuard, RetryPolicy
from shared.consumer.redrive import redrive
from shared.events.envelope import CloudEvent
from shared.settings import PlatformSettings
from shared.store import Store
from tests.bus_support import Recorder, catalog_with, parcel, parcel_spec

pytestmark = pytest.mark.integration

FAST_GROUP = {"session_timeout_ms": 6_000, "heartbeat_interval_ms": 200}


@pytest.fixture
async def bus(kafka_env: str) -> AsyncIterator[KafkaBus]:
    kafka = KafkaBus(PlatformSettings(), client_id="test", consumer_options=FAST_GROUP)
    await kafka.start()
    yield kafka
    await kafka.stop()


async def read_all(bootstrap: str, topic: str, count: int, timeout: float = 15) -> list[Any]:
    """Read `count` records of `topic` without joining a group (no rebalance wait)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        partitions = await consumer._client.fetch_all_metadata()
        consumer.assign(
            [TopicPartition(topic, p) for p in partitions.partitions_for_topic(topic) or ()]
        )
        records: list[Any] = []
        async with asyncio.timeout(timeout):
            while len(records) < count:
                for batch in (await consumer.getmany(timeout_ms=200)).values():
                    records.extend(batch)
        return records
    finally:
        await consumer.stop()


async def test_round_trip_keeps_ce_headers_and_continues_the_trace(
    bus: KafkaBus, unique: str
) -> None:
    spec = parcel_spec(f"parcels-{unique}")
    await bus.ensure_topics([spec.topic])
    await bus.ensure_topics([spec.topic])  # idempotent: "already exists" is fine
    assert await bus.ping()
    tracer = TracerProvider().get_tracer("test")  # private provider: the request's span
    event = parcel(spec, 1)
    with tracer.start_as_current_span("POST /parcels") as request:
        delivery = await bus.publish(spec, event)
    trace_id = request.get_span_context().trace_id
    seen_trace_ids: list[int] = []

    async def handler(got: CloudEvent[Any], record: Record) -> None:
        seen_trace_ids.append(trace.get_current_span().get_span_context().trace_id)
        await recorder(got, record)

    recorder = Recorder()
    runner = EventConsumer(
        bus,
        topics=[spec.topic],
        group_id=f"g-{unique}",
        handler=handler,
        catalog=catalog_with(spec),
    )
    await runner.start()
    await recorder.wait_for(1, timeout=30)
    await runner.stop()
    (record,) = recorder.records
    assert (record.partition, record.offset) == (delivery.partition, delivery.offset)
    assert recorder.events[0] == event
    assert record.key == b"p1"
    assert record.header("ce_id") == event.id.encode()
    assert record.header("ce_type") == b"test.parcel.weighed.v1"
    assert record.header("ce_specversion") == b"1.0"
    traceparent = (record.header("traceparent") or b"").decode()
    assert traceparent.split("-")[1] == f"{trace_id:032x}"
    assert seen_trace_ids == [trace_id]
    assert runner.stats().processed == 1


async def test_a_second_member_joining_rebalances_without_losing_an_event(
    bus: KafkaBus, unique: str, store: Store
) -> None:
    spec = parcel_spec(f"parcels-{unique}")
    catalog, group = catalog_with(spec), f"g-{unique}"
    guard = IdempotencyGuard.for_store(store, "processed", ttl_seconds=3600)
    first_seen, second_seen = Recorder(), Recorder()
    first = EventConsumer(
        bus, topics=[spec.topic], group_id=group, handler=first_seen, catalog=catalog, guard=guard
    )
    second = EventConsumer(
        bus, topics=[spec.topic], group_id=group, handler=second_seen, catalog=catalog, guard=guard
    )
    published: list[str] = []

    async def publish(count: int) -> None:
        events = [parcel(spec, len(published) + n) for n in range(count)]
        published.extend(e.id for e in events)
        await asyncio.gather(*(bus.publish(spec, e) for e in events))

    await first.start()
    await publish(30)
    await first_seen.wait_for(10, timeout=30)
    await second.start()
    try:
        # Keep publishing while the group rebalances, until the new member has work.
        async with asyncio.timeout(30):
            while len(second_seen.events) < 5:
                await publish(5)
                await asyncio.sleep(0.05)
        handled_before = len(first_seen.events)
        await publish(20)
        await asyncio.wait_for(
            _until(lambda: len(set(first_seen.ids()) | set(second_seen.ids())) == len(published)),
            30,
        )
    finally:
        await first.stop()
        await second.stop()
    handled = first_seen.ids() + second_seen.ids()
    assert sorted(set(handled)) == sorted(published)  # none lost
    assert len(handled) == len(published)  # none twice (the guard skips redeliveries)
    assert len(first_seen.events) > handled_before or len(second_seen.events) > 5


async def _until(condition: Any) -> None:
    while not condition():
        await asyncio.sleep(0.02)


async def test_retries_then_dead_letter_then_redrive_handles_it(
    bus: KafkaBus, kafka_env: str, unique: str
) -> None:
    spec = parcel_spec(f"parcels-{unique}")
    healthy = asyncio.Event()
    attempts: list[str] = []
    recorder = Recorder()

    async def handler(event: CloudEvent[Any], record: Record) -> None:
        attempts.append(event.id)
        if not healthy.is_set():
            raise ConnectionError("downstream unavailable")
        await recorder(event, record)

    runner = EventConsumer(
        bus,
        topics=[spec.topic],
        group_id=f"g-{unique}",
        handler=handler,
        catalog=catalog_with(spec),
        retry=RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05),
    )
    await runner.start()
    try:
        event = parcel(spec, 7)
        delivery = await bus.publish(spec, event)
        (letter,) = await read_all(kafka_env, f"{spec.topic}.dlq", 1, timeout=30)
        headers = {k: v for k, v in letter.headers}
        assert letter.value == event.data.model_dump_json().encode()
        assert letter.key == b"p7"
        assert headers["ce_id"] == event.id.encode()
        assert "traceparent" not in headers or headers["traceparent"].startswith(b"00-")
        assert headers["dlq_error"] == b"ConnectionError: downstream unavailable"
        assert headers["dlq_original_topic"] == spec.topic.encode()
        assert headers["dlq_original_partition"] == str(delivery.partition).encode()
        assert headers["dlq_original_offset"] == str(delivery.offset).encode()
        assert headers["dlq_attempts"] == b"3"
        assert attempts == [event.id] * 3
        # The letter is readable once acknowledged; the runtime counts it when it resumes.
        await asyncio.wait_for(_until(lambda: runner.stats().dead_lettered == 1), 10)
        assert runner.stats().dead_lettered == 1
        assert runner.stats().retried == 2

        healthy.set()  # the fix is deployed: put the dead letter back
        summary = await redrive(bus, f"{spec.topic}.dlq", group=f"redrive-{unique}")
        assert dict(summary.moved) == {spec.topic: 1}
        await recorder.wait_for(1, timeout=30)
        (redriven,) = recorder.records
        assert recorder.ids() == [event.id]
        assert not any(name.startswith("dlq_") for name, _ in redriven.headers)
        assert redriven.header("ce_id") == event.id.encode()
        again = await redrive(bus, f"{spec.topic}.dlq", group=f"redrive-{unique}", idle_seconds=15)
        assert again.total == 0  # committed as it went: nothing moves twice
    finally:
        await runner.stop()


async def test_redelivery_of_a_processed_event_is_a_no_op(
    bus: KafkaBus, unique: str, store: Store
) -> None:
    spec = parcel_spec(f"parcels-{unique}")
    guard = IdempotencyGuard.for_store(store, "processed", ttl_seconds=3600)
    recorder = Recorder()
    runner = EventConsumer(
        bus,
        topics=[spec.topic],
        group_id=f"g-{unique}",
        handler=recorder,
        catalog=catalog_with(spec),
        guard=guard,
    )
    await runner.start()
    try:
        event = parcel(spec, 1)
        await bus.publish(spec, event)
        await recorder.wait_for(1, timeout=30)
        await bus.publish(spec, event)  # delivered again (e.g. a producer retry)
        later = parcel(spec, 2, key="p1")  # same partition, after the duplicate
        await bus.publish(spec, later)
        await recorder.wait_for(2, timeout=30)
    finally:
        await runner.stop()
    assert recorder.ids() == [event.id, later.id]
    assert runner.stats().duplicates_skipped == 1


async def test_enqueued_publishes_keep_their_order_and_resolve_on_acknowledgement(
    bus: KafkaBus, unique: str
) -> None:
    spec = parcel_spec(f"enqueued-{unique}")
    await bus.ensure_topics([spec.topic])
    events = [parcel(spec, n, key="same-key") for n in range(50)]
    acks = [await bus.enqueue(spec, event) for event in events]
    deliveries = await asyncio.gather(*acks)
    offsets = [d.offset for d in deliveries]
    assert offsets == sorted(offsets)
    assert len(set(offsets)) == 50
    assert {d.partition for d in deliveries} == {deliveries[0].partition}
    records = await read_all(bus.bootstrap, spec.topic, 50)
    by_offset = {r.offset: r for r in records}
    ids = [dict(by_offset[d.offset].headers)["ce_id"] for d in deliveries]
    assert ids == [event.id.encode() for event in events]
