"""The bus interface. Two implementations: `shared.bus.kafka.KafkaBus` and
`shared.bus.memory.MemoryBus` (unit tests only).

Contract:
- `publish` returns only once the event is durably on the bus (acks=all on Kafka), so an
  HTTP handler may answer 2xx after it returns. `enqueue` returns as soon as the event is in
  the producer's buffer (in call order) with a future that resolves once it is durable: for
  consumers that publish per record and await the acknowledgements together
  (`shared.consumer.deferred`). It opens a PRODUCER span and injects
  `traceparent` (and `tracestate`) into the record headers next to the `ce_*` headers.
- Consumption goes through `shared.consumer.EventConsumer`, which asks the bus for a
  `RecordSource` (a consumer-group member with manual commits).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from shared.events.catalog import EventSpec
from shared.events.envelope import CloudEvent

Headers = tuple[tuple[str, bytes], ...]
RawRecord = tuple[bytes | None, bytes, Headers]
"""(key, value, headers) of a record handed to `Bus.publish_batch`."""
TopicPartition = tuple[str, int]
RevokeHook = Callable[[Collection[TopicPartition]], Awaitable[None]]
"""Awaited before this member's partitions are taken away in a rebalance: the consumer
runtime finishes its in-flight batch and commits there, so the next owner starts after it."""


class CommitFailedError(Exception):
    """The group rebalanced under us: the records will be redelivered to the new owner."""


@dataclass(frozen=True)
class Delivery:
    """Where a published record was durably written."""

    topic: str
    partition: int
    offset: int


@dataclass(frozen=True)
class Record:
    """One consumed record, as the broker holds it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: Headers = ()
    timestamp_ms: int = 0

    def header(self, name: str) -> bytes | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None


@dataclass
class Assignment:
    """Partitions currently owned by this consumer-group member."""

    partitions: set[tuple[str, int]] = field(default_factory=set)


class RecordSource(Protocol):
    """A consumer-group member: fetch batches, commit explicitly after handling."""

    async def start(self) -> None: ...
    async def stop(self) -> None: ...  # leaves the group
    async def fetch(self, timeout_ms: int, max_records: int) -> Sequence[Record]: ...
    async def commit(self, offsets: Mapping[tuple[str, int], int]) -> None: ...  # next offsets
    async def seek(self, topic: str, partition: int, offset: int) -> None: ...
    def assignment(self) -> Collection[TopicPartition]: ...
    def lag(self) -> Mapping[tuple[str, int], int]: ...  # per assigned partition, when known


class Bus(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def ping(self) -> bool: ...
    async def ensure_topics(self, topics: Iterable[str]) -> None: ...
    async def publish(self, spec: EventSpec[Any], event: CloudEvent[Any]) -> Delivery: ...
    async def publish_raw(
        self, topic: str, value: bytes, *, key: bytes | None, headers: Headers
    ) -> Delivery: ...
    async def enqueue(
        self, spec: EventSpec[Any], event: CloudEvent[Any]
    ) -> asyncio.Future[Delivery]: ...
    async def publish_batch(self, topic: str, records: Sequence[RawRecord]) -> list[Delivery]: ...
    def source(
        self, topics: Sequence[str], group_id: str, *, on_revoke: RevokeHook | None = None
    ) -> RecordSource: ...
