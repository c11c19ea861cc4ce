"""At-least-once event handling: fetch, handle (with retries), dead-letter, then commit.

A record's offset is committed only after its handler succeeded or it was dead-lettered, so a
crash at any point redelivers, never skips. Redeliveries of events already handled are caught
by the idempotency guard. Records are handled one at a time in partition order; what
happens to each one is `shared.consumer.handling`. A handler may defer its publish
acknowledgements (`shared.consumer.deferred`): its record, and those after it, count as done
once the acknowledgements are in, still before the commit.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from dataclasses import replace
from typing import Any

from shared.bus.base import Bus, CommitFailedError, Record, RecordSource, TopicPartition
from shared.consumer.deadletter import dlq_topic
from shared.consumer.handling import Handler, RecordHandling, Unsettled
from shared.consumer.idempotency import IdempotencyGuard
from shared.consumer.retry import RetryPolicy
from shared.consumer.stats import ConsumerStats
from shared.events.catalog import CATALOG, Catalog

log = logging.getLogger(__name__)
__all__ = ["ERROR_PAUSE_SECONDS", "EventConsumer", "Handler"]
Sleep = Callable[[float], Awaitable[None]]
ERROR_PAUSE_SECONDS = 1.0


class EventConsumer:
    def __init__(
        self,
        bus: Bus,
        *,
        topics: Sequence[str],
        group_id: str,
        handler: Handler,
        catalog: Catalog = CATALOG,
        guard: IdempotencyGuard | None = None,
        retry: RetryPolicy | None = None,
        dlq: bool = True,
        batch_size: int = 100,
        service_name: str = "consumer",
        fetch_timeout_ms: int = 500,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.bus, self.topics, self.group_id = bus, list(topics), group_id
        self.handler, self.catalog, self.guard = handler, catalog, guard
        self.retry = retry or RetryPolicy()
        self.dlq, self.batch_size, self.service_name = dlq, batch_size, service_name
        self.fetch_timeout_ms = fetch_timeout_ms
        self._sleep, self._rng = sleep, rng or random.Random()
        self._stats = ConsumerStats()
        self._source: RecordSource | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._batch_lock = asyncio.Lock()  # held while a batch is handled and committed
        self._records = RecordHandling(
            bus,
            group_id=group_id,
            handler=handler,
            catalog=catalog,
            guard=guard,
            retry=self.retry,
            dlq=dlq,
            stats=self._stats,
            rng=self._rng,
        )

    async def start(self) -> None:
        """Create the topics, join the group and run the loop as a background task."""
        dlqs = [dlq_topic(t) for t in self.topics] if self.dlq else []
        await self.bus.ensure_topics([*self.topics, *dlqs])
        self._source = self.bus.source(self.topics, self.group_id, on_revoke=self._on_revoke)
        await self._source.start()
        self._task = asyncio.create_task(self.run(), name=f"consumer:{self.group_id}")

    async def stop(self) -> None:
        """Finish the in-flight record, commit, leave the group."""
        self._stopping.set()
        try:
            if self._task is not None:
                await self._task
        finally:
            source, self._source = self._source, None
            if source is not None:
                await source.stop()

    async def lifespan(self, _app: object = None) -> AsyncIterator[None]:
        """For `app.cleanup_ctx.append(consumer.lifespan)` in an aiohttp service."""
        await self.start()
        yield
        await self.stop()

    @property
    def running(self) -> bool:
        """The fetch loop is alive (readiness): started, not stopped, not crashed."""
        return self._task is not None and not self._task.done()

    def stats(self) -> ConsumerStats:
        lag = dict(self._source.lag()) if self._source is not None else {}
        return replace(self._stats, lag=lag)

    async def run(self) -> None:
        """The fetch-handle-commit loop, until `stop()`."""
        stopped = asyncio.ensure_future(self._stopping.wait())
        try:
            while not self._stopping.is_set():
                try:
                    records = await self._fetch(stopped)
                except Exception:
                    log.exception("fetch from %s failed", self.topics)
                    await self._pause(ERROR_PAUSE_SECONDS, stopped)
                    continue
                if records:
                    async with self._batch_lock:
                        await self._handle_batch(records, stopped)
        finally:
            stopped.cancel()

    async def _fetch(self, stopped: asyncio.Future[Any]) -> Sequence[Record]:
        assert self._source is not None, "start() first"
        fetch = asyncio.ensure_future(self._source.fetch(self.fetch_timeout_ms, self.batch_size))
        await asyncio.wait({fetch, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if not fetch.done():
            fetch.cancel()  # stopping: nothing fetched is lost, it was not committed
            await asyncio.gather(fetch, return_exceptions=True)
            return []
        return fetch.result()

    async def _pause(self, seconds: float, stopped: asyncio.Future[Any]) -> bool:
        """Sleep unless stopped first; False when stopping."""
        sleeping = asyncio.ensure_future(self._sleep(seconds))
        await asyncio.wait({sleeping, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if not sleeping.done():
            sleeping.cancel()
            await asyncio.gather(sleeping, return_exceptions=True)
        return not self._stopping.is_set()

    async def _on_revoke(self, partitions: Collection[TopicPartition]) -> None:
        # Wait for the in-flight batch: it commits before the lock is released, so the next
        # owner of these partitions starts right after what we handled.
        async with self._batch_lock:
            log.info("partitions revoked from %s: %s", self.group_id, sorted(partitions))

    async def _handle_batch(self, records: Sequence[Record], stopped: asyncio.Future[Any]) -> None:
        """Partitions are handled concurrently, each strictly in order: a handler waiting on I/O
        (a publish acknowledgement, a store write) no longer holds up the other partitions."""
        assert self._source is not None
        source = self._source
        done: dict[TopicPartition, int] = {}
        by_partition: dict[TopicPartition, list[Record]] = {}
        for record in records:
            by_partition.setdefault((record.topic, record.partition), []).append(record)

        async def pause(seconds: float) -> bool:
            return await self._pause(seconds, stopped)

        async def partition(where: TopicPartition, batch: list[Record]) -> None:
            # Handled records whose deferred acknowledgements are still out, and the records
            # after them: none counts as done before the acknowledgements are in.
            pending: list[Unsettled] = []
            try:
                for record in batch:
                    if self._stopping.is_set():
                        return  # the rest is redelivered: it was never started
                    try:
                        handled = await self._records.handle(record, pause)
                    except Exception:
                        log.exception("cannot finish %s@%d; will retry", where, record.offset)
                        handled = False
                        await self._pause(ERROR_PAUSE_SECONDS, stopped)
                    if not handled:  # retry from the broker, from this record on
                        await source.seek(record.topic, record.partition, record.offset)
                        return
                    if isinstance(handled, Unsettled):
                        pending.append(handled)
                    elif pending:
                        pending.append(Unsettled(record, []))
                    else:
                        done[where] = record.offset + 1
            finally:
                if pending:
                    await settle(where, pending)

        async def settle(where: TopicPartition, pending: list[Unsettled]) -> None:
            failed = await self._records.settle(pending)
            last = pending[-1].record if failed is None else failed.record
            if failed is None:
                done[where] = last.offset + 1
                return
            if failed is not pending[0]:
                done[where] = last.offset  # everything before the failed one is finished
            await source.seek(last.topic, last.partition, last.offset)
            await self._pause(ERROR_PAUSE_SECONDS, stopped)

        try:
            await asyncio.gather(
                *(partition(where, batch) for where, batch in by_partition.items())
            )
        finally:
            await self._commit(done)

    async def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        if not offsets or self._source is None:
            return
        try:
            await self._source.commit(offsets)
        except CommitFailedError as exc:
            self._stats.commit_failures += 1
            log.warning("commit refused after a rebalance (records will come again): %s", exc)
