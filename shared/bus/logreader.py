"""Read whole topics on every replica, for services whose state is a log they replay.

No consumer group on purpose: every replica must see every record of every partition (each
rebuilds the same state from the log), so partitions are assigned by hand, reading starts at
the earliest retained offset and nothing is committed. That also means no group join, which
takes seconds on some brokers, at start.

`KafkaLogReader` on Kafka; `MemoryLogReader` over a `MemoryBus` for unit tests (same API);
`create_log_topic` makes a topic whose records are kept forever.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Mapping, Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import for_code
from aiokafka.partitioner import murmur2

from shared.bus.base import Record
from shared.bus.kafka import TOPIC_ALREADY_EXISTS
from shared.bus.memory import MemoryBus
from shared.settings import PlatformSettings

Bounds = dict[tuple[str, int], tuple[int, int]]  # (topic, partition) -> (start, end)
Ends = dict[tuple[str, int], int]  # (topic, partition) -> end offset

# A log that is the state: keep it all, never compact it by key.
KEEP_FOREVER: Mapping[str, str] = {"retention.ms": "-1", "cleanup.policy": "delete"}


async def create_log_topic(
    platform: PlatformSettings,
    topic: str,
    client_id: str,
    configs: Mapping[str, str] = KEEP_FOREVER,
) -> None:
    """Create `topic` with the platform's partitions and replication and `configs`, unless it
    exists (an existing topic keeps its configs)."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=platform.kafka_bootstrap_servers, client_id=client_id
    )
    await admin.start()
    try:
        new = NewTopic(
            topic,
            platform.kafka_topic_partitions,
            platform.kafka_replication_factor,
            topic_configs=dict(configs),
        )
        response = await admin.create_topics([new])
    finally:
        await admin.close()
    for error in response.topic_errors:
        if error[1] not in (0, TOPIC_ALREADY_EXISTS):
            raise for_code(error[1])(f"creating topic {topic}")


class KafkaLogReader:
    def __init__(
        self,
        platform: PlatformSettings,
        topics: Sequence[str],
        client_id: str,
        *,
        fetch_max_wait_ms: int | None = None,
        max_records: int = 2000,
    ) -> None:
        self.topics = list(topics)
        self._max_records = max_records
        self._partitions: list[TopicPartition] = []
        self._counts: dict[str, int] = {}
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=platform.kafka_bootstrap_servers,
            client_id=client_id,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=fetch_max_wait_ms or platform.kafka_fetch_max_wait_ms,
        )

    async def start(self) -> Bounds:
        """Assign every partition of every topic from its start; the log's bounds right now."""
        await self._consumer.start()
        try:
            for topic in self.topics:
                found = await self._partitions_of(topic)
                self._counts[topic] = len(found)
                self._partitions.extend(TopicPartition(topic, p) for p in sorted(found))
            self._consumer.assign(self._partitions)
            starts = await self._consumer.beginning_offsets(self._partitions)
            ends = await self._consumer.end_offsets(self._partitions)
        except BaseException:
            await self._consumer.stop()
            raise
        for tp in self._partitions:
            self._consumer.seek(tp, starts[tp])
        return {(tp.topic, tp.partition): (starts[tp], ends[tp]) for tp in self._partitions}

    async def _partitions_of(self, topic: str) -> set[int]:
        found: set[int] | None = self._consumer.partitions_for_topic(topic)
        for _ in range(50):  # metadata may lag a just-created topic
            if found:
                return found
            await self._consumer._client.force_metadata_update()
            found = self._consumer.partitions_for_topic(topic)
            if not found:
                await asyncio.sleep(0.1)
        if found:
            return found
        raise RuntimeError(f"topic {topic} has no partitions")

    async def stop(self) -> None:
        await self._consumer.stop()

    async def fetch(self, timeout_ms: int) -> Sequence[Record]:
        """What arrived since the last fetch (in order within a partition); [] on timeout."""
        batches = await self._consumer.getmany(timeout_ms=timeout_ms, max_records=self._max_records)
        return [
            Record(
                r.topic, r.partition, r.offset, r.key, r.value or b"", tuple(r.headers), r.timestamp
            )
            for _, records in sorted(batches.items())
            for r in records
        ]

    async def end_offsets(self) -> Ends:
        ends = await self._consumer.end_offsets(self._partitions)
        return {(tp.topic, tp.partition): offset for tp, offset in ends.items()}

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
        self.positions = {
            (topic, partition): 0
            for topic in self.topics
            for partition in range(len(self.bus.logs[topic]))
        }
        return {where: (0, end) for where, end in (await self.end_offsets()).items()}

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

    async def end_offsets(self) -> Ends:
        return {
            (topic, partition): len(log)
            for topic in self.topics
            for partition, log in enumerate(self.bus.logs[topic])
        }

    def partition_for(self, topic: str, key: bytes) -> int:
        return zlib.crc32(key) % len(self.bus.logs[topic])
