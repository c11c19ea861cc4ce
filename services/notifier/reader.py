"""Read whole topics on every replica: manual partition assignment, from the earliest retained
offset, no consumer group (nothing to join, nothing committed). The notifier rebuilds its
history and presence from them at start and then follows them.

`KafkaLogReader` on Kafka; `MemoryLogReader` over a `MemoryBus` for unit tests.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Sequence
from typing import Protocol

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.partitioner import murmur2

from shared.bus.base import Record
from shared.bus.memory import MemoryBus
from shared.settings import PlatformSettings

Bounds = dict[tuple[str, int], tuple[int, int]]  # (topic, partition) -> (start, end)


class LogReader(Protocol):
    async def start(self) -> Bounds: ...
    async def stop(self) -> None: ...
    async def fetch(self, timeout_ms: int) -> Sequence[Record]: ...
    def partition_for(self, topic: str, key: bytes) -> int: ...


class KafkaLogReader:
    def __init__(self, platform: PlatformSettings, topics: Sequence[str], client_id: str) -> None:
        self.topics = list(topics)
        self._counts: dict[str, int] = {}
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=platform.kafka_bootstrap_servers,
            client_id=client_id,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=100,
        )

    async def start(self) -> Bounds:
        await self._consumer.start()
        partitions: list[TopicPartition] = []
        for topic in self.topics:
            found = self._consumer.partitions_for_topic(topic)
            for _ in range(50):  # metadata may lag a just-created topic
                if found:
                    break
                await self._consumer._client.force_metadata_update()
                found = self._consumer.partitions_for_topic(topic)
                if not found:
                    await asyncio.sleep(0.1)
            if not found:
                raise RuntimeError(f"topic {topic} has no partitions")
            self._counts[topic] = len(found)
            partitions.extend(TopicPartition(topic, p) for p in sorted(found))
        self._consumer.assign(partitions)
        starts = await self._consumer.beginning_offsets(partitions)
        ends = await self._consumer.end_offsets(partitions)
        for tp in partitions:
            self._consumer.seek(tp, starts[tp])
        return {(tp.topic, tp.partition): (starts[tp], ends[tp]) for tp in partitions}

    async def stop(self) -> None:
        await self._consumer.stop()

    async def fetch(self, timeout_ms: int) -> Sequence[Record]:
        batches = await self._consumer.getmany(timeout_ms=timeout_ms, max_records=2000)
        return [
            Record(
                r.topic, r.partition, r.offset, r.key, r.value or b"", tuple(r.headers), r.timestamp
            )
            for _, records in batches.items()
            for r in records
        ]

    def partition_for(self, topic: str, key: bytes) -> int:
        # aiokafka's DefaultPartitioner, which the bus's producer uses.
        index: int = murmur2(key) & 0x7FFFFFFF
        return index % self._counts[topic]


class MemoryLogReader:
    def __init__(self, bus: MemoryBus, topics: Sequence[str]) -> None:
        self.bus, self.topics = bus, list(topics)
        self.positions: dict[tuple[str, int], int] = {}

    async def start(self) -> Bounds:
        await self.bus.ensure_topics(self.topics)
        bounds: Bounds = {}
        for topic in self.topics:
            for partition, log in enumerate(self.bus.logs[topic]):
                self.positions[(topic, partition)] = 0
                bounds[(topic, partition)] = (0, len(log))
        return bounds

    async def stop(self) -> None:
        self.positions.clear()

    async def fetch(self, timeout_ms: int) -> Sequence[Record]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_ms / 1000
        while True:
            batch: list[Record] = []
            for (topic, partition), position in self.positions.items():
                records = self.bus.logs[topic][partition][position:]
                batch.extend(records)
                self.positions[(topic, partition)] = position + len(records)
            remaining = deadline - loop.time()
            if batch or remaining <= 0:
                return batch
            try:
                async with asyncio.timeout(remaining):
                    await self.bus._appended.wait()
            except TimeoutError:
                return []

    def partition_for(self, topic: str, key: bytes) -> int:
        return zlib.crc32(key) % len(self.bus.logs[topic])
