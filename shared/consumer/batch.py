"""Batch consumers: the handler gets a whole fetched batch, not one record at a time.

For sinks that write in bulk (the ingest's persister: one unordered bulk insert per batch)
and for consumers whose payloads are not JSON CloudEvents (protobuf). The loop, group
membership, revocation, stop and metrics are `EventConsumer`'s; what differs is a batch:

- the handler gets every record of the fetch, in partition order, and returns the records it
  could not use (poison, with the reason): those go to `<topic>.dlq`;
- a handler exception is a transient failure (the database is down): the batch is retried
  whole after a backoff, for as long as it takes, and nothing is committed meanwhile (dead-
  lettering good records because a dependency is down would lose them from the stream);
- offsets are committed only after the handler returned and the dead letters were
  acknowledged: a crash at any point redelivers the batch, so the handler must be idempotent
  (the persister inserts with `_id` = event id).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from shared.bus.base import Bus, Record, TopicPartition
from shared.consumer.deadletter import dead_letter, describe
from shared.consumer.runtime import ERROR_PAUSE_SECONDS, EventConsumer

log = logging.getLogger(__name__)
Poison = tuple[Record, Exception]
BatchHandler = Callable[[Sequence[Record]], Awaitable[Sequence[Poison]]]


async def _never_called(*_: Any) -> None:  # pragma: no cover - batches bypass the record path
    raise AssertionError("a BatchConsumer hands batches, not records, to its handler")


class BatchConsumer(EventConsumer):
    def __init__(
        self,
        bus: Bus,
        *,
        topics: Sequence[str],
        group_id: str,
        handle_batch: BatchHandler,
        batch_size: int = 1000,
        service_name: str = "consumer",
        fetch_timeout_ms: int = 500,
        max_backoff: float = 10.0,
    ) -> None:
        super().__init__(
            bus,
            topics=topics,
            group_id=group_id,
            handler=_never_called,
            batch_size=batch_size,
            service_name=service_name,
            fetch_timeout_ms=fetch_timeout_ms,
        )
        self.handle_batch = handle_batch
        self.max_backoff = max_backoff

    async def _handle_batch(self, records: Sequence[Record], stopped: asyncio.Future[Any]) -> None:
        delay = ERROR_PAUSE_SECONDS / 4
        while True:
            try:
                poison = await self.handle_batch(records)
                for record, error in poison:
                    await dead_letter(self.bus, record, error, 1)
                    self._stats.dead_lettered += 1
                    at = f"{record.topic}[{record.partition}]@{record.offset}"
                    log.error("dead-lettered %s: %s", at, describe(error))
                break
            except Exception as exc:
                self._stats.retried += 1
                log.warning(
                    "batch of %d from %s failed, retrying: %s",
                    len(records),
                    self.group_id,
                    describe(exc),
                )
                if not await self._pause(delay, stopped):
                    await self._rewind(records)  # stopping: the batch comes again, uncommitted
                    return
                delay = min(self.max_backoff, delay * 2)
        self._stats.processed += len(records) - len(poison)
        offsets: dict[TopicPartition, int] = {}
        for record in records:
            where = (record.topic, record.partition)
            offsets[where] = max(offsets.get(where, 0), record.offset + 1)
        await self._commit(offsets)

    async def _rewind(self, records: Sequence[Record]) -> None:
        first: dict[TopicPartition, int] = {}
        for record in records:
            where = (record.topic, record.partition)
            first[where] = min(first.get(where, record.offset), record.offset)
        assert self._source is not None
        for (topic, partition), offset in first.items():
            await self._source.seek(topic, partition, offset)
