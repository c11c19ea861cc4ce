"""At-least-once event handling: fetch, handle (with retries), dead-letter, then commit.

A record's offset is committed only after its handler succeeded or it was dead-lettered, so a
crash at any point redelivers, never skips. Redeliveries of events already handled are caught
by the idempotency guard. Records are handled one at a time in partition order.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from dataclasses import replace
from typing import Any

from opentelemetry.trace import Span, StatusCode

from shared.bus.base import Bus, CommitFailedError, Record, RecordSource, TopicPartition
from shared.bus.codec import DecodeError, decode
from shared.consumer.deadletter import dead_letter, describe, dlq_topic
from shared.consumer.errors import PermanentError
from shared.consumer.idempotency import IdempotencyGuard
from shared.consumer.retry import RetryPolicy
from shared.consumer.stats import ConsumerStats
from shared.events.catalog import CATALOG, Catalog
from shared.events.envelope import CloudEvent
from shared.telemetry.kafka import consumer_span

log = logging.getLogger(__name__)
Handler = Callable[[CloudEvent[Any], Record], Awaitable[None]]
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
        assert self._source is not None
        done: dict[TopicPartition, int] = {}
        held: set[TopicPartition] = set()  # partitions to retry from the broker
        try:
            for record in records:
                where = (record.topic, record.partition)
                if self._stopping.is_set():
                    break  # the rest is redelivered: it was never started
                if where in held:
                    continue
                try:
                    handled = await self._handle(record, stopped)
                except Exception:
                    log.exception("cannot finish %s@%d; will retry", where, record.offset)
                    handled = False
                    await self._pause(ERROR_PAUSE_SECONDS, stopped)
                if handled:
                    done[where] = record.offset + 1
                else:
                    held.add(where)
                    await self._source.seek(record.topic, record.partition, record.offset)
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

    async def _handle(self, record: Record, stopped: asyncio.Future[Any]) -> bool:
        """Handle or dead-letter one record; False if stopping cut it short (not done)."""
        raw_type = record.header("ce_type")
        event_type = raw_type.decode("utf-8", "replace") if raw_type is not None else None
        with consumer_span(record, self.group_id, event_type) as span:
            try:
                event = decode(record, self.catalog)
            except DecodeError as exc:
                await self._fail(record, exc, 0, span)  # poison: retrying cannot help
                return True
            guard_id = f"{self.group_id}:{event.id}"
            attempt = 0
            while True:
                attempt += 1
                try:
                    if self.guard is not None and await self.guard.seen(guard_id):
                        self._stats.duplicates_skipped += 1
                        return True
                    await self.handler(event, record)
                    break
                except PermanentError as exc:
                    await self._fail(record, exc, attempt, span)
                    return True
                except Exception as exc:
                    if attempt >= self.retry.max_attempts:
                        await self._fail(record, exc, attempt, span)
                        return True
                    self._stats.retried += 1
                    log.warning("attempt %d of %s failed: %s", attempt, event.id, describe(exc))
                    if not await self._pause(self.retry.delay(attempt, self._rng), stopped):
                        return False
            await self._remember(guard_id)
            self._stats.processed += 1
            return True

    async def _remember(self, guard_id: str) -> None:
        if self.guard is None:
            return
        try:
            await self.guard.mark(guard_id)
        except Exception:
            # Handled already; a lost mark only means a later redelivery runs it again.
            log.exception("could not record %s as processed", guard_id)

    async def _fail(self, record: Record, error: Exception, attempts: int, span: Span) -> None:
        span.set_status(StatusCode.ERROR, describe(error))
        span.record_exception(error)
        where = f"{record.topic}[{record.partition}]@{record.offset}"
        if self.dlq:
            await dead_letter(self.bus, record, error, attempts)
            self._stats.dead_lettered += 1
            log.error("dead-lettered %s after %d attempts: %s", where, attempts, describe(error))
        else:
            self._stats.dropped += 1
            log.error("dropped %s after %d attempts: %s", where, attempts, describe(error))
