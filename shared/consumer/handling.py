"""One record, start to finish: CONSUMER span, decode, idempotency guard, handler with
retries, then dead letter (or drop) when it cannot succeed.

`EventConsumer` (shared.consumer.runtime) owns the loop, the batches and the commits; this
module owns what happens to each record, which runs once per event, so it stays lean: no work
for a guard that is not configured, one header scan for the event type.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry.trace import Span, StatusCode

from shared.bus.base import Bus, Record
from shared.bus.codec import DecodeError, decode
from shared.consumer import deferred
from shared.consumer.deadletter import dead_letter, describe
from shared.consumer.errors import PermanentError
from shared.consumer.idempotency import IdempotencyGuard
from shared.consumer.retry import RetryPolicy
from shared.consumer.stats import ConsumerStats
from shared.events.catalog import Catalog
from shared.events.envelope import CloudEvent
from shared.telemetry.kafka import consumer_span

log = logging.getLogger(__name__)
Handler = Callable[[CloudEvent[Any], Record], Awaitable[None]]
Pause = Callable[[float], Awaitable[bool]]
"""Sleep for a retry backoff; False when the consumer is stopping instead."""


@dataclass(slots=True)
class Unsettled:
    """A record whose handler ran but left publish acknowledgements to await."""

    record: Record
    acks: deferred.Acks
    guard_id: str = ""


class RecordHandling:
    def __init__(
        self,
        bus: Bus,
        *,
        group_id: str,
        handler: Handler,
        catalog: Catalog,
        guard: IdempotencyGuard | None,
        retry: RetryPolicy,
        dlq: bool,
        stats: ConsumerStats,
        rng: random.Random,
    ) -> None:
        self.bus, self.group_id, self.handler = bus, group_id, handler
        self.catalog, self.guard, self.retry, self.dlq = catalog, guard, retry, dlq
        self.stats, self.rng = stats, rng

    async def handle(self, record: Record, pause: Pause) -> bool | Unsettled:
        """Handle or dead-letter one record; False if stopping cut it short (not done);
        `Unsettled` when the handler deferred acknowledgements (`settle` finishes it)."""
        raw_type = record.header("ce_type")
        event_type = raw_type.decode("utf-8", "replace") if raw_type is not None else None
        with consumer_span(record, self.group_id, event_type) as span:
            try:
                event = decode(record, self.catalog)
            except DecodeError as exc:
                await self._fail(record, exc, 0, span)  # poison: retrying cannot help
                return True
            guard = self.guard
            guard_id = f"{self.group_id}:{event.id}" if guard is not None else ""
            attempt = 0
            while True:
                attempt += 1
                acks: deferred.Acks = []
                try:
                    if guard is not None and await guard.seen(guard_id):
                        self.stats.duplicates_skipped += 1
                        return True
                    with deferred.collecting() as acks:
                        await self.handler(event, record)
                    break
                except PermanentError as exc:
                    deferred.abandon(acks)
                    await self._fail(record, exc, attempt, span)
                    return True
                except Exception as exc:
                    deferred.abandon(acks)
                    if attempt >= self.retry.max_attempts:
                        await self._fail(record, exc, attempt, span)
                        return True
                    self.stats.retried += 1
                    log.warning("attempt %d of %s failed: %s", attempt, event.id, describe(exc))
                    if not await pause(self.retry.delay(attempt, self.rng)):
                        return False
            if acks:
                return Unsettled(record, acks, guard_id)
            if guard is not None:
                await self._remember(guard, guard_id)
            self.stats.processed += 1
            return True

    async def settle(self, pending: Sequence[Unsettled]) -> Unsettled | None:
        """Await the deferred acknowledgements of handled records (in partition order) and
        finish the records up to the first whose acknowledgement failed, which is returned:
        the partition goes back to it."""
        outcomes = await asyncio.gather(
            *(ack for item in pending for ack in item.acks), return_exceptions=True
        )
        results = iter(outcomes)
        for item in pending:
            mine = list(itertools.islice(results, len(item.acks)))
            errors = [result for result in mine if isinstance(result, BaseException)]
            if errors:
                where = f"{item.record.topic}[{item.record.partition}]@{item.record.offset}"
                log.warning("a publish for %s was not acknowledged: %s", where, describe(errors[0]))
                return item
            if item.guard_id and self.guard is not None:
                await self._remember(self.guard, item.guard_id)
            if item.acks:
                self.stats.processed += 1
        return None

    async def _remember(self, guard: IdempotencyGuard, guard_id: str) -> None:
        try:
            await guard.mark(guard_id)
        except Exception:
            # Handled already; a lost mark only means a later redelivery runs it again.
            log.exception("could not record %s as processed", guard_id)

    async def _fail(self, record: Record, error: Exception, attempts: int, span: Span) -> None:
        span.set_status(StatusCode.ERROR, describe(error))
        span.record_exception(error)
        where = f"{record.topic}[{record.partition}]@{record.offset}"
        if self.dlq:
            await dead_letter(self.bus, record, error, attempts)
            self.stats.dead_lettered += 1
            log.error("dead-lettered %s after %d attempts: %s", where, attempts, describe(error))
        else:
            self.stats.dropped += 1
            log.error("dropped %s after %d attempts: %s", where, attempts, describe(error))
