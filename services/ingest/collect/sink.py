"""Hand events to the bus and wait for the broker's acknowledgement, within bounds.

A hit is answered 2xx only once its record is durably on `tracking.events` (acks=all). Many
concurrent hits share producer batches (linger INGEST_LINGER_MS), so they share round trips.

Two bounds protect the process and tell the client the truth when the broker cannot keep up:
- at most INGEST_BUFFER_MAX records wait for acknowledgements at once; beyond that a hit is
  refused at once (the in-process buffer never grows without limit under a broker stall);
- a record not acknowledged within INGEST_PUBLISH_TIMEOUT_SECONDS is a failure for the client.
Both answer 503 with Retry-After (`UnavailableError`). A record that timed out may still be written
later: the client's retry then makes a second event (a batch's events carry the same ids both
times, so the store keeps one).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from aiokafka.errors import KafkaError

from shared.bus.base import Bus, Delivery, Headers

log = logging.getLogger("ingest.sink")
Observe = Callable[[float], None]
T = TypeVar("T")


class UnavailableError(Exception):
    """The bus cannot take the hit now: answer 503 with Retry-After."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Sink:
    def __init__(
        self,
        bus: Bus,
        *,
        capacity: int,
        timeout: float,
        observe: Observe | None = None,
    ) -> None:
        self.bus, self.capacity, self.timeout = bus, capacity, timeout
        self.observe = observe
        self.waiting = 0
        self.refused = 0
        self.timed_out = 0
        self.failed = 0

    async def send(self, topic: str, value: bytes, key: bytes, headers: Headers) -> Delivery:
        """One record (the pixel's path: no task per record, unlike `send_all`)."""
        return await self._bounded(
            1, lambda: self.bus.publish_raw(topic, value, key=key, headers=headers)
        )

    async def send_all(
        self, records: Sequence[tuple[str, bytes, bytes, Headers]]
    ) -> list[Delivery]:
        """Every record acknowledged, or `UnavailableError` (some may still be written later)."""

        def sends() -> Awaitable[list[Delivery]]:
            return asyncio.gather(
                *(
                    self.bus.publish_raw(topic, value, key=key, headers=headers)
                    for topic, value, key, headers in records
                )
            )

        return await self._bounded(len(records), sends)

    async def _bounded(self, count: int, start: Callable[[], Awaitable[T]]) -> T:
        if self.waiting + count > self.capacity:
            self.refused += count
            raise UnavailableError("too many events are waiting for the broker")
        self.waiting += count
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout):
                done = await start()
        except TimeoutError:
            self.timed_out += count
            raise UnavailableError("the broker did not acknowledge in time") from None
        except (KafkaError, OSError, RuntimeError) as exc:
            self.failed += count
            log.warning("publishing failed: %s", exc)
            raise UnavailableError("the broker refused the events") from None
        finally:
            self.waiting -= count
        if self.observe is not None:
            self.observe(time.perf_counter() - started)
        return done
