"""Read the whole zone log on every replica: every partition assigned by hand, from the earliest
offset, no consumer group (nothing to join or commit). `KafkaLogReader` on Kafka,
`MemoryLogReader` over a `MemoryBus` for unit tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from shared.bus.base import Record
from shared.bus.memory import MemoryBus
from shared.settings import PlatformSettings

# The log is the state: keep it all, never compact it by key (see the contract's docstring).
TOPIC_CONFIG = {"retention.ms": "-1", "cleanup.policy": "delete"}
TOPIC_EXISTS = 36


class LogReader(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def fetch(self, timeout_ms: int) -> Sequence[Record]: ...
    async def end_offsets(self) -> dict[int, int]: ...


async def create_log_topic(platform: PlatformSettings, topic: str, client_id: str) -> None:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=platform.kafka_bootstrap_servers, client_id=client_id
    )
    await admin.start()
    try:
        new = NewTopic(
            topic,
            platform.kafka_topic_partitions,
            platform.kafka_replication_factor,
            topic_configs=TOPIC_CONFIG,
        )
        response = await admin.create_topics([new])
    finally:
        await admin.close()
    for error in response.topic_errors:
        if error[1] not in (0, TOPIC_EXISTS):
            raise RuntimeError(f"cannot create topic {topic}: error code {error[1]}")


class KafkaLogReader:
    def __init__(self, platform: PlatformSettings, topic: str, client_id: str) -> None:
        self.topic = topic
        self._partitions: list[TopicPartition] = []
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=platform.kafka_bootstrap_servers,
            client_id=client_id,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=50,
        )

    async def start(self) -> None:
        await self._consumer.start()
        found = self._consumer.partitions_for_topic(self.topic)
        for _ in range(50):  # metadata may lag a just-created topic
            if found:
                break
            await self._consumer._client.force_metadata_update()
            found = self._consumer.partitions_for_topic(self.topic)
            if not found:
                await asyncio.sleep(0.1)
        if not found:
            await self._consumer.stop()
            raise RuntimeError(f"topic {self.topic} has no partitions")
        self._partitions = [TopicPartition(self.topic, p) for p in sorted(found)]
        self._consumer.assign(self._partitions)
        await self._consumer.seek_to_beginning(*self._partitions)

    async def stop(self) -> None:
        await self._consumer.stop()

    async def fetch(self, timeout_ms: int) -> Sequence[Record]:
        batches = await self._consumer.getmany(timeout_ms=timeout_ms, max_records=5000)
        return [
            Record(
                r.topic, r.partition, r.offset, r.key, r.value or b"", tuple(r.headers), r.timestamp
            )
            for _, records in sorted(batches.items())
            for r in records
        ]

    async def end_offsets(self) -> dict[int, int]:
        ends = await self._consumer.end_offsets(self._partitions)
        return {tp.partition: offset for tp, offset in ends.items()}


class MemoryLogReader:
    def __init__(self, bus: MemoryBus, topic: str) -> None:
        self.bus, self.topic = bus, topic
        self.positions: dict[int, int] = {}

    async def start(self) -> None:
        await self.bus.ensure_topics([self.topic])
        self.positions = {p: 0 for p in range(len(self.bus.logs[self.topic]))}

    async def stop(self) -> None:
        self.positions.clear()

    async def fetch(self, timeout_ms: int) -> Sequence[Record]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_ms / 1000
        while True:
            batch: list[Record] = []
            for partition, position in self.positions.items():
                records = self.bus.logs[self.topic][partition][position:]
                batch.extend(records)
                self.positions[partition] = position + len(records)
            remaining = deadline - loop.time()
            if batch or remaining <= 0:
                return batch
            try:
                async with asyncio.timeout(remaining):
                    await self.bus._appended.wait()
            except TimeoutError:
                return []

    async def end_offsets(self) -> dict[int, int]:
        return {p: len(log) for p, log in enumerate(self.bus.logs[self.topic])}
