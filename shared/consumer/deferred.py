"""Publishing from a handler without waiting for each acknowledgement.

A handler that turns every record into a publish (the notifier's ingest) would otherwise wait
one broker round-trip per record, so a partition moves at one record per round-trip (plus the
producer's linger). `publish_deferred` hands the event to the producer and leaves its
acknowledgement with the consumer runtime, which awaits the acknowledgements of a batch
together and only then counts each record as handled: idempotency mark, then commit. A failed
acknowledgement sends the partition back to that record, so nothing acknowledged to the
broker as consumed is lost.

Order holds: a partition's records are handled one after another, each send enters the
producer's buffer before the next record starts, and the producer keeps the order of the
sends to each partition (one request in flight per partition).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from shared.bus.base import Bus, Delivery
from shared.events.catalog import EventSpec
from shared.events.envelope import CloudEvent

Acks = list[asyncio.Future[Delivery]]
_collecting: ContextVar[Acks | None] = ContextVar("surge_deferred_acks", default=None)


async def publish_deferred(bus: Bus, spec: EventSpec[Any], event: CloudEvent[Any]) -> None:
    """Inside an `EventConsumer` handler: publish, acknowledgement awaited before the commit.
    Anywhere else: the same as `bus.publish`."""
    acks = _collecting.get()
    if acks is None:
        await bus.publish(spec, event)
    else:
        acks.append(await bus.enqueue(spec, event))


@contextmanager
def collecting() -> Iterator[Acks]:
    """The acknowledgements deferred by a handler called inside the block."""
    acks: Acks = []
    token = _collecting.set(acks)
    try:
        yield acks
    finally:
        _collecting.reset(token)


def abandon(acks: Acks) -> None:
    """Acknowledgements of an attempt that failed anyway: nobody awaits them, so retrieve their
    outcome when it comes (no 'exception was never retrieved' noise). The record is retried."""
    for ack in acks:
        ack.add_done_callback(_retrieve)


def _retrieve(ack: asyncio.Future[Delivery]) -> None:
    if not ack.cancelled():
        ack.exception()
