"""The whole-log reader against a real broker (Kafka): every replica reads every partition of
every topic from the start without a consumer group, then follows new records."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from shared.bus.base import Record
from shared.bus.kafka import KafkaBus
from shared.bus.logreader import KafkaLogReader, create_log_topic
from shared.settings import PlatformSettings

pytestmark = pytest.mark.integration


@pytest.fixture
async def bus(kafka_env: str) -> AsyncIterator[KafkaBus]:
    kafka = KafkaBus(PlatformSettings(), client_id="test-logreader")
    await kafka.start()
    yield kafka
    await kafka.stop()


async def read(reader: KafkaLogReader, count: int, timeout: float = 15) -> list[Record]:
    records: list[Record] = []
    async with asyncio.timeout(timeout):
        while len(records) < count:
            records.extend(await reader.fetch(200))
    return records


async def test_every_replica_reads_the_whole_log_then_follows_it(
    bus: KafkaBus, unique: str
) -> None:
    platform = PlatformSettings()
    topics = [f"log-a-{unique}", f"log-b-{unique}"]
    for topic in topics:
        await create_log_topic(platform, topic, "test-logreader")
        await create_log_topic(platform, topic, "test-logreader")  # exists: not an error
    sent = {}
    for n in range(12):
        topic, key = topics[n % 2], f"k{n}".encode()
        delivery = await bus.publish_raw(topic, f"v{n}".encode(), key=key, headers=())
        sent[(topic, key)] = delivery.partition
    replicas = [KafkaLogReader(platform, topics, f"test-logreader-{i}") for i in range(2)]
    try:
        for reader in replicas:
            bounds = await reader.start()
            assert {where[0] for where in bounds} == set(topics)
            assert sum(end - start for start, end in bounds.values()) == 12
            records = await read(reader, 12)
            assert sorted(r.value for r in records) == sorted(f"v{n}".encode() for n in range(12))
            for (topic, key), partition in sent.items():
                assert reader.partition_for(topic, key) == partition  # same as the producer
        await bus.publish_raw(topics[0], b"later", key=b"k0", headers=())
        for reader in replicas:
            assert [r.value for r in await read(reader, 1)] == [b"later"]
            ends = await reader.end_offsets()
            assert sum(ends.values()) == 13
    finally:
        for reader in replicas:
            await reader.stop()
