"""An in-process bus with Kafka's semantics, for unit tests only.

Topics have partitions chosen by a stable hash of the key; consumer groups share committed
offsets; every membership change is an eager rebalance (each member's revoke hook is awaited,
then positions restart from the group's committed offsets), so uncommitted records are
redelivered exactly as on Kafka after a member stops or dies.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.bus.base import (
    CommitFailedError,
    Delivery,
    Headers,
    RawRecord,
    Record,
    RevokeHook,
    TopicPartition,
)
from shared.bus.codec import encode
from shared.events.catalog import EventSpec
from shared.events.envelope import CloudEvent
from shared.telemetry.kafka import producer_span


@dataclass
class _Group:
    committed: dict[TopicPartition, int] = field(default_factory=dict)
    members: list[MemoryRecordSource] = field(default_factory=list)


class MemoryBus:
    def __init__(self, partitions: int = 3) -> None:
        self.partitions = partitions
        self.logs: dict[str, list[list[Record]]] = {}
        self.groups: dict[str, _Group] = {}
        self._appended = asyncio.Event()
        self.running = False

    async def start(self) -> None:
        self.running = True

    async def stop(self) -> None:
        self.running = False

    async def ping(self) -> bool:
        return self.running

    async def ensure_topics(self, topics: Iterable[str]) -> None:
        for topic in topics:
            self.logs.setdefault(topic, [[] for _ in range(self.partitions)])

    async def publish(self, spec: EventSpec[Any], event: CloudEvent[Any]) -> Delivery:
        key, value, headers = encode(spec, event)
        return await self.publish_raw(spec.topic, value, key=key, headers=tuple(headers))

    async def publish_raw(
        self, topic: str, value: bytes, *, key: bytes | None, headers: Headers
    ) -> Delivery:
        await self.ensure_topics([topic])
        carried = list(headers)
        event_type = next((v.decode() for k, v in headers if k == "ce_type"), None)
        with producer_span(topic, carried, event_type=event_type, key=key):
            log = self.logs[topic]
            partition = zlib.crc32(key) % len(log) if key is not None else 0
            offset = len(log[partition])
            log[partition].append(Record(topic, partition, offset, key, value, tuple(carried)))
        # Wake every waiting fetch, then arm a fresh event for the next publish.
        self._appended.set()
        self._appended = asyncio.Event()
        return Delivery(topic, partition, offset)

    async def publish_batch(self, topic: str, records: Sequence[RawRecord]) -> list[Delivery]:
        return [
            await self.publish_raw(topic, value, key=key, headers=headers)
            for key, value, headers in records
        ]

    async def enqueue(
        self, spec: EventSpec[Any], event: CloudEvent[Any]
    ) -> asyncio.Future[Delivery]:
        delivered: asyncio.Future[Delivery] = asyncio.get_running_loop().create_future()
        delivered.set_result(await self.publish(spec, event))
        return delivered

    def records(self, topic: str) -> list[Record]:
        """Every record of a topic, partition by partition (for assertions)."""
        return [record for log in self.logs.get(topic, []) for record in log]

    def committed(self, group_id: str) -> dict[TopicPartition, int]:
        return dict(self.groups.get(group_id, _Group()).committed)

    def source(
        self, topics: Sequence[str], group_id: str, *, on_revoke: RevokeHook | None = None
    ) -> MemoryRecordSource:
        return MemoryRecordSource(self, list(topics), group_id, on_revoke)

    async def rebalance(self, group_id: str) -> None:
        group = self.groups.setdefault(group_id, _Group())
        for member in list(group.members):
            if member.positions and member.on_revoke is not None:
                await member.on_revoke(set(member.positions))
            member.positions = {}
        for index, (topic, partition) in enumerate(self._partitions(group)):
            subscribed = [m for m in group.members if topic in m.topics]
            member = subscribed[index % len(subscribed)]
            member.positions[(topic, partition)] = group.committed.get((topic, partition), 0)

    def _partitions(self, group: _Group) -> list[TopicPartition]:
        topics = sorted({topic for member in group.members for topic in member.topics})
        return [(t, p) for t in topics for p in range(len(self.logs.get(t, [])))]


class MemoryRecordSource:
    def __init__(
        self, bus: MemoryBus, topics: list[str], group_id: str, on_revoke: RevokeHook | None
    ) -> None:
        self.bus = bus
        self.topics = topics
        self.group_id = group_id
        self.on_revoke = on_revoke
        self.positions: dict[TopicPartition, int] = {}

    async def start(self) -> None:
        await self.bus.ensure_topics(self.topics)
        self.bus.groups.setdefault(self.group_id, _Group()).members.append(self)
        await self.bus.rebalance(self.group_id)

    async def stop(self) -> None:
        group = self.bus.groups[self.group_id]
        if self in group.members:
            group.members.remove(self)
            self.positions = {}
            await self.bus.rebalance(self.group_id)

    def _available(self, max_records: int) -> list[Record]:
        batch: list[Record] = []
        for (topic, partition), position in sorted(self.positions.items()):
            log = self.bus.logs[topic][partition]
            batch.extend(log[position : position + max_records - len(batch)])
        return batch

    async def fetch(self, timeout_ms: int, max_records: int) -> Sequence[Record]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_ms / 1000
        while not (batch := self._available(max_records)):
            remaining = deadline - loop.time()
            if remaining <= 0:
                return []
            try:
                await asyncio.wait_for(self.bus._appended.wait(), remaining)
            except TimeoutError:
                return []
        for record in batch:
            self.positions[(record.topic, record.partition)] = record.offset + 1
        return batch

    async def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        lost = [tp for tp in offsets if tp not in self.positions]
        if lost:
            raise CommitFailedError(f"partitions {lost} are no longer assigned to this member")
        self.bus.groups[self.group_id].committed.update(offsets)

    async def seek(self, topic: str, partition: int, offset: int) -> None:
        if (topic, partition) in self.positions:
            self.positions[(topic, partition)] = offset

    def assignment(self) -> set[TopicPartition]:
        return set(self.positions)

    def lag(self) -> Mapping[TopicPartition, int]:
        return {tp: len(self.bus.logs[tp[0]][tp[1]]) - pos for tp, pos in self.positions.items()}
